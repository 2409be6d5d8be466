//! Page weight: what a first visit to a page downloads, the HTML plus every embedded asset
//! the page refers to (none is cached yet), against the console's budget.
//!
//! `command-center bench api` prints the weight of the main pages and fails when one is over
//! [`LIMIT_BYTES`]; the test suite checks the same pages.

/// The budget for one page's HTML plus its assets, uncompressed: 150 KB.
pub const LIMIT_BYTES: usize = 150_000;

/// The `/assets/…` paths a page refers to in its `href` and `src` attributes, each once, in
/// order of appearance (query strings and fragments removed).
#[must_use]
pub fn asset_references(html: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let bytes = html.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &html[i..];
        let Some(at) = rest.find(['h', 's']) else {
            break;
        };
        let pos = i + at;
        let tail = &html[pos..];
        let after_name = if tail.starts_with("href") {
            Some(pos + 4)
        } else if tail.starts_with("src") {
            Some(pos + 3)
        } else {
            None
        };
        i = pos + 1;
        let Some(mut j) = after_name else { continue };
        // An attribute name starts after whitespace (not `data-href`, not `xsrc`).
        if pos == 0 || !bytes[pos - 1].is_ascii_whitespace() {
            continue;
        }
        while j < bytes.len() && bytes[j].is_ascii_whitespace() {
            j += 1;
        }
        if bytes.get(j) != Some(&b'=') {
            continue;
        }
        j += 1;
        while j < bytes.len() && bytes[j].is_ascii_whitespace() {
            j += 1;
        }
        let value = match bytes.get(j) {
            Some(q @ (b'"' | b'\'')) => {
                let start = j + 1;
                let end = html[start..]
                    .find(char::from(*q))
                    .map_or(html.len(), |e| start + e);
                &html[start..end]
            }
            Some(_) => {
                let end = html[j..]
                    .find(|c: char| c.is_ascii_whitespace() || c == '>')
                    .map_or(html.len(), |e| j + e);
                &html[j..end]
            }
            None => break,
        };
        let path = value.split(['?', '#']).next().unwrap_or_default();
        if path.starts_with("/assets/") && !out.iter().any(|p| p == path) {
            out.push(path.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_asset_once_in_href_and_src() {
        let html = r#"<html><head><link rel="icon" href="/assets/favicon.1.svg">
            <link rel="stylesheet" href='/assets/console.2.css?v=1'>
            <script src=/assets/console.3.js defer></script></head>
            <body><a href="/people">People</a><a data-href="/assets/no.css">x</a>
            <img src = "/assets/console.2.css#x"></body></html>"#;
        assert_eq!(
            asset_references(html),
            [
                "/assets/favicon.1.svg",
                "/assets/console.2.css",
                "/assets/console.3.js"
            ]
        );
    }

    #[test]
    fn a_page_without_assets_refers_to_none() {
        assert!(asset_references("<p>href src = </p>").is_empty());
        assert!(asset_references("").is_empty());
    }
}
