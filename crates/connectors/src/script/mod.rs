//! Script target: runs a configured program (PowerShell, bash, Python, …) per operation.
//!
//! The contract, from the script's side (see `docs/lifecycle.md`):
//! - stdin: one JSON object `{"operation", "dry_run", "target", "request_id", "user",
//!   "previous", "link", "password"}`; `password` is present only for `provision` and
//!   `reset_password` when one is set, and never in a dry run.
//! - stdout on success (exit 0): a JSON object `{"account_id", "changes", "detail"}`, either
//!   the whole output or its last non-empty line (earlier lines are kept as log).
//! - failure: a non-zero exit, with `{"error": "...", "retryable": bool}` on stdout when the
//!   script knows; otherwise exit code 75 (`EX_TEMPFAIL`) means retryable, anything else
//!   permanent.
//! - `dry_run: true` (from `plan`): report what would change, change nothing.
//! - environment: only `PATH`, `LANG`, `CC_OPERATION`, `CC_TARGET`, `CC_DRY_RUN`,
//!   `CC_REQUEST_ID` and the configured variables.
//!
//! No shell is involved: the program gets its arguments as configured and user data only on
//! stdin. The script runs in its own process group, killed whole on timeout and after the
//! script exits.

mod config;
mod process;
mod result;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;
use serde_json::{json, Value};

pub use config::ScriptConfig;

use crate::config::{expose, operation_set, read_secret_file};
use crate::error::redact;
use crate::target::unhandled;
use crate::{
    ConfigError, Operation, OperationRequest, Target, TargetError, TargetOutcome, TargetPlan,
};
use process::{Exit, Finished, Invocation};
use result::{ScriptFailure, ScriptResult};

/// Exit code meaning "temporary failure, try again" (sysexits.h `EX_TEMPFAIL`).
pub const EXIT_TEMPFAIL: i32 = 75;

/// Default `PATH` when the server has none.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// A built script target.
pub struct ScriptTarget {
    name: String,
    operations: BTreeSet<Operation>,
    commands: BTreeMap<Operation, Vec<String>>,
    working_dir: Option<PathBuf>,
    timeout: Duration,
    output_limit: usize,
    env: BTreeMap<String, String>,
    secret_env: Vec<SecretString>,
    holds_passwords: bool,
}

impl ScriptTarget {
    /// Builds the target from its configuration, reading `env_files`.
    ///
    /// # Errors
    /// A handled operation without a command, an invalid variable name, a zero timeout or
    /// limit, an unreadable secret file.
    pub fn new(c: &ScriptConfig) -> Result<Self, ConfigError> {
        let err = |m: String| ConfigError::new(&c.name, m);
        let operations = operation_set(&c.name, c.operations.as_deref())?;
        let mut commands = BTreeMap::new();
        for op in &operations {
            let argv = c.commands.get(op).unwrap_or(&c.command);
            if argv.first().is_none_or(String::is_empty) {
                return Err(err(format!(
                    "no command for `{op}`: set `command` or `commands.{op}`"
                )));
            }
            commands.insert(*op, argv.clone());
        }
        if c.timeout_ms == 0 {
            return Err(err("`timeout_ms` must be positive".into()));
        }
        if c.output_limit_bytes == 0 {
            return Err(err("`output_limit_bytes` must be positive".into()));
        }
        let mut env = BTreeMap::new();
        env.insert(
            "PATH".to_owned(),
            std::env::var("PATH").unwrap_or_else(|_| DEFAULT_PATH.into()),
        );
        env.insert(
            "LANG".to_owned(),
            std::env::var("LANG").unwrap_or_else(|_| "C.UTF-8".into()),
        );
        for name in &c.inherit_env {
            check_var(&c.name, name)?;
            if let Ok(v) = std::env::var(name) {
                env.insert(name.clone(), v);
            }
        }
        for (k, v) in &c.env {
            check_var(&c.name, k)?;
            env.insert(k.clone(), v.clone());
        }
        let mut secret_env = Vec::new();
        for (k, path) in &c.env_files {
            check_var(&c.name, k)?;
            let value = read_secret_file(&c.name, &format!("env_files.{k}"), path)?;
            env.insert(k.clone(), expose(&value).to_owned());
            secret_env.push(value);
        }
        Ok(Self {
            name: c.name.clone(),
            operations,
            commands,
            working_dir: c.working_dir.clone(),
            timeout: Duration::from_millis(c.timeout_ms),
            output_limit: c.output_limit_bytes,
            env,
            secret_env,
            holds_passwords: c.holds_passwords,
        })
    }

    fn input(&self, req: &OperationRequest, dry_run: bool) -> Value {
        let mut input = json!({
            "operation": req.operation,
            "dry_run": dry_run,
            "target": self.name,
            "request_id": req.id,
            "user": req.user,
            "previous": req.previous,
            "link": req.link,
        });
        if let Some(pw) = self.password_for(req, dry_run) {
            input["password"] = Value::String(expose(pw).to_owned());
        }
        input
    }

