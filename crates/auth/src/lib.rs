//! Credentials for Command Center operators: Argon2id password hashes and the password policy,
//! HS256 access tokens (JWT) with key rotation, and opaque high-entropy secrets (refresh and API
//! tokens) that are stored only as SHA-256 digests.
//!
//! Nothing here does IO. Errors never carry secret material.

pub mod jwt;
pub mod password;
pub mod secret;

pub use jwt::{AccessClaims, JwtError, Keyring, SigningKey};
pub use password::{PasswordError, PasswordHasher};
pub use secret::{hash_secret, new_secret, SecretKind};
