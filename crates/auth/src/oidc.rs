//! OpenID Connect ID tokens: verification of a token an OpenID provider signed, against the
//! provider's published keys (JWKS) and what the relying party expects.
//!
//! The policy: the header's `alg` must be one the provider's metadata lists *and* an
//! asymmetric algorithm we implement (never `none`, never HMAC, so a public key can never be
//! used as a shared secret); headers that carry or point at keys (`jwk`, `jku`, `x5u`, `x5c`)
//! are refused; the key is found by `kid` in the provider's key set (an unknown `kid` is
//! reported as such, so the caller can refetch the set once after a key rotation); a key that
//! declares `use` other than `sig` or an `alg` other than the header's is not used. Then the
//! signature, `iss`, `aud` (and `azp`), `exp`, `iat`, `nbf` and the `nonce` are checked.
//!
//! No IO here; errors never carry the token.

use std::collections::BTreeMap;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use subtle::ConstantTimeEq;

/// Tolerated clock difference with the provider, in seconds.
pub const LEEWAY_SECS: u64 = 60;

/// Algorithms an ID token may be signed with here (the provider's metadata narrows them).
pub const SUPPORTED_ALGORITHMS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// What the relying party expects of one provider's ID tokens.
#[derive(Debug, Clone)]
pub struct IdTokenPolicy {
    /// The provider's issuer identifier, exactly as its metadata states it.
    pub issuer: String,
    /// Our client id: the audience.
    pub client_id: String,
    /// `id_token_signing_alg_values_supported` from the provider's metadata.
    pub provider_algorithms: Vec<String>,
}

/// The verified claims of an ID token.
#[derive(Debug, Clone, Deserialize)]
pub struct IdClaims {
    pub iss: String,
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    #[serde(default)]
    pub nonce: Option<String>,
    #[serde(default)]
    pub azp: Option<String>,
    #[serde(default)]
    pub aud: Audience,
    /// Every claim, for names (`preferred_username`, `email`) and the role claim.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// `aud`: one string or several.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
    #[default]
    Missing,
}

impl Audience {
    fn values(&self) -> Vec<&str> {
        match self {
            Audience::One(a) => vec![a.as_str()],
            Audience::Many(v) => v.iter().map(String::as_str).collect(),
            Audience::Missing => Vec::new(),
        }
    }
}

/// Why an ID token was refused. None of these carry the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenError {
    #[error("the ID token is malformed")]
    Malformed,
    #[error("the ID token's algorithm `{0}` is not accepted")]
    Algorithm(String),
    #[error("the ID token's header carries a key or a key location")]
    EmbeddedKey,
    /// Refetch the provider's keys once (rate-limited) and try again.
    #[error("the ID token was signed with a key the provider does not publish")]
    UnknownKey,
    #[error("the ID token's signature is invalid")]
    BadSignature,
    #[error("the ID token was issued by another issuer")]
    WrongIssuer,
    #[error("the ID token is meant for another client")]
    WrongAudience,
    #[error("the ID token has expired")]
    Expired,
    #[error("the ID token is not valid yet")]
    NotYetValid,
    #[error("the ID token's nonce does not match this sign-in")]
    BadNonce,
    #[error("the ID token's claims are invalid")]
    InvalidClaims,
}

/// Verifies `token` against `keys` and `policy`, expecting `nonce`.
///
/// # Errors
/// Why the token is refused ([`IdTokenError::UnknownKey`] when no published key has its `kid`).
pub fn verify_id_token(
    token: &str,
    keys: &JwkSet,
    policy: &IdTokenPolicy,
    nonce: &str,
) -> Result<IdClaims, IdTokenError> {
    crate::jwt::provider::install();
    if token.len() > 16 * 1024 || token.split('.').count() != 3 {
        return Err(IdTokenError::Malformed);
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| IdTokenError::Malformed)?;
    let alg_name = algorithm_name(header.alg);
    if !SUPPORTED_ALGORITHMS.contains(&alg_name)
        || !policy.provider_algorithms.iter().any(|a| a == alg_name)
    {
        return Err(IdTokenError::Algorithm(alg_name.to_owned()));
    }
    if header.jwk.is_some() || header.jku.is_some() || header.x5u.is_some() || header.x5c.is_some()
    {
        return Err(IdTokenError::EmbeddedKey);
    }
    let jwk = find_key(keys, header.kid.as_deref(), header.alg)?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| IdTokenError::UnknownKey)?;
    let mut v = Validation::new(header.alg);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    v.set_issuer(&[policy.issuer.as_str()]);
    v.set_audience(&[policy.client_id.as_str()]);
    v.validate_exp = true;
    v.validate_nbf = true;
    v.leeway = LEEWAY_SECS;
    let claims = jsonwebtoken::decode::<IdClaims>(token, &key, &v)
        .map_err(|e| refusal(e.kind()))?
        .claims;
    check_claims(&claims, policy, nonce)?;
    Ok(claims)
}

