-- The orphaned-partition watchdog is gone: it worked around a broker whose
-- group coordinator kept partitions assigned to dead consumers. Kafka's
-- coordinator evicts such a member after session.timeout.ms, and epoch
-- fencing (partition_leases) still guards against a paused one.
drop table if exists partition_heartbeats;
