//! Creating, reading, updating and deleting records: status codes, headers, versions.

use super::*;

/// `(collection, a valid new record, a second record that takes the same unique value, the
/// field named in the 409)`.
fn unique_cases() -> Vec<(&'static str, Value, Value, &'static str)> {
    let mut other_email = student_json("ben");
    other_email["email"] = json!("ada@students.example.org");
    let mut other_external = student_json("cy");
    other_external["external_id"] = json!("SIS-ada");
    let mut same_username = student_json("dee");
    same_username["username"] = json!("ADA");
    vec![
        ("/users", student_json("ada"), same_username, "username"),
        ("/users", student_json("ada"), other_email, "email"),
        ("/users", student_json("ada"), other_external, "external_id"),
        (
            "/groups",
            group_json("algebra"),
            group_json("algebra"),
            "name",
        ),
        (
            "/devices",
            device_json("SN-1"),
            device_json("sn-1"),
            "serial_number",
        ),
        (
            "/policies",
            policy_json("encryption"),
            policy_json("encryption"),
            "name",
        ),
    ]
}

async fn create_answers_201_with_location_and_etag(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (collection, body) in [
        ("/users", student_json("ada")),
        ("/groups", group_json("algebra")),
        ("/devices", device_json("SN-1")),
        ("/policies", policy_json("encryption")),
    ] {
        let r = post(&app, collection, &body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{collection}: {}", r.text);
        let location = format!("/api/v1{collection}/{}", r.id());
        assert_eq!(
            r.header("location"),
            Some(location.as_str()),
            "{collection}"
        );
        assert_eq!(r.header("etag"), Some("\"1\""), "{collection}");
        assert_eq!(r.version(), 1);
        assert!(r
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/json")));

        let read = call(app.client.request(Method::GET, &location)).await;
        assert_eq!(read.status, StatusCode::OK, "{collection}: {}", read.text);
        assert_eq!(read.header("etag"), Some("\"1\""), "{collection}");
        assert_eq!(
            read.body, r.body,
            "{collection}: GET answers what POST created"
        );
    }
    app.stop().await;
}

async fn patch_with_a_stale_if_match_is_412_and_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = create(&app, "/users", &student_json("ada")).await;
    let path = format!("/users/{}", ada.id());
    let moved = patch(&app, &path, &json!({"grade": 10})).await;
    assert_eq!(moved.version(), 2);

    let stale = unaudited(
        &app,
        api(&app, Method::PATCH, &path)
            .header("if-match", "\"1\"")
            .json(&json!({"grade": 11})),
    )
    .await;
    assert_problem(&stale, 412, "precondition_failed");
    assert!(
        stale.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("version 2")),
        "{}",
        stale.text
    );
    let read = get(&app, &path).await;
    assert_eq!((read.body["grade"].as_i64(), read.version()), (Some(10), 2));
    app.stop().await;
}

async fn patch_with_a_stale_body_version_is_412(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let g = create(&app, "/groups", &group_json("algebra")).await;
    let path = format!("/groups/{}", g.id());
    patch(&app, &path, &json!({"display_name": "Algebra I"})).await;

    let stale = unaudited(
        &app,
        api(&app, Method::PATCH, &path).json(&json!({"display_name": "Algebra II", "version": 1})),
    )
    .await;
    assert_problem(&stale, 412, "precondition_failed");
    assert_eq!(get(&app, &path).await.body["display_name"], "Algebra I");
    app.stop().await;
}

