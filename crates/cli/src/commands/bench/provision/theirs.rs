//! The physical limit: `ldapadd` loading the same entries into an empty, identically
//! configured slapd, over one connection, one add after the other.

use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

use anyhow::{bail, Context};

use super::slapd::{Counts, Slapd, Tools, ADMIN_DN};

/// What one `ldapadd` run measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Measured {
    pub seconds: f64,
    pub ldap: Counts,
}

/// Loads `ldif` into `slapd` with `ldapadd -c -x`.
///
/// # Errors
/// ldapadd cannot be started or reports a failure (its last lines are in the message).
pub async fn run(tools: &Tools, slapd: &mut Slapd, ldif: &Path) -> anyhow::Result<Measured> {
    let password_file = slapd.password_file()?;
    let before = slapd.counts().await?;
    let started = Instant::now();
    let out = tokio::process::Command::new(&tools.ldapadd)
        .args(["-c", "-x", "-H", &slapd.url(), "-D", ADMIN_DN, "-y"])
        .arg(&password_file)
        .arg("-f")
        .arg(ldif)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .await
        .with_context(|| format!("running {}", tools.ldapadd.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    let after = slapd.counts().await?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(10).collect();
        bail!(
            "ldapadd failed ({}):\n{}",
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    Ok(Measured {
        seconds,
        ldap: after.since(&before),
    })
}
