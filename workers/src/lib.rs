//! The workers: consume reservation and payment commands from Kafka, apply
//! them to Postgres exactly once, record each outcome, and run the background
//! jobs (queue admission, hold expiry).

pub mod apply;
pub mod consumer;
pub mod jobs;
pub mod kafka;
pub mod metrics;
pub mod startup;

pub use startup::Worker;
