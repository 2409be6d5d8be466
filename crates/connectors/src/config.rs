//! `[[targets]]` configuration entries and building targets from them.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};

use crate::ldap::{LdapConfig, LdapTarget};
use crate::redaction::{is_sensitive_name, redact_url, MASK};
use crate::scim::{ScimConfig, ScimTarget};
use crate::script::{ScriptConfig, ScriptTarget};
use crate::webhook::{WebhookConfig, WebhookTarget};
use crate::{ConfigError, Operation, Target};

/// One `[[targets]]` entry, tagged by `kind`.
///
/// ```toml
/// [[targets]]
/// name = "district-ldap"
/// kind = "ldap"
/// operations = ["provision", "update", "suspend", "deprovision"]   # default: all five
/// url = "ldaps://ldap.example.org"
/// # … kind-specific settings
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TargetConfig {
    Ldap(Box<LdapConfig>),
    Script(ScriptConfig),
    Webhook(WebhookConfig),
    Scim(ScimConfig),
}

impl TargetConfig {
    #[must_use]
    pub fn name(&self) -> &str {
        match self {
            Self::Ldap(c) => &c.name,
            Self::Script(c) => &c.name,
            Self::Webhook(c) => &c.name,
            Self::Scim(c) => &c.name,
        }
    }

    #[must_use]
    pub fn enabled(&self) -> bool {
        match self {
            Self::Ldap(c) => c.enabled,
            Self::Script(c) => c.enabled,
            Self::Webhook(c) => c.enabled,
            Self::Scim(c) => c.enabled,
        }
    }

    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Ldap(_) => "ldap",
            Self::Script(_) => "script",
            Self::Webhook(_) => "webhook",
            Self::Scim(_) => "scim",
        }
    }

    /// A copy fit for printing (`command-center config`): passwords in URLs, query values,
    /// credential headers and credential-named script variables masked. Secret fields
    /// (`secret`, `bind_password`) already print as `[REDACTED]`.
    #[must_use]
    pub fn redacted(&self) -> Self {
        match self {
            Self::Ldap(c) => {
                let mut c = c.clone();
                c.url = redact_url(&c.url);
                Self::Ldap(c)
            }
            Self::Script(c) => {
                let mut c = c.clone();
                for (name, value) in &mut c.env {
                    if is_sensitive_name(name) {
                        MASK.clone_into(value);
                    }
                }
                Self::Script(c)
            }
            Self::Webhook(c) => Self::Webhook(c.redacted()),
            Self::Scim(c) => {
                let mut c = c.clone();
                c.base_url = redact_url(&c.base_url);
                Self::Scim(c)
            }
        }
    }

    /// The checks that need no IO (no secret files read, nothing built), for validating a
    /// configuration as it is loaded: today, that an LDAP or SCIM target does not send
    /// passwords or its token in clear text across the network without
    /// `allow_plaintext = true`.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the target and the offending setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_name(self.name())?;
        match self {
            Self::Ldap(c) => c.check_transport(),
            Self::Scim(c) => crate::scim::check_base_url(c).map(|_| ()),
            Self::Script(_) | Self::Webhook(_) => Ok(()),
        }
    }

    /// Builds the target, reading secret files and checking every setting.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the target and the offending setting.
    pub fn build(&self) -> Result<Arc<dyn Target>, ConfigError> {
        Ok(match self {
            Self::Ldap(c) => Arc::new(LdapTarget::new(c)?),
            Self::Script(c) => Arc::new(ScriptTarget::new(c)?),
            Self::Webhook(c) => Arc::new(WebhookTarget::new(c)?),
            Self::Scim(c) => Arc::new(ScimTarget::new(c)?),
        })
    }
}

/// Builds every enabled target, in order. Disabled entries are checked for a name but not
/// built (their secret files need not exist).
///
/// # Errors
/// The first entry that cannot be built, or a duplicate or invalid name.
pub fn build_targets(configs: &[TargetConfig]) -> Result<Vec<Arc<dyn Target>>, ConfigError> {
    let mut names = HashSet::new();
    let mut targets = Vec::new();
    for config in configs {
        let name = config.name();
        check_name(name)?;
        if !names.insert(name.to_owned()) {
            return Err(ConfigError::new(name, "another target has the same name"));
        }
        if config.enabled() {
            targets.push(config.build()?);
        } else {
            tracing::info!(target_name = name, "target disabled in configuration");
        }
    }
    Ok(targets)
}

