//! List endpoints over HTTP: query parameters reach the store, and cursors page through.

use super::*;

fn names(r: &Reply, field: &str) -> Vec<String> {
    let mut v: Vec<String> = r.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a list: {}", r.text))
        .iter()
        .map(|i| i[field].as_str().unwrap_or_default().to_owned())
        .collect();
    v.sort();
    v
}

async fn list_query_parameters_filter_what_is_returned(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    create(&app, "/groups", &group_json("algebra")).await;
    let mut ada = student_json("ada");
    ada["groups"] = json!(["algebra"]);
    ada["status"] = json!("active");
    let ada = create(&app, "/users", &ada).await;
    let mut ben = student_json("ben");
    ben["grade"] = json!(11);
    ben["school"] = json!("roosevelt-hs");
    create(&app, "/users", &ben).await;
    let mut dee = student_json("dee");
    dee["role"] = json!("teacher");
    dee["grade"] = Value::Null;
    create(&app, "/users", &dee).await;

    for (query, expected) in [
        ("status=active", vec!["ada"]),
        ("status=pending", vec!["ben", "dee"]),
        ("role=teacher", vec!["dee"]),
        ("grade=11", vec!["ben"]),
        ("school=roosevelt-hs", vec!["ben"]),
        ("group=algebra", vec!["ada"]),
        ("q=BE", vec!["ben"]),
        ("role=student&school=lincoln-hs", vec!["ada"]),
    ] {
        assert_eq!(
            names(&get(&app, &format!("/users?{query}")).await, "username"),
            expected,
            "{query}"
        );
    }
    let g = app
        .client
        .list_groups(&[("kind", "class")])
        .await
        .expect("groups");
    let members = get(
        &app,
        &format!("/groups/{}/members?status=active", g.items[0].id),
    )
    .await;
    assert_eq!(names(&members, "username"), ["ada"]);
    assert_problem(
        &get(&app, &format!("/groups/{}/members?bogus=1", g.items[0].id)).await,
        400,
        "invalid_query",
    );

    let mut owned = device_json("SN-1");
    owned["assigned_user_id"] = json!(ada.id());
    create(&app, "/devices", &owned).await;
    let mut mac = device_json("SN-2");
    mac["platform"] = json!("macos");
    create(&app, "/devices", &mac).await;
    create(&app, "/policies", &policy_json("encryption")).await;
    let mut off = policy_json("firewall");
    off["enabled"] = json!(false);
    off["category"] = json!("network");
    off["platforms"] = json!([]);
    create(&app, "/policies", &off).await;

    let serials = |r: Reply| names(&r, "serial_number");
    assert_eq!(
        serials(get(&app, &format!("/devices?assigned_user_id={}", ada.id())).await),
        ["SN-1"]
    );
    assert_eq!(
        serials(get(&app, "/devices?platform=macos").await),
        ["SN-2"]
    );
    assert_eq!(
        serials(get(&app, "/devices?compliance=compliant").await),
        ["SN-1", "SN-2"]
    );
    assert_eq!(serials(get(&app, "/devices?q=sn-2").await), ["SN-2"]);
    assert_eq!(
        names(&get(&app, "/policies?enabled=false").await, "name"),
        ["firewall"]
    );
    assert_eq!(
        names(&get(&app, "/policies?category=security").await, "name"),
        ["encryption"]
    );
    assert_eq!(
        names(&get(&app, "/policies?platform=linux").await, "name"),
        ["firewall"]
    );
    assert_eq!(
        names(&get(&app, "/groups?kind=school").await, "name"),
        Vec::<String>::new()
    );
    app.stop().await;
}

async fn list_cursors_page_through_every_record_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut created = Vec::new();
    for i in 0..23 {
        let mut u = student_json(&format!("u{:02}", (i * 7) % 23));
        u["family_name"] = json!(["Baker", "Adams", "Clark"][i % 3]);
        created.push(create(&app, "/users", &u).await.body);
    }
    for sort in [
        "username",
        "-username",
        "family_name",
        "-family_name",
        "created_at",
        "-created_at",
    ] {
        let mut seen: Vec<String> = Vec::new();
        let mut cursor: Option<String> = None;
        let mut sizes = Vec::new();
        loop {
            let mut path = format!("/users?limit=5&sort={sort}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page = get(&app, &path).await;
            let items = page.body["items"].as_array().expect("items").clone();
            sizes.push(items.len());
            seen.extend(
                items
                    .iter()
                    .map(|u| u["id"].as_str().unwrap_or_default().to_owned()),
            );
            match page.body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
            assert!(sizes.len() < 10, "{sort}: pagination does not terminate");
        }
        assert_eq!(sizes, [5, 5, 5, 5, 3], "{sort}");
        let key = sort.trim_start_matches('-');
        let mut expected = created.clone();
        expected.sort_by_key(|u| {
            let v = if key == "created_at" {
                String::new()
            } else {
                u[key].as_str().unwrap_or_default().to_owned()
            };
            (v, u["id"].as_str().unwrap_or_default().to_owned())
        });
        if sort.starts_with('-') {
            expected.reverse();
        }
        let expected: Vec<String> = expected
            .iter()
            .map(|u| u["id"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(seen, expected, "{sort}: every user once, in order");
    }
    app.stop().await;
}

backend_tests!(
    list_query_parameters_filter_what_is_returned,
    list_cursors_page_through_every_record_once,
);
