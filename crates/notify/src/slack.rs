//! Slack-compatible incoming webhooks (Slack, Mattermost, Teams workflows): `{"text": …}`.

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use crate::channel::{Channel, SendError};
use crate::http::post_json;
use crate::message::Message;

/// Slack truncates `text` past 40,000 characters and advises 4,000; messages stay under this.
pub const MAX_TEXT_CHARS: usize = 3_900;

pub struct SlackChannel {
    pub(crate) name: String,
    pub(crate) url: SecretString,
    pub(crate) client: reqwest::Client,
}

#[async_trait]
impl Channel for SlackChannel {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "slack"
    }

    async fn check(&self) -> Result<String, String> {
        // The URL is a credential: only its origin is shown.
        let url = self.url.expose_secret();
        crate::check_url(url).map(|()| {
            format!(
                "incoming webhook at {} (nothing sent)",
                crate::url_origin(url)
            )
        })
    }

    async fn send(&self, message: &Message) -> Result<(), SendError> {
        let body = serde_json::json!({ "text": render(message) });
        post_json(&self.client, self.url.expose_secret(), &body, &[]).await
    }
}

/// The message as Slack `mrkdwn`, every piece of outside text escaped, within the size limit.
#[must_use]
pub fn render(message: &Message) -> String {
    let mut out = format!("{} *{}*", severity_mark(message), escape(&message.title));
    for d in &message.details {
        out.push('\n');
        out.push_str(&escape(d));
    }
    let link = message
        .link
        .as_deref()
        .map(|l| format!("\n<{}|Open in Command Center>", escape_link(l)))
        .unwrap_or_default();
    truncate(
        &mut out,
        MAX_TEXT_CHARS.saturating_sub(link.chars().count()),
    );
    out.push_str(&link);
    out
}

fn severity_mark(message: &Message) -> &'static str {
    match message.severity {
        cc_domain::notification::Severity::Critical => ":red_circle:",
        cc_domain::notification::Severity::Warning => ":warning:",
        cc_domain::notification::Severity::Info => ":information_source:",
    }
}

/// Escapes text for Slack: `&`, `<` and `>` become entities, so no `<!channel>`, `<@U…>` or
/// `<url|label>` can be formed from a name or an error message.
#[must_use]
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// A link's URL inside `<…|…>`: the same escapes, and `|` which would end it.
fn escape_link(url: &str) -> String {
    escape(url).replace('|', "%7C")
}

/// Cuts `text` to at most `max` characters, at a character boundary and never inside an
/// entity, marking the cut.
fn truncate(text: &mut String, max: usize) {
    if text.chars().count() <= max {
        return;
    }
    let keep = max.saturating_sub(1);
    let mut end = text.char_indices().nth(keep).map_or(text.len(), |(i, _)| i);
    if let Some(amp) = text[..end].rfind('&') {
        if !text[amp..end].contains(';') {
            end = amp;
        }
    }
    text.truncate(end);
    text.push('…');
}

#[cfg(test)]
mod tests {
    use super::*;
    use cc_domain::{EventKind, NotificationEvent};

    #[test]
    fn names_cannot_mention_anyone() {
        let e = NotificationEvent::new(
            EventKind::OperatorLockedOut,
            "operator x",
            "Operator <!channel> <@U123> & <https://evil|click> was locked out",
        );
        let text = render(&Message::single(&e, None));
        assert!(!text.contains("<!channel>"));
        assert!(!text.contains("<@U123>"));
        assert!(text.contains("&lt;!channel&gt; &lt;@U123&gt; &amp; &lt;https://evil|click&gt;"));
    }

    #[test]
    fn long_messages_fit() {
        let e = NotificationEvent::new(EventKind::JobDiscarded, "job 1", "x")
            .with_error("<".repeat(10_000));
        let text = render(&Message::single(&e, Some("https://cc.example")));
        assert!(text.chars().count() <= MAX_TEXT_CHARS);
        assert!(!text.contains("&l…"));
    }
}
