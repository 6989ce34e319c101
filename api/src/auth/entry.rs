//! The queue entry a status poll or an event stream is about (SPEC "any"):
//! named by its token, or, with the user's key, the user's entry in the room
//! of `?concert_id=` (without it: the user's newest live entry, else their
//! newest).

use super::{token_id, user_key};
use crate::http::error::{ApiError, ErrorCode};
use crate::state::AppState;
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use domain::{ConcertId, TokenId};
use std::collections::HashMap;

/// The entry of the request's credential, by its token id.
pub struct EntryOf(pub TokenId);

impl FromRequestParts<AppState> for EntryOf {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(key) = user_key(&parts.headers) else {
            return token_id(parts, state).map(EntryOf);
        };
        let (user, _) = store::users::by_key_hash(&state.pool, &key.hash())
            .await?
            .ok_or(ApiError::InvalidToken)?;
        let concert = concert_param(parts)?;
        store::queue::entry_of_user(&state.pool, user, concert)
            .await?
            .map(EntryOf)
            .ok_or_else(|| {
                ApiError::not_found(
                    ErrorCode::QueueEntryNotFound,
                    "the user has not entered that waiting room",
                )
            })
    }
}

/// `?concert_id=`, if given: a positive integer.
fn concert_param(parts: &Parts) -> Result<Option<ConcertId>, ApiError> {
    let Query(query) = Query::<HashMap<String, String>>::try_from_uri(&parts.uri)
        .map_err(|e| ApiError::Validation(e.body_text()))?;
    let Some(raw) = query.get("concert_id") else {
        return Ok(None);
    };
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .map(|id| Some(ConcertId(id)))
        .ok_or_else(|| {
            ApiError::Validation(format!(
                "concert_id must be a positive integer, got {raw:?}"
            ))
        })
}
