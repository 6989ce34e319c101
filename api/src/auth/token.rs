//! Queue tokens: the entry's random id followed by an HMAC of it under
//! `TOKEN_SECRET`. A token carries nothing a client could alter, and a forged
//! one is refused without touching the database.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use domain::config::Secret;
use domain::TokenId;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

const MAC_LEN: usize = 16;
const DOMAIN_TAG: &[u8] = b"queue-token:v1:";

/// The `TOKEN_SECRET` key queue tokens are signed and checked with, kept in
/// the state so a forged token is refused without touching the database.
#[derive(Clone)]
pub struct TokenKey(Secret);

impl TokenKey {
    /// Wraps the configured secret; the API builds one at startup.
    pub fn new(secret: Secret) -> Self {
        Self(secret)
    }

    fn mac(&self, id: &TokenId) -> Hmac<Sha256> {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.0.expose().as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(DOMAIN_TAG);
        mac.update(id.0.as_bytes());
        mac
    }

    /// The token handed to the client for entry `id`; the same id always gives
    /// the same token.
    pub fn issue(&self, id: &TokenId) -> String {
        let tag = self.mac(id).finalize().into_bytes();
        let mut raw = Vec::with_capacity(16 + MAC_LEN);
        raw.extend_from_slice(id.0.as_bytes());
        raw.extend_from_slice(&tag[..MAC_LEN]);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// The entry id inside `token`, if the token is well formed and was issued
    /// with this key.
    pub fn verify(&self, token: &str) -> Option<TokenId> {
        if token.len() > 64 {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(token).ok()?;
        if raw.len() != 16 + MAC_LEN {
            return None;
        }
        let (id, tag) = raw.split_at(16);
        let id = TokenId(Uuid::from_slice(id).ok()?);
        // verify_truncated_left compares in constant time.
        self.mac(&id).verify_truncated_left(tag).ok()?;
        Some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> TokenKey {
        TokenKey::new(Secret::new(s))
    }

    #[test]
    fn an_issued_token_verifies_to_its_entry() {
        let k = key("0123456789abcdef0123456789abcdef");
        let id = TokenId::new();
        let token = k.issue(&id);
        assert_eq!(k.verify(&token), Some(id));
        assert_eq!(k.issue(&id), token);
    }

    #[test]
    fn a_token_from_another_key_is_refused() {
        let id = TokenId::new();
        let token = key("0123456789abcdef0123456789abcdef").issue(&id);
        assert_eq!(key("fedcba9876543210fedcba9876543210").verify(&token), None);
    }

    #[test]
    fn an_altered_or_malformed_token_is_refused() {
        let k = key("0123456789abcdef0123456789abcdef");
        let token = k.issue(&TokenId::new());
        let mut chars: Vec<char> = token.chars().collect();
        chars[3] = if chars[3] == 'A' { 'B' } else { 'A' };
        let altered: String = chars.into_iter().collect();
        for bad in [
            altered.as_str(),
            "",
            "abc",
            "!!!!",
            &token[..20],
            &"A".repeat(500),
        ] {
            assert_eq!(k.verify(bad), None, "{bad}");
        }
    }
}
