//! `GET /v1/tickets`: the seats the caller paid for, with their concert and
//! date, as a ticket wallet shows them.

use crate::auth::AnyCredential;
use crate::http::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use domain::wire::{Ticket, TicketStatus};

/// `GET /v1/tickets`
#[utoipa::path(
    get,
    path = "/v1/tickets",
    tag = "commands",
    summary = "The caller's tickets",
    security(("queue_token" = [])),
    responses((status = 200, description = "The caller's paid seats (`paid`, or `refunded` once cancelled), soonest performance first", body = Vec<Ticket>), crate::openapi::AnyTokenErrors)
)]
#[tracing::instrument(skip_all, fields(user_id = %caller.user_id))]
pub async fn tickets(
    State(state): State<AppState>,
    caller: AnyCredential,
) -> Result<Json<Vec<Ticket>>, ApiError> {
    let rows = store::tickets::of_user(&state.pool, caller.user_id).await?;
    Ok(Json(
        rows.into_iter()
            .filter_map(|t| {
                // The statement selects only these two statuses.
                let status = TicketStatus::parse(&t.status)?;
                Some(Ticket {
                    payment_id: t.payment_id,
                    reservation_id: t.reservation_id,
                    concert_id: t.concert_id,
                    title: t.title,
                    artist: t.artist,
                    performance_id: t.performance_id,
                    starts_at: t.starts_at,
                    seat_number: t.seat_number,
                    price: t.price,
                    paid_at: t.paid_at,
                    status,
                })
            })
            .collect(),
    ))
}
