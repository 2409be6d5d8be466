//! Lists that span pages: the client follows `next_cursor` until it has what was asked for.

use cc_domain::page::MAX_LIMIT;
use cc_domain::Page;
use reqwest::Method;
use serde::de::DeserializeOwned;

use crate::{Client, Result};

/// What a paged listing fetched: at most the limit asked for, and whether the server had more.
#[derive(Debug, Clone)]
pub struct Listing<T> {
    pub items: Vec<T>,
    /// The server holds more items than were fetched.
    pub more: bool,
}

impl Client {
    /// `GET /api/v1{path}` with `query`, following `next_cursor` page after page until `limit`
    /// items are fetched (`None`: every item). Pages are as large as the API allows.
    ///
    /// # Errors
    /// Any API or transport error.
    pub async fn list_all<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        limit: Option<usize>,
    ) -> Result<Listing<T>> {
        self.list_pages(path, query, limit, MAX_LIMIT).await
    }

    /// [`Client::list_all`], asking for at most `page_size` items per request.
    ///
    /// # Errors
    /// Any API or transport error.
    pub async fn list_pages<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        limit: Option<usize>,
        page_size: u32,
    ) -> Result<Listing<T>> {
        let page_size = page_size.clamp(1, MAX_LIMIT) as usize;
        let mut items: Vec<T> = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let want = limit.map_or(page_size, |l| l.saturating_sub(items.len()).min(page_size));
            let size = want.max(1).to_string();
            let mut q: Vec<(&str, &str)> = query.to_vec();
            q.push(("limit", &size));
            if let Some(c) = cursor.as_deref() {
                q.push(("cursor", c));
            }
            let page: Page<T> = self.send(self.api(Method::GET, path).query(&q)).await?;
            items.extend(page.items);
            let full = limit.is_some_and(|l| items.len() >= l);
            match page.next_cursor {
                Some(next) if !full => cursor = Some(next),
                next => {
                    if let Some(l) = limit {
                        items.truncate(l);
                    }
                    return Ok(Listing {
                        items,
                        more: next.is_some(),
                    });
                }
            }
        }
    }
}
