//! The permission table: for every route (method and path template), who may call it.
//!
//! This is the one place access is declared. [`crate::auth::middleware::authorize`] enforces
//! it for every matched route, the OpenAPI document is annotated from it (security
//! requirements and `x-required-role`), `docs/security.md`'s roles table is checked against it,
//! and a test walks every route of the router to prove each answers as declared. A route that
//! is missing here is treated as admin-only, and that test fails until it is declared.

use axum::http::Method;
use cc_domain::OperatorRole;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without credentials.
    Public,
    /// An operator session or API token whose role is at least this.
    Role(OperatorRole),
    /// `/metrics`: see [`crate::auth::metrics::MetricsAccess`].
    Metrics,
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoutePermission {
    pub method: &'static str,
    /// The full path template, as axum matches it (`/api/v1/users/{id}`).
    pub path: &'static str,
    pub access: Access,
}

const fn route(method: &'static str, path: &'static str, access: Access) -> RoutePermission {
    RoutePermission {
        method,
        path,
        access,
    }
}

use Access::{Metrics, Public};
const AUDITOR: Access = Access::Role(OperatorRole::Auditor);
const OPERATOR: Access = Access::Role(OperatorRole::Operator);
const ADMIN: Access = Access::Role(OperatorRole::Admin);
/// API tokens with the `scim` role, and nothing else.
const SCIM: Access = Access::Role(OperatorRole::Scim);

