//! Access tokens: compact JWS (JWT) signed with HMAC-SHA256, encoded, signed and verified by
//! the `jsonwebtoken` crate behind our own header policy.
//!
//! HS256 because the only party that verifies these tokens is Command Center itself: every
//! replica already shares the database, so it can share a symmetric key, and nothing outside
//! needs a public key. The verifier accepts exactly one shape — header `{"alg":"HS256",
//! "typ":"JWT","kid":…}` with no other fields, a known `kid`, a valid MAC, our issuer and
//! audience, and a current validity window — so `alg: none`, algorithm confusion, injected
//! keys (`jwk`, `jku`) and unknown key ids are all refused before any claim is read.
//!
//! Keys rotate through a [`Keyring`]: the first key signs; every key verifies.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

pub(crate) mod provider;

type HmacSha256 = Hmac<Sha256>;

/// `iss` of every token.
pub const ISSUER: &str = "command-center";
/// `aud` of every token.
pub const AUDIENCE: &str = "command-center-api";
/// Tolerated clock difference between replicas, in seconds.
pub const LEEWAY_SECS: i64 = 30;
/// Shortest accepted signing secret, in bytes.
pub const MIN_SECRET_LEN: usize = 32;

/// One HMAC key and its id.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    secret: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("secret", &"***")
            .finish()
    }
}

impl SigningKey {
    /// # Errors
    /// The key id is empty or odd, or the secret is shorter than [`MIN_SECRET_LEN`] bytes.
    pub fn new(kid: impl Into<String>, secret: impl Into<Vec<u8>>) -> Result<Self, JwtError> {
        let kid = kid.into();
        let secret = secret.into();
        if kid.is_empty()
            || kid.len() > 64
            || !kid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(JwtError::BadKey(
                "a key id is 1-64 characters of letters, digits, '-', '_' or '.'".into(),
            ));
        }
        if secret.len() < MIN_SECRET_LEN {
            return Err(JwtError::BadKey(format!(
                "the secret of key `{kid}` must be at least {MIN_SECRET_LEN} bytes"
            )));
        }
        Ok(Self { kid, secret })
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length.
        match HmacSha256::new_from_slice(&self.secret) {
            Ok(m) => m,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        }
    }
}

/// Signing and verification keys: the first signs, all verify.
#[derive(Debug, Clone)]
pub struct Keyring {
    keys: Vec<SigningKey>,
}

impl Keyring {
    /// # Errors
    /// No keys, or two keys share an id.
    pub fn new(keys: Vec<SigningKey>) -> Result<Self, JwtError> {
        if keys.is_empty() {
            return Err(JwtError::BadKey(
                "at least one signing key is needed".into(),
            ));
        }
        for (i, k) in keys.iter().enumerate() {
            if keys[..i].iter().any(|o| o.kid == k.kid) {
                return Err(JwtError::BadKey(format!(
                    "key id `{}` is listed twice",
                    k.kid
                )));
            }
        }
        Ok(Self { keys })
    }

    /// Parses `kid:secret` entries separated by commas or newlines (the first signs).
    ///
    /// # Errors
    /// An entry without `:`, a bad key id, a short secret, a duplicate id, or no entries.
    pub fn parse(spec: &str) -> Result<Self, JwtError> {
        let keys = spec
            .split([',', '\n'])
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(|entry| {
                let (kid, secret) = entry.split_once(':').ok_or_else(|| {
                    JwtError::BadKey("each signing key is written `kid:secret`".into())
                })?;
                SigningKey::new(kid.trim(), secret.trim().as_bytes().to_vec())
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(keys)
    }

    /// The key that signs new tokens.
    #[must_use]
    pub fn active(&self) -> &SigningKey {
        &self.keys[0]
    }

    /// A 32-byte key for `purpose` derived from each key's secret (HMAC-SHA256 of the
    /// purpose under the secret), with its key id; the signing key's first.
    #[must_use]
    pub fn derived(&self, purpose: &str) -> Vec<(String, [u8; 32])> {
        self.keys
            .iter()
            .map(|k| {
                let mut mac = k.mac();
                mac.update(purpose.as_bytes());
                (k.kid.clone(), mac.finalize().into_bytes().into())
            })
            .collect()
    }

    /// The ids of every accepted key, signing key first.
    #[must_use]
    pub fn kids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.kid.as_str()).collect()
    }

    fn find(&self, kid: &str) -> Option<&SigningKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// Signs claims with the active key.
    ///
    /// # Errors
    /// The claims could not be encoded (does not happen with [`AccessClaims`]).
    pub fn sign(&self, claims: &AccessClaims) -> Result<String, JwtError> {
        provider::install();
        let key = self.active();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some(key.kid.clone());
        let secret = jsonwebtoken::EncodingKey::from_secret(&key.secret)
            .map_err(|e| JwtError::BadKey(e.to_string()))?;
        jsonwebtoken::encode(&header, claims, &secret).map_err(|_| JwtError::InvalidClaims)
    }

