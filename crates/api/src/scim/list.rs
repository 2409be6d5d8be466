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

impl ListRequest {
    pub fn parse(q: Result<Query<ListParams>, QueryRejection>) -> ScimResult<Self> {
        let Query(p) = q.map_err(|_| {
            Fail(ScimError::invalid_value(
                "Bad query parameters: startIndex and count are integers.",
            ))
        })?;
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
    pub fn answer(&self, mut resources: Vec<Value>, core: &str) -> ScimResult<ListResponse<Value>> {
        if let Some(f) = &self.filter {
            resources.retain(|r| f.matches(r, core));
        }
        if let Some(by) = &self.sort_by {
            project::sort(&mut resources, by, self.sort_order.as_deref(), core)?;
        }
        let total = resources.len();
        let page: Vec<Value> = resources
            .into_iter()
            .skip(self.start - 1)
            .take(self.count)
            .map(|r| self.projection.apply(r, core))
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
