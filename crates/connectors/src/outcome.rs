//! What a target did (or, for a dry run, would do).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The kind of one change on a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// An account (or a container it needs, such as an OU or a group) was created.
    Create,
    /// One attribute changed: `attribute`, `from`, `to`.
    Modify,
    /// The account was renamed or moved: `from` and `to` are its old and new ids.
    Move,
    Disable,
    Enable,
    /// A password was set. Never carries the value.
    SetPassword,
    /// The account was added to the group in `attribute`.
    AddMember,
    /// The account was removed from the group in `attribute`.
    RemoveMember,
    Delete,
    /// Something a script or receiver reported that fits no other kind; `to` describes it.
    #[serde(other)]
    Other,
}

/// One change on a target, attribute by attribute where that applies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub kind: ChangeKind,
    /// What the change applies to: the account id (a DN for LDAP), or a group or OU.
    #[serde(default)]
    pub object: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Value>,
}

impl Change {
    #[must_use]
    pub fn new(kind: ChangeKind, object: impl Into<String>) -> Self {
        Self {
            kind,
            object: object.into(),
            attribute: None,
            from: None,
            to: None,
        }
    }

    #[must_use]
    pub fn attribute(mut self, attribute: impl Into<String>) -> Self {
        self.attribute = Some(attribute.into());
        self
    }

    #[must_use]
    pub fn from_value(mut self, from: impl Into<Value>) -> Self {
        self.from = Some(from.into());
        self
    }

    #[must_use]
    pub fn to_value(mut self, to: impl Into<Value>) -> Self {
        self.to = Some(to.into());
        self
    }
}

/// The dry run's answer: what `apply` would change now. Empty `changes` means the target
/// already matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetPlan {
    /// The account's id as it is now, or as it would be after creation.
    pub account_id: Option<String>,
    /// Whether the account exists on the target now.
    pub exists: bool,
    pub changes: Vec<Change>,
    /// Target-specific facts (e.g. groups that would be skipped).
    #[serde(default)]
    pub detail: Value,
}

impl TargetPlan {
    /// True when applying would change nothing.
    #[must_use]
    pub fn is_noop(&self) -> bool {
        self.changes.is_empty()
    }
}

/// What `apply` did. Empty `changes` means the target already matched (a converged re-run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetOutcome {
    /// The account's id after the operation, to store as the user's link to this target;
    /// `None` when the account no longer exists (deprovisioned) or never did.
    pub account_id: Option<String>,
    pub changes: Vec<Change>,
    /// Target-specific facts: captured script output, the webhook's response, …
    #[serde(default)]
    pub detail: Value,
}

impl TargetOutcome {
    #[must_use]
    pub fn is_noop(&self) -> bool {
        self.changes.is_empty()
    }
}
