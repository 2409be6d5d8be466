//! What the live event stream carries besides job state changes: notices about things an
//! operator wants to hear of as they happen, in the same sequence as [`JobEvent`]s.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::JobEvent;

/// Longest notice text kept (longer text is cut at a character boundary).
pub const MAX_NOTE: usize = 500;

/// What a notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoticeTopic {
    /// A roster import run ended: `subject` is the run's id, `state` is `applied`, `refused`
    /// (a guard refused the plan) or `failed`.
    Import,
    /// A lifecycle target: `subject` is its name, `state` is `failing` (an operation on it
    /// failed while it was last known to work) or `recovered` (it worked again).
    Target,
}

impl NoticeTopic {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeTopic::Import => "import",
            NoticeTopic::Target => "target",
        }
    }
}

impl std::str::FromStr for NoticeTopic {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "import" => Ok(NoticeTopic::Import),
            "target" => Ok(NoticeTopic::Target),
            other => Err(format!("unknown notice topic {other:?}")),
        }
    }
}

/// A notice to record (the store assigns its sequence number and time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotice {
    pub topic: NoticeTopic,
    pub subject: String,
    pub state: String,
    /// What happened, in words (never a secret); at most [`MAX_NOTE`] bytes are kept.
    pub note: Option<String>,
}

impl NewNotice {
    /// The note as stored: cut to [`MAX_NOTE`] bytes.
    #[must_use]
    pub fn stored_note(&self) -> Option<&str> {
        self.note.as_deref().map(|n| {
            let mut end = n.len().min(MAX_NOTE);
            while !n.is_char_boundary(end) {
                end -= 1;
            }
            &n[..end]
        })
    }
}

/// A recorded notice, as the stream sends it (`event: import` or `event: target`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Notice {
    /// Position in the event log, shared with job events.
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub topic: NoticeTopic,
    pub subject: String,
    pub state: String,
    pub note: Option<String>,
}

/// One entry of the event log, in sequence order.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    Job(JobEvent),
    Notice(Notice),
}

impl StreamEvent {
    /// Position in the event log.
    #[must_use]
    pub fn seq(&self) -> i64 {
        match self {
            StreamEvent::Job(e) => e.seq,
            StreamEvent::Notice(n) => n.seq,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_cut_at_a_character_boundary() {
        let n = NewNotice {
            topic: NoticeTopic::Target,
            subject: "ldap".into(),
            state: "failing".into(),
            note: Some("é".repeat(MAX_NOTE)),
        };
        let kept = n.stored_note().unwrap();
        assert!(kept.len() <= MAX_NOTE && kept.len() >= MAX_NOTE - 1);
        assert!(kept.chars().all(|c| c == 'é'));
    }
}
