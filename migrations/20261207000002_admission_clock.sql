-- Admissions are stamped with the clock read once the admission lock is
-- held, not with the start of their transaction: on a busy machine a
-- transaction that started first can take the lock second, and its entries
-- (further back in the line) then read as admitted before the ones ahead of
-- them. With the lock-time clock, `activated_at` follows the order of
-- admission, so "admitted in queue order" can be checked from the table
-- (scripts/bench --sellout does). Otherwise the same function as in
-- 20261206000001_admission_by_room.sql.

create or replace function queue_admit(
    p_capacity int, p_active_ttl_seconds int, p_idle_seconds int, p_wait boolean
) returns int language plpgsql as $$
declare
    room         record;
    logged       bigint;
    active_count int;
    admitted     int;
    dropped      int;
    top          bigint;
    total        int := 0;
    stamp        timestamptz;
begin
    if p_wait then
        perform pg_advisory_xact_lock(727274001);
    elsif not pg_try_advisory_xact_lock(727274001) then
        return -1;
    end if;
    -- The clock once the lock is held, not the transaction's start: two
    -- admissions stamp their entries in the order they admitted them.
    stamp := clock_timestamp();
    for room in
        select r.concert_id, r.placed_at, coalesce(c.queue_capacity, p_capacity) as capacity
          from queue_rooms r join concerts c using (concert_id)
         where (c.sale_opens_at is null or c.sale_opens_at <= stamp)
           and (r.active_now > 0
                or exists (select 1 from queue_entries e
                            where e.concert_id = r.concert_id and e.status = 'waiting'))
         order by r.concert_id
    loop
        select drops_logged into logged from queue_rooms
         where concert_id = room.concert_id for update;
        update queue_entries set status = 'expired', expired_at = stamp
         where concert_id = room.concert_id and status = 'active' and active_until <= stamp;
        if room.placed_at is null then
            perform queue_place_prequeue(room.concert_id);
        end if;
        with gone as (
            update queue_entries set status = 'expired', expired_at = stamp
             where token_id in (
                   select token_id from queue_entries
                    where concert_id = room.concert_id and status = 'waiting'
                      and last_seen_at <= stamp - make_interval(secs => p_idle_seconds)
                    order by last_seen_at
                    limit 10000)
            returning seq)
        insert into queue_drops (concert_id, drop_no, seq)
        select room.concert_id, logged + row_number() over (order by seq), seq from gone;
        get diagnostics dropped = row_count;
        select count(*) into active_count from queue_entries
         where concert_id = room.concert_id and status = 'active';
        with next as (
            select token_id from queue_entries
             where concert_id = room.concert_id and status = 'waiting'
             order by seq
             limit greatest(room.capacity - active_count, 0)
        ), taken as (
            update queue_entries q
               set status = 'active', activated_at = stamp,
                   active_until = stamp + make_interval(secs => p_active_ttl_seconds)
              from next where q.token_id = next.token_id
            returning q.seq)
        select count(*), max(seq) into admitted, top from taken;
        update queue_rooms
           set admitted_total = admitted_total + admitted,
               dropped_total = dropped_total + dropped,
               drops_logged = logged + dropped,
               frontier = greatest(frontier, coalesce(top, 0)),
               active_now = active_count + admitted
         where concert_id = room.concert_id;
        total := total + admitted;
    end loop;
    return total;
end
$$;
