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
        (name = "cloudflare", description = "Cloudflare automation: DNS records and WAF rules planned and applied, cache purge, certificates; each as a job"),
        (name = "notifications", description = "Notification channels: a test message, the channels checked, and the deliveries log"),
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

/// States the rules of request bodies that field annotations cannot: the policy rule grammar,
/// the role/grade pairing of a new person, and that a bulk action takes `ids` or `filter`.
pub(crate) fn document_body_rules(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::schema::{
        AllOfBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type,
    };
    use utoipa::openapi::RefOr;

    let Some(components) = doc.components.as_mut() else {
        return;
    };
    let schemas = &mut components.schemas;
    for (name, schema) in [
        cc_domain::schema::policy_rule_component(),
        cc_domain::schema::json_value_component(),
    ] {
        schemas.insert(name, schema);
    }
    let typed = |t: SchemaType| ObjectBuilder::new().schema_type(t);
    // A student has a grade (-1 = pre-K, 0 = kindergarten, 1–12); anyone else has none.
    if let Some(new_user) = schemas.remove("NewUser") {
        let student = typed(SchemaType::new(Type::Object))
            .property(
                "role",
                typed(SchemaType::new(Type::String)).enum_values(Some(["student"])),
            )
            .property(
                "grade",
                typed(SchemaType::new(Type::Integer))
                    .minimum(Some(cc_domain::user::MIN_GRADE))
                    .maximum(Some(cc_domain::user::MAX_GRADE)),
            )
            .required("role")
            .required("grade");
        let staff = typed(SchemaType::new(Type::Object))
            .property(
                "role",
                typed(SchemaType::new(Type::String)).enum_values(Some(
                    cc_domain::Role::ALL
                        .into_iter()
                        .filter(|r| *r != cc_domain::Role::Student)
                        .map(cc_domain::Role::as_str),
                )),
            )
            .property("grade", typed(SchemaType::new(Type::Null)))
            .required("role");
        let pairing = OneOfBuilder::new()
            .item(student)
            .item(staff)
            .description(Some(
                "Students have a `grade` (-1 = pre-K, 0 = kindergarten, 1–12); other roles have none (absent or null).",
            ));
        schemas.insert(
            "NewUser".to_owned(),
            RefOr::T(Schema::AllOf(
                AllOfBuilder::new().item(new_user).item(pairing).build(),
            )),
        );
    }
    // Exactly one of `ids` (a list) and `filter` (an object) is given; the other is absent or null.
    if let Some(bulk) = schemas.remove("BulkRequest") {
        let one = |given: &str, t: Type, other: &str| {
            typed(SchemaType::new(Type::Object))
                .property(given, typed(SchemaType::new(t)))
                .property(other, typed(SchemaType::new(Type::Null)))
                .required(given)
        };
        let either = OneOfBuilder::new()
            .item(one("ids", Type::Array, "filter"))
            .item(one("filter", Type::Object, "ids"))
            .description(Some("Give either `ids` or `filter`, not both."));
        schemas.insert(
            "BulkRequest".to_owned(),
            RefOr::T(Schema::AllOf(
                AllOfBuilder::new().item(bulk).item(either).build(),
            )),
        );
    }
}

