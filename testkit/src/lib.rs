//! Shared test support, in one place for every test crate:
//!
//! - [`invariants`]: what must hold in the database after any workload (money
//!   conserved, no seat sold twice, every command applied once). The API's
//!   tests, the chaos run and the sell-out benchmark check the same queries.
//!   Always built.
//! - [`rng`]: the seeded generator that makes the chaos run's and the
//!   sell-out's choices repeatable. Always built.
//! - With the default `stack` feature: where Postgres and Kafka are
//!   ([`infra`]), the real API and workers in-process ([`TestApp`]), the
//!   steps a client takes through the HTTP API ([`client`], [`steps`]), an
//!   operator's admin calls ([`admin`]) and
//!   commands built by hand for the workers' tests ([`commands`]).
//!
//! The chaos harness runs real processes and depends on this crate with
//! `default-features = false`: it gets the invariants without the stack or
//! testcontainers.

pub mod invariants;
pub mod rng;

#[cfg(feature = "stack")]
pub mod admin;
#[cfg(feature = "stack")]
pub mod app;
#[cfg(feature = "stack")]
pub mod client;
#[cfg(feature = "stack")]
pub mod commands;
#[cfg(feature = "stack")]
pub mod infra;
#[cfg(feature = "stack")]
pub mod steps;

#[cfg(feature = "stack")]
pub use admin::{spawn_admin_app, TEST_ADMIN_TOKEN};
#[cfg(feature = "stack")]
pub use app::{spawn_app, spawn_app_with, TestApp};
#[cfg(feature = "stack")]
pub use client::{content_type, eventually, json_of, problem_code, problem_of, text, uuid_of};
#[cfg(feature = "stack")]
pub use commands::delivery;
#[cfg(feature = "stack")]
pub use infra::{test_settings, KAFKA_IMAGE_TAG, TEST_SECRET};
