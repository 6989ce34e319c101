//! The body of `POST /v1/performances/{id}/waitlist` (SPEC rule 11).

use serde::{Deserialize, Serialize};

/// The caller's place on a sold-out performance's waitlist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WaitlistPlace {
    /// The performance waited for.
    pub performance_id: i64,
    /// 1 for the first on the list: the next seat freed is offered to
    /// them (held for `WAITLIST_OFFER_SECONDS`, see `GET /v1/reservations`).
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub position: i64,
}
