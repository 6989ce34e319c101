//! The HTTP API: validates requests, answers reads from Postgres, and
//! publishes reservation and payment commands to Kafka for the workers.

pub mod auth;
pub mod batch;
pub mod edge;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod known;
pub mod metrics;
pub mod notifier;
pub mod openapi;
pub mod publisher;
pub mod rate_limit;
pub mod routes;
pub mod serve;
pub mod startup;
pub mod state;
pub mod token;
pub mod user_key;
pub mod waiting_line;

pub use startup::Application;
