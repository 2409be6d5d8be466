//! Opaque secrets: refresh tokens and API tokens.
//!
//! A secret is 32 random bytes (256 bits) in URL-safe base64 behind a short prefix that says
//! what it is (`ccr_` refresh, `cct_` API token), so a leaked secret is recognisable in a scan
//! and is never mistaken for an access token (a JWT has two dots). Only its SHA-256 digest is
//! stored: with 256 bits of entropy a fast hash is enough, and lookups stay a single indexed query.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// What a secret is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    RefreshToken,
    ApiToken,
}

impl SecretKind {
    #[must_use]
    pub fn prefix(self) -> &'static str {
        match self {
            SecretKind::RefreshToken => "ccr_",
            SecretKind::ApiToken => "cct_",
        }
    }
}

/// A new random secret of the given kind.
#[must_use]
pub fn new_secret(kind: SecretKind) -> String {
    format!("{}{}", kind.prefix(), random_b64(32))
}

/// `n` random bytes from the operating system's generator, URL-safe base64 without padding.
#[must_use]
pub fn random_b64(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored form of a secret: lowercase hex SHA-256.
#[must_use]
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Compares two byte strings in time independent of where they differ.
#[must_use]
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_random_and_hashed() {
        let a = new_secret(SecretKind::ApiToken);
        let b = new_secret(SecretKind::ApiToken);
        assert!(a.starts_with("cct_") && a.len() == 4 + 43);
        assert_ne!(a, b);
        assert_eq!(hash_secret(&a).len(), 64);
        assert_ne!(hash_secret(&a), hash_secret(&b));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
