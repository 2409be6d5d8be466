//! Static assets embedded in the binary, served under content-hashed names.
//!
//! `/assets/console.<hash>.css`: the hash (of the content, taken once at first use) changes
//! whenever the file does, so the answer may be cached forever (`immutable`), and a new
//! release is never served a stale stylesheet or script.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use cc_api::ApiError;
use sha2::{Digest, Sha256};

/// One embedded file.
struct Asset {
    /// The logical name pages refer to (`console.css`).
    name: &'static str,
    body: &'static [u8],
    content_type: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "console.css",
        body: include_bytes!("../assets/console.css"),
        content_type: "text/css; charset=utf-8",
    },
    Asset {
        name: "console.js",
        body: include_bytes!("../assets/console.js"),
        content_type: "text/javascript; charset=utf-8",
    },
    Asset {
        name: "favicon.svg",
        body: include_bytes!("../assets/favicon.svg"),
        content_type: "image/svg+xml",
    },
];

struct Table {
    /// Logical name → URL path.
    urls: HashMap<&'static str, String>,
    /// Hashed file name → the asset.
    files: HashMap<String, &'static Asset>,
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut urls = HashMap::new();
        let mut files = HashMap::new();
        for a in ASSETS {
            let hash = hex::encode(&Sha256::digest(a.body)[..6]);
            let file = match a.name.rsplit_once('.') {
                Some((stem, ext)) => format!("{stem}.{hash}.{ext}"),
                None => format!("{}.{hash}", a.name),
            };
            urls.insert(a.name, format!("/assets/{file}"));
            files.insert(file, a);
        }
        Table { urls, files }
    })
}

/// The URL of an embedded asset by its logical name (`console.css`).
///
/// # Panics
/// When no asset has that name: a programming error caught by any test that renders a page.
#[must_use]
pub fn url(name: &str) -> &'static str {
    #[allow(clippy::expect_used)]
    table()
        .urls
        .get(name)
        .map(String::as_str)
        .expect("an embedded asset")
}

/// `GET /assets/{file}`.
pub async fn serve(Path(file): Path<String>) -> Response {
    let Some(asset) = table().files.get(&file) else {
        return ApiError::not_found("There is no such asset.").into_response();
    };
    let mut res = asset.body.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_hashed_url() {
        for a in ASSETS {
            let u = url(a.name);
            assert!(u.starts_with("/assets/"), "{u}");
            assert_ne!(u, format!("/assets/{}", a.name));
            let file = u.trim_start_matches("/assets/");
            assert!(table().files.contains_key(file));
        }
    }
}