fn check_name(name: &str) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ConfigError::new(
            name,
            "name must be 1–64 characters: lower-case letters, digits, '-', '_' or '.'",
        ))
    }
}

/// The operations a target handles: all of them unless `operations` lists some.
pub(crate) fn operation_set(
    target: &str,
    operations: Option<&[Operation]>,
) -> Result<BTreeSet<Operation>, ConfigError> {
    match operations {
        None => Ok(Operation::ALL.into_iter().collect()),
        Some([]) => Err(ConfigError::new(
            target,
            "`operations` is empty; list at least one or set `enabled = false`",
        )),
        Some(ops) => Ok(ops.iter().copied().collect()),
    }
}

/// Reads a secret given either inline (`field`) or from a file (`field_file`); a trailing
/// newline in the file is dropped. Exactly one may be set; `required` says whether none is an
/// error.
pub(crate) fn resolve_secret(
    target: &str,
    field: &str,
    inline: Option<&SecretString>,
    file: Option<&Path>,
    required: bool,
) -> Result<Option<SecretString>, ConfigError> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(ConfigError::new(
            target,
            format!("set either `{field}` or `{field}_file`, not both"),
        )),
        (Some(s), None) => Ok(Some(s.clone())),
        (None, Some(path)) => read_secret_file(target, field, path).map(Some),
        (None, None) if required => Err(ConfigError::new(
            target,
            format!("`{field}` or `{field}_file` is required"),
        )),
        (None, None) => Ok(None),
    }
}

/// Reads a secret file, dropping one trailing newline (`\n` or `\r\n`).
pub(crate) fn read_secret_file(
    target: &str,
    field: &str,
    path: &Path,
) -> Result<SecretString, ConfigError> {
    let mut text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(
            target,
            format!("cannot read `{field}_file` {}: {e}", path.display()),
        )
    })?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    if text.is_empty() {
        return Err(ConfigError::new(
            target,
            format!("`{field}_file` {} is empty", path.display()),
        ));
    }
    Ok(SecretString::from(text))
}

/// Serializes a secret as `[REDACTED]`, so a printed configuration never shows it.
pub(crate) fn serialize_secret<S: Serializer>(
    value: &Option<SecretString>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(_) => s.serialize_str("[REDACTED]"),
        None => s.serialize_none(),
    }
}

/// Exposes a secret's text for building requests; kept in one place so it is easy to audit.
pub(crate) fn expose(secret: &SecretString) -> &str {
    secret.expose_secret()
}

