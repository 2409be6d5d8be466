//! Small formatting helpers shared by pages.

use chrono::{DateTime, Utc};
use maud::{html, Markup};

/// `3 s`, `4 min 10 s`, `2 h 5 min`, `3 d 4 h`.
#[must_use]
pub fn duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        3600..=86_399 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        _ => format!("{} d {} h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// A timestamp as a `<time>` element: UTC date and time, with how long ago in its title.
#[must_use]
pub fn time(t: DateTime<Utc>, now: DateTime<Utc>) -> Markup {
    let ago = duration((now - t).num_seconds());
    html! {
        time datetime=(t.to_rfc3339()) title={ (ago) " ago" } {
            (t.format("%Y-%m-%d %H:%M:%S UTC"))
        }
    }
}

/// How long ago, as text (`4 min 10 s ago`).
#[must_use]
pub fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    format!("{} ago", duration((now - t).num_seconds()))
}

/// A job state as a badge: the word with an icon, coloured by outcome.
#[must_use]
pub fn job_state(state: cc_domain::JobState) -> Markup {
    use cc_domain::JobState as S;
    let level = match state {
        S::Completed => "ok",
        S::Retryable => "warn",
        S::Discarded => "bad",
        S::Running | S::Available | S::Scheduled | S::Cancelled => "idle",
    };
    crate::layout::status_badge(level, state.as_str())
}

#[cfg(test)]
mod tests {
    use super::duration;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(-5), "0 s");
        assert_eq!(duration(59), "59 s");
        assert_eq!(duration(250), "4 min 10 s");
        assert_eq!(duration(7500), "2 h 5 min");
        assert_eq!(duration(3 * 86_400 + 4 * 3600), "3 d 4 h");
    }
}
