use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use cc_domain::Role;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::config::{serialize_secret, yes};
use crate::{ConfigError, Operation};

/// `kind = "ldap"` settings: OpenLDAP and Active Directory. See `examples/targets/`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapConfig {
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The operations this directory handles; all when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operations: Option<Vec<Operation>>,
    /// `ldaps://host:636`, or `ldap://host:389` with `starttls = true`. Plain `ldap://` is
    /// refused for anything but a loopback address unless `allow_plaintext = true`: the bind
    /// password and account passwords would cross the network in clear text.
    pub url: String,
    #[serde(default)]
    pub starttls: bool,
    /// Accept plain `ldap://` (no TLS) to a host that is not loopback, e.g. a lab directory on
    /// an isolated network. Off by default; Active Directory never sends passwords without TLS.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_plaintext: bool,
    /// PEM file of the CA certificates to trust instead of the system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca_file: Option<PathBuf>,
    /// Skip certificate verification (labs with self-signed certificates only).
    #[serde(default)]
    pub tls_insecure_skip_verify: bool,
    /// The service account, e.g. `cn=command-center,ou=Services,dc=example,dc=org`.
    pub bind_dn: String,
    #[serde(
        default,
        serialize_with = "serialize_secret",
        skip_serializing_if = "Option::is_none"
    )]
    pub bind_password: Option<SecretString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_password_file: Option<PathBuf>,
    /// Time allowed for connecting and for each LDAP request.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Connections the jobs of one process keep open to this directory at most, reused
    /// from one operation to the next: so at most this many of their operations are in
    /// flight on it, however many jobs run (the others wait for a connection). Lower it to
    /// spare a busy domain controller. Dry runs, the capability check and password tests
    /// each use a short-lived connection of their own besides.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// The directory's base, e.g. `dc=example,dc=org`. Every DN this target writes is below it.
    pub base_dn: String,
    /// Attribute preset and directory behaviour: `inetorgperson` (OpenLDAP) or
    /// `active_directory`.
    #[serde(default)]
    pub schema: Schema,
    /// Where accounts live, as a template: `ou={grade_label},ou={school},ou=Students,dc=…`.
    /// Values are DN-escaped.
    pub user_ou: String,
    /// Per-role overrides of `user_ou` (staff have no grade), e.g.
    /// `teacher = "ou=Teachers,ou={school},ou=Staff,dc=example,dc=org"`.
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub user_ou_by_role: HashMap<Role, String>,
    /// Create missing `ou=` containers below `base_dn` on demand.
    #[serde(default = "yes")]
    pub create_ous: bool,
    /// After an account moves away (a move, a disable `move_to`, a deprovision), delete the
    /// OU it left when that OU is now empty and strictly below `base_dn` (never `base_dn` or
    /// anything above it). Off by default.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub remove_empty_ous: bool,
    /// The naming attribute: `uid` (inetorgperson default) or `cn` (Active Directory default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rdn_attribute: Option<String>,
    /// How to find an account without a stored DN, e.g. `(uid={username})` or
    /// `(employeeNumber={external_id})`; values are filter-escaped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_filter: Option<String>,
    /// Where to search; `base_dn` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_base: Option<String>,
    /// Object classes of new entries; the preset's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_classes: Option<Vec<String>>,
    /// Attribute templates merged over the preset's; an empty string removes a preset
    /// attribute. Example: `mail = "{username}@students.example.org"`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    #[serde(default)]
    pub disable: DisableConfig,
    #[serde(default)]
    pub deprovision: DeprovisionConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<GroupsConfig>,
}

fn default_timeout_ms() -> u64 {
    10_000
}

/// The default of [`LdapConfig::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: u32 = 8;

fn default_max_connections() -> u32 {
    DEFAULT_MAX_CONNECTIONS
}

