//! Keeping target secrets out of printed configuration and error messages: credentials and
//! query values in URLs, and header values that carry credentials.

use reqwest::Url;

/// What replaces a secret in printed configuration.
pub const MASK: &str = "***";

/// The URL with its password and every query value replaced by `***` (user names, hosts,
/// paths and query keys stay, so the operator can still tell targets apart). Text that is not
/// a URL is shown only when it has no `@` or `?` that could hide a credential.
#[must_use]
pub fn redact_url(text: &str) -> String {
    let Ok(mut url) = Url::parse(text) else {
        return if text.contains(['@', '?']) {
            MASK.to_owned()
        } else {
            text.to_owned()
        };
    };
    if url.password().is_some() {
        let _ = url.set_password(Some(MASK));
    }
    if let Some(query) = url.query().map(str::to_owned) {
        let masked: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) => format!("{key}={MASK}"),
                None => pair.to_owned(),
            })
            .collect();
        url.set_query(Some(&masked.join("&")));
    }
    url.to_string()
}

/// The URL without user information, query or fragment: safe for messages and logs.
#[must_use]
pub fn shown_url(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    let _ = shown.set_password(None);
    let _ = shown.set_username("");
    shown.to_string()
}

/// The parts of a URL that may be credentials (the password and query values, raw and
/// decoded), for [`crate::redact`]. Values shorter than four characters are left out: they
/// are not credentials, and masking them would garble messages.
#[must_use]
pub fn url_secrets(url: &Url) -> Vec<String> {
    let mut secrets = Vec::new();
    if let Some(password) = url.password() {
        secrets.push(password.to_owned());
        secrets.push(percent_decode(password));
    }
    if let Some(query) = url.query() {
        for pair in query.split('&') {
            if let Some((_, value)) = pair.split_once('=') {
                secrets.push(value.to_owned());
            }
        }
        secrets.extend(url.query_pairs().map(|(_, v)| v.into_owned()));
    }
    secrets.retain(|s| s.len() >= 4);
    secrets.sort();
    secrets.dedup();
    secrets
}

/// Decodes `%XX` escapes (invalid ones are kept as they are).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether a header's value is a credential: `Authorization`, cookies, API keys, tokens.
#[must_use]
pub fn is_sensitive_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    matches!(
        name.as_str(),
        "authorization" | "proxy-authorization" | "cookie"
    ) || [
        "auth",
        "token",
        "secret",
        "key",
        "password",
        "session",
        "signature",
    ]
    .iter()
    .any(|word| name.contains(word))
}

/// Whether an environment variable's name says it holds a credential.
#[must_use]
pub fn is_sensitive_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["pass", "secret", "token", "key", "auth", "credential"]
        .iter()
        .any(|word| name.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_passwords_and_query_values() {
        assert_eq!(
            redact_url("https://hook:s3cr3t@h.example.org/in?token=abcdef&x=1"),
            "https://hook:***@h.example.org/in?token=***&x=***"
        );
        assert_eq!(
            redact_url("ldaps://ldap.example.org:636"),
            "ldaps://ldap.example.org:636"
        );
        assert_eq!(redact_url("not a url?token=abc"), "***");
    }

    #[test]
    fn secrets_of_a_url_include_decoded_query_values() {
        let url = Url::parse("https://u:pa%40ss@h/p?token=a%2Bb%2Bc&n=1").unwrap();
        let s = url_secrets(&url);
        assert!(s.contains(&"pa%40ss".to_owned()), "{s:?}");
        assert!(s.contains(&"pa@ss".to_owned()), "{s:?}");
        assert!(s.contains(&"a%2Bb%2Bc".to_owned()), "{s:?}");
        assert!(s.contains(&"a+b+c".to_owned()), "{s:?}");
        assert!(!s.contains(&"1".to_owned()));
        assert_eq!(
            shown_url(&url),
            "https://h/p",
            "no credentials, no query in messages"
        );
    }

    #[test]
    fn sensitive_headers() {
        for h in ["Authorization", "X-Api-Key", "X-Auth-Token", "Cookie"] {
            assert!(is_sensitive_header(h), "{h}");
        }
        assert!(!is_sensitive_header("X-Tenant"));
    }
}
