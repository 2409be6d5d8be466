//! The cryptography `jsonwebtoken` uses: HMAC-SHA256 signing and verification from the `hmac`
//! and `sha2` crates the rest of this crate already uses, and verification only of the public
//! key algorithms OpenID providers sign ID tokens with (RSA PKCS#1 v1.5 and PSS, ECDSA P-256
//! and P-384, Ed25519) from `ring`, which TLS already builds. Enabling one of `jsonwebtoken`'s
//! own backends would pull a second crypto stack (aws-lc-rs, or a newer RustCrypto
//! generation). Command Center never signs with anything but HS256, and its own access tokens
//! are verified as HS256 only (see the policy in [`super`]).

use std::sync::Once;

use hmac::{Hmac, Mac};
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{ErrorKind, Result};
use jsonwebtoken::signature::{Error as SignatureError, Signer, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::signature as sig;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: new_signer,
    verifier_factory: new_verifier,
    key_utils: KeyUtils::new_unimplemented(),
};

/// Installs the provider for this process (once; later calls do nothing). If another provider
/// was installed first it stays: `jsonwebtoken` then uses that one, which is still a complete
/// implementation, and our policy still admits only HS256.
pub(crate) fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = PROVIDER.install_default();
    });
}

struct Hs256(HmacSha256);

impl Hs256 {
    fn new(alg: Algorithm, secret: &[u8]) -> Result<Box<Self>> {
        if alg != Algorithm::HS256 {
            return Err(ErrorKind::InvalidAlgorithm.into());
        }
        let mac = HmacSha256::new_from_slice(secret).map_err(|_| ErrorKind::InvalidKeyFormat)?;
        Ok(Box::new(Self(mac)))
    }
}

fn new_signer(alg: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    Ok(Hs256::new(*alg, key.as_bytes())?)
}

fn new_verifier(alg: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    if *alg == Algorithm::HS256 {
        return Ok(Hs256::new(*alg, key.try_get_as_bytes()?)?);
    }
    Ok(Box::new(PublicKey::new(*alg, key)?))
}

/// A public key that verifies one asymmetric algorithm.
struct PublicKey {
    alg: Algorithm,
    key: DecodingKeyKind,
}

impl PublicKey {
    fn new(alg: Algorithm, key: &DecodingKey) -> Result<Self> {
        let family_ok = match alg {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => key.family() == AlgorithmFamily::Rsa,
            Algorithm::ES256 | Algorithm::ES384 => key.family() == AlgorithmFamily::Ec,
            Algorithm::EdDSA => key.family() == AlgorithmFamily::Ed,
            _ => return Err(ErrorKind::InvalidAlgorithm.into()),
        };
        if !family_ok {
            return Err(ErrorKind::InvalidKeyFormat.into());
        }
        Ok(Self {
            alg,
            key: key.kind().clone(),
        })
    }

    fn rsa_params(&self) -> Option<&'static sig::RsaParameters> {
        Some(match self.alg {
            Algorithm::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
            Algorithm::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
            Algorithm::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
            Algorithm::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
            Algorithm::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
            Algorithm::PS512 => &sig::RSA_PSS_2048_8192_SHA512,
            _ => return None,
        })
    }

    fn other_params(&self) -> Option<&'static dyn sig::VerificationAlgorithm> {
        Some(match self.alg {
            Algorithm::ES256 => &sig::ECDSA_P256_SHA256_FIXED,
            Algorithm::ES384 => &sig::ECDSA_P384_SHA384_FIXED,
            Algorithm::EdDSA => &sig::ED25519,
            _ => return None,
        })
    }
}

impl Verifier<Vec<u8>> for PublicKey {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> std::result::Result<(), SignatureError> {
        let checked = match (&self.key, self.rsa_params(), self.other_params()) {
            (DecodingKeyKind::RsaModulusExponent { n, e }, Some(params), _) => {
                sig::RsaPublicKeyComponents { n, e }.verify(params, msg, signature)
            }
            (DecodingKeyKind::SecretOrDer(der), Some(params), _) => {
                sig::UnparsedPublicKey::new(params, der).verify(msg, signature)
            }
            (DecodingKeyKind::SecretOrDer(point), None, Some(params)) => {
                sig::UnparsedPublicKey::new(params, point).verify(msg, signature)
            }
            _ => return Err(SignatureError::new()),
        };
        checked.map_err(|_| SignatureError::new())
    }
}

impl JwtVerifier for PublicKey {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

impl Signer<Vec<u8>> for Hs256 {
    fn try_sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, SignatureError> {
        let mut mac = self.0.clone();
        mac.update(msg);
        Ok(mac.finalize().into_bytes().to_vec())
    }
}

impl Verifier<Vec<u8>> for Hs256 {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> std::result::Result<(), SignatureError> {
        let mut mac = self.0.clone();
        mac.update(msg);
        // Constant-time comparison.
        mac.verify_slice(signature)
            .map_err(|_| SignatureError::new())
    }
}

impl JwtSigner for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

impl JwtVerifier for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}
