//! Who is calling: the credential extractors ([`AnyToken`] for endpoints any
//! valid token may use, [`ActiveToken`] for those that need an admitted one
//! (SPEC rule 2), [`AnyCredential`] for those that also take the user's
//! key), [`admin::Admin`] for the operators' endpoints, the HMAC queue
//! tokens and the user keys.

pub mod admin;
pub mod entry;
pub mod token;
pub mod user_key;

use crate::auth::user_key::UserKey;
use crate::http::error::ApiError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use chrono::{DateTime, Duration, Utc};
use domain::queue::{Entry, QueueStatus};
use domain::{ConcertId, TokenId, UserId};
use store::queue::EntryRow;

/// Who is calling, as their queue entry says.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: UserId,
    pub token_id: TokenId,
    /// The concert whose waiting room the token is for: an active token
    /// opens only this concert's dates, seats, holds and payments.
    pub concert_id: ConcertId,
    pub seq: i64,
    pub entry: Entry,
    pub status: QueueStatus,
    /// When the concert's sale opens, while it has not.
    pub sale_opens_at: Option<DateTime<Utc>>,
    pub now: DateTime<Utc>,
}

impl Caller {
    /// SPEC "active": an active token of the concert the request concerns;
    /// `403 TOKEN_NOT_FOR_CONCERT` for an active token of another.
    pub fn require_active_for(&self, concert: ConcertId) -> Result<(), ApiError> {
        if self.status != QueueStatus::Active {
            return Err(ApiError::TokenNotActive);
        }
        if self.concert_id != concert {
            return Err(ApiError::TokenNotForConcert);
        }
        Ok(())
    }
}

/// A valid token, whatever its status.
pub struct AnyToken(pub Caller);

/// A valid token whose entry is active now.
pub struct ActiveToken(pub Caller);

/// A token whose HMAC checks out, not yet looked up: the entry may be unknown.
pub struct VerifiedToken(pub TokenId);

/// SPEC's "any": the user's key, or any valid queue token of the user
/// whatever its status. Holds the user and the database's clock.
pub struct AnyCredential {
    pub user_id: UserId,
    pub now: DateTime<Utc>,
}

impl FromRequestParts<AppState> for AnyCredential {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match user_key(&parts.headers) {
            Some(key) => {
                let (user_id, now) = store::users::by_key_hash(&state.pool, &key.hash())
                    .await?
                    .ok_or(ApiError::InvalidToken)?;
                Ok(AnyCredential { user_id, now })
            }
            None => {
                let caller = caller(parts, state).await?;
                Ok(AnyCredential {
                    user_id: caller.user_id,
                    now: caller.now,
                })
            }
        }
    }
}

/// The user key of the request (`Authorization: Bearer uk_…`), if it has
/// one of that shape.
pub fn user_key(headers: &HeaderMap) -> Option<UserKey> {
    bearer_in(headers).and_then(UserKey::parse)
}

/// The credentials of the request's `Bearer` authorization, if any.
pub(crate) fn bearer_in(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer)
}

impl FromRequestParts<AppState> for AnyToken {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        caller(parts, state).await.map(AnyToken)
    }
}

impl FromRequestParts<AppState> for VerifiedToken {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        token_id(parts, state).map(VerifiedToken)
    }
}

impl FromRequestParts<AppState> for ActiveToken {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = caller(parts, state).await?;
        if caller.status != QueueStatus::Active {
            return Err(ApiError::TokenNotActive);
        }
        Ok(ActiveToken(caller))
    }
}

/// The entry id in the request's bearer token, checked against its HMAC
/// before any database work.
pub fn token_id(parts: &Parts, state: &AppState) -> Result<TokenId, ApiError> {
    bearer_in(&parts.headers)
        .and_then(|token| state.tokens.verify(token))
        .ok_or(ApiError::InvalidToken)
}

/// The bearer token of a request, verified, then looked up by primary key
/// for its status.
async fn caller(parts: &Parts, state: &AppState) -> Result<Caller, ApiError> {
    let token_id = token_id(parts, state)?;
    caller_of(token_id, state).await
}

/// The caller behind a verified token, as its queue entry says now.
pub async fn caller_of(token_id: TokenId, state: &AppState) -> Result<Caller, ApiError> {
    let row = match state.entries.submit(token_id).await {
        Some(row) => row,
        // The batch failed: this request's own statement says why.
        None => store::queue::entries_by_token(&state.pool, &[token_id])
            .await?
            .pop()
            .flatten(),
    };
    let row: EntryRow = row.ok_or(ApiError::InvalidToken)?;
    let entry = row.entry();
    let idle = Duration::seconds(i64::from(state.settings.queue_idle_timeout_seconds));
    Ok(Caller {
        user_id: UserId(row.user_id),
        token_id,
        concert_id: ConcertId(row.concert_id),
        seq: row.seq,
        status: entry.visible_status(row.now, idle),
        entry,
        sale_opens_at: row.sale_opens_at,
        now: row.now,
    })
}

/// The credentials of a `Bearer` authorization value; the scheme name is
/// case-insensitive (RFC 9110).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

#[cfg(test)]
mod tests {
    use super::bearer;

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_required() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("BEARER abc"), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer"), None);
        assert_eq!(bearer("abc"), None);
    }
}
