-- The opening's placement of the pre-queue in one pass (issue 18's
-- performance pass). A room's places were unique through a plain unique
-- index, checked row by row, so shuffling the places of the pre-queue took
-- two updates of every entry (first to negative places, then to the drawn
-- ones) and kept the first admission of a sale of 100,000 waiting for
-- 5.4 s. As a deferrable constraint (checked at the end of each statement,
-- still in every statement) the same shuffle is one update: 3.0 s for
-- 100,000 entries on this machine (both timed on one database, rolled
-- back; see docs/BENCHMARKS.md).
drop index queue_room_seq;
alter table queue_entries
    add constraint queue_room_seq unique (concert_id, seq) deferrable initially immediate;

-- Puts a room's pre-queue in a uniformly random order (gen_random_uuid()
-- draws from the server's strong random source) over the places its
-- entries' arrivals took, and gives each a full idle timeout from now.
create or replace function queue_place_prequeue(p_concert bigint) returns void language plpgsql as $$
begin
    with places as (
        select seq, row_number() over (order by seq) as i
          from queue_entries where concert_id = p_concert and prequeue
    ), drawn as (
        select token_id, row_number() over (order by gen_random_uuid()) as i
          from queue_entries where concert_id = p_concert and prequeue
    )
    update queue_entries q
       set seq = places.seq, prequeue = false, last_seen_at = now()
      from drawn join places using (i)
     where q.token_id = drawn.token_id;
    update queue_rooms set placed_at = now() where concert_id = p_concert;
end
$$;
