//! What the list pages share: the filter bar (a plain `GET` form), its fields, the table or
//! its empty message, keyset paging links, and the small parsers behind them; and the fields
//! of the create and edit forms below the lists.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cc_api::error::ProblemType;
use cc_api::ApiError;
use cc_domain::Cursor;
use maud::{html, Markup};

/// Rows per page of every list.
pub const PAGE_SIZE: u32 = 50;

/// The trimmed text, or `None` when blank.
#[must_use]
pub fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// A filter the page cannot use (400, with the field named).
#[must_use]
pub fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::new(ProblemType::InvalidQuery, format!("{field}: {message}"))
        .with_field(field, message)
}

/// Parses an enum from its wire name (`""` is none).
///
/// # Errors
/// Not one of the enum's names.
pub fn parse_enum<T: serde::de::DeserializeOwned>(
    field: &str,
    v: &str,
) -> Result<Option<T>, ApiError> {
    non_empty(v)
        .map(|v| serde_json::from_value::<T>(serde_json::Value::String(v)))
        .transpose()
        .map_err(|_| invalid(field, "not one of the listed values"))
}

/// A keyset cursor from a previous page (`""` is the first page), ordered by `key`.
///
/// # Errors
/// Not a cursor this server made.
pub fn cursor(v: &str, key: &str) -> Result<Option<Cursor>, ApiError> {
    non_empty(v)
        .map(|c| Cursor::decode(&c, key))
        .transpose()
        .map_err(|_| invalid("cursor", "not a cursor from a previous page"))
}

/// The query string of the non-blank `pairs`.
#[must_use]
pub fn query_string(pairs: &[(&str, &str)]) -> String {
    let kept: Vec<_> = pairs.iter().filter(|(_, v)| !v.trim().is_empty()).collect();
    serde_urlencoded::to_string(kept).unwrap_or_default()
}

/// `path` with the filters in `pairs` and one more parameter (the paging position).
#[must_use]
pub fn link_with(path: &str, pairs: &[(&str, &str)], key: &str, value: &str) -> String {
    let with: Vec<(&str, &str)> = pairs.iter().copied().chain([(key, value)]).collect();
    format!("{path}?{}", query_string(&with))
}

/// Paging links of a keyset-paged list: back to the first page (when not on it) and on to the
/// next (when there is one).
#[must_use]
pub fn pager(path: &str, pairs: &[(&str, &str)], current: &str, next: Option<&String>) -> Markup {
    html! {
        nav.pager aria-label="Pages" {
            @if !current.is_empty() {
                a href=(format!("{path}?{}", query_string(pairs))) { "First page" }
            }
            @if let Some(n) = next {
                a rel="next" href=(link_with(path, pairs, "cursor", n)) { "Next page" }
            }
        }
    }
}

/// The filter bar above a list: a plain `GET` form to `action` (so a filtered list is a link
/// to share), its `fields`, and the submit button.
#[must_use]
pub fn filter_bar(action: &str, label: &str, submit: &str, fields: &Markup) -> Markup {
    html! {
        form.filters method="get" action=(action) role="search" aria-label=(label) {
            (fields)
            div.field { button.primary type="submit" { (submit) } }
        }
    }
}

/// A list's table, or `empty` when it has no rows.
#[must_use]
pub fn table_or_empty(rows: usize, empty: &str, table: &Markup) -> Markup {
    html! {
        @if rows == 0 { p.empty { (empty) } } @else { div.table-wrap { (table) } }
    }
}

/// A select of a filter bar (`any`: with an "Any" choice, ids `f-<name>`) or of a create form
/// (ids `new-<name>`).
#[must_use]
pub fn select(name: &str, label: &str, current: &str, options: &[&str], any: bool) -> Markup {
    let id = if any {
        format!("f-{name}")
    } else {
        format!("new-{name}")
    };
    select_with_id(&id, name, label, current, options, any)
}

/// A select with its own id.
#[must_use]
pub fn select_with_id(
    id: &str,
    name: &str,
    label: &str,
    current: &str,
    options: &[&str],
    any: bool,
) -> Markup {
    html! {
        div.field {
            label for=(id) { (label) }
            select id=(id) name=(name) {
                @if any { option value="" selected[current.is_empty()] { "Any" } }
                @for o in options {
                    option value=(o) selected[current == *o] { (o) }
                }
            }
        }
    }
}

/// A labelled input with its own id, `kind` (`text`, `datetime-local`, …) and an optional
/// placeholder.
#[must_use]
pub fn input_field(
    id: &str,
    name: &str,
    label: &str,
    kind: &str,
    value: &str,
    placeholder: Option<&str>,
) -> Markup {
    html! {
        div.field {
            label for=(id) { (label) }
            input id=(id) name=(name) type=(kind) value=(value) placeholder=[placeholder];
        }
    }
}

/// A text field of a filter bar (id `f-<name>`).
#[must_use]
pub fn text_field(name: &str, label: &str, current: &str, required: bool) -> Markup {
    field("f", name, label, current, required)
}

/// A text field of an edit form, holding the current value (id `edit-<name>`).
#[must_use]
pub fn edit_field(name: &str, label: &str, current: &str) -> Markup {
    field("edit", name, label, current, false)
}

/// A text field of a create form (id `new-<name>`).
#[must_use]
pub fn new_field(name: &str, label: &str, required: bool) -> Markup {
    field("new", name, label, "", required)
}

/// A labelled text field with the id `<prefix>-<name>`.
#[must_use]
pub fn field(prefix: &str, name: &str, label: &str, current: &str, required: bool) -> Markup {
    let id = format!("{prefix}-{name}");
    html! {
        div.field {
            label for=(id) { (label) }
            input id=(id) type="text" name=(name) value=(current) required[required];
        }
    }
}

/// `303 See Other` to `location` (post/redirect/get).
#[must_use]
pub fn see_other(location: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_keep_only_what_is_set() {
        assert_eq!(query_string(&[("q", "ada"), ("kind", " ")]), "q=ada");
        assert_eq!(
            link_with("/jobs", &[("state", "failed")], "before", "9"),
            "/jobs?state=failed&before=9"
        );
    }
}
