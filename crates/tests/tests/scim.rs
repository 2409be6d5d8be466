//! The SCIM 2.0 service provider at `/scim/v2`, on both backends: users and groups, filters,
//! paging, sorting, PATCH paths, ETags, soft delete, the scim-only role, source ownership, and
//! a replay of the request shapes Entra ID and Okta document.

// A failed unwrap is a test failure with its location; that is the report we want.
#![allow(clippy::unwrap_used)]

#[path = "scim/replay.rs"]
mod replay;
#[path = "scim/support.rs"]
mod support;

use cc_domain::{FieldOwners, OperatorRole};
use cc_tests::{backend_tests, test_config, Backend, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::Scim;

async fn users_round_trip(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let scim = Scim::new(&app).await;
    let (status, created, headers) = scim
        .send(
            Method::POST,
            "/Users",
            Some(support::user(
                "Ada.Lovelace@district.example",
                "Ada",
                "Lovelace",
            )),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(headers["content-type"], "application/scim+json");
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["userName"], "Ada.Lovelace@district.example");
    assert_eq!(created["active"], true);
    assert_eq!(created["meta"]["version"], "W/\"1\"");
    assert_eq!(headers["etag"], "W/\"1\"");
    assert!(headers["location"]
        .to_str()
        .unwrap()
        .ends_with(&format!("/scim/v2/Users/{id}")));
    assert_eq!(
        created["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"],
        "Mathematics"
    );
    // The directory has the person, under a username derived from the userName, written
    // by the SCIM client's token.
    let user = app.client.get_user(id.parse().unwrap()).await.unwrap();
    assert_eq!(user.username, "ada.lovelace.district.example");
    assert_eq!(user.email.as_deref(), Some("ada@district.example"));
    let audit = app
        .client
        .list_audit(&[("action", "user.create")])
        .await
        .unwrap();
    assert!(
        audit
            .items
            .iter()
            .any(|e| e.actor.starts_with("token:scim")),
        "{:?}",
        audit.items
    );

    // A second create with the same userName (any case) is a uniqueness conflict.
    let (status, err, _) = scim
        .send(
            Method::POST,
            "/Users",
            Some(support::user("ada.lovelace@DISTRICT.example", "A", "L")),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(err["scimType"], "uniqueness");
    assert_eq!(
        err["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );

    // PUT replaces; a stale If-Match is 412, the current one succeeds.
    let mut body = support::user("Ada.Lovelace@district.example", "Augusta", "Lovelace");
    let (status, _, _) = scim
        .send_if_match(
            Method::PUT,
            &format!("/Users/{id}"),
            Some(body.clone()),
            "W/\"7\"",
        )
        .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    body["id"] = json!(id);
    let (status, put, headers) = scim
        .send_if_match(Method::PUT, &format!("/Users/{id}"), Some(body), "W/\"1\"")
        .await;
    assert_eq!(status, StatusCode::OK, "{put}");
    assert_eq!(put["name"]["givenName"], "Augusta");
    assert_eq!(headers["etag"], "W/\"2\"");

    // active: false is a soft delete: suspended, still returned.
    let (status, patched, _) = scim
        .send(
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(support::patch(
                json!([{"op": "Replace", "path": "active", "value": "False"}]),
            )),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["active"], false);
    let user = app.client.get_user(id.parse().unwrap()).await.unwrap();
    assert_eq!(user.status, cc_domain::UserStatus::Suspended);
    let (status, listed, _) = scim
        .send(Method::GET, "/Users?filter=active%20eq%20false", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["totalResults"], 1);

    // DELETE deprovisions: gone for SCIM, kept (deprovisioned) in the directory.
    let (status, _, _) = scim
        .send(Method::DELETE, &format!("/Users/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, err, _) = scim.send(Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(err["status"], "404");
    let user = app.client.get_user(id.parse().unwrap()).await.unwrap();
    assert_eq!(user.status, cc_domain::UserStatus::Deprovisioned);
    app.stop().await;
}

async fn filters_paging_sorting(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let scim = Scim::new(&app).await;
    for (name, given, family) in [
        ("carol@x.example", "Carol", "Young"),
        ("alice@x.example", "Alice", "Zimmer"),
        ("bob@y.example", "Bob", "Adams"),
        ("dave@x.example", "Dave", "Brown"),
    ] {
        let (status, body, _) = scim
            .send(
                Method::POST,
                "/Users",
                Some(support::user(name, given, family)),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let count = |v: &Value| v["totalResults"].as_u64().unwrap();
    let names = |v: &Value| -> Vec<String> {
        v["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["userName"].as_str().unwrap().to_owned())
            .collect()
    };
    for (filter, expected) in [
        (r#"userName eq "ALICE@x.example""#, 1),
        (r#"userName ew "@x.example""#, 3),
        (r#"userName sw "b" or name.familyName eq "young""#, 2),
        (r#"emails[type eq "work" and value co "@y."]"#, 1),
        (r#"not (userName co "x.example")"#, 1),
        (
            r#"(userName sw "a" or userName sw "c") and active eq true"#,
            2,
        ),
        ("externalId pr", 4),
        (r#"meta.created gt "2000-01-01T00:00:00Z""#, 4),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "mathematics""#,
            4,
        ),
        (r#"userName eq "nobody@x.example""#, 0),
    ] {
        let (status, body, _) = scim.list("/Users", &[("filter", filter)]).await;
        assert_eq!(status, StatusCode::OK, "{filter}: {body}");
        assert_eq!(count(&body), expected, "{filter}: {body}");
    }
    // Paging: 1-based startIndex, count, totalResults over the whole match.
    let (_, page, _) = scim
        .list(
            "/Users",
            &[
                ("sortBy", "name.familyName"),
                ("startIndex", "2"),
                ("count", "2"),
            ],
        )
        .await;
    assert_eq!(count(&page), 4);
    assert_eq!(page["startIndex"], 2);
    assert_eq!(page["itemsPerPage"], 2);
    assert_eq!(names(&page), ["dave@x.example", "carol@x.example"]);
    let (_, desc, _) = scim
        .list(
            "/Users",
            &[("sortBy", "userName"), ("sortOrder", "descending")],
        )
        .await;
    assert_eq!(names(&desc)[0], "dave@x.example");
    // Okta's connection test.
    let (status, okta, _) = scim
        .list("/Users", &[("startIndex", "1"), ("count", "2")])
        .await;
    assert_eq!(
        (status, okta["Resources"].as_array().unwrap().len()),
        (StatusCode::OK, 2)
    );
    let (_, none, _) = scim.list("/Users", &[("count", "0")]).await;
    assert_eq!(
        (count(&none), none["Resources"].as_array().map(Vec::len)),
        (4, Some(0))
    );
    // attributes / excludedAttributes.
    let (_, slim, _) = scim
        .list(
            "/Users",
            &[("attributes", "userName,name.givenName"), ("count", "1")],
        )
        .await;
    let r = &slim["Resources"][0];
    assert!(r["id"].is_string() && r["userName"].is_string() && r["name"]["givenName"].is_string());
    assert!(
        r.get("emails").is_none()
            && r["name"].get("familyName").is_none()
            && r.get("meta").is_none()
    );
    let (_, without, _) = scim
        .list(
            "/Users",
            &[("excludedAttributes", "emails,meta"), ("count", "1")],
        )
        .await;
    assert!(without["Resources"][0].get("emails").is_none());
    assert!(without["Resources"][0]["id"].is_string());
    // Hostile and broken filters: 400 invalidFilter, never a crash.
    let deep = format!("{}userName pr{}", "(".repeat(500), ")".repeat(500));
    let long = format!("userName eq \"{}\"", "a".repeat(5000));
    for bad in [
        "userName xx \"a\"",
        "userName eq",
        "((userName pr)",
        "active gt true",
        deep.as_str(),
        long.as_str(),
        "emails[type eq \"work\"",
        "\u{0}",
    ] {
        let (status, err, _) = scim.list("/Users", &[("filter", bad)]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {err}");
        assert_eq!(err["scimType"], "invalidFilter", "{bad}");
    }
    let (status, err, _) = scim
        .list(
            "/Users",
            &[("sortOrder", "sideways"), ("sortBy", "userName")],
        )
        .await;
    assert_eq!(
        (status, err["scimType"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalidValue"))
    );
    app.stop().await;
}

async fn patch_paths_and_groups(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let scim = Scim::new(&app).await;
    let mut ids = Vec::new();
    for n in ["g1@x.example", "g2@x.example", "g3@x.example"] {
        let (_, u, _) = scim
            .send(
                Method::POST,
                "/Users",
                Some(support::user(n, "G", "Member")),
            )
            .await;
        ids.push(u["id"].as_str().unwrap().to_owned());
    }
    // Value-filter paths on a user.
    let uid = &ids[0];
    let (status, u, _) = scim
        .send(
            Method::PATCH,
            &format!("/Users/{uid}"),
            Some(support::patch(json!([
                {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "new@x.example"},
                {"op": "add", "path": "name.familyName", "value": "Renamed"},
                {"op": "replace", "value": {"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "701984"}}
            ]))),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{u}");
    assert_eq!(u["emails"][0]["value"], "new@x.example");
    assert_eq!(u["name"]["familyName"], "Renamed");
    assert_eq!(
        u["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["employeeNumber"],
        "701984"
    );
    let (status, err, _) = scim
        .send(
            Method::PATCH,
            &format!("/Users/{uid}"),
            Some(support::patch(
                json!([{"op": "replace", "path": "emails[type eq ]", "value": "x"}]),
            )),
        )
        .await;
    assert_eq!(
        (status, err["scimType"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalidFilter"))
    );

    // A group with members; both shapes of member removal; the ETag moves with the members.
    let (status, g, _) = scim
        .send(
            Method::POST,
            "/Groups",
            Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Algebra II, period 3",
                "members": [{"value": ids[0]}, {"value": ids[1]}, {"value": ids[2]}]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{g}");
    let gid = g["id"].as_str().unwrap().to_owned();
    assert_eq!(g["members"].as_array().unwrap().len(), 3);
    let v1 = g["meta"]["version"].as_str().unwrap().to_owned();
    let (status, g, _) = scim
        .send(
            Method::PATCH,
            &format!("/Groups/{gid}"),
            Some(support::patch(json!([
                {"op": "Remove", "path": format!("members[value eq \"{}\"]", ids[0])},
                {"op": "remove", "path": "members", "value": [{"value": ids[1]}]}
            ]))),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{g}");
    let members: Vec<&str> = g["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    assert_eq!(members, [ids[2].as_str()]);
    assert_ne!(g["meta"]["version"], v1);
    let (status, _, _) = scim
        .send_if_match(
            Method::PATCH,
            &format!("/Groups/{gid}"),
            Some(support::patch(
                json!([{"op": "add", "path": "members", "value": [{"value": ids[0]}]}]),
            )),
            &v1,
        )
        .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    let (_, found, _) = scim
        .list(
            "/Groups",
            &[
                ("filter", "displayName eq \"Algebra II, period 3\""),
                ("excludedAttributes", "members"),
            ],
        )
        .await;
    assert_eq!(found["totalResults"], 1);
    assert!(found["Resources"][0].get("members").is_none());
    let (_, by_member, _) = scim
        .list(
            "/Groups",
            &[("filter", &format!("members[value eq \"{}\"]", ids[2]))],
        )
        .await;
    assert_eq!(by_member["totalResults"], 1);
    // A member that is not a person.
    let (status, err, _) = scim
        .send(
            Method::PATCH,
            &format!("/Groups/{gid}"),
            Some(support::patch(
                json!([{"op": "add", "path": "members", "value": [{"value": uuid::Uuid::nil()}]}]),
            )),
        )
        .await;
    assert_eq!(
        (status, err["scimType"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalidValue"))
    );
    let (status, _, _) = scim
        .send(Method::DELETE, &format!("/Groups/{gid}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = scim
        .send(Method::GET, &format!("/Groups/{gid}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await;
}

async fn scim_role_does_nothing_else(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let scim = Scim::new(&app).await;
    // The SCIM token cannot use the API…
    let res = scim
        .client
        .request(Method::GET, "/api/v1/users")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // …and no operator role can use SCIM, not even admin.
    let res = app
        .client
        .request(Method::GET, "/scim/v2/Users")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(res.headers()["content-type"], "application/scim+json");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "403");
    let res = app
        .anonymous()
        .request(Method::GET, "/scim/v2/Users")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    // Only an admin may create a scim token; an operator may not hold the role.
    let operator = app.client_as(OperatorRole::Operator).await;
    let err = operator
        .create_token(&cc_domain::NewApiToken {
            name: "idp".into(),
            role: OperatorRole::Scim,
            expires_in_days: None,
        })
        .await;
    assert!(err.is_err());
    let err = app
        .client
        .create_operator(&cc_domain::NewOperator {
            username: "robot".into(),
            password: "a-long-enough-passphrase-1".into(),
            role: OperatorRole::Scim,
        })
        .await;
    assert!(err.is_err());
    // Discovery.
    let (status, spc, _) = scim.send(Method::GET, "/ServiceProviderConfig", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(spc["patch"]["supported"], true);
    assert_eq!(spc["bulk"]["supported"], false);
    assert_eq!(spc["etag"]["supported"], true);
    let (_, types, _) = scim.send(Method::GET, "/ResourceTypes", None).await;
    assert_eq!(types["totalResults"], 2);
    let (_, schemas, _) = scim.send(Method::GET, "/Schemas", None).await;
    assert_eq!(schemas["totalResults"], 4);
    let (status, _, _) = scim
        .send(
            Method::GET,
            "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // Bodies: not JSON, the wrong type, too large.
    let res = scim
        .client
        .request(Method::POST, "/scim/v2/Users")
        .header("content-type", "application/scim+json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = scim
        .client
        .request(Method::POST, "/scim/v2/Users")
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = json!({"userName": "x".repeat(2 * 1024 * 1024)});
    let res = scim
        .client
        .request(Method::POST, "/scim/v2/Users")
        .header("content-type", "application/scim+json")
        .body(huge.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    app.stop().await;
}

async fn source_ownership(backend: Backend) {
    let owners: FieldOwners =
        serde_json::from_value(json!({"given_name": "api", "email": "scim"})).unwrap();
    let app = TestApp::spawn_customized(backend, test_config(), None, |s| {
        s.with_field_owners(owners)
    })
    .await;
    let scim = Scim::new(&app).await;
    let (_, u, _) = scim
        .send(
            Method::POST,
            "/Users",
            Some(support::user("owned@x.example", "Olive", "Owner")),
        )
        .await;
    let id = u["id"].as_str().unwrap().to_owned();
    // SCIM may not change the given name (owned by the API)…
    let (status, after, _) = scim
        .send(
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(support::patch(json!([
                {"op": "replace", "path": "name.givenName", "value": "Oliver"},
                {"op": "replace", "path": "name.familyName", "value": "Owens"}
            ]))),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{after}");
    assert_eq!(after["name"]["givenName"], "Olive");
    assert_eq!(after["name"]["familyName"], "Owens");
    let conflicts = app
        .client
        .list_audit(&[("action", "user.source_conflict")])
        .await
        .unwrap();
    assert_eq!(conflicts.items.len(), 1, "{:?}", conflicts.items);
    let c = &conflicts.items[0];
    assert_eq!(c.target_id.as_deref(), Some(id.as_str()));
    assert_eq!(
        c.after.as_ref().unwrap()["conflicts"][0],
        json!({"field": "given_name", "owner": "api", "attempted_by": "scim"})
    );
    // …and the API may not change the e-mail (owned by SCIM); the rest of its change applies.
    let patch = cc_domain::UserPatch {
        email: Some(Some("api@x.example".into())),
        given_name: Some("Oliver".into()),
        ..cc_domain::UserPatch::default()
    };
    let user = app
        .client
        .update_user(id.parse().unwrap(), &patch, None)
        .await
        .unwrap();
    assert_eq!(user.email.as_deref(), Some("owned@x.example"));
    assert_eq!(user.given_name, "Oliver");
    let conflicts = app
        .client
        .list_audit(&[("action", "user.source_conflict")])
        .await
        .unwrap();
    assert_eq!(conflicts.items.len(), 2);
    app.stop().await;
}

async fn entra_and_okta_replay(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let scim = Scim::new(&app).await;
    for fixture in ["entra.json", "okta.json"] {
        replay::run(&scim, fixture).await;
    }
    app.stop().await;
}

async fn search_requests(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let scim = Scim::new(&app).await;
    for name in [
        "Search.One@x.example",
        "Search.Two@x.example",
        "Other@x.example",
    ] {
        let (status, body, _) = scim
            .send(Method::POST, "/Users", Some(support::user(name, "S", "T")))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, body, _) = scim
        .send(
            Method::POST,
            "/Groups",
            Some(
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                        "displayName": "Search club"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let search = |filter: &str| {
        json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": filter, "attributes": ["userName", "displayName"],
            "sortBy": "userName", "sortOrder": "descending", "startIndex": 1, "count": 10
        })
    };
    // /Users/.search: the same filter, sort, paging and projection as GET /Users.
    let (status, found, _) = scim
        .send(
            Method::POST,
            "/Users/.search",
            Some(search(r#"userName sw "search.""#)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["totalResults"], 2);
    assert_eq!(found["Resources"][0]["userName"], "Search.Two@x.example");
    assert_eq!(found["Resources"][1]["userName"], "Search.One@x.example");
    assert!(found["Resources"][0].get("name").is_none(), "{found}");
    // /Groups/.search.
    let (status, found, _) = scim
        .send(
            Method::POST,
            "/Groups/.search",
            Some(json!({"filter": "displayName co \"club\""})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["displayName"], "Search club");
    // /.search: people and groups together, each by its own schema.
    let (status, found, _) = scim
        .send(
            Method::POST,
            "/.search",
            Some(json!({"filter": "displayName pr", "count": 2, "sortBy": "displayName"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["totalResults"], 4, "{found}");
    assert_eq!(found["itemsPerPage"], 2);
    let (_, found, _) = scim
        .send(
            Method::POST,
            "/.search",
            Some(json!({"filter": "meta.resourceType eq \"Group\""})),
        )
        .await;
    assert_eq!(found["totalResults"], 1, "{found}");
    // Bad requests are SCIM errors.
    let (status, err, _) = scim
        .send(
            Method::POST,
            "/Users/.search",
            Some(json!({"filter": "userName xx"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["scimType"], "invalidFilter");
    let (status, err, _) = scim
        .send(
            Method::POST,
            "/Users/.search",
            Some(json!({"count": "ten"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["scimType"], "invalidValue");
    let (status, _, _) = scim
        .send(
            Method::POST,
            "/Users/.search",
            Some(json!({"schemas": ["urn:x"]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    app.stop().await;
}

async fn kept_attributes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let scim = Scim::new(&app).await;
    let mut body = support::user("kept@x.example", "Kim", "Kept");
    body["userType"] = json!("Contractor");
    body["emails"] = json!([
        {"value": "home@x.example", "type": "home", "primary": false},
        {"value": "kept@x.example", "type": "work", "primary": true}
    ]);
    body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["manager"] =
        json!({"value": "m-1", "$ref": "https://idp.example/Users/m-1", "displayName": "M"});
    let (status, u, _) = scim.send(Method::POST, "/Users", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{u}");
    let id = u["id"].as_str().unwrap().to_owned();
    // What the directory has no column for comes back as written…
    let (_, u, _) = scim.send(Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!(u["userType"], "Contractor");
    assert_eq!(u["emails"].as_array().unwrap().len(), 2, "{u}");
    assert_eq!(u["emails"][0]["type"], "home");
    assert_eq!(
        u["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["manager"],
        json!({"value": "m-1", "$ref": "https://idp.example/Users/m-1"})
    );
    // …the directory keeps the work address and an unknown userType leaves the role as it was.
    let user = app.client.get_user(id.parse().unwrap()).await.unwrap();
    assert_eq!(user.email.as_deref(), Some("kept@x.example"));
    assert_eq!(user.role, cc_domain::Role::Staff);
    // Removing an attribute removes it.
    let (status, u, _) = scim
        .send(
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(support::patch(json!([
                {"op": "remove", "path": "userType"},
                {"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}
            ]))),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{u}");
    assert!(u.get("userType").is_none(), "{u}");
    assert!(
        u["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]
            .get("manager")
            .is_none()
    );
    // A userType naming a role sets it; an e-mail changed through the API shows as the
    // directory has it.
    let (_, u, _) = scim
        .send(
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(support::patch(
                json!([{"op": "add", "path": "userType", "value": "Teacher"}]),
            )),
        )
        .await;
    assert_eq!(u["userType"], "Teacher");
    let patch = cc_domain::UserPatch {
        email: Some(Some("new@x.example".into())),
        role: Some(cc_domain::Role::Administrator),
        ..cc_domain::UserPatch::default()
    };
    app.client
        .update_user(id.parse().unwrap(), &patch, None)
        .await
        .unwrap();
    let (_, u, _) = scim.send(Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!(u["userType"], "Administrator");
    assert_eq!(
        u["emails"],
        json!([{"value": "new@x.example", "type": "work", "primary": true}])
    );
    // displayName and name.formatted are derived, and declared read-only.
    let (_, schema, _) = scim
        .send(
            Method::GET,
            "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User",
            None,
        )
        .await;
    let attr = |name: &str| {
        schema["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(attr("displayName")["mutability"], "readOnly");
    assert_eq!(attr("userType")["mutability"], "readWrite");
    app.stop().await;
}

async fn grade_and_school_extension(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let scim = Scim::new(&app).await;
    for (username, grade) in [("gina", 7), ("gus", 9)] {
        app.client
            .create_user(&cc_domain::NewUser {
                external_id: None,
                username: username.into(),
                given_name: "G".into(),
                family_name: "Student".into(),
                email: None,
                role: cc_domain::Role::Student,
                grade: Some(grade),
                school: Some("North High".into()),
                status: None,
                groups: Vec::new(),
            })
            .await
            .unwrap();
    }
    const EXT: &str = "urn:ietf:params:scim:schemas:extension:commandcenter:2.0:User";
    let (status, found, _) = scim
        .list("/Users", &[("filter", &format!("{EXT}:grade ge 8"))])
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["totalResults"], 1, "{found}");
    let gus = &found["Resources"][0];
    assert_eq!(gus["userName"], "gus");
    assert_eq!(gus[EXT], json!({"grade": 9, "school": "North High"}));
    assert!(gus["schemas"].as_array().unwrap().contains(&json!(EXT)));
    let (_, found, _) = scim
        .list(
            "/Users",
            &[("filter", &format!("{EXT}:school eq \"north high\""))],
        )
        .await;
    assert_eq!(found["totalResults"], 2, "{found}");
    // Declared: the resource type names the extension, the schema holds read-only attributes.
    let (_, rt, _) = scim.send(Method::GET, "/ResourceTypes/User", None).await;
    assert!(rt["schemaExtensions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["schema"] == EXT));
    let (status, schema, _) = scim
        .send(Method::GET, &format!("/Schemas/{EXT}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(schema["attributes"][0]["name"], "grade");
    assert_eq!(schema["attributes"][0]["type"], "integer");
    assert_eq!(schema["attributes"][0]["mutability"], "readOnly");
    assert_eq!(schema["attributes"][1]["name"], "school");
    assert_eq!(schema["attributes"][1]["mutability"], "readWrite");
    // The school may be written over SCIM (field ownership applies); the grade may not.
    let id = gus["id"].as_str().unwrap().to_owned();
    let (status, after, _) = scim
        .send(
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(support::patch(json!([
                {"op": "replace", "path": format!("{EXT}:school"), "value": "South High"},
                {"op": "replace", "path": format!("{EXT}:grade"), "value": 3}
            ]))),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{after}");
    assert_eq!(after[EXT], json!({"grade": 9, "school": "South High"}));
    let user = app.client.get_user(id.parse().unwrap()).await.unwrap();
    assert_eq!(user.school.as_deref(), Some("South High"));
    assert_eq!(user.grade, Some(9));
    app.stop().await;
}

async fn scim_token_follows_its_creator(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (second_admin, username, _) = app.operator_with_role(OperatorRole::Admin).await;
    let secret = second_admin
        .create_token(&cc_domain::NewApiToken {
            name: "idp".into(),
            role: OperatorRole::Scim,
            expires_in_days: None,
        })
        .await
        .unwrap()
        .secret;
    let idp = app.anonymous().with_token(secret);
    let status = |c: cc_client::Client| async move {
        c.request(Method::GET, "/scim/v2/Users")
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(status(idp.clone()).await, StatusCode::OK);
    let operator = app
        .client
        .list_operators()
        .await
        .unwrap()
        .into_iter()
        .find(|o| o.username == username)
        .unwrap();
    let set = |role: Option<OperatorRole>, disabled: Option<bool>| {
        let client = app.client.clone();
        async move {
            client
                .update_operator(
                    operator.id,
                    &cc_domain::OperatorPatch { role, disabled },
                    None,
                )
                .await
                .unwrap();
        }
    };
    // Its creator demoted: the token, which only an admin may grant, no longer works…
    set(Some(OperatorRole::Operator), None).await;
    assert_eq!(status(idp.clone()).await, StatusCode::UNAUTHORIZED);
    // …until they are an admin again (as any token is capped by its creator's current role).
    set(Some(OperatorRole::Admin), None).await;
    assert_eq!(status(idp.clone()).await, StatusCode::OK);
    // Its creator disabled: revoked for good.
    set(None, Some(true)).await;
    assert_eq!(status(idp.clone()).await, StatusCode::UNAUTHORIZED);
    set(None, Some(false)).await;
    assert_eq!(status(idp.clone()).await, StatusCode::UNAUTHORIZED);
    app.stop().await;
}

backend_tests!(
    users_round_trip,
    filters_paging_sorting,
    patch_paths_and_groups,
    scim_role_does_nothing_else,
    source_ownership,
    entra_and_okta_replay,
    search_requests,
    kept_attributes,
    grade_and_school_extension,
    scim_token_follows_its_creator,
);
