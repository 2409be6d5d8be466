use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::yes;
use crate::Operation;

/// `kind = "script"` settings.
///
/// ```toml
/// [[targets]]
/// name = "ad-powershell"
/// kind = "script"
/// command = ["pwsh", "-NoProfile", "-NonInteractive", "-File", "scripts/powershell/invoke.ps1"]
/// timeout_ms = 120000
/// env = { CC_AD_SERVER = "dc1.example.org" }
/// env_files = { CC_AD_PASSWORD = "/run/secrets/ad_password" }
///
/// [targets.commands]   # optional: a different command for some operations
/// reset_password = ["pwsh", "-NoProfile", "-File", "scripts/reset.ps1"]
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptConfig {
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The operations this script handles; all when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operations: Option<Vec<Operation>>,
    /// Program and arguments run for every operation without its own entry in `commands`.
    /// A bare program name is looked up in `PATH`; a relative path is taken from
    /// `working_dir` (see [`crate::TargetConfig::resolve_relative_to`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Per-operation commands, overriding `command`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub commands: BTreeMap<Operation, Vec<String>>,
    /// Directory the script runs in. From a configuration file, a relative one is taken from
    /// the file's directory, and that directory is the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<PathBuf>,
    /// After this long the script's whole process group is killed and the attempt is
    /// retryable.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// How much of stdout and of stderr (each) is kept; the rest is counted and dropped.
    #[serde(default = "default_output_limit")]
    pub output_limit_bytes: usize,
    /// Variables set for the script, besides `PATH`, `LANG` and the `CC_*` ones.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Variables whose values are read from files (secrets): redacted from captured output.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env_files: BTreeMap<String, PathBuf>,
    /// Names of the server's own variables passed through unchanged (e.g. `HOME`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inherit_env: Vec<String>,
    /// Whether the script stores passwords (receives them for `provision` and
    /// `reset_password`). On by default; turn off for scripts that must never see one.
    #[serde(default = "yes")]
    pub holds_passwords: bool,
}

fn default_timeout_ms() -> u64 {
    60_000
}

fn default_output_limit() -> usize {
    64 * 1024
}
