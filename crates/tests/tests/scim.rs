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
    assert_eq!(schemas["totalResults"], 3);
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

backend_tests!(
    users_round_trip,
    filters_paging_sorting,
    patch_paths_and_groups,
    scim_role_does_nothing_else,
    source_ownership,
    entra_and_okta_replay,
);
