//! Malformed requests, limits, unknown routes, panics and internal failures: every one is a
//! problem+json response with a stable code, and none leaks internals.

use super::*;

async fn a_malformed_uuid_in_the_path_is_400(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for path in [
        "/users/not-a-uuid",
        "/groups/123",
        "/devices/x",
        "/policies/%20",
    ] {
        assert_problem(&get(&app, path).await, 400, "invalid_path");
    }
    let r = call(api(
        &app,
        Method::PUT,
        &format!("/groups/{}/members/nope", Uuid::now_v7()),
    ))
    .await;
    assert_problem(&r, 400, "invalid_path");
    app.stop().await;
}

async fn malformed_json_is_400_malformed_json(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for body in [
        "{",
        "{\"username\": }",
        "not json",
        "",
        "{\"username\": \"x\",}",
    ] {
        let rb = api(&app, Method::POST, "/users")
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        let r = unaudited(&app, rb).await;
        assert_problem(&r, 400, "malformed_json");
    }
    app.stop().await;
}

async fn bad_query_parameters_are_400(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for query in [
        "/users?colour=blue",
        "/users?limit=0",
        "/users?limit=501",
        "/users?limit=-1",
        "/users?limit=ten",
        "/users?grade=eleven",
        "/users?status=asleep",
        "/users?sort=password",
        "/devices?platform=amiga",
        "/groups?sort=name",
        "/policies?enabled=maybe",
        "/audit?since=yesterday",
        "/audit?limit=501",
        "/users?grade=13",
        "/users?grade=-2",
    ] {
        assert_problem(&get(&app, query).await, 400, "invalid_query");
    }
    assert_eq!(get(&app, "/users?limit=500").await.status, StatusCode::OK);
    assert_eq!(
        get(&app, "/users?limit=1&sort=-family_name").await.status,
        StatusCode::OK
    );
    app.stop().await;
}

async fn bad_cursors_are_400_invalid_cursor(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for name in ["ada", "ben", "cy"] {
        create(&app, "/users", &student_json(name)).await;
        create(&app, "/groups", &group_json(name)).await;
    }
    let by_name = get(&app, "/users?limit=1&sort=username").await;
    let cursor = by_name.body["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let next = get(
        &app,
        &format!("/users?limit=1&sort=username&cursor={cursor}"),
    )
    .await;
    assert_eq!(
        next.body["items"][0]["username"], "ben",
        "the cursor works where it belongs"
    );

    let other_sort = get(
        &app,
        &format!("/users?limit=1&sort=family_name&cursor={cursor}"),
    )
    .await;
    assert_problem(&other_sort, 400, "invalid_cursor");
    let other_list = get(&app, &format!("/groups?limit=1&cursor={cursor}")).await;
    assert_problem(&other_list, 400, "invalid_cursor");
    let groups = get(&app, "/groups?limit=1").await;
    let group_cursor = groups.body["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let wrong_way = get(&app, &format!("/users?limit=1&cursor={group_cursor}")).await;
    assert_problem(&wrong_way, 400, "invalid_cursor");

    let long = "A".repeat(2000);
    for bad in ["garbage!", "eyJzIjoidXNlcm5hbWUifQ", long.as_str()] {
        assert_problem(
            &get(&app, &format!("/users?cursor={bad}")).await,
            400,
            "invalid_cursor",
        );
        assert_problem(
            &get(&app, &format!("/audit?cursor={bad}")).await,
            400,
            "invalid_cursor",
        );
    }
    app.stop().await;
}

async fn a_body_over_the_limit_is_413(backend: Backend) {
    let config = cc_api::ApiConfig {
        body_limit: 1024,
        ..cc_api::ApiConfig::default()
    };
    let app = TestApp::spawn_with(backend, config, None).await;
    let mut small = student_json("ada");
    small["given_name"] = json!("A".repeat(100));
    assert_eq!(
        post(&app, "/users", &small).await.status,
        StatusCode::CREATED
    );

    let mut big = student_json("ben");
    big["given_name"] = json!("B".repeat(2000));
    let r = unaudited(&app, api(&app, Method::POST, "/users").json(&big)).await;
    assert_problem(&r, 413, "payload_too_large");
    let r = patch(&app, &format!("/users/{}", Uuid::now_v7()), &big).await;
    assert_problem(&r, 413, "payload_too_large");
    app.stop().await;
}

async fn a_body_that_is_not_json_is_415(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = student_json("ada").to_string();
    let plain = api(&app, Method::POST, "/users")
        .header(CONTENT_TYPE, "text/plain")
        .body(body.clone());
    assert_problem(&unaudited(&app, plain).await, 415, "unsupported_media_type");
    let none = api(&app, Method::POST, "/users").body(body.clone());
    assert_problem(&unaudited(&app, none).await, 415, "unsupported_media_type");
    let form = api(&app, Method::PATCH, &format!("/users/{}", Uuid::now_v7()))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("grade=10");
    assert_problem(&call(form).await, 415, "unsupported_media_type");
    app.stop().await;
}

async fn unknown_routes_and_methods_are_problems(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for path in ["/api/v1/nope", "/api/v2/users", "/nope", "/health"] {
        let r = call(app.client.request(Method::GET, path)).await;
        assert_problem(&r, 404, "not_found");
    }
    for (method, path) in [
        (Method::PUT, "/api/v1/users"),
        (Method::DELETE, "/api/v1/users"),
        (
            Method::POST,
            &format!("/api/v1/users/{}", Uuid::now_v7()) as &str,
        ),
        (Method::POST, "/api/v1/audit"),
        (Method::POST, "/health/live"),
        (Method::DELETE, "/health/ready"),
    ] {
        let r = call(app.client.request(method.clone(), path)).await;
        assert_problem(&r, 405, "method_not_allowed");
    }
    app.stop().await;
}

async fn a_sane_request_id_is_echoed_and_an_insane_one_replaced(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for sane in ["abc-123", "trace_01.A:b", &"x".repeat(128) as &str] {
        let r = call(api(&app, Method::GET, "/users").header("x-request-id", sane)).await;
        assert_eq!(r.request_id(), sane);
        let r = call(api(&app, Method::GET, "/users/bad").header("x-request-id", sane)).await;
        assert_eq!(
            (r.request_id(), r.body["request_id"].as_str()),
            (sane, Some(sane))
        );
    }
    for insane in [
        "",
        "has space",
        "semi;colon",
        "<script>",
        "ünï",
        &"x".repeat(129) as &str,
    ] {
        let value = reqwest::header::HeaderValue::from_bytes(insane.as_bytes()).expect("sendable");
        let rb = api(&app, Method::GET, "/users/bad").header("x-request-id", value);
        let r = call(rb).await;
        assert_ne!(r.request_id(), insane);
        assert!(
            r.request_id().parse::<Uuid>().is_ok(),
            "replaced by a generated id, got {:?}",
            r.request_id()
        );
        assert_problem(&r, 400, "invalid_path");
    }
    let a = get(&app, "/users").await;
    let b = get(&app, "/users").await;
    assert_ne!(a.request_id(), b.request_id(), "generated ids are unique");
    app.stop().await;
}

async fn boom() -> &'static str {
    panic!("secret panic text: password=hunter2");
}

