//! `/api/v1/users`

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cc_domain::user::UserSort;
use cc_domain::{NewUser, Page, Role, User, UserPatch, UserQuery, UserStatus};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::{created, versioned, CommonErrors, Paging, WriteErrors};
use crate::error::{ApiError, ApiResult, ProblemType};
use crate::extract::{ApiJson, ApiPath, ApiQuery, CurrentActor, IfMatch};
use crate::AppState;

/// The grades a person can be in: -1 = pre-K, 0 = kindergarten, 1–12.
pub(crate) const GRADES: std::ops::RangeInclusive<i16> = -1..=12;

/// Filters, sort and paging for `GET /api/v1/users`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserListParams {
    /// Page size, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
    pub status: Option<UserStatus>,
    pub role: Option<Role>,
    /// -1 = pre-K, 0 = kindergarten, 1–12.
    #[param(minimum = -1, maximum = 12)]
    pub grade: Option<i16>,
    pub school: Option<String>,
    /// A group name.
    pub group: Option<String>,
    /// Free text over username, names, e-mail and external id.
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// Only people whose targets are `in_sync`, `pending` (a lifecycle job is unfinished) or
    /// `failed` (the last operation on a target failed; `GET /users/{id}/targets` names the
    /// target and the error).
    pub sync: Option<cc_domain::SyncState>,
    /// `username` (default), `family_name` or `created_at`; prefix `-` for descending.
    #[param(pattern = "^-?(username|family_name|created_at)$")]
    pub sort: Option<String>,
}

impl UserListParams {
    /// The store query these parameters ask for (the console's People page reads the same).
    ///
    /// # Errors
    /// A bad cursor, sort, limit, grade or search text.
    pub fn into_query(self) -> Result<UserQuery, ApiError> {
        let paging = Paging::parse(
            self.limit,
            self.cursor.as_deref(),
            self.sort.as_deref(),
            &UserSort::NAMES,
        )?;
        if self.q.as_ref().is_some_and(|q| q.chars().count() > 200) {
            return Err(ApiError::new(
                ProblemType::InvalidQuery,
                "q must be at most 200 characters",
            ));
        }
        if self.grade.is_some_and(|g| !GRADES.contains(&g)) {
            return Err(ApiError::new(
                ProblemType::InvalidQuery,
                "grade must be between -1 (pre-K) and 12",
            ));
        }
        Ok(UserQuery {
            status: self.status,
            role: self.role,
            grade: self.grade,
            school: self.school,
            group: self.group,
            q: self.q,
            sync: self.sync,
            sort: UserSort::from_name(paging.sort),
            dir: paging.dir,
            limit: paging.limit,
            cursor: paging.cursor,
        })
    }
}

/// List people.
#[utoipa::path(get, path = "/users", tag = "users", params(UserListParams),
    responses((status = 200, description = "One page of people", body = Page<User>), CommonErrors))]
pub async fn list(
    State(app): State<AppState>,
    crate::auth::middleware::Authenticated(principal): crate::auth::middleware::Authenticated,
    seen: Option<axum::Extension<crate::auth::middleware::ChangeGeneration>>,
    ApiQuery(p): ApiQuery<UserListParams>,
) -> ApiResult<Response> {
    let query = p.into_query()?;
    // Pages are the same for every caller allowed to list, so the rendered page is kept
    // while the store reports no change (see `cc_service::cache`).
    let key = format!("{query:?}");
    // Pages carry each person's sync state: job outcomes and target links move the change
    // generation too (SQLite: any commit; PostgreSQL: migration 0010's notifications).
    let generation = match seen {
        Some(axum::Extension(g)) => g.0,
        None => app.store.change_generation(),
    };
    let read = || async {
        // A text search may read much of the table: bounded per caller. Only the request
        // that reads takes a place; one that shares another's read costs the database nothing.
        let _slot = match query.q.as_deref().filter(|q| !q.trim().is_empty()) {
            Some(_) => Some(crate::limits::expensive(&app, &principal)?),
            None => None,
        };
        let page = app.store.list_users_synced(&query).await?;
        let body = serde_json::to_vec(&page).map_err(|e| {
            tracing::error!(error = %e, "serializing a page of people");
            ApiError::internal()
        })?;
        Ok::<_, ApiError>(axum::body::Bytes::from(body))
    };
    // Under a known generation, requests for the same page share one read (single-flight:
    // each commit empties the cache, and the pages asked for next would otherwise each be
    // read as many times as they are asked for until the first read is back).
    let body = match generation {
        Some(g) => app.user_pages.get_or_load(key, g, read).await?,
        None => read().await?,
    };
    Ok(json_body(body))
}

/// Fills in each person's `sync` (one query for the page, not one per person).
pub(crate) async fn with_sync(app: &AppState, users: &mut [User]) -> ApiResult<()> {
    let ids: Vec<Uuid> = users.iter().map(|u| u.id).collect();
    let mut sync = app.store.user_sync(&ids).await?;
    for user in users {
        user.sync = sync.remove(&user.id);
    }
    Ok(())
}

fn json_body(body: axum::body::Bytes) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// Create a person.
#[utoipa::path(post, path = "/users", tag = "users", request_body = NewUser,
    responses((status = 201, description = "Created; `Location` names the new person", body = User), WriteErrors, CommonErrors))]
