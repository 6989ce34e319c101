-- User keys (SPEC "Tokens"): a user proves who they are with the key they
-- got at registration; only its SHA-256 is kept. Users registered before
-- keys existed have none and cannot enter a waiting room until they
-- register again.
alter table users add column key_hash bytea;
create unique index users_key_hash on users (key_hash) where key_hash is not null;
