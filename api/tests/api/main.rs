//! Integration tests of the API: the real API and workers, in-process
//! (testkit), against the real broker and Postgres. The workers' own tests
//! are in workers/tests.

mod admin;
mod admin_rules;
mod cancel;
mod charges;
mod checkout;
mod conservation;
mod edge;
mod events;
mod faults;
mod holds;
mod journey;
mod observability;
mod payments;
mod queue;
mod rooms;
mod security;
mod slow_clients;
mod tickets;
mod validation;
mod waitlist;