/// OpenAPI links from the operations that create a record to the operations on it, so a
/// client (and a stateful test) can follow an id from one answer into the next request.
pub(crate) fn document_links(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::link::LinkBuilder;
    use utoipa::openapi::RefOr;

    // (producer path, method, status, [(link name, target path, target method, parameter, value)])
    type Target = (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
    );
    let links: &[(&str, &str, &str, &[Target])] = &[
        (
            "/users",
            "post",
            "201",
            &[
                ("GetUser", "/users/{id}", "get", "id", "$response.body#/id"),
                (
                    "UpdateUser",
                    "/users/{id}",
                    "patch",
                    "id",
                    "$response.body#/id",
                ),
                (
                    "DeleteUser",
                    "/users/{id}",
                    "delete",
                    "id",
                    "$response.body#/id",
                ),
                (
                    "UserTargets",
                    "/users/{id}/targets",
                    "get",
                    "id",
                    "$response.body#/id",
                ),
                (
                    "ActOnUser",
                    "/users/{id}/actions/{operation}",
                    "post",
                    "id",
                    "$response.body#/id",
                ),
            ],
        ),
        (
            "/groups",
            "post",
            "201",
            &[
                (
                    "GetGroup",
                    "/groups/{id}",
                    "get",
                    "id",
                    "$response.body#/id",
                ),
                (
                    "UpdateGroup",
                    "/groups/{id}",
                    "patch",
                    "id",
                    "$response.body#/id",
                ),
                (
                    "DeleteGroup",
                    "/groups/{id}",
                    "delete",
                    "id",
                    "$response.body#/id",
                ),
                (
                    "GroupMembers",
                    "/groups/{id}/members",
                    "get",
                    "id",
                    "$response.body#/id",
                ),
            ],
        ),
        (
            "/devices",
            "post",
            "201",
            &[
                (
                    "GetDevice",
                    "/devices/{id}",
                    "get",
                    "id",
                    "$response.body#/id",
                ),
                (
                    "UpdateDevice",
                    "/devices/{id}",
                    "patch",
                    "id",
                    "$response.body#/id",
                ),
                (
                    "DeleteDevice",
                    "/devices/{id}",
                    "delete",
                    "id",
                    "$response.body#/id",
                ),
            ],
        ),
        (
            "/policies",
            "post",
            "201",
            &[
                (
                    "GetPolicy",
                    "/policies/{id}",
                    "get",
                    "id",
                    "$response.body#/id",
                ),
                (
                    "UpdatePolicy",
                    "/policies/{id}",
                    "patch",
                    "id",
                    "$response.body#/id",
                ),
                (
                    "DeletePolicy",
                    "/policies/{id}",
                    "delete",
                    "id",
                    "$response.body#/id",
                ),
            ],
        ),
        (
            "/operators",
            "post",
            "201",
            &[
                (
                    "GetOperator",
                    "/operators/{id}",
                    "get",
                    "id",
                    "$response.body#/id",
                ),
                (
                    "UpdateOperator",
                    "/operators/{id}",
                    "patch",
                    "id",
                    "$response.body#/id",
                ),
                (
                    "ResetOperatorPassword",
                    "/operators/{id}/password",
                    "post",
                    "id",
                    "$response.body#/id",
                ),
            ],
        ),
        (
            "/tokens",
            "post",
            "201",
            &[
                (
                    "GetToken",
                    "/tokens/{id}",
                    "get",
                    "id",
                    "$response.body#/id",
                ),
                (
                    "RevokeToken",
                    "/tokens/{id}",
                    "delete",
                    "id",
                    "$response.body#/id",
                ),
            ],
        ),
        (
            "/imports",
            "post",
            "201",
            &[
                (
                    "GetImport",
                    "/imports/{id}",
                    "get",
                    "id",
                    "$response.body#/id",
                ),
                (
                    "ImportErrors",
                    "/imports/{id}/errors.csv",
                    "get",
                    "id",
                    "$response.body#/id",
                ),
                (
                    "ApplyImport",
                    "/imports/{id}/apply",
                    "post",
                    "id",
                    "$response.body#/id",
                ),
            ],
        ),
        (
            "/jobs/ping",
            "post",
            "202",
            &[
                ("GetJob", "/jobs/{id}", "get", "id", "$response.body#/id"),
                (
                    "CancelJob",
                    "/jobs/{id}/cancel",
                    "post",
                    "id",
                    "$response.body#/id",
                ),
                (
                    "RetryJob",
                    "/jobs/{id}/retry",
                    "post",
                    "id",
                    "$response.body#/id",
                ),
            ],
        ),
        (
            "/users/{id}/actions/{operation}",
            "post",
            "202",
            &[(
                "GetJob",
                "/jobs/{id}",
                "get",
                "id",
                "$response.body#/job/id",
            )],
        ),
        // Only the 202 of a real run names a batch (a dry run answers 200 without one).
        (
            "/users/actions/{operation}",
            "post",
            "202",
            &[
                (
                    "GetBatch",
                    "/batches/{id}",
                    "get",
                    "id",
                    "$response.body#/batch_id",
                ),
                (
                    "RetryBatch",
                    "/batches/{id}/retry",
                    "post",
                    "id",
                    "$response.body#/batch_id",
                ),
            ],
        ),
    ];
    for (path, method, status, targets) in links {
        let Some(item) = doc.paths.paths.get_mut(*path) else {
            continue;
        };
        let op = match *method {
            "post" => item.post.as_mut(),
            _ => None,
        };
        let Some(op) = op else { continue };
        let Some(RefOr::T(response)) = op.responses.responses.get_mut(*status) else {
            continue;
        };
        for (name, target, target_method, param, value) in *targets {
            let pointer = target.replace('~', "~0").replace('/', "~1");
            response.links.insert(
                (*name).to_owned(),
                RefOr::T(
                    LinkBuilder::new()
                        .operation_ref(format!("#/paths/{pointer}/{target_method}"))
                        .parameter(*param, *value)
                        .build(),
                ),
            );
        }
    }
}

/// The document as JSON. utoipa writes a link's `operationRef` as `operation_ref` (and
/// `operationId`, `requestBody` likewise); this spells them as OpenAPI does.
pub(crate) fn to_json(doc: &utoipa::openapi::OpenApi) -> serde_json::Value {
    let mut value = serde_json::to_value(doc).unwrap_or_default();
    let Some(paths) = value.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return value;
    };
    for item in paths.values_mut().filter_map(|i| i.as_object_mut()) {
        for op in item.values_mut().filter_map(|o| o.as_object_mut()) {
            let Some(responses) = op.get_mut("responses").and_then(|r| r.as_object_mut()) else {
                continue;
            };
            for response in responses.values_mut() {
                let Some(links) = response.get_mut("links").and_then(|l| l.as_object_mut()) else {
                    continue;
                };
                for link in links.values_mut().filter_map(|l| l.as_object_mut()) {
                    for (from, to) in [
                        ("operation_ref", "operationRef"),
                        ("operation_id", "operationId"),
                        ("request_body", "requestBody"),
                    ] {
                        if let Some(v) = link.remove(from) {
                            link.insert(to.to_owned(), v);
                        }
                    }
                }
            }
        }
    }
    value
}

/// Gives every operation a unique `operationId` (`get_users_id`, `post_users_actions_operation`):
/// utoipa takes the handler's name, and names like `get` or `list` repeat across resources, so
/// a link by `operationId` could land on another resource's operation.
pub(crate) fn unique_operation_ids(doc: &mut utoipa::openapi::OpenApi) {
    for (path, item) in &mut doc.paths.paths {
        let name: Vec<String> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| s.trim_matches(['{', '}']).replace(['.', '-'], "_"))
            .collect();
        let ops = [
            ("get", &mut item.get),
            ("post", &mut item.post),
            ("put", &mut item.put),
            ("patch", &mut item.patch),
            ("delete", &mut item.delete),
        ];
        for (method, op) in ops {
            if let Some(op) = op {
                op.operation_id = Some(format!("{method}_{}", name.join("_")));
            }
        }
    }
}
