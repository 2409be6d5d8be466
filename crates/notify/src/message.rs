//! The text of a notification: what happened, to what, the error, and a console link.

use cc_domain::notification::Severity;
use cc_domain::{EventKind, NotificationEvent};
use serde::Serialize;

/// Subjects listed in a digest at most (the rest are counted).
const DIGEST_LISTED: usize = 10;

/// A message ready for any channel (plain text; each channel escapes it its own way).
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub event: EventKind,
    pub severity: Severity,
    pub subject: String,
    /// One line: what happened, to what.
    pub title: String,
    /// Further lines: the error, the digest's list.
    pub details: Vec<String>,
    pub error: Option<String>,
    /// Absolute console link, when `public_url` is set.
    pub link: Option<String>,
    /// How many events the message stands for (more than one for a digest).
    pub count: usize,
}

impl Message {
    /// The message for one event.
    #[must_use]
    pub fn single(event: &NotificationEvent, public_url: Option<&str>) -> Self {
        let mut details = Vec::new();
        if let Some(e) = &event.error {
            details.push(format!("Error: {e}"));
        }
        Self {
            event: event.kind,
            severity: event.severity,
            subject: event.subject.clone(),
            title: event.summary.clone(),
            details,
            error: event.error.clone(),
            link: link(public_url, event.link_path.as_deref()),
            count: 1,
        }
    }

    /// One message for many events of one kind: "12 jobs discarded in the last 5 minutes".
    #[must_use]
    pub fn digest(
        kind: EventKind,
        events: &[NotificationEvent],
        window_secs: u64,
        public_url: Option<&str>,
    ) -> Self {
        let mut details: Vec<String> = events
            .iter()
            .take(DIGEST_LISTED)
            .map(|e| match &e.error {
                Some(err) => format!("{}: {err}", e.summary),
                None => e.summary.clone(),
            })
            .collect();
        if events.len() > DIGEST_LISTED {
            details.push(format!("… and {} more", events.len() - DIGEST_LISTED));
        }
        let severity = events
            .iter()
            .map(|e| e.severity)
            .max()
            .unwrap_or(kind.default_severity());
        Self {
            event: kind,
            severity,
            subject: format!("{} {}", events.len(), kind.digest_phrase()),
            title: format!(
                "{} {} in the last {}",
                events.len(),
                kind.digest_phrase(),
                window_text(window_secs)
            ),
            details,
            error: None,
            link: link(public_url, digest_path(kind)),
            count: events.len(),
        }
    }

    /// Title and details as plain text lines.
    #[must_use]
    pub fn plain_text(&self) -> String {
        let mut out = format!("[{}] {}", self.severity.as_str(), self.title);
        for d in &self.details {
            out.push('\n');
            out.push_str(d);
        }
        if let Some(l) = &self.link {
            out.push('\n');
            out.push_str(l);
        }
        out
    }
}

fn digest_path(kind: EventKind) -> Option<&'static str> {
    match kind {
        EventKind::JobDiscarded => Some("/jobs?state=discarded"),
        EventKind::ImportApplied | EventKind::ImportRefused | EventKind::ImportFailed => {
            Some("/imports")
        }
        EventKind::DeviceNoncompliant => Some("/devices"),
        _ => None,
    }
}

fn link(public_url: Option<&str>, path: Option<&str>) -> Option<String> {
    let base = public_url?.trim_end_matches('/');
    let path = path?;
    Some(format!("{base}{path}"))
}

fn window_text(secs: u64) -> String {
    match secs {
        s if s % 3600 == 0 && s >= 3600 => plural(s / 3600, "hour"),
        s if s % 60 == 0 && s >= 60 => plural(s / 60, "minute"),
        s => plural(s, "second"),
    }
}

fn plural(n: u64, unit: &str) -> String {
    if n == 1 {
        unit.to_owned()
    } else {
        format!("{n} {unit}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_says_how_many_and_how_long() {
        let events: Vec<_> = (0..12)
            .map(|i| NotificationEvent::new(EventKind::JobDiscarded, format!("job {i}"), "x"))
            .collect();
        let m = Message::digest(
            EventKind::JobDiscarded,
            &events,
            300,
            Some("https://cc.example/"),
        );
        assert_eq!(m.title, "12 jobs discarded in the last 5 minutes");
        assert_eq!(m.details.len(), 11);
        assert_eq!(
            m.link.as_deref(),
            Some("https://cc.example/jobs?state=discarded")
        );
    }
}
