//! Sealing secrets that must wait in the database, and generating temporary passwords.
//!
//! A temporary password set by a lifecycle job has to reach the worker that runs the job,
//! possibly on another machine and after retries, so it is stored with the job, sealed:
//! XChaCha20-Poly1305 under a key derived from the access-token signing keys (configured, or
//! generated once per deployment), bound to what it is for (the user and the operation) so a
//! sealed value copied to another job does not open. Stored job data, the job API and backups
//! of the jobs table therefore never hold the password in clear text.
//!
//! A sealed value reads `v1.<kid>.<base64url(nonce ‖ ciphertext)>`; the key id says which
//! signing key's derivation sealed it, so rotating keys keeps pending jobs working until the
//! old key is removed.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::rngs::OsRng;
use rand::{Rng, RngCore};

use crate::Keyring;

const PURPOSE: &str = "command-center/seal/v1";

/// Why a sealed value did not open. Carries no secret material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the sealed value is malformed")]
    Malformed,
    #[error("the key `{0}` that sealed this value is no longer configured")]
    UnknownKey(String),
    #[error(
        "the sealed value does not open with its key (tampered, or sealed for something else)"
    )]
    Rejected,
}

/// Seals and opens short secrets with keys derived from a [`Keyring`].
#[derive(Clone)]
pub struct Sealer {
    /// `(kid, key)`, the sealing key first.
    keys: Vec<(String, [u8; 32])>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("Sealer").field("kids", &kids).finish()
    }
}

impl Sealer {
    #[must_use]
    pub fn from_keyring(ring: &Keyring) -> Self {
        Self::for_purpose(ring, PURPOSE)
    }

    /// A sealer whose keys are derived from `ring` for `purpose` alone, so the same secret
    /// used for two purposes never yields the same key.
    #[must_use]
    pub fn for_purpose(ring: &Keyring, purpose: &str) -> Self {
        Self {
            keys: ring.derived(purpose),
        }
    }

    /// The id of the key that seals.
    #[must_use]
    pub fn sealing_kid(&self) -> &str {
        &self.keys[0].0
    }

    /// The id of the key that sealed `sealed`, when it is well formed.
    #[must_use]
    pub fn kid_of(sealed: &str) -> Option<&str> {
        sealed
            .strip_prefix("v1.")
            .and_then(|rest| rest.rsplit_once('.'))
            .map(|(kid, _)| kid)
    }

    /// Seals `secret` for `context` (which must be given again to open it).
    #[must_use]
    pub fn seal(&self, secret: &str, context: &str) -> String {
        let (kid, key) = &self.keys[0];
        let cipher = XChaCha20Poly1305::new(key.into());
        let mut nonce = [0u8; 24];
        OsRng.fill_bytes(&mut nonce);
        let sealed = match cipher.encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: secret.as_bytes(),
                aad: context.as_bytes(),
            },
        ) {
            Ok(ct) => ct,
            Err(_) => unreachable!("encryption of a short message cannot fail"),
        };
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("v1.{kid}.{}", URL_SAFE_NO_PAD.encode(out))
    }

    /// Opens a value sealed for `context`.
    ///
    /// # Errors
    /// Malformed, sealed under a key no longer in the ring, or tampered / for another context.
    pub fn open(&self, sealed: &str, context: &str) -> Result<String, SealError> {
        // Key ids may contain '.', the base64url body never does: split on the last one.
        let Some((kid, body)) = sealed
            .strip_prefix("v1.")
            .and_then(|rest| rest.rsplit_once('.'))
        else {
            return Err(SealError::Malformed);
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| SealError::Malformed)?;
        if bytes.len() < 24 + 16 {
            return Err(SealError::Malformed);
        }
        let (_, key) = self
            .keys
            .iter()
            .find(|(k, _)| k == kid)
            .ok_or_else(|| SealError::UnknownKey(kid.to_owned()))?;
        let (nonce, ct) = bytes.split_at(24);
        let plain = XChaCha20Poly1305::new(key.into())
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SealError::Rejected)?;
        String::from_utf8(plain).map_err(|_| SealError::Rejected)
    }
}

/// What a generated temporary password looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// 12 to 128 characters.
    pub length: usize,
    pub lowercase: bool,
    pub uppercase: bool,
    pub digits: bool,
    pub symbols: bool,
    /// Leave out characters that are easy to misread (`0 O o 1 l I |`), for passwords read
    /// aloud or copied from a screen.
    pub exclude_ambiguous: bool,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            length: 16,
            lowercase: true,
            uppercase: true,
            digits: true,
            symbols: true,
            exclude_ambiguous: true,
        }
    }
}

/// Symbols accepted by Active Directory and OpenLDAP alike, and harmless in a shell or a CSV.
const SYMBOLS: &str = "!#%+-=?@^_";

impl PasswordPolicy {
    pub const MIN_LENGTH: usize = 12;
    pub const MAX_LENGTH: usize = 128;

    /// # Errors
    /// A length out of range, or no character class enabled.
    pub fn validate(&self) -> Result<(), String> {
        if !(Self::MIN_LENGTH..=Self::MAX_LENGTH).contains(&self.length) {
            return Err(format!(
                "password length must be {} to {}",
                Self::MIN_LENGTH,
                Self::MAX_LENGTH
            ));
        }
        if self.classes().is_empty() {
            return Err("enable at least one character class".into());
        }
        Ok(())
    }

