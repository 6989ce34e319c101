//! Integration tests of the workers: consuming, applying exactly once,
//! redelivery, replay, fencing, poison messages and restarts, with the real
//! API and workers in-process (testkit) against the real broker and
//! Postgres.

mod delivery;
mod faults;
mod restarts;
