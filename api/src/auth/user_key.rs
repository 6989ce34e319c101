//! User keys (SPEC "Tokens"): the secret a user gets once, at registration,
//! and shows to enter a waiting room or to use the "any" endpoints. A user
//! id is an identifier that appears in responses and logs; the key is what
//! proves the caller is that user. Only its SHA-256 is stored: the key has
//! 244 random bits, so a fast hash is enough (nothing to brute-force), and a
//! leaked `users` table gives no key.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// What every key starts with, so a key is never mistaken for a queue token
/// (those are 43 base64url characters with no prefix).
const PREFIX: &str = "uk_";
/// Base64url characters after the prefix: 32 bytes.
const BODY_LEN: usize = 43;

/// A well-formed user key; whether it belongs to anyone is the database's
/// to say.
#[derive(Clone, PartialEq, Eq)]
pub struct UserKey(String);

impl std::fmt::Debug for UserKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UserKey(***)")
    }
}

impl UserKey {
    /// A new key: two version-4 UUIDs from the OS's CSPRNG, 244 random bits.
    pub fn generate() -> Self {
        let mut raw = [0u8; 32];
        raw[..16].copy_from_slice(Uuid::new_v4().as_bytes());
        raw[16..].copy_from_slice(Uuid::new_v4().as_bytes());
        Self(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(raw)))
    }

    /// `Some` for a string shaped like a key (prefix and 43 base64url
    /// characters), `None` for anything else, a queue token included.
    pub fn parse(value: &str) -> Option<Self> {
        let body = value.strip_prefix(PREFIX)?;
        let well_formed = body.len() == BODY_LEN
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && URL_SAFE_NO_PAD
                .decode(body)
                .is_ok_and(|raw| raw.len() == 32);
        well_formed.then(|| Self(value.to_owned()))
    }

    /// The key itself, to hand to its user once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the database keeps and looks keys up by.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }
}

/// Equal slices, compared without stopping at the first difference: the
/// one comparison of secrets' digests (user keys, the admin token).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_parses_and_two_keys_differ() {
        let a = UserKey::generate();
        let b = UserKey::generate();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), PREFIX.len() + BODY_LEN);
        assert_eq!(UserKey::parse(a.expose()), Some(a.clone()));
        assert_ne!(a.hash(), b.hash());
        assert_eq!(a.hash().len(), 32);
    }

    #[test]
    fn queue_tokens_and_mangled_keys_are_not_keys() {
        let key = UserKey::generate();
        let body = &key.expose()[PREFIX.len()..];
        assert_eq!(
            UserKey::parse(body),
            None,
            "no prefix: a queue token's shape"
        );
        assert_eq!(UserKey::parse(&key.expose()[..45]), None, "too short");
        assert_eq!(UserKey::parse(&format!("{}A", key.expose())), None);
        assert_eq!(UserKey::parse(&format!("uk_{}", "+".repeat(43))), None);
        assert_eq!(UserKey::parse(""), None);
    }

    #[test]
    fn a_key_does_not_print() {
        let key = UserKey::generate();
        assert!(!format!("{key:?}").contains(key.expose()));
    }
}
