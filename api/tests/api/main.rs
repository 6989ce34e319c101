//! Integration tests: the real API and workers, in-process, against the real
//! broker and Postgres.

mod delivery;
mod edge;
mod faults;
mod helpers;
mod holds;
mod journey;
mod observability;
mod payments;
mod queue;
mod security;
mod setup;
mod slow_clients;
mod validation;
