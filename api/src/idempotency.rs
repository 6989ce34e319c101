//! `Idempotency-Key` for commands: the same key from the same user with the
//! same body returns the original `202` and never a second effect; the same
//! key with a different body is `422 IDEMPOTENCY_KEY_REUSED`.
//!
//! A key names its command: the request id is derived from the user, the
//! kind and the key ([`command_id`]), so a retry publishes the same id and
//! the worker applies it once. Where that is decided, in the order a command
//! meets them:
//! 1. here, [`accepted_before`]: a retry of an accepted command is answered
//!    its `202` at once, before its token is checked (a payment expires it);
//! 2. here, [`record_accepted`]: after publishing, the body hash is recorded
//!    with the request; a concurrent request with the same key and another
//!    body that got there first wins, and this one is `422`;
//! 3. the worker (`workers/src/apply/mod.rs`, `claim_body_hashes`) records
//!    the same hash with the same statement (`store::requests::record_pending`)
//!    in case it comes before the API, and skips a body that lost;
//! 4. the worker records each applied command id in its transaction
//!    (`store::commands::record_applied`): a redelivery changes nothing.
//!
//! Balance charges are synchronous (no Kafka, no request to poll), so they
//! keep their answer itself, under the user's row lock, in
//! `idempotency_keys` (`routes/balance.rs`, `store::balances`).

use crate::batch;
use crate::http::error::ApiError;
use crate::state::AppState;
use domain::{RequestId, RequestKind, UserId};
use serde::Serialize;
use sha2::{Digest, Sha256};
use store::requests::PendingRequest;

/// A fingerprint of a request's meaning: the hash of its parsed body, so
/// whitespace or key order do not make two equal requests differ.
pub fn body_hash(kind: &str, body: &impl Serialize) -> String {
    let canonical = serde_json::to_vec(body).unwrap_or_default();
    let mut hasher = Sha256::new();
    hasher.update(kind.as_bytes());
    hasher.update(b"\0");
    hasher.update(&canonical);
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The id of a command: derived from `key` when there is one, so a retry
/// names the same command; else a fresh one.
pub fn command_id(user: UserId, kind: RequestKind, key: Option<&str>) -> RequestId {
    match key {
        Some(k) => RequestId::for_idempotency_key(user, kind.as_str(), k),
        None => RequestId::new(),
    }
}

/// The command accepted earlier with `key` and this body, if any: its id,
/// to answer its `202` again whatever its token's status now. Another body
/// with the same key is `422`; no key, or a new one, is `None`.
pub async fn accepted_before(
    state: &AppState,
    user: UserId,
    kind: RequestKind,
    key: Option<&str>,
    hash: &str,
) -> Result<Option<RequestId>, ApiError> {
    let Some(key) = key else {
        return Ok(None);
    };
    let id = command_id(user, kind, Some(key));
    match store::requests::body_hash_of(&state.pool, id).await? {
        Some(Some(earlier)) if earlier != hash => Err(ApiError::IdempotencyKeyReused),
        Some(_) => Ok(Some(id)),
        None => Ok(None),
    }
}

/// Records a published command as pending with its body hash (batched with
/// other requests'). The worker may already have recorded its outcome: that
/// is kept. `422` when a concurrent request with the same key and another
/// body was recorded first: the id is taken, and the worker applies only
/// that one.
pub async fn record_accepted(state: &AppState, row: PendingRequest) -> Result<(), ApiError> {
    let stored: Option<String> = match state.recorder.submit(row.clone()).await {
        Some(stored) => stored,
        // The batch failed: this request's own statement says why.
        None => batch::record_accepted(&state.pool, std::slice::from_ref(&row))
            .await?
            .pop()
            .flatten(),
    };
    if stored.is_some_and(|h| h != row.body_hash) {
        return Err(ApiError::IdempotencyKeyReused);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equal_bodies_hash_alike_and_different_ones_do_not() {
        let a = body_hash("reserve", &json!({"performance_id": 1, "seat_number": 2}));
        assert_eq!(
            a,
            body_hash("reserve", &json!({"seat_number": 2, "performance_id": 1}))
        );
        assert_ne!(
            a,
            body_hash("reserve", &json!({"performance_id": 1, "seat_number": 3}))
        );
        assert_ne!(
            a,
            body_hash("pay", &json!({"performance_id": 1, "seat_number": 2}))
        );
    }
}
