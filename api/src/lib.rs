//! The HTTP API: validates requests, answers reads from Postgres, and
//! publishes reservation and payment commands to Kafka for the workers.
//!
//! Where things live: `http/` is the edge every request crosses (the server
//! loop and its timeouts, the edge middleware, errors as problem+json, body
//! and id extractors, rate limits); `auth/` says who is calling (queue
//! tokens, user keys, the credential extractors); `routes/` holds one
//! handler per endpoint, returning the typed bodies of `domain::wire`;
//! `openapi/` assembles the document from those handlers. The rest is the
//! state the handlers share: the publisher, the long-poll notifier, the
//! waiting-line snapshot, statement batching and metrics.

pub mod arrivals;
pub mod auth;
pub mod batch;
pub mod http;
pub mod idempotency;
pub mod known;
pub mod metrics;
pub mod notifier;
pub mod openapi;
pub mod publisher;
pub mod routes;
pub mod startup;
pub mod state;
pub mod waiting_line;

pub use startup::Application;