    /// Verifies a token and returns its claims.
    ///
    /// Our policy reads the header first (exactly `alg`, `typ`, `kid`; `alg` HS256; a known
    /// key id), then `jsonwebtoken` checks the signature and the issuer, audience and validity
    /// window (with [`LEEWAY_SECS`]) against the clock; the window is checked again against
    /// `now`, which also refuses an `iat` in the future.
    ///
    /// # Errors
    /// Why the token is refused; every variant means "401".
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<AccessClaims, JwtError> {
        provider::install();
        let header = policy_header(token)?;
        let key = self.find(&header.kid).ok_or(JwtError::UnknownKey)?;
        let secret = jsonwebtoken::DecodingKey::from_secret(&key.secret)
            .map_err(|e| JwtError::BadKey(e.to_string()))?;
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &secret, &validation())
            .map_err(|e| refusal(e.kind()))?
            .claims;
        let t = now.timestamp();
        if claims.exp <= t - LEEWAY_SECS {
            return Err(JwtError::Expired);
        }
        if claims.nbf > t + LEEWAY_SECS || claims.iat > t + LEEWAY_SECS {
            return Err(JwtError::NotYetValid);
        }
        Ok(claims)
    }
}

/// What `jsonwebtoken` must check: HS256 only, every registered claim we issue present, our
/// issuer and audience, and the validity window.
fn validation() -> jsonwebtoken::Validation {
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    v.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    v.set_issuer(&[ISSUER]);
    v.set_audience(&[AUDIENCE]);
    v.validate_exp = true;
    v.validate_nbf = true;
    v.leeway = LEEWAY_SECS.unsigned_abs();
    v
}

fn refusal(kind: &jsonwebtoken::errors::ErrorKind) -> JwtError {
    use jsonwebtoken::errors::ErrorKind as K;
    match kind {
        K::InvalidSignature => JwtError::BadSignature,
        K::InvalidAlgorithm | K::InvalidAlgorithmName | K::MissingAlgorithm => {
            JwtError::UnsupportedAlgorithm
        }
        K::ExpiredSignature => JwtError::Expired,
        K::ImmatureSignature => JwtError::NotYetValid,
        K::InvalidToken | K::Base64(_) | K::Utf8(_) => JwtError::Malformed,
        _ => JwtError::InvalidClaims,
    }
}

/// The header, if it has exactly the shape we issue; refused before any key is used.
fn policy_header(token: &str) -> Result<Header, JwtError> {
    let mut parts = token.split('.');
    let (Some(h), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let bytes = URL_SAFE_NO_PAD.decode(h).map_err(|_| JwtError::Malformed)?;
    let header: Header = serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)?;
    if header.alg != "HS256" {
        return Err(JwtError::UnsupportedAlgorithm);
    }
    if header.typ.as_deref().is_some_and(|t| t != "JWT") {
        return Err(JwtError::Malformed);
    }
    Ok(header)
}

/// The JOSE header our policy accepts. Unknown fields (`jwk`, `jku`, `x5u`, `crit`, …) are
/// refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    kid: String,
}

/// What an access token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The operator's id.
    pub sub: Uuid,
    /// The login session (refresh-token family) the token belongs to.
    pub sid: Uuid,
    /// The operator's name when the token was issued (for logs; authorisation re-reads it).
    pub name: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: Uuid,
}

impl AccessClaims {
    /// Claims for a token valid from `now` for `ttl_secs`.
    #[must_use]
    pub fn new(
        operator: Uuid,
        session: Uuid,
        name: &str,
        now: DateTime<Utc>,
        ttl_secs: i64,
    ) -> Self {
        let t = now.timestamp();
        Self {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: operator,
            sid: session,
            name: name.into(),
            iat: t,
            nbf: t,
            exp: t + ttl_secs,
            jti: Uuid::new_v4(),
        }
    }
}

