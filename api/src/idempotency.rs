//! `Idempotency-Key` support: the same key from the same user with the same
//! body returns the original response and never a second effect; the same key
//! with a different body is `422 IDEMPOTENCY_KEY_REUSED`.

use serde::Serialize;
use sha2::{Digest, Sha256};

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