/// Every route and who may call it.
pub const PERMISSIONS: &[RoutePermission] = &[
    // Probes, documentation and metrics.
    route("GET", "/health/live", Public),
    route("GET", "/health/ready", Public),
    route("GET", "/openapi.json", Public),
    route("GET", "/docs", Public),
    route("GET", "/docs/", Public),
    route("GET", "/docs/{*rest}", Public),
    route("GET", "/metrics", Metrics),
    // Authentication.
    route("POST", "/api/v1/auth/login", Public),
    route("POST", "/api/v1/auth/refresh", Public),
    route("POST", "/api/v1/auth/logout", AUDITOR),
    route("GET", "/api/v1/auth/me", AUDITOR),
    route("GET", "/api/v1/auth/oidc/providers", Public),
    route("GET", "/api/v1/auth/oidc/{provider}/authorize", Public),
    route("GET", "/api/v1/auth/oidc/{provider}/callback", Public),
    // The directory.
    route("GET", "/api/v1/users", AUDITOR),
    route("POST", "/api/v1/users", OPERATOR),
    route("GET", "/api/v1/users/{id}", AUDITOR),
    route("PATCH", "/api/v1/users/{id}", OPERATOR),
    route("DELETE", "/api/v1/users/{id}", OPERATOR),
    route("POST", "/api/v1/users/{id}/actions/{operation}", OPERATOR),
    route("POST", "/api/v1/users/actions/{operation}", OPERATOR),
    route("GET", "/api/v1/users/{id}/targets", AUDITOR),
    route("GET", "/api/v1/targets", AUDITOR),
    route("POST", "/api/v1/targets/check", OPERATOR),
    // Cloudflare automation (each enqueues a job).
    route("POST", "/api/v1/cloudflare/plan", OPERATOR),
    route("POST", "/api/v1/cloudflare/apply", ADMIN),
    route("POST", "/api/v1/cloudflare/purge", OPERATOR),
    route("POST", "/api/v1/cloudflare/certificates/check", OPERATOR),
    route(
        "POST",
        "/api/v1/cloudflare/certificates/retry-validation",
        OPERATOR,
    ),
    route("GET", "/api/v1/groups", AUDITOR),
    route("POST", "/api/v1/groups", OPERATOR),
    route("GET", "/api/v1/groups/{id}", AUDITOR),
    route("PATCH", "/api/v1/groups/{id}", OPERATOR),
    route("DELETE", "/api/v1/groups/{id}", OPERATOR),
    route("GET", "/api/v1/groups/{id}/members", AUDITOR),
    route("PUT", "/api/v1/groups/{id}/members/{user_id}", OPERATOR),
    route("DELETE", "/api/v1/groups/{id}/members/{user_id}", OPERATOR),
    route("GET", "/api/v1/devices", AUDITOR),
    route("POST", "/api/v1/devices", OPERATOR),
    route("GET", "/api/v1/devices/{id}", AUDITOR),
    route("PATCH", "/api/v1/devices/{id}", OPERATOR),
    route("DELETE", "/api/v1/devices/{id}", OPERATOR),
    route("GET", "/api/v1/policies", AUDITOR),
    route("POST", "/api/v1/policies", OPERATOR),
    route("GET", "/api/v1/policies/{id}", AUDITOR),
    route("PATCH", "/api/v1/policies/{id}", OPERATOR),
    route("DELETE", "/api/v1/policies/{id}", OPERATOR),
    // The audit trail.
    route("GET", "/api/v1/audit", AUDITOR),
    route("GET", "/api/v1/audit/verify", AUDITOR),
    // The job queue.
    route("GET", "/api/v1/jobs", AUDITOR),
    route("GET", "/api/v1/jobs/{id}", AUDITOR),
    route("POST", "/api/v1/jobs/{id}/cancel", OPERATOR),
    route("POST", "/api/v1/jobs/{id}/retry", OPERATOR),
    route("POST", "/api/v1/jobs/ping", OPERATOR),
    route("GET", "/api/v1/batches/{id}", AUDITOR),
    route("POST", "/api/v1/batches/{id}/retry", OPERATOR),
    route("GET", "/api/v1/events", AUDITOR),
    // Notifications.
    route("POST", "/api/v1/notifications/test", OPERATOR),
    route("POST", "/api/v1/notifications/channels/check", OPERATOR),
    route("GET", "/api/v1/notifications/deliveries", AUDITOR),
    // Roster imports.
    route("GET", "/api/v1/imports", AUDITOR),
    route("POST", "/api/v1/imports", OPERATOR),
    route("GET", "/api/v1/imports/{id}", AUDITOR),
    route("GET", "/api/v1/imports/{id}/errors.csv", AUDITOR),
    route("POST", "/api/v1/imports/{id}/apply", OPERATOR),
    // Operators and API tokens.
    route("GET", "/api/v1/operators", ADMIN),
    route("POST", "/api/v1/operators", ADMIN),
    route("GET", "/api/v1/operators/{id}", ADMIN),
    route("PATCH", "/api/v1/operators/{id}", ADMIN),
    route("POST", "/api/v1/operators/{id}/password", ADMIN),
    route("GET", "/api/v1/tokens", ADMIN),
    route("POST", "/api/v1/tokens", ADMIN),
    route("GET", "/api/v1/tokens/{id}", ADMIN),
    route("DELETE", "/api/v1/tokens/{id}", ADMIN),
    // The SCIM 2.0 service provider (identity providers pushing people and groups).
    route("POST", "/scim/v2/.search", SCIM),
    route("GET", "/scim/v2/Users", SCIM),
    route("POST", "/scim/v2/Users/.search", SCIM),
    route("POST", "/scim/v2/Users", SCIM),
    route("GET", "/scim/v2/Users/{id}", SCIM),
    route("PUT", "/scim/v2/Users/{id}", SCIM),
    route("PATCH", "/scim/v2/Users/{id}", SCIM),
    route("DELETE", "/scim/v2/Users/{id}", SCIM),
    route("GET", "/scim/v2/Groups", SCIM),
    route("POST", "/scim/v2/Groups", SCIM),
    route("POST", "/scim/v2/Groups/.search", SCIM),
    route("GET", "/scim/v2/Groups/{id}", SCIM),
    route("PUT", "/scim/v2/Groups/{id}", SCIM),
    route("PATCH", "/scim/v2/Groups/{id}", SCIM),
    route("DELETE", "/scim/v2/Groups/{id}", SCIM),
    route("GET", "/scim/v2/ServiceProviderConfig", SCIM),
    route("GET", "/scim/v2/ResourceTypes", SCIM),
    route("GET", "/scim/v2/ResourceTypes/{id}", SCIM),
    route("GET", "/scim/v2/Schemas", SCIM),
    route("GET", "/scim/v2/Schemas/{id}", SCIM),
    // The web console (pages outside `/api`, signed in with the session cookie; see
    // `cc_console`). A page never offers an action its viewer's role cannot take, and the
    // action's own route still refuses it here.
    route("GET", "/login", Public),
    route("POST", "/login", Public),
    route("GET", "/login/oidc/{provider}", Public),
    route("GET", "/login/oidc/{provider}/callback", Public),
    route("POST", "/logout", AUDITOR),
    route("GET", "/assets/{file}", Public),
    route("GET", "/", AUDITOR),
    route("GET", "/status", AUDITOR),
    route("GET", "/people", AUDITOR),
    route("GET", "/people/{id}", AUDITOR),
    route("GET", "/people/{id}/actions/{operation}", OPERATOR),
    route("POST", "/people/{id}/actions/{operation}", OPERATOR),
    route("GET", "/groups", AUDITOR),
    route("POST", "/groups", OPERATOR),
    route("GET", "/groups/{id}", AUDITOR),
    route("POST", "/groups/{id}", OPERATOR),
    route("GET", "/devices", AUDITOR),
    route("POST", "/devices", OPERATOR),
    route("GET", "/devices/{id}", AUDITOR),
    route("POST", "/devices/{id}", OPERATOR),
    route("POST", "/groups/{id}/members", OPERATOR),
    route("POST", "/groups/{id}/members/{user_id}/remove", OPERATOR),
    route("GET", "/policies", AUDITOR),
    route("POST", "/policies", OPERATOR),
    route("GET", "/policies/{id}", AUDITOR),
    route("POST", "/policies/{id}", OPERATOR),
    route("POST", "/status/test-job", OPERATOR),
    route("GET", "/jobs", AUDITOR),
    route("GET", "/jobs/{id}", AUDITOR),
    route("POST", "/jobs/{id}/cancel", OPERATOR),
    route("POST", "/jobs/{id}/retry", OPERATOR),
    route("GET", "/batches/{id}", AUDITOR),
    route("POST", "/batches/{id}/retry", OPERATOR),
    route("GET", "/imports", AUDITOR),
    route("POST", "/imports", OPERATOR),
    route("GET", "/imports/new", OPERATOR),
    route("GET", "/imports/{id}", AUDITOR),
    route("POST", "/imports/{id}/apply", OPERATOR),
    route("GET", "/imports/{id}/errors.csv", AUDITOR),
    route("GET", "/audit", AUDITOR),
    route("GET", "/audit/verify", AUDITOR),
    route("GET", "/notifications", AUDITOR),
    route("POST", "/notifications/test", OPERATOR),
    route("POST", "/notifications/check", OPERATOR),
    route("GET", "/operators", ADMIN),
    route("POST", "/operators", ADMIN),
    route("POST", "/operators/{id}", ADMIN),
    route("GET", "/tokens", ADMIN),
    route("POST", "/tokens", ADMIN),
    route("POST", "/tokens/{id}/revoke", ADMIN),
];