async fn patch_with_the_current_version_answers_200_and_the_next_version(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = create(&app, "/users", &student_json("ada")).await;
    let path = format!("/users/{}", ada.id());

    let by_header = call(
        api(&app, Method::PATCH, &path)
            .header("if-match", "\"1\"")
            .json(&json!({"grade": 10})),
    )
    .await;
    assert_eq!(by_header.status, StatusCode::OK, "{}", by_header.text);
    assert_eq!(by_header.version(), 2);
    assert_eq!(by_header.header("etag"), Some("\"2\""));
    assert_eq!(by_header.body["grade"], 10);

    let by_body = patch(&app, &path, &json!({"grade": 11, "version": 2})).await;
    assert_eq!(by_body.status, StatusCode::OK, "{}", by_body.text);
    assert_eq!(by_body.version(), 3);

    // If-Match compares strongly (RFC 9110): a weak tag is refused, even one naming the
    // current version, and changes nothing. `*` is accepted; garbage is not.
    for weak_tag in ["W/\"3\"", "W/3"] {
        let weak = call(
            api(&app, Method::PATCH, &path)
                .header("if-match", weak_tag)
                .json(&json!({"grade": 12})),
        )
        .await;
        assert_problem(&weak, 400, "weak_if_match");
    }
    assert_eq!(get(&app, &path).await.version(), 3);
    let bare = call(
        api(&app, Method::PATCH, &path)
            .header("if-match", "3")
            .json(&json!({"grade": 12})),
    )
    .await;
    assert_eq!(bare.version(), 4, "{}", bare.text);
    let any = call(
        api(&app, Method::PATCH, &path)
            .header("if-match", "*")
            .json(&json!({"grade": 9})),
    )
    .await;
    assert_eq!(any.version(), 5, "{}", any.text);
    for garbage in ["yesterday", "\"-1\"", "\"4", "\"4\", \"5\"", ""] {
        let refused = call(
            api(&app, Method::PATCH, &path)
                .header("if-match", garbage)
                .json(&json!({"grade": 10})),
        )
        .await;
        assert_problem(&refused, 400, "invalid_if_match");
    }

    // The typed client sends If-Match as the ETag it read.
    let id = ada.id();
    let patch = cc_domain::UserPatch {
        school: Some(Some("roosevelt-hs".into())),
        ..Default::default()
    };
    let updated = app
        .client
        .update_user(id, &patch, Some(5))
        .await
        .expect("update");
    assert_eq!(
        (updated.version, updated.school.as_deref()),
        (6, Some("roosevelt-hs"))
    );
    let stale = app
        .client
        .update_user(id, &patch, Some(5))
        .await
        .expect_err("stale");
    assert_eq!(stale.status(), Some(412));
    app.stop().await;
}

async fn a_patch_that_changes_nothing_keeps_the_version_and_writes_no_audit_event(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let ada = create(&app, "/users", &student_json("ada")).await;
    let path = format!("/users/{}", ada.id());
    for body in [
        json!({}),
        json!({"grade": 9}),
        json!({"username": " ADA "}),
        json!({"groups": []}),
    ] {
        let r = unaudited(&app, api(&app, Method::PATCH, &path).json(&body)).await;
        assert_eq!(r.status, StatusCode::OK, "{body}: {}", r.text);
        assert_eq!(r.version(), 1, "{body}");
        assert_eq!(r.header("etag"), Some("\"1\""));
        assert_eq!(r.body, ada.body, "{body}");
    }
    app.stop().await;
}

async fn delete_answers_204_honours_if_match_and_then_404(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (collection, body) in [
        ("/users", student_json("ada")),
        ("/groups", group_json("algebra")),
        ("/devices", device_json("SN-1")),
        ("/policies", policy_json("encryption")),
    ] {
        let created = create(&app, collection, &body).await;
        let path = format!("{collection}/{}", created.id());
        let stale = unaudited(
            &app,
            api(&app, Method::DELETE, &path).header("if-match", "\"7\""),
        )
        .await;
        assert_problem(&stale, 412, "precondition_failed");
        assert_eq!(
            get(&app, &path).await.status,
            StatusCode::OK,
            "{collection} survives a stale delete"
        );

        let gone = call(api(&app, Method::DELETE, &path).header("if-match", "\"1\"")).await;
        assert_eq!(
            gone.status,
            StatusCode::NO_CONTENT,
            "{collection}: {}",
            gone.text
        );
        assert!(gone.text.is_empty());
        assert_problem(&get(&app, &path).await, 404, "not_found");
        let again = unaudited(&app, api(&app, Method::DELETE, &path)).await;
        assert_problem(&again, 404, "not_found");
    }
    app.stop().await;
}

async fn a_duplicate_is_409_naming_the_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (collection, first, second, field) in unique_cases() {
        let created = create(&app, collection, &first).await;
        let dup = unaudited(&app, api(&app, Method::POST, collection).json(&second)).await;
        assert_problem(&dup, 409, "conflict");
        assert_eq!(error_fields(&dup), [field], "{collection}: {}", dup.text);
        // Clean up so the next case starts from an empty collection.
        let path = format!("/api/v1{collection}/{}", created.id());
        call(app.client.request(Method::DELETE, &path)).await;
    }
    // A rename onto a taken name is a conflict too.
    create(&app, "/groups", &group_json("biology")).await;
    let chem = create(&app, "/groups", &group_json("chemistry")).await;
    let rename = patch(
        &app,
        &format!("/groups/{}", chem.id()),
        &json!({"name": "biology"}),
    )
    .await;
    assert_problem(&rename, 409, "conflict");
    assert_eq!(error_fields(&rename), ["name"]);
    app.stop().await;
}

