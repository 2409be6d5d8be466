//! Colour: only on a terminal, never with `NO_COLOR` (<https://no-color.org>) or `TERM=dumb`.

use std::io::IsTerminal;

/// Whether output to this stream may be coloured.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    pub colour: bool,
}

impl Style {
    /// For standard output.
    #[must_use]
    pub fn stdout() -> Self {
        Self {
            colour: std::io::stdout().is_terminal() && colour_allowed(),
        }
    }

    /// For standard error.
    #[must_use]
    pub fn stderr() -> Self {
        Self {
            colour: std::io::stderr().is_terminal() && colour_allowed(),
        }
    }

    #[must_use]
    pub fn bold(self, s: &str) -> String {
        self.paint("1", s)
    }

    #[must_use]
    pub fn red(self, s: &str) -> String {
        self.paint("31", s)
    }

    /// Colours a value by what it says: failures red, successes green, waiting yellow.
    #[must_use]
    pub fn by_meaning(self, s: &str) -> String {
        self.by_meaning_of(s, s)
    }

    /// Shows `shown` (e.g. `value` cut to a column) in the colour `value` calls for.
    #[must_use]
    pub fn by_meaning_of(self, value: &str, shown: &str) -> String {
        let code = match value {
            "failed" | "discarded" | "noncompliant" | "refused" | "BROKEN" => "31",
            "completed" | "active" | "compliant" | "applied" | "in_sync" | "intact" => "32",
            "running" | "retryable" | "pending" | "planning" | "applying" | "suspended" => "33",
            _ => return shown.to_owned(),
        };
        self.paint(code, shown)
    }

    fn paint(self, code: &str, s: &str) -> String {
        if self.colour && !s.is_empty() {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }
}

pub(crate) fn colour_allowed() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
    !no_color && !dumb
}