async fn a_panicking_handler_is_a_500_problem_and_the_server_keeps_serving(backend: Backend) {
    let boom = cc_tests::axum::Router::new().route("/boom", axum::routing::get(boom));
    let app = TestApp::spawn_with(backend, cc_api::ApiConfig::default(), Some(boom)).await;
    for _ in 0..3 {
        let r = call(
            app.client
                .request(Method::GET, "/boom")
                .header("x-request-id", "boom-1"),
        )
        .await;
        assert_problem(&r, 500, "internal_error");
        assert_eq!(r.request_id(), "boom-1");
        assert!(
            !r.text.contains("secret") && !r.text.contains("hunter2"),
            "{}",
            r.text
        );
    }
    let user = app
        .client
        .create_user(&student("ada"))
        .await
        .expect("still serving");
    assert_eq!(
        app.client.get_user(user.id).await.expect("read").username,
        "ada"
    );
    app.stop().await;
}

async fn internal_errors_never_leak_sql(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = create(&app, "/users", &student_json("ada")).await;
    app.store
        .migrate_down(u32::MAX)
        .await
        .expect("drop the schema behind the app's back");
    let requests = [
        api(&app, Method::GET, "/users"),
        api(&app, Method::GET, &format!("/users/{}", ada.id())),
        api(&app, Method::POST, "/users").json(&student_json("ben")),
        api(&app, Method::GET, "/groups?q=x"),
        api(&app, Method::GET, "/devices"),
        api(&app, Method::GET, "/policies"),
        api(&app, Method::GET, "/audit"),
        api(&app, Method::GET, "/audit/verify"),
    ];
    for rb in requests {
        let r = call(rb).await;
        assert_problem(&r, 500, "internal_error");
        let lower = r.text.to_lowercase();
        for leak in [
            "select",
            "insert",
            "table",
            "relation",
            "sqlx",
            "database error",
            "users",
            "audit_",
        ] {
            assert!(!lower.contains(leak), "`{leak}` leaked in {}", r.text);
        }
    }
    app.stop().await;
}

