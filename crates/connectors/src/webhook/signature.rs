//! Webhook signatures: `X-CC-Signature: sha256=<hex HMAC-SHA256 of "{timestamp}.{body}">`.
//!
//! The timestamp (`X-CC-Timestamp`, Unix seconds) is part of the signed text, so a receiver
//! that rejects old timestamps also rejects replayed deliveries.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The `X-CC-Signature` value for a body sent at `timestamp`.
#[must_use]
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
    )
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length.
    let mut mac = HmacSha256::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Why a delivery failed verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the timestamp is missing or not a number")]
    BadTimestamp,
    #[error("the timestamp is outside the accepted window")]
    Stale,
    #[error("the signature is missing or malformed")]
    BadSignature,
    #[error("the signature does not match")]
    Mismatch,
}

/// Checks a delivery as a receiver should: the timestamp within `tolerance_secs` of `now`
/// (Unix seconds) and the signature matching, compared in constant time.
///
/// # Errors
/// Which check failed.
pub fn verify(
    secret: &[u8],
    timestamp_header: &str,
    signature_header: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), VerifyError> {
    let timestamp: i64 = timestamp_header
        .trim()
        .parse()
        .map_err(|_| VerifyError::BadTimestamp)?;
    if (now - timestamp).abs() > tolerance_secs {
        return Err(VerifyError::Stale);
    }
    let hex_sig = signature_header
        .trim()
        .strip_prefix("sha256=")
        .ok_or(VerifyError::BadSignature)?;
    let expected = hex::decode(hex_sig).map_err(|_| VerifyError::BadSignature)?;
    mac(secret, timestamp, body)
        .verify_slice(&expected)
        .map_err(|_| VerifyError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_openssl() {
        // printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac secret
        assert_eq!(
            sign(b"secret", 1_700_000_000, br#"{"a":1}"#),
            "sha256=49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686"
        );
    }

    #[test]
    fn verifies_and_rejects() {
        let body = br#"{"id":"x"}"#;
        let sig = sign(b"k", 1000, body);
        assert_eq!(verify(b"k", "1000", &sig, body, 1010, 300), Ok(()));
        assert_eq!(
            verify(b"k", "1000", &sig, body, 2000, 300),
            Err(VerifyError::Stale)
        );
        assert_eq!(
            verify(b"other", "1000", &sig, body, 1000, 300),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(b"k", "1001", &sig, body, 1000, 300),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(b"k", "1000", &sig, b"{}", 1000, 300),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(b"k", "1000", "md5=00", body, 1000, 300),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            verify(b"k", "soon", &sig, body, 1000, 300),
            Err(VerifyError::BadTimestamp)
        );
    }
}
