//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Command Center API",
        description = "Identity and device lifecycle automation for school districts.\n\n\
            Errors are RFC 9457 `application/problem+json` with a stable `code` and the `request_id`. \
            Lists take `limit` (1–500, default 50) and an opaque `cursor`, and answer \
            `{\"items\": [...], \"next_cursor\": ...}`. Updates accept `If-Match: \"<version>\"`.",
        license(name = "Apache-2.0")
    ),
    servers((url = "/api/v1", description = "This server")),
    tags(
        (name = "users", description = "People: students and staff"),
        (name = "groups", description = "Schools, classes and security groups"),
        (name = "devices", description = "Devices and their reported facts"),
        (name = "policies", description = "Device policies"),
        (name = "audit", description = "The tamper-evident audit trail"),
        (name = "imports", description = "Roster imports: upload an SIS export, preview the plan, apply it"),
        (name = "jobs", description = "The job queue: jobs, batches and the live event stream"),
        (name = "health", description = "Liveness and readiness probes (served at the root, not under /api/v1)"),
    )
)]
pub(crate) struct ApiDoc;

/// The OpenAPI document for the whole API.
#[must_use]
pub fn openapi() -> utoipa::openapi::OpenApi {
    server_parts().1
}

pub(crate) fn server_parts() -> (axum::Router<crate::AppState>, utoipa::openapi::OpenApi) {
    crate::server::api_routes().split_for_parts()
}
