//! `GET /Users` and `GET /Groups` parameters and the steps every list takes: filter, sort,
//! page (`startIndex` is 1-based), project.

use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use cc_scim::filter::Filter;
use cc_scim::project::{self, Projection};
use cc_scim::wire::ListResponse;
use cc_scim::ScimError;
use serde::Deserialize;
use serde_json::Value;

use super::{Fail, ScimResult};

/// The most resources one page holds (`count` above it is lowered to it).
pub const MAX_COUNT: usize = 200;
/// The page size when `count` is not given.
const DEFAULT_COUNT: usize = 100;
/// The most records a filter is evaluated against; a larger directory must be narrowed by
/// the indexed lookups (`userName eq`, `id eq`, `displayName eq`).
pub const MAX_SCAN: usize = 100_000;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListParams {
    pub filter: Option<String>,
    pub start_index: Option<i64>,
    pub count: Option<i64>,
    pub sort_by: Option<String>,
    pub sort_order: Option<String>,
    pub attributes: Option<String>,
    pub excluded_attributes: Option<String>,
}

/// The parsed parameters.
pub(super) struct ListRequest {
    pub filter: Option<Filter>,
    pub start: usize,
    pub count: usize,
    pub sort_by: Option<String>,
    pub sort_order: Option<String>,
    pub projection: Projection,
}

/// `attributes` / `excludedAttributes` of a single-resource request.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ProjectionParams {
    pub attributes: Option<String>,
    pub excluded_attributes: Option<String>,
}

impl ProjectionParams {
    pub fn parse(q: Result<Query<Self>, QueryRejection>) -> ScimResult<Projection> {
        let Query(p) = q.map_err(|_| Fail(ScimError::invalid_value("Bad query parameters.")))?;
        Ok(Projection::parse(
            p.attributes.as_deref(),
            p.excluded_attributes.as_deref(),
        )?)
    }
}

impl ListParams {
    /// The parameters of a `POST …/.search` body (RFC 7644 §3.4.3): the query parameters as
    /// JSON, `attributes` and `excludedAttributes` as lists (or comma-separated strings).
    pub fn from_search(body: &Value) -> ScimResult<Self> {
        let Some(o) = body.as_object() else {
            return Err(Fail(ScimError::invalid_syntax(
                "The body is not a SearchRequest.",
            )));
        };
        let schema_ok = o.get("schemas").is_none_or(|s| {
            s.as_array().is_some_and(|a| {
                a.iter()
                    .any(|s| s.as_str() == Some(cc_scim::SEARCH_REQUEST_SCHEMA))
            })
        });
        if !schema_ok {
            return Err(Fail(ScimError::invalid_syntax(format!(
                "A SearchRequest names the schema {}.",
                cc_scim::SEARCH_REQUEST_SCHEMA
            ))));
        }
        let field = |name: &str| {
            o.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
                .filter(|v| !v.is_null())
        };
        let text = |name: &str| -> ScimResult<Option<String>> {
            match field(name) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(Fail(ScimError::invalid_value(format!(
                    "{name} is a string."
                )))),
            }
        };
        let list = |name: &str| -> ScimResult<Option<String>> {
            match field(name) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|i| i.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .map(|v| Some(v.join(",")))
                    .ok_or_else(|| {
                        Fail(ScimError::invalid_value(format!(
                            "{name} is a list of attribute names."
                        )))
                    }),
                Some(_) => Err(Fail(ScimError::invalid_value(format!(
                    "{name} is a list of attribute names."
                )))),
            }
        };
        let int = |name: &str| -> ScimResult<Option<i64>> {
            match field(name) {
                None => Ok(None),
                Some(v) => v.as_i64().map(Some).ok_or_else(|| {
                    Fail(ScimError::invalid_value(format!("{name} is an integer.")))
                }),
            }
        };
        Ok(Self {
            filter: text("filter")?,
            start_index: int("startIndex")?,
            count: int("count")?,
            sort_by: text("sortBy")?,
            sort_order: text("sortOrder")?,
            attributes: list("attributes")?,
            excluded_attributes: list("excludedAttributes")?,
        })
    }
}

impl ListRequest {
    pub fn parse(q: Result<Query<ListParams>, QueryRejection>) -> ScimResult<Self> {
        let Query(p) = q.map_err(|_| {
            Fail(ScimError::invalid_value(
                "Bad query parameters: startIndex and count are integers.",
            ))
        })?;
        Self::from_params(p)
    }

    pub fn from_params(p: ListParams) -> ScimResult<Self> {
        let filter = p.filter.as_deref().map(Filter::parse).transpose()?;
        let projection =
            Projection::parse(p.attributes.as_deref(), p.excluded_attributes.as_deref())?;
        if p.sort_by.as_ref().is_some_and(|s| s.len() > 256) {
            return Err(Fail(ScimError::invalid_value("sortBy is too long.")));
        }
        Ok(Self {
            filter,
            start: usize::try_from(p.start_index.unwrap_or(1).max(1)).unwrap_or(1),
            count: usize::try_from(p.count.unwrap_or(DEFAULT_COUNT as i64).max(0))
                .unwrap_or(0)
                .min(MAX_COUNT),
            sort_by: p.sort_by,
            sort_order: p.sort_order,
            projection,
        })
    }

    /// Filters, sorts, pages and projects rendered resources.
    pub fn answer(&self, resources: Vec<Value>, core: &str) -> ScimResult<ListResponse<Value>> {
        self.answer_mixed(vec![(resources, core)])
    }

    /// [`ListRequest::answer`] for resources of several types (the root `/.search`), each
    /// with its core schema: every kind filtered and projected by its own schema, the whole
    /// sorted and paged together.
    pub fn answer_mixed(&self, kinds: Vec<(Vec<Value>, &str)>) -> ScimResult<ListResponse<Value>> {
        let mut all: Vec<(Value, &str)> = Vec::new();
        for (mut resources, core) in kinds {
            if let Some(f) = &self.filter {
                resources.retain(|r| f.matches(r, core));
            }
            all.extend(resources.into_iter().map(|r| (r, core)));
        }
        if let Some(by) = &self.sort_by {
            project::sort_mixed(&mut all, by, self.sort_order.as_deref())?;
        }
        let total = all.len();
        let page: Vec<Value> = all
            .into_iter()
            .skip(self.start - 1)
            .take(self.count)
            .map(|(r, core)| self.projection.apply(r, core))
            .collect();
        Ok(ListResponse::new(page, total, self.start))
    }

    /// When the filter is `<name> eq "<value>"` on the core attribute `name`: the value.
    pub fn equality(&self, name: &str, core: &str) -> Option<&str> {
        let (path, value) = self.filter.as_ref()?.as_equality()?;
        let core_uri = path
            .uri
            .as_deref()
            .is_none_or(|u| u.eq_ignore_ascii_case(core));
        (core_uri && path.sub.is_none() && path.name.eq_ignore_ascii_case(name)).then_some(value)
    }
}
