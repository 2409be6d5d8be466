use std::collections::BTreeMap;
use std::path::PathBuf;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::config::{serialize_secret, yes};
use crate::Operation;

/// `kind = "scim"` settings: any SCIM 2.0 service provider (RFC 7644). See
/// `examples/targets/scim.toml`.
///
/// ```toml
/// [[targets]]
/// name = "learning-platform"
/// kind = "scim"
/// base_url = "https://lms.example.org/scim/v2"
/// token_file = "/run/secrets/lms_scim_token"
/// match = ["externalId", "userName"]
/// deprovision = "deactivate"
/// [targets.attributes]
/// "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department" = "{school}"
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScimConfig {
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The operations sent to this provider; all when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operations: Option<Vec<Operation>>,
    /// The provider's SCIM base, e.g. `https://app.example.org/scim/v2` (`/Users` is appended).
    pub base_url: String,
    /// The bearer token. Prefer `token_file`.
    #[serde(
        default,
        serialize_with = "serialize_secret",
        skip_serializing_if = "Option::is_none"
    )]
    pub token: Option<SecretString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// Accept plain `http://` to a host that is not loopback. Off by default: the token and
    /// personal data would cross the network in clear text.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_plaintext: bool,
    /// PEM file of the CA certificates to trust in addition to the built-in roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca_file: Option<PathBuf>,
    /// Time allowed for connecting and for each request.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// How an account without a stored link is found, in order: `externalId`, `userName`.
    #[serde(default = "default_match", rename = "match")]
    pub match_by: Vec<MatchBy>,
    /// What `deprovision` does: `deactivate` (`active: false`, the account stays) or
    /// `delete`.
    #[serde(default)]
    pub deprovision: ScimDeprovision,
    /// Send passwords (the initial one when an account is created, and `reset_password`).
    /// Turn off for providers that sign people in through single sign-on.
    #[serde(default = "yes")]
    pub passwords: bool,
    /// SCIM attribute paths and their templates, merged over the defaults; an empty
    /// template removes a default. Paths: core string attributes (`userName`, `displayName`,
    /// `title`, …), `name.<sub>`, `emails[type eq "<type>"].value`,
    /// `phoneNumbers[type eq "<type>"].value`, and the enterprise extension's
    /// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:<attribute>`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

/// A way to find an existing account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MatchBy {
    /// `externalId eq "<the mapped externalId>"`.
    #[serde(rename = "externalId")]
    ExternalId,
    /// `userName eq "<the mapped userName>"`, then the same for the previous username.
    #[serde(rename = "userName")]
    UserName,
}

/// What `deprovision` does on the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScimDeprovision {
    /// `active: false`; the account and its data stay.
    #[default]
    Deactivate,
    /// `DELETE /Users/{id}`.
    Delete,
}

fn default_timeout_ms() -> u64 {
    10_000
}

fn default_match() -> Vec<MatchBy> {
    vec![MatchBy::ExternalId, MatchBy::UserName]
}

/// The attribute mapping every SCIM target starts from.
pub(crate) const DEFAULT_ATTRIBUTES: [(&str, &str); 6] = [
    ("userName", "{username}"),
    ("externalId", "{external_id}"),
    ("name.givenName", "{given_name}"),
    ("name.familyName", "{family_name}"),
    ("displayName", "{display_name}"),
    ("emails[type eq \"work\"].value", "{email}"),
];
