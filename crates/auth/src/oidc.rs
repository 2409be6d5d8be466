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
    if (aud.len() > 1 || c.azp.is_some()) && c.azp.as_deref() != Some(policy.client_id.as_str()) {
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
    if k.common
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

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use ring::signature::{Ed25519KeyPair, KeyPair};
    use serde_json::json;

    use super::*;

    struct Signer {
        pair: Ed25519KeyPair,
        kid: String,
    }

    impl Signer {
        fn new(kid: &str) -> Self {
            let rng = ring::rand::SystemRandom::new();
            let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
            Self {
                pair: Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap(),
                kid: kid.into(),
            }
        }

        fn jwks(&self) -> JwkSet {
            serde_json::from_value(json!({"keys": [{
                "kty": "OKP", "crv": "Ed25519", "use": "sig", "kid": self.kid,
                "x": URL_SAFE_NO_PAD.encode(self.pair.public_key().as_ref()),
            }]}))
            .unwrap()
        }

        fn sign(&self, header: &serde_json::Value, claims: &serde_json::Value) -> String {
            let h = URL_SAFE_NO_PAD.encode(header.to_string());
            let p = URL_SAFE_NO_PAD.encode(claims.to_string());
            let sig = self.pair.sign(format!("{h}.{p}").as_bytes());
            format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
        }

        fn token(&self, claims: &serde_json::Value) -> String {
            self.sign(&json!({"alg": "EdDSA", "kid": self.kid}), claims)
        }
    }

    fn policy() -> IdTokenPolicy {
        IdTokenPolicy {
            issuer: "https://op.example".into(),
            client_id: "cc".into(),
            provider_algorithms: vec!["EdDSA".into()],
        }
    }

    fn claims() -> serde_json::Value {
        let now = jsonwebtoken::get_current_timestamp();
        json!({"iss": "https://op.example", "aud": "cc", "sub": "u1", "iat": now,
            "exp": now + 300, "nonce": "n-1", "groups": ["a"]})
    }

    #[test]
    fn a_valid_token_is_accepted() {
        let s = Signer::new("k1");
        let c = verify_id_token(&s.token(&claims()), &s.jwks(), &policy(), "n-1").unwrap();
        assert_eq!(c.sub, "u1");
        assert_eq!(c.other["groups"], json!(["a"]));
    }

    #[test]
    fn each_check_refuses() {
        let s = Signer::new("k1");
        let keys = s.jwks();
        let p = policy();
        let with = |k: &str, v: serde_json::Value| {
            let mut c = claims();
            c[k] = v;
            s.token(&c)
        };
        let check = |t: &str| verify_id_token(t, &keys, &p, "n-1").unwrap_err();
        assert_eq!(
            check(&with("aud", json!("other"))),
            IdTokenError::WrongAudience
        );
        assert_eq!(
            check(&with("iss", json!("https://evil"))),
            IdTokenError::WrongIssuer
        );
        assert_eq!(check(&with("exp", json!(1000))), IdTokenError::Expired);
        assert_eq!(check(&with("nonce", json!("n-2"))), IdTokenError::BadNonce);
        assert_eq!(
            check(&with("aud", json!(["cc", "other"]))),
            IdTokenError::WrongAudience,
            "several audiences need azp"
        );
        // Another key under the same id: bad signature.
        let other = Signer::new("k1");
        assert_eq!(check(&other.token(&claims())), IdTokenError::BadSignature);
        // An unknown key id: the caller refetches.
        let rotated = Signer::new("k2");
        assert_eq!(check(&rotated.token(&claims())), IdTokenError::UnknownKey);
    }

    #[test]
    fn algorithms_come_from_the_provider_and_never_none_or_hmac() {
        let s = Signer::new("k1");
        let keys = s.jwks();
        let mut p = policy();
        p.provider_algorithms = vec!["RS256".into()];
        let t = s.token(&claims());
        assert!(matches!(
            verify_id_token(&t, &keys, &p, "n-1"),
            Err(IdTokenError::Algorithm(_))
        ));
        let p = policy();
        let body = URL_SAFE_NO_PAD.encode(claims().to_string());
        for alg in ["none", "HS256"] {
            let h = URL_SAFE_NO_PAD.encode(json!({"alg": alg, "kid": "k1"}).to_string());
            let forged = format!("{h}.{body}.");
            assert!(verify_id_token(&forged, &keys, &p, "n-1").is_err(), "{alg}");
        }
        let embedded = s.sign(
            &json!({"alg": "EdDSA", "kid": "k1", "jku": "https://evil/jwks"}),
            &claims(),
        );
        assert_eq!(
            verify_id_token(&embedded, &keys, &p, "n-1").unwrap_err(),
            IdTokenError::EmbeddedKey
        );
    }
}