/// Default for `enabled`.
pub(crate) fn yes() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct File {
        targets: Vec<TargetConfig>,
    }

    #[test]
    fn rejects_unknown_fields_and_kinds() {
        let unknown_field = r#"
            [[targets]]
            name = "hook"
            kind = "webhook"
            url = "http://127.0.0.1:9/hook"
            secret = "s"
            colour = "blue"
        "#;
        let e = toml::from_str::<File>(unknown_field).err().unwrap();
        assert!(e.to_string().contains("colour"), "{e}");
        let unknown_kind = r#"
            [[targets]]
            name = "x"
            kind = "ftp"
        "#;
        assert!(toml::from_str::<File>(unknown_kind).is_err());
    }

    #[test]
    fn builds_enabled_targets_and_rejects_duplicates() {
        let text = r#"
            [[targets]]
            name = "hook"
            kind = "webhook"
            url = "http://127.0.0.1:9/hook"
            secret = "s3cret"
            operations = ["provision", "deprovision"]

            [[targets]]
            name = "off"
            kind = "webhook"
            enabled = false
            url = "http://127.0.0.1:9/hook"
            secret_file = "/nonexistent/secret"
        "#;
        let file: File = toml::from_str(text).unwrap();
        let targets = build_targets(&file.targets).unwrap();
        assert_eq!(targets.len(), 1);
        assert_eq!(targets[0].name(), "hook");
        assert_eq!(targets[0].kind(), "webhook");
        assert!(targets[0].handles(Operation::Provision));
        assert!(!targets[0].handles(Operation::Suspend));

        let dup = [file.targets[0].clone(), file.targets[0].clone()];
        let e = build_targets(&dup).err().unwrap();
        assert!(e.to_string().contains("same name"), "{e}");
    }

    #[test]
    fn secrets_come_inline_or_from_a_file_never_both() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "from-file\n").unwrap();
        let got = resolve_secret("t", "secret", None, Some(&path), true)
            .unwrap()
            .unwrap();
        assert_eq!(expose(&got), "from-file");
        let inline = SecretString::from("x");
        let e = resolve_secret("t", "secret", Some(&inline), Some(&path), true).unwrap_err();
        assert!(e.to_string().contains("not both"));
        let e = resolve_secret("t", "secret", None, None, true).unwrap_err();
        assert_eq!(
            e.to_string(),
            "target `t`: `secret` or `secret_file` is required"
        );
        let e =
            resolve_secret("t", "secret", None, Some(&dir.path().join("nope")), true).unwrap_err();
        assert!(e.to_string().contains("cannot read `secret_file`"), "{e}");
    }

    #[test]
    fn printed_configuration_hides_secrets() {
        let text = r#"
            name = "hook"
            kind = "webhook"
            url = "http://127.0.0.1:9/hook"
            secret = "s3cret-value"
        "#;
        let c: TargetConfig = toml::from_str(text).unwrap();
        let printed = serde_json::to_string(&c).unwrap();
        assert!(!printed.contains("s3cret-value"), "{printed}");
        assert!(printed.contains("[REDACTED]"));
        assert!(!format!("{c:?}").contains("s3cret-value"));
    }

    #[test]
    fn redacted_configuration_masks_urls_headers_and_variables() {
        let text = r#"
            [[targets]]
            name = "hook"
            kind = "webhook"
            url = "https://hook:pa55word@h.example.org/in?token=tok-123456"
            secret = "s"
            headers = { Authorization = "Bearer abc-secret", "X-Tenant" = "district-7", "X-Api-Key" = { value_file = "/run/secrets/k" } }

            [[targets]]
            name = "ps"
            kind = "script"
            command = ["true"]
            env = { AD_PASSWORD = "hunter22", AD_SERVER = "dc1" }
        "#;
        let file: File = toml::from_str(text).unwrap();
        let printed: Vec<_> = file.targets.iter().map(TargetConfig::redacted).collect();
        let json = serde_json::to_string(&printed).unwrap();
        for secret in ["pa55word", "tok-123456", "abc-secret", "hunter22"] {
            assert!(!json.contains(secret), "{secret} in {json}");
        }
        for kept in [
            "district-7",
            "dc1",
            "/run/secrets/k",
            "https://hook:***@h.example.org/in?token=***",
        ] {
            assert!(json.contains(kept), "{kept} not in {json}");
        }
    }

    #[test]
    fn the_example_configurations_build() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/targets");
        let secrets = tempfile::tempdir().unwrap();
        let secret = secrets.path().join("secret");
        std::fs::write(&secret, "example-secret\n").unwrap();
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            // The examples' own output (e.g. `data/`, the bash demo's accounts) is not a
            // configuration.
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // Point every secret file at one that exists.
            let text = regex_free_replace(&text, "/run/secrets/", &secret.display().to_string());
            let file: File =
                toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            build_targets(&file.targets).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            seen += 1;
        }
        assert!(seen >= 5, "examples/targets has the five samples");
    }

    /// Replaces each `prefix<name>"` with `replacement"`.
    fn regex_free_replace(text: &str, prefix: &str, replacement: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(i) = rest.find(prefix) {
            out.push_str(&rest[..i]);
            out.push_str(replacement);
            let after = &rest[i + prefix.len()..];
            let end = after.find('"').unwrap_or(after.len());
            rest = &after[end..];
        }
        out.push_str(rest);
        out
    }
}
