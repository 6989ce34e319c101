-- What an API instance needs to keep every position of a room current in
-- work proportional to the line's changes, not to its length: the
-- admission frontier (every entry at or below it has left the line), how
-- many are active, and a numbered log of the waiting entries that left
-- without admission.

alter table queue_rooms
    add column frontier     bigint not null default 0,
    add column active_now   int not null default 0,
    add column drops_logged bigint not null default 0;

-- Waiting entries that left the line without being admitted (dropped as
-- idle, or closed when their user entered again). drop_no is gap-free per
-- room and taken under the room row's lock, so a reader that has applied
-- drops 1..=k of a room and sees drops_logged = n reads exactly k+1..=n.
create table queue_drops (
    concert_id bigint not null references concerts,
    drop_no    bigint not null,
    seq        bigint not null,
    primary key (concert_id, drop_no)
);

update queue_rooms r
   set frontier = coalesce((select max(seq) from queue_entries e
                             where e.concert_id = r.concert_id and e.activated_at is not null), 0),
       active_now = (select count(*) from queue_entries e
                      where e.concert_id = r.concert_id and e.status = 'active');

-- As before, and: each room is locked while it is admitted (its drops are
-- numbered under that lock); idle drops are taken at most 10,000 at a time,
-- so a mass drop never holds the lock long; drops are logged; each room's
-- frontier and active count are kept in queue_rooms.
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
    update queue_entries set status = 'expired', expired_at = now()
     where status = 'active' and active_until <= now();
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
        if room.placed_at is null then
            perform queue_place_prequeue(room.concert_id);
        end if;
        with gone as (
            update queue_entries set status = 'expired', expired_at = now()
             where token_id in (
                   select token_id from queue_entries
                    where concert_id = room.concert_id and status = 'waiting'
                      and last_seen_at <= now() - make_interval(secs => p_idle_seconds)
                    order by seq
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
