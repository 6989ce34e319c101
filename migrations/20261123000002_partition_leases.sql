-- Fencing: a worker claims each partition it is assigned by bumping its
-- epoch, and every batch transaction checks the epoch it claimed. A worker
-- that was paused while its partitions moved finds a newer epoch and applies
-- nothing.
create table partition_leases (
    topic     text not null,
    partition int not null,
    epoch     bigint not null,
    claimed_at timestamptz not null default now(),
    primary key (topic, partition)
);
