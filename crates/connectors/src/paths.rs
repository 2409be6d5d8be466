//! Relative paths in a configuration file mean "next to this file".
//!
//! A target configured in `/etc/command-center/command-center.toml` with
//! `bind_password_file = "secrets/ldap"` reads `/etc/command-center/secrets/ldap`, whatever
//! directory the server was started from. [`TargetConfig::resolve_relative_to`] rewrites every
//! path-like setting of a target that way when the configuration is loaded from a file.

use std::path::{Path, PathBuf};

use crate::script::ScriptConfig;
use crate::webhook::{HeaderSetting, WebhookConfig};
use crate::TargetConfig;

/// `path` when absolute, else `base/path` (`.` components dropped).
#[must_use]
pub fn resolve(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path).components().collect()
    }
}

fn resolve_in_place(base: &Path, path: &mut PathBuf) {
    *path = resolve(base, path);
}

impl TargetConfig {
    /// Makes the target's paths absolute, relative ones taken from `base` (the directory of
    /// the configuration file that holds the target):
    ///
    /// - LDAP: `bind_password_file`, `tls_ca_file`;
    /// - webhook: `secret_file` and the `value_file` of headers;
    /// - SCIM: `token_file`, `tls_ca_file`;
    /// - script: `env_files`, `working_dir` (the file's directory when absent, so a script's
    ///   relative arguments and state directories mean the same from any working directory),
    ///   and a program given as a relative path (`./bin/sync.sh`, `scripts/x.ps1`), which is
    ///   taken from the working directory. A bare program name (`bash`, `pwsh`) is still
    ///   looked up in `PATH`.
    pub fn resolve_relative_to(&mut self, base: &Path) {
        match self {
            Self::Ldap(c) => {
                for path in [&mut c.bind_password_file, &mut c.tls_ca_file]
                    .into_iter()
                    .flatten()
                {
                    resolve_in_place(base, path);
                }
            }
            Self::Webhook(c) => resolve_webhook(c, base),
            Self::Script(c) => resolve_script(c, base),
            Self::Scim(c) => {
                for path in [&mut c.token_file, &mut c.tls_ca_file]
                    .into_iter()
                    .flatten()
                {
                    resolve_in_place(base, path);
                }
            }
        }
    }
}

fn resolve_webhook(c: &mut WebhookConfig, base: &Path) {
    if let Some(path) = &mut c.secret_file {
        resolve_in_place(base, path);
    }
    for setting in c.headers.values_mut() {
        if let HeaderSetting::File { value_file } = setting {
            resolve_in_place(base, value_file);
        }
    }
}

fn resolve_script(c: &mut ScriptConfig, base: &Path) {
    let dir = match &c.working_dir {
        Some(dir) => resolve(base, dir),
        None => base.to_path_buf(),
    };
    for path in c.env_files.values_mut() {
        resolve_in_place(base, path);
    }
    let commands = std::iter::once(&mut c.command).chain(c.commands.values_mut());
    for program in commands.filter_map(|argv| argv.first_mut()) {
        if is_relative_path(program) {
            *program = resolve(&dir, Path::new(program.as_str()))
                .to_string_lossy()
                .into_owned();
        }
    }
    c.working_dir = Some(dir);
}

/// A program named by a relative path (it has a separator), not a name to look up in `PATH`.
fn is_relative_path(program: &str) -> bool {
    program.contains('/') && !Path::new(program).is_absolute()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(text: &str) -> TargetConfig {
        toml::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    #[test]
    fn relative_paths_resolve_from_the_base_and_absolute_ones_stay() {
        let base = Path::new("/etc/cc");
        let mut ldap = target(
            r#"
            kind = "ldap"
            name = "dir"
            url = "ldaps://ldap.example.org"
            bind_dn = "cn=cc,dc=example,dc=org"
            bind_password_file = "secrets/ldap"
            tls_ca_file = "/etc/ssl/ca.pem"
            base_dn = "dc=example,dc=org"
            user_ou = "ou=People,dc=example,dc=org"
            "#,
        );
        ldap.resolve_relative_to(base);
        let TargetConfig::Ldap(c) = &ldap else {
            unreachable!()
        };
        assert_eq!(
            c.bind_password_file.as_deref(),
            Some(Path::new("/etc/cc/secrets/ldap"))
        );
        assert_eq!(c.tls_ca_file.as_deref(), Some(Path::new("/etc/ssl/ca.pem")));

        let mut hook = target(
            r#"
            kind = "webhook"
            name = "hook"
            url = "https://h.example.org/in"
            secret_file = "hook.secret"
            headers = { Authorization = { value_file = "../auth" }, "X-Tenant" = "d7" }
            "#,
        );
        hook.resolve_relative_to(base);
        let TargetConfig::Webhook(c) = &hook else {
            unreachable!()
        };
        assert_eq!(
            c.secret_file.as_deref(),
            Some(Path::new("/etc/cc/hook.secret"))
        );
        match &c.headers["Authorization"] {
            HeaderSetting::File { value_file } => {
                assert_eq!(value_file, Path::new("/etc/cc/../auth"));
            }
            HeaderSetting::Value(_) => panic!("still a file"),
        }
    }

    #[test]
    fn scripts_run_next_to_the_configuration_file() {
        let base = Path::new("/etc/cc");
        let mut plain = target(
            r#"
            kind = "script"
            name = "s"
            command = ["bash", "scripts/target.sh"]
            env_files = { CC_PW = "secrets/pw", CC_ABS = "/run/secrets/x" }
            [commands]
            reset_password = ["./bin/reset", "--fast"]
            "#,
        );
        plain.resolve_relative_to(base);
        let TargetConfig::Script(c) = &plain else {
            unreachable!()
        };
        assert_eq!(c.working_dir.as_deref(), Some(Path::new("/etc/cc")));
        // A program name is looked up in PATH; its arguments are read from the working dir.
        assert_eq!(c.command, ["bash", "scripts/target.sh"]);
        assert_eq!(
            c.commands[&crate::Operation::ResetPassword],
            ["/etc/cc/bin/reset", "--fast"]
        );
        assert_eq!(c.env_files["CC_PW"], Path::new("/etc/cc/secrets/pw"));
        assert_eq!(c.env_files["CC_ABS"], Path::new("/run/secrets/x"));

        let mut with_dir = target(
            r#"
            kind = "script"
            name = "s"
            command = ["sbin/provision"]
            working_dir = "work"
            "#,
        );
        with_dir.resolve_relative_to(base);
        let TargetConfig::Script(c) = &with_dir else {
            unreachable!()
        };
        assert_eq!(c.working_dir.as_deref(), Some(Path::new("/etc/cc/work")));
        assert_eq!(c.command, ["/etc/cc/work/sbin/provision"]);
    }
}