async fn invalid_fields_are_422_listing_each_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut bad = student_json("ada");
    bad["username"] = json!("Not A Username");
    bad["email"] = json!("not-an-email");
    bad["grade"] = json!(13);
    let r = unaudited(&app, api(&app, Method::POST, "/users").json(&bad)).await;
    assert_problem(&r, 422, "validation_failed");
    assert_eq!(
        error_fields(&r),
        ["username", "email", "grade"],
        "{}",
        r.text
    );
    assert!(r.body["errors"]
        .as_array()
        .is_some_and(|e| e.iter().all(|x| x["message"].is_string())));

    let mut teacher_with_grade = student_json("ben");
    teacher_with_grade["role"] = json!("teacher");
    let r = post(&app, "/users", &teacher_with_grade).await;
    assert_problem(&r, 422, "validation_failed");
    assert_eq!(error_fields(&r), ["grade"]);

    let mut unknown_role = student_json("cy");
    unknown_role["role"] = json!("wizard");
    let r = post(&app, "/users", &unknown_role).await;
    assert_problem(&r, 422, "validation_failed");
    assert_eq!(error_fields(&r), ["role"], "{}", r.text);

    let mut unknown_field = student_json("dee");
    unknown_field["password"] = json!("hunter2");
    let r = post(&app, "/users", &unknown_field).await;
    assert_problem(&r, 422, "validation_failed");
    assert!(
        !r.text.contains("hunter2"),
        "the value is not echoed: {}",
        r.text
    );

    let r = post(&app, "/users", &json!({"username": "eve"})).await;
    assert_problem(&r, 422, "validation_failed");

    let mut unknown_group = student_json("fay");
    unknown_group["groups"] = json!(["no-such-group"]);
    let r = unaudited(&app, api(&app, Method::POST, "/users").json(&unknown_group)).await;
    assert_problem(&r, 422, "validation_failed");
    assert_eq!(error_fields(&r), ["groups"]);
    assert!(
        app.store
            .get_user_by_username("fay")
            .await
            .expect("get")
            .is_none(),
        "nothing was written"
    );

    let bad_rule =
        json!({"name": "p", "category": "security", "rule": {"fact": "x", "op": "bogus"}});
    let r = post(&app, "/policies", &bad_rule).await;
    assert_problem(&r, 422, "validation_failed");
    assert_eq!(error_fields(&r), ["rule"]);

    let r = post(
        &app,
        "/devices",
        &json!({"serial_number": "SN 1!", "platform": "windows", "facts": []}),
    )
    .await;
    assert_problem(&r, 422, "validation_failed");
    assert_eq!(error_fields(&r), ["serial_number", "facts"]);

    let unknown_owner =
        json!({"serial_number": "SN-2", "platform": "windows", "assigned_user_id": Uuid::now_v7()});
    let r = post(&app, "/devices", &unknown_owner).await;
    assert_problem(&r, 422, "validation_failed");
    assert_eq!(error_fields(&r), ["assigned_user_id"]);
    app.stop().await;
}

async fn illegal_status_transitions_are_409_invalid_transition(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = create(&app, "/users", &student_json("ada")).await;
    let path = format!("/users/{}", ada.id());
    assert_eq!(ada.body["status"], "pending");

    let r = unaudited(
        &app,
        api(&app, Method::PATCH, &path).json(&json!({"status": "suspended"})),
    )
    .await;
    assert_problem(&r, 409, "invalid_transition");
    assert!(r.body["detail"]
        .as_str()
        .is_some_and(|d| d.contains("pending") && d.contains("suspended")));

    for (status, version) in [
        ("active", 2),
        ("suspended", 3),
        ("active", 4),
        ("deprovisioned", 5),
    ] {
        let r = patch(&app, &path, &json!({"status": status})).await;
        assert_eq!(r.status, StatusCode::OK, "to {status}: {}", r.text);
        assert_eq!(
            (r.body["status"].as_str(), r.version()),
            (Some(status), version)
        );
    }
    for status in ["active", "pending", "suspended"] {
        let r = unaudited(
            &app,
            api(&app, Method::PATCH, &path).json(&json!({"status": status})),
        )
        .await;
        assert_problem(&r, 409, "invalid_transition");
    }
    let same = patch(&app, &path, &json!({"status": "deprovisioned"})).await;
    assert_eq!(
        (same.status, same.version()),
        (StatusCode::OK, 5),
        "staying put is allowed"
    );
    app.stop().await;
}

