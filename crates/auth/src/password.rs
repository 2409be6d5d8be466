//! Operator passwords: Argon2id hashing with OWASP's parameters and the password policy.

use std::collections::HashSet;
use std::sync::LazyLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Shortest accepted password.
pub const MIN_LENGTH: usize = 12;
/// Longest accepted password (bounds hashing work per request).
pub const MAX_LENGTH: usize = 256;

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../data/common-passwords.txt")
        .lines()
        .filter(|l| !l.is_empty())
        .collect()
});

/// Why a password was refused. The messages are safe to show: they never echo the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("must be at least {MIN_LENGTH} characters")]
    TooShort,
    #[error("must be at most {MAX_LENGTH} characters")]
    TooLong,
    #[error("is one of the most common passwords; choose another")]
    Common,
    #[error("must not contain the username")]
    ContainsUsername,
    #[error("password hashing failed")]
    Hashing,
}

/// Checks a new password against the policy: length, the common-password list (also with
/// digits or punctuation appended, e.g. `dragon2024!`), and not containing the username.
///
/// # Errors
/// The rule the password breaks.
pub fn check_policy(password: &str, username: &str) -> Result<(), PasswordError> {
    let chars = password.chars().count();
    if chars < MIN_LENGTH {
        return Err(PasswordError::TooShort);
    }
    if chars > MAX_LENGTH {
        return Err(PasswordError::TooLong);
    }
    let lower = password.to_lowercase();
    let base = lower.trim_end_matches(|c: char| c.is_ascii_digit() || c.is_ascii_punctuation());
    if COMMON.contains(lower.as_str()) || COMMON.contains(base) || is_repetition(&lower) {
        return Err(PasswordError::Common);
    }
    if username.len() >= 3 && lower.contains(&username.to_lowercase()) {
        return Err(PasswordError::ContainsUsername);
    }
    Ok(())
}

/// `aaaaaaaaaaaa`, `abcabcabcabc`: a short unit repeated.
fn is_repetition(s: &str) -> bool {
    let chars: Vec<char> = s.chars().collect();
    (1..=4).any(|unit| {
        chars.len() > unit
            && chars.len().is_multiple_of(unit)
            && chars.chunks(unit).all(|c| c == &chars[..unit])
    })
}

/// Argon2id with the OWASP Password Storage Cheat Sheet's first recommended configuration:
/// m = 19 MiB, t = 2, p = 1. Hashes are PHC strings, so they carry their parameters and a
/// later change of parameters still verifies old hashes.
#[derive(Clone)]
pub struct PasswordHasher {
    argon: Argon2<'static>,
    dummy: String,
}

impl Default for PasswordHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl PasswordHasher {
    /// # Panics
    /// Never: the parameters are constants within Argon2's bounds.
    #[must_use]
    pub fn new() -> Self {
        #[allow(clippy::expect_used)]
        let params = Params::new(19 * 1024, 2, 1, None).expect("valid Argon2 parameters");
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let dummy = dummy_hash(argon.params());
        Self { argon, dummy }
    }

    /// Hashes a password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
    ///
    /// # Errors
    /// Hashing failed (it does not for passwords within the policy's length).
    pub fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let salt = SaltString::generate(&mut OsRng);
        self.argon
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|_| PasswordError::Hashing)
    }

    /// Whether `password` matches `stored`; a malformed stored hash never matches.
    #[must_use]
    pub fn verify(&self, password: &str, stored: &str) -> bool {
        PasswordHash::new(stored)
            .is_ok_and(|h| self.argon.verify_password(password.as_bytes(), &h).is_ok())
    }

    /// Spends the time of one verification without anything to verify against.
    pub fn verify_dummy(&self, password: &str) {
        let _ = self.verify(password, &self.dummy);
    }
}

/// A PHC string with `params`, a random salt and a random output: verifying against it runs
/// Argon2 with the real parameters (so an unknown operator name costs what a wrong password
/// does) and never matches (the output is 32 random bytes, not the hash of any password we
/// know). Nothing is hashed to make it, so creating a hasher costs no time and none of
/// Argon2's 19 MiB of working memory (which the allocator would keep at start-up).
fn dummy_hash(params: &Params) -> String {
    use argon2::password_hash::rand_core::RngCore as _;
    use argon2::password_hash::{Output, ParamsString};
    let salt = SaltString::generate(&mut OsRng);
    let mut bytes = [0u8; Params::DEFAULT_OUTPUT_LEN];
    OsRng.fill_bytes(&mut bytes);
    #[allow(clippy::expect_used)]
    let params = ParamsString::try_from(params).expect("Argon2 parameters as a PHC string");
    #[allow(clippy::expect_used)]
    let hash = Output::new(&bytes).expect("a 32-byte output is within the PHC bounds");
    PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params,
        salt: Some(salt.as_salt()),
        hash: Some(hash),
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_with_owasp_parameters_and_verifies() {
        let h = PasswordHasher::new();
        let stored = h.hash("correct horse battery").unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(h.verify("correct horse battery", &stored));
        assert!(!h.verify("correct horse batterY", &stored));
        assert!(!h.verify("x", "not a hash"));
        h.verify_dummy("anything");
    }

    #[test]
    fn the_dummy_carries_the_real_parameters_and_matches_nothing() {
        let h = PasswordHasher::new();
        let real = h.hash("correct horse battery").unwrap();
        let params = |s: &str| {
            let p = PasswordHash::new(s).unwrap();
            (
                p.algorithm.to_string(),
                p.version,
                p.params.to_string(),
                p.hash.unwrap().len(),
            )
        };
        // Same algorithm, version, cost parameters and output length: verifying against the
        // dummy costs one full Argon2 computation, as a real check does.
        assert_eq!(params(&h.dummy), params(&real));
        assert!(!h.verify("", &h.dummy));
        assert!(!h.verify("correct horse battery", &h.dummy));
        // Random per hasher: two hashers never share a dummy.
        assert_ne!(h.dummy, PasswordHasher::new().dummy);
    }

    #[test]
    fn policy() {
        assert_eq!(check_policy("short", "ada"), Err(PasswordError::TooShort));
        assert_eq!(
            check_policy("baseball1234", "ada"),
            Err(PasswordError::Common)
        );
        assert_eq!(
            check_policy("Password123!", "ada"),
            Err(PasswordError::Common)
        );
        assert_eq!(
            check_policy("aaaaaaaaaaaaaa", "ada"),
            Err(PasswordError::Common)
        );
        assert_eq!(
            check_policy("abcabcabcabc", "ada"),
            Err(PasswordError::Common)
        );
        assert_eq!(
            check_policy("admin-rules-the-district", "admin"),
            Err(PasswordError::ContainsUsername)
        );
        assert_eq!(
            check_policy(&"x".repeat(300), "ada"),
            Err(PasswordError::TooLong)
        );
        assert_eq!(check_policy("violet kettle ocean 42", "ada"), Ok(()));
    }
}
