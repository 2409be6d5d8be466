//! Exit codes and how a failure is told: the same table for every command (docs/cli.md).
//!
//! 0 ok · 1 error · 2 usage (a bad command line, or a confirmation that cannot be asked) ·
//! 3 not found · 4 conflict or failed precondition (409, 412, 428).

use std::process::ExitCode;

use cc_client::ClientError;

use crate::output::Style;

pub const USAGE: u8 = 2;
pub const NOT_FOUND: u8 = 3;
pub const CONFLICT: u8 = 4;

/// The command line asks for something that cannot be done as asked (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Usage(pub String);

/// What the command names does not exist (exit 3).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotFound(pub String);

/// The first cause of `err` that decides how it is told and its exit code.
enum Known<'a> {
    Usage(&'a Usage),
    NotFound(&'a NotFound),
    Client(&'a ClientError),
}

fn known(err: &anyhow::Error) -> Option<Known<'_>> {
    err.chain().find_map(|cause| {
        if let Some(u) = cause.downcast_ref::<Usage>() {
            Some(Known::Usage(u))
        } else if let Some(n) = cause.downcast_ref::<NotFound>() {
            Some(Known::NotFound(n))
        } else {
            cause.downcast_ref::<ClientError>().map(Known::Client)
        }
    })
}

/// The exit code for `err`: 2, 3 or 4 for the causes above, 1 for anything else.
fn exit_code(err: &anyhow::Error) -> u8 {
    match known(err) {
        Some(Known::Usage(_)) => USAGE,
        Some(Known::NotFound(_)) => NOT_FOUND,
        Some(Known::Client(c)) => code_for_status(c.status()),
        None => 1,
    }
}

/// Prints `err` on standard error and returns its exit code. A problem+json answer is
/// shown with its title, detail, code, field errors and the request id to quote.
pub fn report(err: &anyhow::Error) -> ExitCode {
    let style = Style::stderr();
    let prefix = style.red("error:");
    match known(err) {
        Some(Known::Usage(u)) => eprintln!("{prefix} {u}"),
        Some(Known::NotFound(n)) => eprintln!("{prefix} {n}"),
        Some(Known::Client(c)) => print_client_error(&prefix, err, c),
        None => eprintln!("{prefix} {err:#}"),
    }
    ExitCode::from(exit_code(err))
}

/// Like [`report`], as one JSON object on standard error, shaped like the JSON log events
/// (`timestamp`, `level`, `message`, `target`) with the `exit_code`: what `serve`, `worker`
/// and `migrate` print when they stop on an error with `log_format = "json"`.
pub fn report_as_json(err: &anyhow::Error) -> ExitCode {
    let code = exit_code(err);
    let line = serde_json::json!({
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "level": "ERROR",
        "message": format!("{err:#}"),
        "target": "command_center",
        "exit_code": code,
    });
    eprintln!("{line}");
    ExitCode::from(code)
}

/// The exit code for an HTTP status.
#[must_use]
pub fn code_for_status(status: Option<u16>) -> u8 {
    match status {
        Some(404) => NOT_FOUND,
        Some(409 | 412 | 428) => CONFLICT,
        _ => 1,
    }
}

fn print_client_error(prefix: &str, err: &anyhow::Error, c: &ClientError) {
    let Some(p) = c.problem() else {
        eprintln!("{prefix} {err:#}");
        return;
    };
    // The context the command added (e.g. "suspending ada"), when any.
    let context = err.to_string();
    let head = if context == c.to_string() {
        String::new()
    } else {
        format!("{context}: ")
    };
    eprintln!("{prefix} {head}{} ({}): {}", p.title, p.status, p.detail);
    for f in &p.errors {
        eprintln!("  {}: {}", f.field, f.message);
    }
    let id = p.request_id.as_deref().unwrap_or("none");
    eprintln!("  code: {}  request id: {id}", p.code);
}

#[cfg(test)]
mod tests {
    #[test]
    fn statuses_map_to_the_documented_codes() {
        assert_eq!(super::code_for_status(Some(404)), 3);
        assert_eq!(super::code_for_status(Some(409)), 4);
        assert_eq!(super::code_for_status(Some(412)), 4);
        assert_eq!(super::code_for_status(Some(422)), 1);
        assert_eq!(super::code_for_status(None), 1);
    }
}