/// The declared access for a method and path template; `HEAD` is `GET`'s. `None` when the
/// route is not declared.
#[must_use]
pub fn lookup(method: &Method, path: &str) -> Option<Access> {
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    PERMISSIONS
        .iter()
        .find(|p| p.method == method && p.path == path)
        .map(|p| p.access)
}

/// What the table says about a route, in words (for the OpenAPI document and the docs).
#[must_use]
pub fn describe(access: Access) -> &'static str {
    match access {
        Public => "public",
        Access::Role(OperatorRole::Auditor) => "auditor",
        Access::Role(OperatorRole::Operator) => "operator",
        Access::Role(OperatorRole::Admin) => "admin",
        Access::Role(OperatorRole::Scim) => "scim",
        Metrics => "metrics",
    }
}

/// The table as Markdown rows (`| method | path | access |`), as `docs/security.md` shows it.
#[must_use]
pub fn markdown_table() -> String {
    let mut out = String::from("| Method | Route | Who may call it |\n|---|---|---|\n");
    for p in PERMISSIONS {
        let who = match p.access {
            Public => "public".to_owned(),
            Metrics => "metrics guard (see below)".to_owned(),
            Access::Role(OperatorRole::Scim) => "`scim` API tokens only".to_owned(),
            Access::Role(r) => format!("`{r}` and above"),
        };
        out.push_str(&format!("| {} | `{}` | {who} |\n", p.method, p.path));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_route_is_declared_twice() {
        for (i, p) in PERMISSIONS.iter().enumerate() {
            assert!(
                !PERMISSIONS[..i]
                    .iter()
                    .any(|o| o.method == p.method && o.path == p.path),
                "{} {} is declared twice",
                p.method,
                p.path
            );
        }
        assert_eq!(lookup(&Method::HEAD, "/health/live"), Some(Public));
        assert_eq!(lookup(&Method::GET, "/nope"), None);
    }
}
