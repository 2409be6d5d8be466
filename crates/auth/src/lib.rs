//! Credentials for Command Center operators: Argon2id password hashes and the password policy,
//! HS256 access tokens (JWT) with key rotation, and opaque high-entropy secrets (refresh and API
//! tokens) that are stored only as SHA-256 digests, and sealing: authenticated encryption for
//! secrets that must wait in the database (a temporary password inside a queued job), and
//! verification of OpenID Connect ID tokens against a provider's published keys.
//!
//! Nothing here does IO. Errors never carry secret material.

pub mod jwt;
pub mod oidc;
pub mod password;
pub mod seal;
pub mod secret;

pub use jwt::{AccessClaims, JwtError, Keyring, SigningKey};
pub use password::{PasswordError, PasswordHasher};
pub use seal::{generate_password, PasswordPolicy, SealError, Sealer};
pub use secret::{hash_secret, new_secret, SecretKind};
