//! What every list command shares: `--limit`, paging through the API, and the note when the
//! list was cut.

use std::process::ExitCode;

use cc_client::Client;
use serde_json::Value;

use crate::output::{note, print_list, Format};

#[derive(clap::Args, Clone, Copy, Debug)]
pub struct LimitArg {
    /// At most this many items, fetched page by page; 0 for all of them.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// Items asked for per request (1-500).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub page_size: u32,
}

impl LimitArg {
    #[must_use]
    pub fn get(self) -> Option<usize> {
        (self.limit > 0).then_some(self.limit)
    }
}

/// Lists `GET /api/v1{path}` with `query` and prints `columns` of each item.
///
/// # Errors
/// API errors, or standard output closed.
pub async fn list(
    client: &Client,
    path: &str,
    query: &[(&str, &str)],
    limit: LimitArg,
    format: Format,
    columns: &[&str],
) -> anyhow::Result<ExitCode> {
    let listing = client
        .list_pages::<Value>(path, query, limit.get(), limit.page_size)
        .await?;
    print_list(format, &listing.items, columns)?;
    if listing.more {
        note(&format!(
            "(the first {}; there are more: raise --limit, or --limit 0 for all)",
            listing.items.len()
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// `FIELD=VALUE` pairs as a JSON object: a value that parses as JSON (numbers, `true`,
/// `null`, lists, quoted strings) is taken as such, anything else as a string.
///
/// # Errors
/// A pair without `=` (a usage error).
pub fn fields(pairs: &[String]) -> anyhow::Result<serde_json::Map<String, Value>> {
    let mut map = serde_json::Map::new();
    for pair in pairs {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| crate::exit::Usage(format!("`{pair}` is not FIELD=VALUE")))?;
        let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_owned()));
        map.insert(k.trim().to_owned(), value);
    }
    Ok(map)
}

/// `fields` as the typed body `T`, or a usage error naming what is wrong.
///
/// # Errors
/// An unknown field or a value of the wrong type.
pub fn typed<T: serde::de::DeserializeOwned>(
    what: &str,
    map: serde_json::Map<String, Value>,
) -> anyhow::Result<T> {
    serde_json::from_value(Value::Object(map))
        .map_err(|e| crate::exit::Usage(format!("{what}: {e}")).into())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn values_are_json_when_they_parse_and_strings_otherwise() {
        let m = super::fields(&[
            "grade=10".into(),
            "school=lincoln-hs".into(),
            "email=null".into(),
            "name=\"007\"".into(),
        ])
        .unwrap();
        assert_eq!(
            serde_json::Value::Object(m),
            json!({"grade": 10, "school": "lincoln-hs", "email": null, "name": "007"})
        );
        assert!(super::fields(&["oops".into()]).is_err());
    }
}