    fn password_for<'a>(
        &self,
        req: &'a OperationRequest,
        dry_run: bool,
    ) -> Option<&'a SecretString> {
        req.password
            .as_ref()
            .filter(|_| self.holds_passwords && !dry_run && req.operation.takes_password())
    }

    /// Every secret that must not leave this process in an outcome or error.
    fn secrets<'a>(&'a self, req: &'a OperationRequest) -> Vec<&'a str> {
        let mut s: Vec<&str> = self.secret_env.iter().map(expose).collect();
        if let Some(pw) = &req.password {
            s.push(expose(pw));
        }
        s
    }

    async fn execute(
        &self,
        req: &OperationRequest,
        dry_run: bool,
    ) -> Result<(ScriptResult, Value), TargetError> {
        if !self.handles(req.operation) {
            return Err(unhandled(&self.name, req.operation));
        }
        let argv = &self.commands[&req.operation];
        let mut env = self.env.clone();
        env.insert("CC_OPERATION".into(), req.operation.as_str().into());
        env.insert("CC_TARGET".into(), self.name.clone());
        env.insert("CC_DRY_RUN".into(), if dry_run { "1" } else { "0" }.into());
        env.insert("CC_REQUEST_ID".into(), req.id.to_string());
        let stdin = serde_json::to_vec(&self.input(req, dry_run))
            .map_err(|e| TargetError::permanent(format!("cannot encode the input: {e}")))?;
        let finished = process::run(Invocation {
            argv,
            working_dir: self.working_dir.as_ref(),
            env: &env,
            stdin,
            timeout: self.timeout,
            output_limit: self.output_limit,
        })
        .await
        .map_err(|e| {
            let message = format!("cannot start `{}`: {}", e.program, e.error);
            match e.error.kind() {
                std::io::ErrorKind::NotFound
                | std::io::ErrorKind::PermissionDenied
                | std::io::ErrorKind::InvalidInput => TargetError::permanent(message),
                _ => TargetError::retryable(message),
            }
        })?;
        self.interpret(req, &finished)
    }

    /// Turns a finished run into a result or an error, redacting secrets from everything kept.
    fn interpret(
        &self,
        req: &OperationRequest,
        f: &Finished,
    ) -> Result<(ScriptResult, Value), TargetError> {
        let secrets = self.secrets(req);
        let stdout = redact(&String::from_utf8_lossy(&f.stdout.bytes), &secrets);
        let stderr = redact(&String::from_utf8_lossy(&f.stderr.bytes), &secrets);
        let exit_code = match &f.exit {
            Exit::Status(s) => s.code(),
            Exit::TimedOut => None,
        };
        let process = json!({
            "exit_code": exit_code,
            "timed_out": matches!(f.exit, Exit::TimedOut),
            "duration_ms": u64::try_from(f.duration.as_millis()).unwrap_or(u64::MAX),
            "stdout": with_marker(&stdout, f.stdout.total, f.stdout.truncated()),
            "stdout_truncated": f.stdout.truncated(),
            "stderr": with_marker(&stderr, f.stderr.total, f.stderr.truncated()),
            "stderr_truncated": f.stderr.truncated(),
        });
        let status = match &f.exit {
            Exit::TimedOut => {
                return Err(TargetError::retryable(format!(
                    "script timed out after {} ms; its process group was killed",
                    self.timeout.as_millis()
                )))
            }
            Exit::Status(s) => s,
        };
        if status.success() {
            let parsed = result::parse_success(&stdout).map_err(|m| {
                TargetError::permanent(format!("script exited 0 but {m}{}", tail(&stderr)))
            })?;
            return Ok((parsed, process));
        }
        let ScriptFailure { message, retryable } = result::parse_failure(&stdout);
        let code = status.code();
        let retryable = retryable.unwrap_or(code == Some(EXIT_TEMPFAIL));
        let how = match code {
            Some(c) => format!("script exited with status {c}"),
            None => "script was killed by a signal".to_owned(),
        };
        let message = match message {
            Some(m) => format!("{how}: {m}"),
            None => format!("{how}{}", tail(&stderr)),
        };
        Err(if retryable || code.is_none() {
            TargetError::retryable(message)
        } else {
            TargetError::permanent(message)
        })
    }
}

/// The last few lines of stderr, for an error message.
fn tail(stderr: &str) -> String {
    let t = stderr.trim();
    if t.is_empty() {
        return String::new();
    }
    let start = t.len().saturating_sub(1000);
    let start = (start..t.len())
        .find(|i| t.is_char_boundary(*i))
        .unwrap_or(0);
    format!(": {}", &t[start..])
}

fn with_marker(text: &str, total: usize, truncated: bool) -> String {
    if truncated {
        format!(
            "{text}\n[output truncated: kept the first {} of {total} bytes]",
            text.len()
        )
    } else {
        text.to_owned()
    }
}

fn check_var(target: &str, name: &str) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        return Err(ConfigError::new(
            target,
            format!("`{name}` is not a valid environment variable name"),
        ));
    }
    if name.starts_with("CC_")
        && matches!(
            name,
            "CC_OPERATION" | "CC_TARGET" | "CC_DRY_RUN" | "CC_REQUEST_ID"
        )
    {
        return Err(ConfigError::new(
            target,
            format!("`{name}` is set by Command Center"),
        ));
    }
    Ok(())
}

#[async_trait]
impl Target for ScriptTarget {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "script"
    }

    fn holds_passwords(&self) -> bool {
        self.holds_passwords
    }

    fn handles(&self, operation: Operation) -> bool {
        self.operations.contains(&operation)
    }

    async fn plan(&self, req: &OperationRequest) -> Result<TargetPlan, TargetError> {
        let (r, process) = self.execute(req, true).await?;
        // A script that names the account it would create has not created it: without an
        // explicit `exists`, a planned `create` means the account is not there yet.
        let creates = r
            .changes
            .iter()
            .any(|c| c.kind == crate::ChangeKind::Create);
        Ok(TargetPlan {
            exists: r.exists.unwrap_or(r.account_id.is_some() && !creates),
            account_id: r.account_id,
            changes: r.changes,
            detail: json!({"result": r.detail, "process": process}),
        })
    }

    async fn apply(&self, req: &OperationRequest) -> Result<TargetOutcome, TargetError> {
        let (r, process) = self.execute(req, false).await?;
        Ok(TargetOutcome {
            account_id: r.account_id,
            changes: r.changes,
            detail: json!({"result": r.detail, "process": process}),
        })
    }
}
