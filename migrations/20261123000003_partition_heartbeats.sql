-- Which live worker consumes each partition: every worker stamps the
-- partitions assigned to it every few seconds. A partition nobody has stamped
-- for a while is orphaned (its consumer died and the group did not
-- rebalance); the workers that see it rejoin the group so it is reassigned.
create table partition_heartbeats (
    topic     text not null,
    partition int not null,
    worker    uuid not null,
    seen_at   timestamptz not null default now(),
    primary key (topic, partition)
);
