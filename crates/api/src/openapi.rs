//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Command Center API",
        description = "Identity and device lifecycle automation for school districts.\n\n\
            Errors are RFC 9457 `application/problem+json` with a stable `code` and the `request_id`. \
            Lists take `limit` (1–500, default 50) and an opaque `cursor`, and answer \
            `{\"items\": [...], \"next_cursor\": ...}`. Updates accept `If-Match: \"<version>\"`.\n\n\
            Authenticate with `Authorization: Bearer <token>`: an access token from `POST /auth/login` \
            or an API token. Each operation states the role it needs (`x-required-role`): \
            `auditor` < `operator` < `admin`, each including the ones before it.",
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
        (name = "lifecycle", description = "Provision, update, suspend, reset-password and deprovision people on every target; where their accounts stand"),
        (name = "auth", description = "Logging in: access tokens (JWT, 15 minutes) and single-use refresh tokens"),
        (name = "operators", description = "The people who use Command Center, and their roles (admin only)"),
        (name = "tokens", description = "API tokens for automation (admin only)"),
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

/// Gives every `If-Match` header parameter the one format the server accepts
/// ([`crate::extract::IF_MATCH_PATTERN`]), so the document states what a 400 `invalid_if_match`
/// refuses; other optional headers are documented as strings (not nullable).
pub(crate) fn document_if_match(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::ParameterIn;
    use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
    use utoipa::openapi::RefOr;

    for item in doc.paths.paths.values_mut() {
        let ops = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ];
        for op in ops.into_iter().flatten() {
            for p in op.parameters.iter_mut().flatten() {
                if p.parameter_in == ParameterIn::Query {
                    refuse_nul(p);
                    continue;
                }
                if p.parameter_in != ParameterIn::Header {
                    continue;
                }
                if p.name.eq_ignore_ascii_case("if-match") {
                    p.schema = Some(
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .pattern(Some(crate::extract::IF_MATCH_PATTERN))
                            .into(),
                    );
                } else if let Some(RefOr::T(Schema::Object(o))) = &mut p.schema {
                    // An optional header is absent or a string, never JSON `null`.
                    if let SchemaType::Array(types) = &o.schema_type {
                        let not_null: Vec<Type> = types
                            .iter()
                            .filter(|t| **t != Type::Null)
                            .cloned()
                            .collect();
                        if let [t] = not_null.as_slice() {
                            o.schema_type = SchemaType::Type(t.clone());
                        }
                    }
                }
            }
        }
    }
}

/// The answers every authenticated operation can give: 401 (no, a bad, an expired or a revoked
/// token) and 403 (a role below the operation's).
fn add_auth_responses(responses: &mut utoipa::openapi::Responses) {
    use utoipa::openapi::{ContentBuilder, ResponseBuilder};

    let problem = || {
        ContentBuilder::new()
            .schema(Some(utoipa::openapi::Ref::from_schema_name("Problem")))
            .build()
    };
    for (status, text) in [
        (
            "401",
            "Missing, invalid, expired or revoked credentials (`WWW-Authenticate` says which)",
        ),
        (
            "403",
            "The caller's role is below the one this operation needs (`forbidden`)",
        ),
    ] {
        responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| {
                ResponseBuilder::new()
                    .description(text)
                    .content(crate::error::PROBLEM_CONTENT_TYPE, problem())
                    .build()
                    .into()
            });
    }
}

/// Query strings may not hold NUL (`%00`, refused with 400 `invalid_query`): free-text query
/// parameters say so with a pattern.
fn refuse_nul(p: &mut utoipa::openapi::path::Parameter) {
    use utoipa::openapi::schema::{Schema, SchemaType, Type};
    use utoipa::openapi::RefOr;

    if let Some(RefOr::T(Schema::Object(o))) = &mut p.schema {
        let is_string = match &o.schema_type {
            SchemaType::Type(t) => *t == Type::String,
            SchemaType::Array(ts) => ts.contains(&Type::String),
            SchemaType::AnyValue => false,
        };
        if is_string && o.pattern.is_none() && o.format.is_none() {
            o.pattern = Some(r"^[^\x00]*$".to_owned());
        }
    }
}

/// Names of the two security schemes.
pub const BEARER_JWT: &str = "bearer_jwt";
pub const API_TOKEN: &str = "api_token";

/// Declares the security schemes and annotates every operation from the permission table:
/// its security requirement (none for public routes), `x-required-role`, and a line in its
/// description.
pub(crate) fn secure(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::extensions::ExtensionsBuilder;
    use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};

    use crate::auth::permissions::{describe, lookup, Access};

    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER_JWT,
        SecurityScheme::Http(
            Http::builder()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some(
                    "An access token from `POST /api/v1/auth/login` (15 minutes).",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        API_TOKEN,
        SecurityScheme::Http(
            Http::builder()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("cct_…")
                .description(Some("An API token from `POST /api/v1/tokens` (`cct_…`)."))
                .build(),
        ),
    );
    for (path, item) in &mut doc.paths.paths {
        let full = if path.starts_with("/health") {
            path.clone()
        } else {
            format!("/api/v1{path}")
        };
        let ops = [
            ("GET", &mut item.get),
            ("POST", &mut item.post),
            ("PUT", &mut item.put),
            ("PATCH", &mut item.patch),
            ("DELETE", &mut item.delete),
        ];
        for (method, op) in ops {
            let Some(op) = op else { continue };
            let Ok(m) = method.parse::<axum::http::Method>() else {
                continue;
            };
            let access = lookup(&m, &full).unwrap_or(Access::Role(cc_domain::OperatorRole::Admin));
            let role = describe(access);
            if !matches!(access, Access::Public) {
                add_auth_responses(&mut op.responses);
            }
            op.security = Some(match access {
                Access::Public => vec![SecurityRequirement::default()],
                _ => vec![
                    SecurityRequirement::new(BEARER_JWT, Vec::<String>::new()),
                    SecurityRequirement::new(API_TOKEN, Vec::<String>::new()),
                ],
            });
            op.extensions.get_or_insert_with(Default::default).merge(
                ExtensionsBuilder::new()
                    .add("x-required-role", role)
                    .build(),
            );
            let note = match access {
                Access::Public => "**Access:** public (no credentials).".to_owned(),
                _ => format!("**Required role:** `{role}` or higher."),
            };
            op.description = Some(match op.description.take() {
                Some(d) if !d.is_empty() => format!("{d}\n\n{note}"),
                _ => note,
            });
        }
    }
}