async fn nul_characters_are_refused_rather_than_failing_inside_the_database(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for query in [
        "/users?q=a%00b",
        "/users?school=%00",
        "/users?group=x%00",
        "/groups?q=%00",
        "/devices?q=%00",
        "/policies?q=%00",
        "/audit?actor=%00",
        "/audit?action=user.%00",
    ] {
        let r = get(&app, query).await;
        assert_problem(&r, 400, "invalid_query");
    }
    // A cursor is opaque but not trusted: one forged to carry a NUL is refused too.
    let forged = cc_domain::Cursor {
        s: "username".into(),
        v: "a\0".into(),
        id: Uuid::nil(),
    }
    .encode();
    assert_problem(
        &get(&app, &format!("/users?cursor={forged}")).await,
        400,
        "invalid_cursor",
    );

    let nul = "a\u{0}b";
    let bodies = [
        (
            "/groups",
            json!({"name": "g1", "kind": "class", "description": nul}),
        ),
        (
            "/devices",
            json!({"serial_number": "SN-1", "platform": "windows", "facts": {"os": nul}}),
        ),
        (
            "/devices",
            json!({"serial_number": "SN-2", "platform": "windows", "facts": {nul: true}}),
        ),
        (
            "/policies",
            json!({"name": "p1", "category": "security", "rule": {"fact": "x", "op": "eq", "value": nul}}),
        ),
        (
            "/policies",
            json!({"name": "p2", "category": "security", "rule": {"fact": nul, "op": "exists"}}),
        ),
    ];
    for (collection, body) in bodies {
        let r = unaudited(&app, api(&app, Method::POST, collection).json(&body)).await;
        assert_problem(&r, 422, "validation_failed");
    }
    let mut student = student_json("ada");
    student["given_name"] = json!(nul);
    assert_problem(
        &post(&app, "/users", &student).await,
        422,
        "validation_failed",
    );
    app.stop().await;
}

/// hyper answers the requests it cannot parse with a bare status line; the limits clients
/// meet come first and answer with a problem like every other error.
async fn an_oversized_uri_or_header_section_is_a_problem(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let long_query = format!("/users?q={}", "a".repeat(20_000));
    let uri = call(api(&app, Method::GET, &long_query)).await;
    assert_problem(&uri, 414, "uri_too_long");

    let headers = call(
        api(&app, Method::GET, "/users")
            .header("x-large-a", "a".repeat(20_000))
            .header("x-large-b", "b".repeat(20_000)),
    )
    .await;
    assert_problem(&headers, 431, "headers_too_large");
    // Within the limits, the same requests are served.
    let fine = call(api(&app, Method::GET, "/users").header("x-large-a", "a".repeat(8_000))).await;
    assert_eq!(fine.status, StatusCode::OK, "{}", fine.text);
    app.stop().await;
}

/// A body is a JSON object; `3.0` is the integer 3, as JSON Schema reads it.
async fn bodies_are_objects_and_integral_numbers_are_integers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let array = post(&app, "/groups", &json!([group_json("algebra")])).await;
    assert_problem(&array, 422, "validation_failed");
    assert_eq!(error_fields(&array), ["body"]);
    assert!(get(&app, "/groups").await.body["items"]
        .as_array()
        .unwrap()
        .is_empty());

    let group = post(&app, "/groups", &group_json("algebra")).await;
    assert_eq!(group.status, StatusCode::CREATED, "{}", group.text);
    let path = format!("/groups/{}", group.id());
    let patched = patch(
        &app,
        &path,
        &json!({"display_name": "Algebra", "version": 1.0}),
    )
    .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    assert_eq!(patched.version(), 2);
    let fractional = patch(
        &app,
        &path,
        &json!({"display_name": "Algebra I", "version": 2.5}),
    )
    .await;
    assert_problem(&fractional, 422, "validation_failed");
    app.stop().await;
}

backend_tests!(
    bodies_are_objects_and_integral_numbers_are_integers,
    an_oversized_uri_or_header_section_is_a_problem,
    a_malformed_uuid_in_the_path_is_400,
    malformed_json_is_400_malformed_json,
    bad_query_parameters_are_400,
    bad_cursors_are_400_invalid_cursor,
    a_body_over_the_limit_is_413,
    a_body_that_is_not_json_is_415,
    unknown_routes_and_methods_are_problems,
    a_sane_request_id_is_echoed_and_an_insane_one_replaced,
    a_panicking_handler_is_a_500_problem_and_the_server_keeps_serving,
    internal_errors_never_leak_sql,
    nul_characters_are_refused_rather_than_failing_inside_the_database,
);