    fn classes(&self) -> Vec<Vec<char>> {
        let keep = |c: &char| !self.exclude_ambiguous || !"0Oo1lI|".contains(*c);
        let mut classes = Vec::new();
        if self.lowercase {
            classes.push(('a'..='z').filter(keep).collect());
        }
        if self.uppercase {
            classes.push(('A'..='Z').filter(keep).collect());
        }
        if self.digits {
            classes.push(('0'..='9').filter(keep).collect());
        }
        if self.symbols {
            classes.push(SYMBOLS.chars().filter(keep).collect());
        }
        classes
    }
}

/// A random password from the operating system's generator with at least one character of
/// every enabled class (so it passes complexity rules such as Active Directory's).
///
/// # Panics
/// Never for a policy that [validates](PasswordPolicy::validate); an invalid one is clamped.
#[must_use]
pub fn generate_password(policy: &PasswordPolicy) -> String {
    let mut classes = policy.classes();
    if classes.is_empty() {
        classes = PasswordPolicy::default().classes();
    }
    let length = policy
        .length
        .clamp(PasswordPolicy::MIN_LENGTH, PasswordPolicy::MAX_LENGTH);
    let all: Vec<char> = classes.iter().flatten().copied().collect();
    let mut rng = OsRng;
    let mut chars: Vec<char> = classes
        .iter()
        .map(|c| c[rng.gen_range(0..c.len())])
        .collect();
    while chars.len() < length {
        chars.push(all[rng.gen_range(0..all.len())]);
    }
    // Fisher-Yates, so the guaranteed characters are not always first.
    for i in (1..chars.len()).rev() {
        chars.swap(i, rng.gen_range(0..=i));
    }
    chars.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(spec: &str) -> Keyring {
        Keyring::parse(spec).unwrap()
    }

    #[test]
    fn seal_round_trip_and_binding() {
        let s = Sealer::from_keyring(&ring("k1:0123456789abcdef0123456789abcdef"));
        let sealed = s.seal("Tr0ub4dor&3", "user-1/reset_password");
        assert!(sealed.starts_with("v1.k1."));
        assert!(!sealed.contains("Tr0ub4dor"));
        assert_eq!(
            s.open(&sealed, "user-1/reset_password").unwrap(),
            "Tr0ub4dor&3"
        );
        assert_eq!(
            s.open(&sealed, "user-2/reset_password"),
            Err(SealError::Rejected)
        );
        // Two seals of the same value differ (random nonce).
        assert_ne!(sealed, s.seal("Tr0ub4dor&3", "user-1/reset_password"));
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(s.open(&tampered, "user-1/reset_password").is_err());
        assert_eq!(s.open("v1.k1", "x"), Err(SealError::Malformed));
    }

    #[test]
    fn key_ids_with_dots_seal_and_open() {
        let s = Sealer::from_keyring(&ring("2026.01:0123456789abcdef0123456789abcdef"));
        let sealed = s.seal("hunter2 but longer", "user-1/reset");
        assert!(sealed.starts_with("v1.2026.01."), "{sealed}");
        assert_eq!(
            s.open(&sealed, "user-1/reset").unwrap(),
            "hunter2 but longer"
        );
        let other = Sealer::from_keyring(&ring("2026:0123456789abcdef0123456789abcdef"));
        assert_eq!(
            other.open(&sealed, "user-1/reset"),
            Err(SealError::UnknownKey("2026.01".into()))
        );
        assert_eq!(
            s.open("v1.nodot", "user-1/reset"),
            Err(SealError::Malformed)
        );
    }

    #[test]
    fn rotation_keeps_old_seals_open_until_the_key_is_removed() {
        let old = Sealer::from_keyring(&ring("k1:0123456789abcdef0123456789abcdef"));
        let sealed = old.seal("secret", "c");
        let rotated = Sealer::from_keyring(&ring(
            "k2:fedcba9876543210fedcba9876543210,k1:0123456789abcdef0123456789abcdef",
        ));
        assert_eq!(rotated.open(&sealed, "c").unwrap(), "secret");
        assert!(rotated.seal("x", "c").starts_with("v1.k2."));
        let removed = Sealer::from_keyring(&ring("k2:fedcba9876543210fedcba9876543210"));
        assert_eq!(
            removed.open(&sealed, "c"),
            Err(SealError::UnknownKey("k1".into()))
        );
    }

    #[test]
    fn generated_passwords_follow_the_policy() {
        let p = PasswordPolicy::default();
        for _ in 0..200 {
            let pw = generate_password(&p);
            assert_eq!(pw.chars().count(), 16);
            assert!(pw.chars().any(|c| c.is_ascii_lowercase()));
            assert!(pw.chars().any(|c| c.is_ascii_uppercase()));
            assert!(pw.chars().any(|c| c.is_ascii_digit()));
            assert!(pw.chars().any(|c| SYMBOLS.contains(c)));
            assert!(!pw.chars().any(|c| "0Oo1lI|".contains(c)), "{pw}");
        }
        let digits_only = PasswordPolicy {
            length: 20,
            lowercase: false,
            uppercase: false,
            symbols: false,
            ..p
        };
        assert!(generate_password(&digits_only)
            .chars()
            .all(|c| c.is_ascii_digit()));
        assert!(PasswordPolicy {
            length: 8,
            ..PasswordPolicy::default()
        }
        .validate()
        .is_err());
        assert_ne!(generate_password(&p), generate_password(&p));
    }
}