fn check_claims(c: &IdClaims, policy: &IdTokenPolicy, nonce: &str) -> Result<(), IdTokenError> {
    let now = jsonwebtoken::get_current_timestamp().cast_signed();
    let leeway = LEEWAY_SECS.cast_signed();
    if c.exp <= now - leeway {
        return Err(IdTokenError::Expired);
    }
    if c.iat > now + leeway {
        return Err(IdTokenError::NotYetValid);
    }
    let aud = c.aud.values();
    if !aud.contains(&policy.client_id.as_str()) {
        return Err(IdTokenError::WrongAudience);
    }
    // With other audiences besides us, the token must say it was issued to us.
    if (aud.len() > 1 || c.azp.is_some()) && c.azp.as_deref() != Some(policy.client_id.as_str())
    {
        return Err(IdTokenError::WrongAudience);
    }
    if c.sub.is_empty() || c.sub.len() > 255 {
        return Err(IdTokenError::InvalidClaims);
    }
    let given = c.nonce.as_deref().unwrap_or_default();
    if given.is_empty() || !bool::from(given.as_bytes().ct_eq(nonce.as_bytes())) {
        return Err(IdTokenError::BadNonce);
    }
    Ok(())
}

/// The published key for `kid` (or the only suitable key when the token names none) that may
/// verify `alg`.
fn find_key<'a>(
    keys: &'a JwkSet,
    kid: Option<&str>,
    alg: Algorithm,
) -> Result<&'a Jwk, IdTokenError> {
    let suitable = |k: &&Jwk| key_fits(k, alg);
    match kid {
        Some(kid) => keys
            .keys
            .iter()
            .filter(|k| k.common.key_id.as_deref() == Some(kid))
            .find(suitable)
            .ok_or(IdTokenError::UnknownKey),
        None => {
            let mut fits = keys.keys.iter().filter(suitable);
            match (fits.next(), fits.next()) {
                (Some(k), None) => Ok(k),
                _ => Err(IdTokenError::UnknownKey),
            }
        }
    }
}

fn key_fits(k: &Jwk, alg: Algorithm) -> bool {
    if k
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|u| *u != PublicKeyUse::Signature)
    {
        return false;
    }
    if let Some(declared) = k.common.key_algorithm {
        if declared.to_string() != algorithm_name(alg) {
            return false;
        }
    }
    match (&k.algorithm, alg) {
        (
            AlgorithmParameters::RSA(_),
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512,
        ) => true,
        (AlgorithmParameters::EllipticCurve(p), Algorithm::ES256) => p.curve == EllipticCurve::P256,
        (AlgorithmParameters::EllipticCurve(p), Algorithm::ES384) => p.curve == EllipticCurve::P384,
        (AlgorithmParameters::OctetKeyPair(p), Algorithm::EdDSA) => {
            p.curve == EllipticCurve::Ed25519
        }
        _ => false,
    }
}

fn algorithm_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::EdDSA => "EdDSA",
        // HMAC (and whatever comes next) is never accepted for an ID token.
        _ => "unsupported",
    }
}

fn refusal(kind: &jsonwebtoken::errors::ErrorKind) -> IdTokenError {
    use jsonwebtoken::errors::ErrorKind as K;
    match kind {
        K::InvalidSignature => IdTokenError::BadSignature,
        K::InvalidAlgorithm | K::InvalidAlgorithmName | K::MissingAlgorithm => {
            IdTokenError::Algorithm("unsupported".into())
        }
        K::InvalidKeyFormat => IdTokenError::UnknownKey,
        K::ExpiredSignature => IdTokenError::Expired,
        K::ImmatureSignature => IdTokenError::NotYetValid,
        K::InvalidIssuer => IdTokenError::WrongIssuer,
        K::InvalidAudience => IdTokenError::WrongAudience,
        K::InvalidToken | K::Base64(_) | K::Utf8(_) | K::Json(_) => IdTokenError::Malformed,
        _ => IdTokenError::InvalidClaims,
    }
}
