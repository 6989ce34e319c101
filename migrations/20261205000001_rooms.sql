-- A waiting room per concert (SPEC rule 1), with a fair opening: entries
-- made before the concert's sale_opens_at form its pre-queue and are put in
-- a random order when the sale opens, ahead of everyone who came later.

alter table concerts
    add column sale_opens_at  timestamptz,
    add column queue_capacity int check (queue_capacity >= 1);

-- Each room's arrival counter (seq is gap-free per room: it is taken under
-- this row's lock), its admitted and dropped counts (a new entry's position
-- is seq - admitted_total - dropped_total, in O(1)), and when its pre-queue
-- was placed (null until the sale opens).
create table queue_rooms (
    concert_id     bigint primary key references concerts,
    last_seq       bigint not null default 0,
    admitted_total bigint not null default 0,
    dropped_total  bigint not null default 0,
    placed_at      timestamptz
);
insert into queue_rooms (concert_id, placed_at) select concert_id, now() from concerts;

-- The entries of the one line that served every concert do not carry over
-- into rooms: their users enter a concert's room again.
delete from queue_entries;
drop table queue_counters;

alter table queue_entries drop constraint queue_entries_pkey;
alter table queue_entries add primary key (token_id);
alter table queue_entries drop constraint queue_entries_token_id_key;
alter table queue_entries add column concert_id bigint not null references concerts;
-- Waiting for the opening: such an entry's seq is only its arrival number,
-- replaced by its place in a random order when the room opens.
alter table queue_entries add column prequeue boolean not null default false;
create unique index queue_room_seq on queue_entries (concert_id, seq);

drop index queue_one_live_entry_per_user;
create unique index queue_one_live_entry_per_user_and_room
    on queue_entries (user_id, concert_id) where status <> 'expired';
drop index queue_waiting_by_seq;
create index queue_waiting_by_room on queue_entries (concert_id, seq) where status = 'waiting';
drop index queue_active_by_end;
create index queue_active_by_room on queue_entries (concert_id, active_until) where status = 'active';

-- Puts a room's pre-queue in a uniformly random order (gen_random_uuid()
-- draws from the server's strong random source) over the places its
-- entries' arrivals took, and gives each a full idle timeout from now.
create function queue_place_prequeue(p_concert bigint) returns void language plpgsql as $$
begin
    -- Two steps, so the unique (concert_id, seq) never sees two rows
    -- holding one place mid-update.
    update queue_entries set seq = -seq
     where concert_id = p_concert and prequeue;
    with places as (
        select -seq as seq, row_number() over (order by seq desc) as i
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

-- Expires what is due and, in every room whose sale is open, places the
-- pre-queue (once), drops idle waiting entries and admits the earliest
-- waiting ones into the room's free active slots (the concert's
-- queue_capacity, else p_capacity). The advisory lock serialises admission
-- across every worker and API instance, so no room exceeds its capacity and
-- nobody is admitted twice. With p_wait false it gives up (returns -1) if
-- another holds the lock.
drop function queue_admit(int, int, int, boolean);
create function queue_admit(
    p_capacity int, p_active_ttl_seconds int, p_idle_seconds int, p_wait boolean
) returns int language plpgsql as $$
declare
    room       record;
    active_now int;
    admitted   int;
    dropped    int;
    total      int := 0;
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
           and exists (select 1 from queue_entries e
                        where e.concert_id = r.concert_id and e.status = 'waiting')
    loop
        if room.placed_at is null then
            perform queue_place_prequeue(room.concert_id);
        end if;
        update queue_entries set status = 'expired', expired_at = now()
         where concert_id = room.concert_id and status = 'waiting'
           and last_seen_at <= now() - make_interval(secs => p_idle_seconds);
        get diagnostics dropped = row_count;
        select count(*) into active_now from queue_entries
         where concert_id = room.concert_id and status = 'active';
        with next as (
            select token_id from queue_entries
             where concert_id = room.concert_id and status = 'waiting'
             order by seq
             limit greatest(room.capacity - active_now, 0)
        )
        update queue_entries q
           set status = 'active', activated_at = now(),
               active_until = now() + make_interval(secs => p_active_ttl_seconds)
          from next where q.token_id = next.token_id;
        get diagnostics admitted = row_count;
        if admitted > 0 or dropped > 0 then
            update queue_rooms
               set admitted_total = admitted_total + admitted,
                   dropped_total = dropped_total + dropped
             where concert_id = room.concert_id;
        end if;
        total := total + admitted;
    end loop;
    return total;
end
$$;
