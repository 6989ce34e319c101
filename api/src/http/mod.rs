//! The edge every request crosses: the server loop with its timeouts, the
//! outermost middleware, the one error type and its problem+json bodies, the
//! extractors of bodies, ids and headers, and the per-address rate limits.

pub mod edge;
pub mod error;
pub mod extract;
pub mod rate_limit;
pub mod serve;