pub async fn create(
    State(app): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ApiJson(input): ApiJson<NewUser>,
) -> ApiResult<Response> {
    let mut user = app.directory.create_user(&actor, input).await?;
    with_sync(&app, std::slice::from_mut(&mut user)).await?;
    Ok(created(
        format!("/api/v1/users/{}", user.id),
        user.version,
        &user,
    ))
}

/// Get a person.
#[utoipa::path(get, path = "/users/{id}", tag = "users", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The person; `ETag` carries the version", body = User),
        (status = 404, description = "No such person", body = crate::error::Problem, content_type = "application/problem+json"),
        CommonErrors))]
pub async fn get(State(app): State<AppState>, ApiPath(id): ApiPath<Uuid>) -> ApiResult<Response> {
    let mut user = app
        .store
        .get_user(id)
        .await?
        .ok_or_else(|| ApiError::not_found("No user with that id."))?;
    with_sync(&app, std::slice::from_mut(&mut user)).await?;
    Ok(versioned(StatusCode::OK, user.version, &user))
}

/// Update a person (merge patch: absent fields stay, `null` clears).
///
/// Send the version you read as `If-Match: "<version>"` (or `version` in the body) to fail
/// with 412 instead of overwriting someone else's change.
#[utoipa::path(patch, path = "/users/{id}", tag = "users", params(("id" = Uuid, Path),
        ("If-Match" = Option<String>, Header, description = "The version the change is based on, e.g. \"3\"")),
    request_body = UserPatch,
    responses((status = 200, description = "The updated person; when the edit enqueued a lifecycle job (`sync_on_change`), `Location` names it (`/api/v1/jobs/{id}`)", body = User,
        headers(("Location" = Option<String>, description = "The lifecycle job the edit enqueued, if any"))), WriteErrors, CommonErrors))]
pub async fn update(
    State(app): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ApiPath(id): ApiPath<Uuid>,
    IfMatch(if_match): IfMatch,
    ApiJson(patch): ApiJson<UserPatch>,
) -> ApiResult<Response> {
    let (mut user, job) = app
        .directory
        .update_user_enqueueing(&actor, id, patch, if_match)
        .await?;
    with_sync(&app, std::slice::from_mut(&mut user)).await?;
    let mut res = versioned(StatusCode::OK, user.version, &user);
    // The lifecycle job the edit enqueued (`sync_on_change`), so the caller can follow it.
    if let Some(v) = job.and_then(|j| HeaderValue::from_str(&format!("/api/v1/jobs/{j}")).ok()) {
        res.headers_mut().insert(axum::http::header::LOCATION, v);
    }
    Ok(res)
}

/// Delete a person from the directory.
///
/// This removes the record only; to remove the person's accounts use the `deprovision` action.
#[utoipa::path(delete, path = "/users/{id}", tag = "users", params(("id" = Uuid, Path),
        ("If-Match" = Option<String>, Header, description = "The version the deletion is based on")),
    responses((status = 204, description = "Deleted"), WriteErrors, CommonErrors))]
pub async fn delete(
    State(app): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ApiPath(id): ApiPath<Uuid>,
    IfMatch(if_match): IfMatch,
) -> ApiResult<Response> {
    app.directory.delete_user(&actor, id, if_match).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use axum::extract::Query;
    use axum::http::Uri;
    use cc_domain::Cursor;
    use proptest::prelude::*;

    use super::*;

    /// Parses a query string the way the list route does.
    fn parse(query: &str) -> Option<Result<UserQuery, ApiError>> {
        let uri: Uri = format!("/api/v1/users?{query}").parse().ok()?;
        let Query(p) = Query::<UserListParams>::try_from_uri(&uri).ok()?;
        Some(p.into_query())
    }

    fn pair() -> impl Strategy<Value = (String, String)> {
        let key = prop_oneof![
            prop::sample::select(vec![
                "limit", "cursor", "status", "role", "grade", "school", "group", "q", "sort",
            ])
            .prop_map(str::to_owned),
            any::<String>(),
        ];
        (key, any::<String>())
    }

    fn encode(pairs: &[(String, String)]) -> String {
        let enc = |s: &str| s.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
        pairs
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_filter_query_is_parsed_or_refused_as_a_bad_request(
            pairs in prop::collection::vec(pair(), 0..5),
        ) {
            if let Some(Err(e)) = parse(&encode(&pairs)) {
                prop_assert_eq!(e.status(), StatusCode::BAD_REQUEST);
            }
        }

        #[test]
        fn any_raw_query_text_is_parsed_or_refused(raw in "[ -~]{0,80}") {
            if let Some(Err(e)) = parse(&raw) {
                prop_assert_eq!(e.status(), StatusCode::BAD_REQUEST);
            }
        }

        #[test]
        fn a_next_cursor_comes_back_as_the_same_cursor(
            value in any::<String>().prop_filter("no NUL", |v| !v.contains('\0') && v.len() < 200),
            id in any::<u128>(),
            sort in prop::sample::select(UserSort::NAMES.to_vec()),
            desc in any::<bool>(),
        ) {
            let cursor = Cursor { s: sort.to_owned(), v: value, id: Uuid::from_u128(id) };
            let sort_param = if desc { format!("-{sort}") } else { sort.to_owned() };
            let query = encode(&[
                ("cursor".into(), cursor.encode()),
                ("sort".into(), sort_param),
            ]);
            let q = parse(&query).expect("a well-formed query").expect("a valid query");
            prop_assert_eq!(q.cursor, Some(cursor));
        }
    }
}
