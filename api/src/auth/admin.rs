//! SPEC's "admin" credential: `Authorization: Bearer <ADMIN_TOKEN>`.
//! Anything else is `401 INVALID_TOKEN`; while `ADMIN_TOKEN` is unset the
//! admin endpoints do not exist (`404`, as the router does not mount them;
//! the extractor says the same should one be mounted anyway).

use super::bearer_in;
use crate::http::error::{ApiError, ErrorCode};
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};

/// Proof that the request carries the admin token; the first argument of
/// every admin handler, so nothing else of the request is read before.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(expected) = &state.settings.admin_token else {
            return Err(ApiError::not_found(ErrorCode::NotFound, "no such endpoint"));
        };
        let given = bearer_in(&parts.headers).unwrap_or_default();
        if same_token(given, expected.expose()) {
            Ok(Admin)
        } else {
            tracing::warn!("an admin endpoint was called without the admin token");
            Err(ApiError::InvalidAdminToken)
        }
    }
}

/// Whether `given` is `expected`, in time that depends on neither: both are
/// hashed to 32 bytes first (so the length does not show), then compared
/// without stopping at the first difference.
fn same_token(given: &str, expected: &str) -> bool {
    let (a, b) = (
        Sha256::digest(given.as_bytes()),
        Sha256::digest(expected.as_bytes()),
    );
    super::user_key::constant_time_eq(&a, &b)
}

#[cfg(test)]
mod tests {
    use super::same_token;

    #[test]
    fn only_the_exact_token_matches() {
        let token = "admin-0123456789abcdef0123456789ab";
        assert!(same_token(token, token));
        assert!(!same_token("", token));
        assert!(!same_token(&token[1..], token));
        assert!(!same_token(&format!("{token}x"), token));
        assert!(!same_token(&token.to_uppercase(), token));
    }
}
