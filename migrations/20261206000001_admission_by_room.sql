-- Every statement of an admission reads one room through an index made for
-- it, so its cost follows the changes of the room, not its size, whatever
-- the planner believes of the table's size: right after a burst has filled
-- a fresh table (before autovacuum has analyzed it) a plan that scans the
-- room would otherwise run on every call.
--
-- Idle waiting entries are found by (room, last seen), oldest first; which
-- idle ones go first does not matter, all go within a few runs. Expired
-- active tokens are closed room by room (by the active-per-room index).

drop index queue_waiting_by_last_seen;
create index queue_waiting_by_room_last_seen
    on queue_entries (concert_id, last_seen_at) where status = 'waiting';

drop function queue_admit(int, int, int, boolean);
create function queue_admit(
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
begin
    if p_wait then
        perform pg_advisory_xact_lock(727274001);
    elsif not pg_try_advisory_xact_lock(727274001) then
        return -1;
    end if;
    for room in
        select r.concert_id, r.placed_at, coalesce(c.queue_capacity, p_capacity) as capacity
          from queue_rooms r join concerts c using (concert_id)
         where (c.sale_opens_at is null or c.sale_opens_at <= now())
           and (r.active_now > 0
                or exists (select 1 from queue_entries e
                            where e.concert_id = r.concert_id and e.status = 'waiting'))
         order by r.concert_id
    loop
        select drops_logged into logged from queue_rooms
         where concert_id = room.concert_id for update;
        update queue_entries set status = 'expired', expired_at = now()
         where concert_id = room.concert_id and status = 'active' and active_until <= now();
        if room.placed_at is null then
            perform queue_place_prequeue(room.concert_id);
        end if;
        with gone as (
            update queue_entries set status = 'expired', expired_at = now()
             where token_id in (
                   select token_id from queue_entries
                    where concert_id = room.concert_id and status = 'waiting'
                      and last_seen_at <= now() - make_interval(secs => p_idle_seconds)
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
               set status = 'active', activated_at = now(),
                   active_until = now() + make_interval(secs => p_active_ttl_seconds)
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
