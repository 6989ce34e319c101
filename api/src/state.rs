//! What every handler shares.

use crate::auth::token::TokenKey;
use crate::batch::Batcher;
use crate::http::error::{ApiError, ErrorCode};
use crate::http::rate_limit::RateLimits;
use crate::known::KnownPerformances;
use crate::notifier::Notifier;
use crate::publisher::Publisher;
use crate::waiting_line::WaitingLine;
use domain::config::Settings;
use domain::{ConcertId, PerformanceId};
use std::sync::Arc;
use store::queue::EntryRow;
use store::requests::PendingRequest;
use store::PgPool;

/// The shared state every handler gets: the pool, the publisher, the settings,
/// the token key and this instance's caches, batchers and rate limits.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub publisher: Publisher,
    pub settings: Arc<Settings>,
    pub tokens: TokenKey,
    pub notifier: Arc<Notifier>,
    pub line: Arc<WaitingLine>,
    /// Performances seen to exist (they are never deleted).
    pub performances: Arc<KnownPerformances>,
    /// Reads queue entries by token, many requests per statement.
    pub entries: Arc<Batcher<domain::TokenId, Option<EntryRow>>>,
    /// Records accepted commands, many per statement.
    pub recorder: Arc<Batcher<PendingRequest, Option<String>>>,
    /// Enters waiting rooms, many arrivals per transaction.
    pub arrivals: Arc<Batcher<crate::arrivals::Entering, crate::arrivals::Arrived>>,
    /// Per-address limits on registration and queue entry.
    pub limits: Arc<RateLimits>,
}

impl AppState {
    /// The concert of `performance`, `404 PERFORMANCE_NOT_FOUND` if there
    /// is no such performance; an answer is remembered (see
    /// [`KnownPerformances`]), so a hot seat's commands skip the query.
    pub async fn concert_of(&self, performance: PerformanceId) -> Result<ConcertId, ApiError> {
        if let Some(concert) = self.performances.concert_of(performance) {
            return Ok(concert);
        }
        let Some(concert) = store::catalog::concert_of(&self.pool, performance).await? else {
            return Err(ApiError::not_found(
                ErrorCode::PerformanceNotFound,
                format!("no performance {performance}"),
            ));
        };
        self.performances.remember(performance, concert);
        Ok(concert)
    }
}
