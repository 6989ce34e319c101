//! The bodies of the waiting room.

use crate::queue::QueueStatus;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The answer to `POST /v1/queue/tokens`: the caller's place in the waiting
/// room and the token that stands for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(description = "A place in the waiting room.")
)]
pub struct QueueEntry {
    /// The bearer token for every call that needs one.
    pub token: String,
    /// The user the entry belongs to.
    pub user_id: uuid::Uuid,
    /// The concert whose room this is: the token opens only its dates.
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub concert_id: i64,
    /// `waiting`, or `active` when there was room at once.
    pub status: QueueStatus,
    /// 1-based while waiting, 0 when active; null in the pre-queue (before
    /// the sale opens, when places are drawn).
    #[cfg_attr(feature = "openapi", schema(minimum = 0, required = true))]
    pub position: Option<u64>,
    /// About how long until the entry is admitted (in the pre-queue: until
    /// the sale opens); 0 when active.
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub estimated_wait_seconds: u64,
    /// When the concert's sale opens; null once it is open.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub sale_opens_at: Option<DateTime<Utc>>,
}

/// The answer to `GET /v1/queue/status`, polled while waiting (the poll
/// also keeps a waiting entry alive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(description = "The caller's place in the waiting room.")
)]
pub struct QueueStatusResponse {
    /// The user the entry belongs to.
    pub user_id: uuid::Uuid,
    /// The concert whose room this is.
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub concert_id: i64,
    /// The entry's status now.
    pub status: QueueStatus,
    /// 1-based while waiting, 0 when active or expired; null in the
    /// pre-queue.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, required = true))]
    pub position: Option<u64>,
    /// Entries ahead of the caller; null in the pre-queue.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, required = true))]
    pub ahead: Option<u64>,
    /// About how long until the entry is admitted (in the pre-queue: until
    /// the sale opens); 0 unless waiting.
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub estimated_wait_seconds: u64,
    /// When an active token expires; null unless active.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub active_until: Option<DateTime<Utc>>,
    /// When the concert's sale opens; null once it is open.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub sale_opens_at: Option<DateTime<Utc>>,
}
