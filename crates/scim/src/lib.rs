//! The SCIM 2.0 protocol (RFC 7643 schemas, RFC 7644 protocol), kept apart from any store or
//! HTTP server so that both the `/scim/v2` endpoint and the SCIM target speak it the same way.
//!
//! - [`filter`]: the filter grammar (`userName eq "x" and not (emails pr)`), parsed with
//!   limits and evaluated against a resource's JSON form.
//! - [`path`] and [`patch`]: PATCH paths (`emails[type eq "work"].value`) and `PatchOp`
//!   applied to a resource's JSON form, accepting the shapes real clients send.
//! - [`wire`]: the resources and messages on the wire (User with the enterprise extension,
//!   Group, ListResponse, PatchOp, Error).
//! - [`project`]: `attributes` / `excludedAttributes` and `sortBy`.
//! - [`discovery`]: `ServiceProviderConfig`, `ResourceTypes` and `Schemas`.

pub mod attr;
pub mod discovery;
mod error;
pub mod filter;
pub mod patch;
pub mod path;
pub mod project;
pub mod wire;

pub use error::{ScimError, ScimType};

/// The core User schema.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The enterprise User extension (`employeeNumber`, `department`, `manager`, …).
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// This directory's User extension: what it keeps of a person that no standard schema has
/// (`grade`, `school`). Read-only: the roster import sets them.
pub const DIRECTORY_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:commandcenter:2.0:User";
/// The core Group schema.
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// List responses.
pub const LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// `POST …/.search` requests.
pub const SEARCH_REQUEST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
/// PATCH requests.
pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// Errors.
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
/// `ServiceProviderConfig`.
pub const SERVICE_PROVIDER_CONFIG_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
/// `ResourceType`.
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
/// `Schema`.
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// The media type of SCIM messages.
pub const CONTENT_TYPE: &str = "application/scim+json";

/// The most characters a `filter` (or a PATCH path) may have.
pub const MAX_FILTER_LEN: usize = 4096;
/// The deepest nesting of parentheses, `not` and value filters in one filter.
pub const MAX_FILTER_DEPTH: usize = 16;
/// The most comparisons one filter may make.
pub const MAX_FILTER_TERMS: usize = 64;
/// The most operations in one PATCH request.
pub const MAX_PATCH_OPERATIONS: usize = 100;
