//! The demo data set: what it contains, and that loading it twice adds nothing.

use std::collections::BTreeSet;

use super::*;

async fn list_all<T: serde::de::DeserializeOwned>(
    app: &TestApp,
    collection: &str,
    query: &str,
) -> Vec<T> {
    let r = get(app, &format!("{collection}?limit=500{query}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.body["next_cursor"].is_null());
    serde_json::from_value(r.body["items"].clone()).expect("a list")
}

async fn the_demo_data_set_has_what_the_demo_needs(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let directory = cc_service::Directory::new(app.store.clone());
    let first = cc_service::seed::demo(&directory).await.expect("seed");
    assert_eq!(first.existing, 0);

    let students: Vec<cc_domain::User> = list_all(&app, "/users", "&role=student").await;
    assert_eq!(students.len(), 20);
    for grade in 9..=12 {
        let in_grade = students.iter().filter(|u| u.grade == Some(grade)).count();
        assert_eq!(in_grade, 5, "grade {grade}");
    }
    assert!(students
        .iter()
        .all(|u| u.email.is_some() && u.external_id.is_some() && !u.groups.is_empty()));
    let users: Vec<cc_domain::User> = list_all(&app, "/users", "").await;
    assert!(
        users
            .iter()
            .all(|u| u.status == cc_domain::UserStatus::Pending),
        "nobody has an account yet, so nobody is active"
    );
    let staff = users
        .iter()
        .filter(|u| u.role != cc_domain::Role::Student)
        .count();
    assert!(staff >= 3, "{staff} staff");
    assert!(users
        .iter()
        .filter(|u| u.role != cc_domain::Role::Student)
        .all(|u| u.grade.is_none()));

    let devices: Vec<cc_domain::Device> = list_all(&app, "/devices", "").await;
    assert_eq!(devices.len(), 12);
    let noncompliant = devices
        .iter()
        .filter(|d| d.compliance == cc_domain::Compliance::Noncompliant)
        .count();
    let compliant = devices
        .iter()
        .filter(|d| d.compliance == cc_domain::Compliance::Compliant)
        .count();
    assert!(
        noncompliant >= 1 && compliant >= 1,
        "{noncompliant} failing, {compliant} passing"
    );
    assert_eq!(
        noncompliant + compliant,
        12,
        "every demo device has been evaluated"
    );
    let platforms: BTreeSet<_> = devices.iter().map(|d| d.platform.as_str()).collect();
    assert!(platforms.len() >= 3, "{platforms:?}");
    let by_name = |name: &str| {
        devices
            .iter()
            .find(|d| d.name.as_deref() == Some(name))
            .expect(name)
            .compliance
    };
    assert_eq!(by_name("LHS-WIN-001"), cc_domain::Compliance::Compliant);
    assert_eq!(
        by_name("LHS-WIN-002"),
        cc_domain::Compliance::Noncompliant,
        "disk not encrypted"
    );
    assert!(devices.iter().all(|d| d.assigned_user_id.is_some()));

    let policies: Vec<cc_domain::Policy> = list_all(&app, "/policies", "").await;
    assert_eq!(policies.len(), 7);
    let categories: BTreeSet<_> = policies.iter().map(|p| p.category.as_str()).collect();
    assert_eq!(
        categories,
        BTreeSet::from(["network", "security", "updates"])
    );

    let groups: Vec<cc_domain::Group> = list_all(&app, "/groups", "").await;
    let total = users.len() + devices.len() + policies.len() + groups.len();
    assert_eq!(first.created, total, "the report counts what was created");
    assert_eq!(
        audit_head(&app).await,
        i64::try_from(total).expect("small"),
        "one audit event per record"
    );
    app.stop().await;
}

async fn loading_the_demo_data_twice_creates_nothing_the_second_time(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let directory = cc_service::Directory::new(app.store.clone());
    let first = cc_service::seed::demo(&directory).await.expect("seed");
    let head = audit_head(&app).await;
    let second = cc_service::seed::demo(&directory)
        .await
        .expect("seed again");
    assert_eq!((second.created, second.existing), (0, first.created));
    assert_eq!(audit_head(&app).await, head, "no audit events either");
    let users: Vec<cc_domain::User> = list_all(&app, "/users", "").await;
    assert_eq!(users.len(), 25);
    let report = app.client.verify_audit().await.expect("verify");
    assert_eq!(report["intact"], true);
    app.stop().await;
}

async fn provisioning_the_demo_requests_accounts_once_for_all_but_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let directory = cc_service::Directory::new(app.store.clone());
    cc_service::seed::demo(&directory).await.expect("seed");
    let first = cc_service::seed::provision_demo(&directory)
        .await
        .expect("provision");
    assert_eq!(first.provisioned, 24);
    let batch = first.batch_id.expect("one batch");
    let progress = app.client.get_batch(batch).await.expect("batch");
    assert_eq!(progress.total, 24);

    let users: Vec<cc_domain::User> = list_all(&app, "/users", "").await;
    let pending: Vec<_> = users
        .iter()
        .filter(|u| u.status == cc_domain::UserStatus::Pending)
        .map(|u| u.username.as_str())
        .collect();
    assert_eq!(pending, [cc_service::seed::DEMO_LEFT_PENDING]);
    assert!(users.iter().all(|u| matches!(
        u.status,
        cc_domain::UserStatus::Pending | cc_domain::UserStatus::Active
    )));

    let head = audit_head(&app).await;
    let again = cc_service::seed::provision_demo(&directory)
        .await
        .expect("again");
    assert_eq!(again, cc_service::seed::DemoProvisioning::default());
    assert_eq!(
        audit_head(&app).await,
        head,
        "nothing requested the second time"
    );
    app.stop().await;
}

backend_tests!(
    provisioning_the_demo_requests_accounts_once_for_all_but_one,
    the_demo_data_set_has_what_the_demo_needs,
    loading_the_demo_data_twice_creates_nothing_the_second_time,
);