/// Why a token was refused, or a key was not accepted. None of these carry the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's algorithm is not accepted")]
    UnsupportedAlgorithm,
    #[error("the token was signed with an unknown key")]
    UnknownKey,
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token's claims are invalid")]
    InvalidClaims,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("{0}")]
    BadKey(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> Keyring {
        Keyring::parse("k2:0123456789abcdef0123456789abcdef, k1:fedcba9876543210fedcba9876543210")
            .unwrap()
    }

    fn claims(now: DateTime<Utc>) -> AccessClaims {
        AccessClaims::new(Uuid::new_v4(), Uuid::new_v4(), "admin", now, 900)
    }

    #[test]
    fn signs_with_the_first_key_and_verifies_with_any() {
        let now = Utc::now();
        let c = claims(now);
        let t = ring().sign(&c).unwrap();
        assert_eq!(ring().verify(&t, now).unwrap(), c);
        let old = Keyring::parse("k1:fedcba9876543210fedcba9876543210")
            .unwrap()
            .sign(&c)
            .unwrap();
        assert_eq!(ring().verify(&old, now).unwrap(), c);
        let header = String::from_utf8(
            URL_SAFE_NO_PAD
                .decode(t.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header, r#"{"typ":"JWT","alg":"HS256","kid":"k2"}"#);
    }

    #[test]
    fn refuses_bad_tokens() {
        let now = Utc::now();
        let r = ring();
        let t = r.sign(&claims(now)).unwrap();
        assert_eq!(
            r.verify(&t, now + chrono::Duration::seconds(2000)),
            Err(JwtError::Expired)
        );
        assert_eq!(
            r.verify(&t, now - chrono::Duration::seconds(2000)),
            Err(JwtError::NotYetValid)
        );
        assert_eq!(r.verify("a.b", now), Err(JwtError::Malformed));
        let other = Keyring::parse("k2:another-secret-that-is-long-enough!!").unwrap();
        assert_eq!(
            r.verify(&other.sign(&claims(now)).unwrap(), now),
            Err(JwtError::BadSignature)
        );
        let unknown = Keyring::parse("k9:0123456789abcdef0123456789abcdef").unwrap();
        assert_eq!(
            r.verify(&unknown.sign(&claims(now)).unwrap(), now),
            Err(JwtError::UnknownKey)
        );
        let parts: Vec<&str> = t.split('.').collect();
        let none = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT","kid":"k2"}"#);
        assert_eq!(
            r.verify(&format!("{none}.{}.", parts[1]), now),
            Err(JwtError::UnsupportedAlgorithm)
        );
        let jwk = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","kid":"k2","jwk":{}}"#);
        assert_eq!(
            r.verify(&format!("{jwk}.{}.{}", parts[1], parts[2]), now),
            Err(JwtError::Malformed)
        );
    }

    /// Signs `header.payload` as the hand-written signer before `jsonwebtoken` did.
    fn hand_signed(header: &str, payload: &str, secret: &[u8]) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let mut mac = HmacSha256::new_from_slice(secret).unwrap();
        mac.update(input.as_bytes());
        format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }

    const K2: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn tokens_signed_before_still_verify() {
        let now = Utc::now();
        let c = claims(now);
        let old = hand_signed(
            r#"{"alg":"HS256","typ":"JWT","kid":"k2"}"#,
            &serde_json::to_string(&c).unwrap(),
            K2,
        );
        assert_eq!(ring().verify(&old, now).unwrap(), c);
    }

    #[test]
    fn refuses_forged_shapes_even_when_correctly_signed() {
        let now = Utc::now();
        let c = serde_json::to_value(claims(now)).unwrap();
        let h = r#"{"alg":"HS256","typ":"JWT","kid":"k2"}"#;
        let with = |k: &str, v: serde_json::Value| {
            let mut c = c.clone();
            c[k] = v;
            hand_signed(h, &c.to_string(), K2)
        };
        let t = now.timestamp();
        let cases = [
            (
                "nbf as a string",
                with("nbf", (t + 9999).to_string().into()),
                JwtError::InvalidClaims,
            ),
            (
                "exp as a string",
                with("exp", "never".into()),
                JwtError::InvalidClaims,
            ),
            (
                "other issuer",
                with("iss", "evil".into()),
                JwtError::InvalidClaims,
            ),
            (
                "other audience",
                with("aud", "evil".into()),
                JwtError::InvalidClaims,
            ),
            (
                "iat in the future",
                with("iat", (t + 9999).into()),
                JwtError::NotYetValid,
            ),
            (
                "HS512",
                hand_signed(r#"{"alg":"HS512","kid":"k2"}"#, &c.to_string(), K2),
                JwtError::UnsupportedAlgorithm,
            ),
            (
                "jku",
                hand_signed(
                    r#"{"alg":"HS256","kid":"k2","jku":"http://x"}"#,
                    &c.to_string(),
                    K2,
                ),
                JwtError::Malformed,
            ),
            (
                "no kid",
                hand_signed(r#"{"alg":"HS256"}"#, &c.to_string(), K2),
                JwtError::Malformed,
            ),
        ];
        for (what, token, want) in cases {
            assert_eq!(ring().verify(&token, now), Err(want), "{what}");
        }
        let mut no_exp = c.clone();
        no_exp.as_object_mut().unwrap().remove("exp");
        assert!(ring()
            .verify(&hand_signed(h, &no_exp.to_string(), K2), now)
            .is_err());
    }

    #[test]
    fn rejects_weak_or_duplicate_keys() {
        assert!(Keyring::parse("k1:short").is_err());
        assert!(Keyring::parse("").is_err());
        assert!(Keyring::parse("nocolon").is_err());
        assert!(Keyring::parse(
            "a:0123456789abcdef0123456789abcdef,a:0123456789abcdef0123456789abcdef"
        )
        .is_err());
        let dbg = format!("{:?}", ring());
        assert!(!dbg.contains("0123456789abcdef"), "{dbg}");
    }
}
