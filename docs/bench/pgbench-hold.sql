-- One reserve command as one transaction: the worker's conditional hold
-- update, the reservation row and the request's outcome row.
BEGIN;
SELECT nextval('pgbench_seat_seq') AS k, gen_random_uuid() AS rid, gen_random_uuid() AS req \gset
\set p :base + :k / 50
\set s :k % 50 + 1
UPDATE seats SET reservation_id = :rid, held_until = now() + interval '300 s'
 WHERE performance_id = :p AND seat_number = :s AND NOT sold
   AND (held_until IS NULL OR held_until <= now());
INSERT INTO reservations (reservation_id, user_id, performance_id, seat_number, price, status, held_until)
VALUES (:rid, '00000000-0000-4000-8000-00000000b001', :p, :s, 80000, 'held', now() + interval '300 s')
ON CONFLICT DO NOTHING;
INSERT INTO requests (request_id, user_id, kind, status, finished_at)
VALUES (:req, '00000000-0000-4000-8000-00000000b001', 'reserve', 'succeeded', now());
END;