async fn an_unknown_id_is_404_for_every_verb(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let nobody = Uuid::now_v7();
    for collection in ["/users", "/groups", "/devices", "/policies"] {
        let path = format!("{collection}/{nobody}");
        assert_problem(&get(&app, &path).await, 404, "not_found");
        assert_problem(&patch(&app, &path, &json!({})).await, 404, "not_found");
        assert_problem(
            &call(api(&app, Method::DELETE, &path)).await,
            404,
            "not_found",
        );
    }
    assert_problem(
        &get(&app, &format!("/groups/{nobody}/members")).await,
        404,
        "not_found",
    );
    let g = create(&app, "/groups", &group_json("algebra")).await;
    let member = format!("/groups/{}/members/{nobody}", g.id());
    assert_problem(
        &call(api(&app, Method::PUT, &member)).await,
        404,
        "not_found",
    );
    let ada = create(&app, "/users", &student_json("ada")).await;
    let in_nowhere = format!("/groups/{nobody}/members/{}", ada.id());
    assert_problem(
        &call(api(&app, Method::PUT, &in_nowhere)).await,
        404,
        "not_found",
    );
    app.stop().await;
}

async fn membership_changes_are_idempotent(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let g = create(&app, "/groups", &group_json("algebra")).await;
    let ada = create(&app, "/users", &student_json("ada")).await;
    let member = format!("/groups/{}/members/{}", g.id(), ada.id());

    let (r, _) = audited(&app, "add-1", api(&app, Method::PUT, &member)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let again = unaudited(&app, api(&app, Method::PUT, &member)).await;
    assert_eq!(again.status, StatusCode::NO_CONTENT, "adding twice is fine");
    let members = app
        .client
        .group_members(g.id(), &[])
        .await
        .expect("members");
    assert_eq!(members.items.len(), 1);
    assert_eq!(
        app.client.get_user(ada.id()).await.expect("ada").groups,
        ["algebra"]
    );
    assert_eq!(
        app.client
            .get_group(g.id())
            .await
            .expect("group")
            .member_count,
        1
    );

    let (r, _) = audited(&app, "remove-1", api(&app, Method::DELETE, &member)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let again = unaudited(&app, api(&app, Method::DELETE, &member)).await;
    assert_eq!(
        again.status,
        StatusCode::NO_CONTENT,
        "removing twice is fine"
    );
    assert!(app
        .client
        .get_user(ada.id())
        .await
        .expect("ada")
        .groups
        .is_empty());
    app.stop().await;
}

async fn device_compliance_follows_the_enabled_policies(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    create(&app, "/policies", &policy_json("encryption")).await;
    let ok = create(&app, "/devices", &device_json("SN-1")).await;
    assert_eq!(ok.body["compliance"], "compliant");
    let mut failing = device_json("SN-2");
    failing["facts"] = json!({"disk_encryption": false});
    let bad = create(&app, "/devices", &failing).await;
    assert_eq!(bad.body["compliance"], "noncompliant");
    let mut mac = device_json("SN-3");
    mac["platform"] = json!("macos");
    mac["facts"] = json!({});
    let other = create(&app, "/devices", &mac).await;
    assert_eq!(
        other.body["compliance"], "compliant",
        "the policy applies to windows only"
    );

    let fixed = patch(
        &app,
        &format!("/devices/{}", bad.id()),
        &json!({"facts": {"disk_encryption": true}}),
    )
    .await;
    assert_eq!(
        (fixed.body["compliance"].as_str(), fixed.version()),
        (Some("compliant"), 2)
    );
    app.stop().await;
}

backend_tests!(
    create_answers_201_with_location_and_etag,
    patch_with_a_stale_if_match_is_412_and_changes_nothing,
    patch_with_a_stale_body_version_is_412,
    patch_with_the_current_version_answers_200_and_the_next_version,
    a_patch_that_changes_nothing_keeps_the_version_and_writes_no_audit_event,
    delete_answers_204_honours_if_match_and_then_404,
    a_duplicate_is_409_naming_the_field,
    invalid_fields_are_422_listing_each_field,
    illegal_status_transitions_are_409_invalid_transition,
    an_unknown_id_is_404_for_every_verb,
    membership_changes_are_idempotent,
    device_compliance_follows_the_enabled_policies,
);