impl LdapConfig {
    /// Refuses plain `ldap://` to a host that is not loopback unless `allow_plaintext` is set.
    /// Needs no IO, so configuration validation can run it before anything is built.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the target, its URL and the opt-in key.
    pub fn check_transport(&self) -> Result<(), ConfigError> {
        let encrypted = self.url.starts_with("ldaps://") || self.starttls;
        if encrypted || self.allow_plaintext || crate::is_loopback_host(&host_of(&self.url)) {
            return Ok(());
        }
        Err(ConfigError::new(
            &self.name,
            format!(
                "`url` {} is plain ldap:// to a host that is not loopback: the bind password and \
                 account passwords would cross the network in clear text; use ldaps://, set \
                 `starttls = true`, or set `allow_plaintext = true` to accept that",
                crate::redaction::redact_url(&self.url)
            ),
        ))
    }
}

/// The host part of an LDAP URL (without brackets for IPv6).
pub(crate) fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = host_port.strip_prefix('[') {
        return v6.split(']').next().unwrap_or_default().to_owned();
    }
    host_port.split(':').next().unwrap_or_default().to_owned()
}

/// Directory flavour: picks the attribute preset, how accounts are disabled and how
/// passwords are set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schema {
    /// OpenLDAP and similar: `inetOrgPerson`, passwords by the Password Modify extended
    /// operation (RFC 3062).
    #[default]
    Inetorgperson,
    /// Active Directory: `user` objects, `userAccountControl`, `unicodePwd` over TLS.
    ActiveDirectory,
}

/// How `suspend` disables an account (and `update`/`provision` re-enable it).
///
/// Active Directory always sets the `ACCOUNTDISABLE` bit of `userAccountControl`; these
/// settings add to that. For OpenLDAP set at least one of them, e.g.
/// `attribute = "pwdAccountLockedTime"`, `value = "000001010000Z"` (ppolicy's permanent
/// lock) or `attribute = "employeeType"`, `value = "disabled"`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisableConfig {
    /// Move disabled accounts here (a template, like `user_ou`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub move_to: Option<String>,
    /// Set this attribute on disabled accounts (removed on enable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// What `deprovision` does with an account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeprovisionConfig {
    #[serde(default)]
    pub mode: DeprovisionMode,
    /// For `mode = "move"`: where accounts go (a template), e.g. `ou=Graveyard,dc=…`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graveyard_ou: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeprovisionMode {
    /// Delete the entry.
    #[default]
    Delete,
    /// Disable it, remove its group memberships and move it to `graveyard_ou`.
    Move,
}

/// Group membership: the user's directory groups, mirrored onto groups under `base`.
/// Command Center owns the memberships of its users in groups under `base`: a user is
/// removed from groups there that are not among their groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupsConfig {
    /// Where groups live, e.g. `ou=Groups,dc=example,dc=org`.
    pub base: String,
    #[serde(default)]
    pub style: MemberStyle,
    /// Create groups that do not exist yet (under `base`); otherwise they are skipped.
    #[serde(default)]
    pub create_missing: bool,
    /// The attribute holding a group's name (`cn`).
    #[serde(default = "default_name_attribute")]
    pub name_attribute: String,
    /// Object class of created groups; by style: `groupOfNames`, `groupOfUniqueNames`,
    /// `group` (Active Directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_class: Option<String>,
}

fn default_name_attribute() -> String {
    "cn".into()
}

/// How a group lists its members.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberStyle {
    /// `member: <user DN>` (groupOfNames, Active Directory groups).
    #[default]
    Member,
    /// `uniqueMember: <user DN>` (groupOfUniqueNames).
    UniqueMember,
    /// `memberUid: <username>` (posixGroup).
    MemberUid,
}

impl MemberStyle {
    #[must_use]
    pub fn attribute(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::UniqueMember => "uniqueMember",
            Self::MemberUid => "memberUid",
        }
    }

    /// Whether members are DNs (rather than usernames).
    #[must_use]
    pub fn by_dn(self) -> bool {
        !matches!(self, Self::MemberUid)
    }
}
