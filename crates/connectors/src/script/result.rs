//! Reading what a script printed.

use serde::Deserialize;
use serde_json::Value;

use crate::{Change, ChangeKind};

/// A successful script's answer.
#[derive(Debug, Default)]
pub(crate) struct ScriptResult {
    pub account_id: Option<String>,
    /// For a dry run: whether the account exists now (defaults to "an account id was given
    /// and no `create` is planned").
    pub exists: Option<bool>,
    pub changes: Vec<Change>,
    pub detail: Value,
}

/// A failed script's explanation, when it gave one.
#[derive(Debug, Default)]
pub(crate) struct ScriptFailure {
    pub message: Option<String>,
    pub retryable: Option<bool>,
}

#[derive(Deserialize)]
struct Success {
    #[serde(default)]
    account_id: Option<String>,
    #[serde(default)]
    exists: Option<bool>,
    #[serde(default)]
    changes: Vec<ChangeItem>,
    #[serde(default)]
    detail: Value,
}

/// Scripts may describe a change as an object or, simply, as a sentence.
#[derive(Deserialize)]
#[serde(untagged)]
enum ChangeItem {
    Structured(Change),
    Text(String),
}

#[derive(Deserialize)]
struct Failure {
    error: String,
    #[serde(default)]
    retryable: Option<bool>,
}

/// The JSON object in stdout: the whole of it, or else its last non-empty line.
fn json_object(stdout: &str) -> Option<Value> {
    let whole = stdout.trim();
    if let Ok(v @ Value::Object(_)) = serde_json::from_str(whole) {
        return Some(v);
    }
    let last = whole.lines().rev().map(str::trim).find(|l| !l.is_empty())?;
    match serde_json::from_str(last) {
        Ok(v @ Value::Object(_)) => Some(v),
        _ => None,
    }
}

pub(crate) fn parse_success(stdout: &str) -> Result<ScriptResult, String> {
    let value = json_object(stdout)
        .ok_or_else(|| "printed no JSON object on stdout (its last line)".to_owned())?;
    let s: Success = serde_json::from_value(value)
        .map_err(|e| format!("printed a result that does not fit the contract: {e}"))?;
    Ok(ScriptResult {
        account_id: s.account_id.filter(|a| !a.is_empty()),
        exists: s.exists,
        changes: s
            .changes
            .into_iter()
            .map(|c| match c {
                ChangeItem::Structured(c) => c,
                ChangeItem::Text(t) => Change::new(ChangeKind::Other, "").to_value(t),
            })
            .collect(),
        detail: s.detail,
    })
}

pub(crate) fn parse_failure(stdout: &str) -> ScriptFailure {
    json_object(stdout)
        .and_then(|v| serde_json::from_value::<Failure>(v).ok())
        .map(|f| ScriptFailure {
            message: Some(f.error),
            retryable: f.retryable,
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_last_line_after_log_output() {
        let out = "connecting to dc1\nWARNING: slow\n{\"account_id\":\"CN=Ada\",\"changes\":[\"created\",{\"kind\":\"modify\",\"object\":\"CN=Ada\",\"attribute\":\"mail\",\"to\":\"a@x\"}]}\n";
        let r = parse_success(out).unwrap();
        assert_eq!(r.account_id.as_deref(), Some("CN=Ada"));
        assert_eq!(r.changes.len(), 2);
        assert_eq!(r.changes[0].kind, ChangeKind::Other);
        assert_eq!(r.changes[1].attribute.as_deref(), Some("mail"));
    }

    #[test]
    fn accepts_pretty_printed_json() {
        let r = parse_success("{\n  \"account_id\": \"x\",\n  \"changes\": []\n}\n").unwrap();
        assert_eq!(r.account_id.as_deref(), Some("x"));
        assert!(parse_success("done").is_err());
        assert!(parse_success("[1]").is_err());
    }

    #[test]
    fn reads_failures() {
        let f = parse_failure("{\"error\":\"AD unreachable\",\"retryable\":true}");
        assert_eq!(f.message.as_deref(), Some("AD unreachable"));
        assert_eq!(f.retryable, Some(true));
        assert!(parse_failure("boom").message.is_none());
    }
}
