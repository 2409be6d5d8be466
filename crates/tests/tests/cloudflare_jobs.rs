//! Cloudflare automation through the API and a real worker, on both backends, against the
//! local fake of Cloudflare that checks every exchange against the published schema: the
//! routes enqueue audited jobs, the jobs act on the fake and audit what they did; the
//! delete guard, purge batching, validation retries, roles, the 404 without `[cloudflare]`,
//! the durable record of certificate warnings and the token's state in readiness.

#[allow(dead_code)]
#[path = "cloudflare/fake.rs"]
mod fake;
#[path = "cloudflare/schema.rs"]
mod schema;

use std::sync::Arc;
use std::time::Duration;

use cc_connectors::cloudflare::{Cloudflare, CloudflareConfig};
use cc_domain::{JobDetail, OperatorRole};
use cc_lifecycle::cloudflare::{CloudflareJobs, TokenHealth};
use cc_queue::Registry;
use cc_tests::queue::{fast_config, RunningWorker};
use cc_tests::{backend_tests, test_config, wait_for, Backend, TestApp};
use fake::{FakeCloudflare, TOKEN};
use reqwest::Method;
use serde_json::{json, Value};

const ZONE: &str = "district.example.org";
const MANAGED: &str = "managed-by:command-center";
const WAIT: Duration = Duration::from_secs(30);

const DECLARED: &str = r#"
[[dns]]
zone = "district.example.org"
type = "A"
name = "district.example.org"
content = "198.51.100.4"
proxied = true

[[dns]]
zone = "district.example.org"
type = "CNAME"
name = "www.district.example.org"
content = "district.example.org"
proxied = true
"#;

/// The app with `[cloudflare]` configured, the fake, and the service's configuration (for
/// building workers).
struct Setup {
    app: TestApp,
    fake: FakeCloudflare,
    config: CloudflareConfig,
    _dir: tempfile::TempDir,
}

async fn setup(backend: Backend, extra: &str) -> Setup {
    let fake = FakeCloudflare::start(&[ZONE]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("token file");
    let text = format!(
        "token_file = {token_file:?}\napi_base = {:?}\nzones = [{ZONE:?}]\n{extra}",
        fake.base_url()
    );
    let config: CloudflareConfig = toml::from_str(&text).expect("config parses");
    let mut api = test_config();
    api.cloudflare_zones = Some(config.zones.clone());
    let app = TestApp::spawn_with(backend, api, None).await;
    Setup {
        app,
        fake,
        config,
        _dir: dir,
    }
}

impl Setup {
    /// A worker running the `cloudflare.*` kinds, built afresh (as a new process would).
    fn worker(&self) -> RunningWorker {
        let service = Cloudflare::new(self.config.clone()).expect("service builds");
        let jobs = CloudflareJobs::new(Arc::new(service), self.app.store.clone());
        let mut registry = Registry::new();
        jobs.register(&mut registry);
        RunningWorker::start(
            self.app.store.clone(),
            registry,
            fast_config(&[("default", 4)]),
        )
    }
}

async fn post(client: &cc_client::Client, path: &str, body: Value) -> reqwest::Response {
    client
        .request(Method::POST, &format!("/api/v1/cloudflare{path}"))
        .json(&body)
        .send()
        .await
        .expect("request")
}

/// Posts and expects 202 with a job: its id.
async fn enqueue(client: &cc_client::Client, path: &str, body: Value) -> i64 {
    let res = post(client, path, body).await;
    assert_eq!(res.status(), 202, "{path}");
    let location = res
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let job: Value = res.json().await.expect("job");
    let id = job["id"].as_i64().expect("job id");
    assert_eq!(location, Some(format!("/api/v1/jobs/{id}")));
    id
}

/// Follows a job to its end.
async fn finished(app: &TestApp, id: i64) -> JobDetail {
    wait_for(&format!("job {id} to finish"), WAIT, || async move {
        let job = app.client.get_job(id).await.expect("job");
        job.job.state.is_final().then_some(job)
    })
    .await
}

async fn audit(app: &TestApp, action: &str) -> Vec<cc_domain::AuditEvent> {
    app.client
        .list_audit(&[("limit", "500")])
        .await
        .expect("audit")
        .items
        .into_iter()
        .filter(|e| e.action == action)
        .collect()
}

async fn plan_then_apply_as_jobs(backend: Backend) {
    let s = setup(backend, DECLARED).await;
    s.fake.seed_record(ZONE, json!({ "type": "A", "name": "retired.district.example.org", "content": "192.0.2.99", "comment": MANAGED }));
    s.fake.seed_record(ZONE, json!({ "type": "A", "name": "printer.district.example.org", "content": "192.0.2.30", "comment": "made by hand" }));
    let worker = s.worker();
    let operator = s.app.client_as(OperatorRole::Operator).await;

    let id = enqueue(&operator, "/plan", json!({})).await;
    let plan = finished(&s.app, id).await;
    assert_eq!(plan.job.state, cc_domain::JobState::Completed, "{plan:?}");
    let dns = &plan.job.result.as_ref().expect("the plan")["dns"][0];
    assert_eq!(dns["creates"].as_array().map(Vec::len), Some(2), "{dns}");
    assert_eq!(dns["deletes"].as_array().map(Vec::len), Some(1), "{dns}");
    assert_eq!(s.fake.records(ZONE).len(), 2, "a plan changes nothing");

    let id = enqueue(&s.app.client, "/apply", json!({ "force": false })).await;
    let applied = finished(&s.app, id).await;
    assert_eq!(
        applied.job.state,
        cc_domain::JobState::Completed,
        "{applied:?}"
    );
    assert_eq!(
        applied.job.result,
        Some(json!({ "dns_changes": 3, "waf_changes": 0 }))
    );
    let names: Vec<String> = s
        .fake
        .records(ZONE)
        .iter()
        .map(|r| r["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    for n in [
        "district.example.org",
        "www.district.example.org",
        "printer.district.example.org",
    ] {
        assert!(names.iter().any(|x| x == n), "{n} in {names:?}");
    }

    let requested = audit(&s.app, "cloudflare.apply.requested").await;
    assert_eq!(requested.len(), 1, "{requested:?}");
    assert_eq!(requested[0].actor, "operator:admin");
    let done = audit(&s.app, "cloudflare.apply").await;
    assert_eq!(done.len(), 1, "{done:?}");
    let after = done[0].after.clone().expect("after");
    assert_eq!(after["job_id"], json!(id));
    assert_eq!(after["dns_changes"], json!(3));
    let everything = serde_json::to_string(
        &s.app
            .client
            .list_audit(&[("limit", "500")])
            .await
            .expect("audit")
            .items,
    )
    .expect("json");
    assert!(!everything.contains(TOKEN), "the token is never audited");

    // Applied: the next plan is empty.
    let id = enqueue(&operator, "/plan", json!({})).await;
    let plan = finished(&s.app, id).await;
    let dns = &plan.job.result.as_ref().expect("the plan")["dns"][0];
    for k in ["creates", "updates", "deletes"] {
        assert_eq!(dns[k], json!([]), "{k}: {dns}");
    }
    worker.stop().await;
    s.fake.assert_clean();
}

async fn delete_guard_refuses_the_apply_job(backend: Backend) {
    let s = setup(backend, "[delete_guard]\nmax_deletes = 2\n").await;
    for i in 0..4 {
        s.fake.seed_record(ZONE, json!({ "type": "A", "name": format!("lab{i}.district.example.org"), "content": "192.0.2.20", "comment": MANAGED }));
    }
    let worker = s.worker();
    let id = enqueue(&s.app.client, "/apply", json!({})).await;
    let job = finished(&s.app, id).await;
    assert_eq!(job.job.state, cc_domain::JobState::Discarded, "{job:?}");
    let error = &job.job.errors.last().expect("an error").error;
    assert!(error.contains("delete guard"), "{error}");
    assert!(error.contains("more than the limit of 2"), "{error}");
    assert_eq!(s.fake.records(ZONE).len(), 4, "nothing deleted");
    assert_eq!(
        s.fake
            .count("DELETE /zones/{zone_id}/dns_records/{dns_record_id}"),
        0
    );
    let done = audit(&s.app, "cloudflare.apply").await;
    assert_eq!(done.len(), 1);
    let after = done[0].after.clone().expect("after");
    assert!(
        after["error"]
            .as_str()
            .unwrap_or_default()
            .contains("delete guard"),
        "{after}"
    );

    // Past the guard when forced.
    let id = enqueue(&s.app.client, "/apply", json!({ "force": true })).await;
    let job = finished(&s.app, id).await;
    assert_eq!(job.job.state, cc_domain::JobState::Completed, "{job:?}");
    assert!(s.fake.records(ZONE).is_empty());
    worker.stop().await;
    s.fake.assert_clean();
}

async fn purge_is_split_and_validated(backend: Backend) {
    let s = setup(backend, "").await;
    let worker = s.worker();
    let operator = s.app.client_as(OperatorRole::Operator).await;
    let urls: Vec<String> = (0..65)
        .map(|i| format!("https://www.district.example.org/news/{i}.html"))
        .collect();
    let id = enqueue(
        &operator,
        "/purge",
        json!({ "zone": ZONE, "kind": "urls", "items": urls }),
    )
    .await;
    let job = finished(&s.app, id).await;
    assert_eq!(job.job.state, cc_domain::JobState::Completed, "{job:?}");
    assert_eq!(
        job.job.result.as_ref().expect("result")["requests"],
        json!(3)
    );
    let sizes: Vec<usize> = s
        .fake
        .world
        .lock()
        .expect("lock")
        .purges
        .iter()
        .filter_map(|p| p["files"].as_array().map(Vec::len))
        .collect();
    assert_eq!(sizes, [30, 30, 5]);
    let done = audit(&s.app, "cloudflare.purge").await;
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].target_id.as_deref(), Some(ZONE));
    assert_eq!(done[0].after.as_ref().expect("after")["items"], json!(65));

    // Bad input is refused before anything is queued.
    for (body, field) in [
        (
            json!({ "zone": ZONE, "kind": "urls", "items": ["www.district.example.org/x"] }),
            "items",
        ),
        (
            json!({ "zone": ZONE, "kind": "everything", "items": ["x"] }),
            "items",
        ),
        (
            json!({ "zone": "elsewhere.example", "kind": "everything" }),
            "zone",
        ),
    ] {
        let res = post(&operator, "/purge", body.clone()).await;
        assert_eq!(res.status(), 422, "{body}");
        let problem: Value = res.json().await.expect("problem");
        assert_eq!(problem["errors"][0]["field"], json!(field), "{problem}");
    }
    let res = post(
        &operator,
        "/purge",
        json!({ "zone": ZONE, "kind": "urls", "items": [], "extra": 1 }),
    )
    .await;
    assert!(res.status().is_client_error(), "unknown field refused");
    worker.stop().await;
    s.fake.assert_clean();
}

async fn retry_validation_as_a_job(backend: Backend) {
    let s = setup(backend, "").await;
    let zid = s.fake.zone_id(ZONE);
    let pack = "a77f8bd73b4746b4a6f175cf98109948";
    let later = chrono::Utc::now() + chrono::Duration::days(80);
    s.fake.world.lock().expect("lock").packs.insert(zid.clone(), vec![
        json!({ "id": pack, "type": "advanced", "status": "pending_validation", "hosts": ["lms.district.example.org"],
                "certificates": [{ "id": "1b9a3b5c9d6e4f1aa1b2c3d4e5f60718", "hosts": ["lms.district.example.org"], "status": "pending", "expires_on": later.to_rfc3339() }] }),
    ]);
    let worker = s.worker();
    let operator = s.app.client_as(OperatorRole::Operator).await;
    let id = enqueue(
        &operator,
        "/certificates/retry-validation",
        json!({ "zone": ZONE, "pack_id": pack }),
    )
    .await;
    let job = finished(&s.app, id).await;
    assert_eq!(job.job.state, cc_domain::JobState::Completed, "{job:?}");
    assert_eq!(
        s.fake.world.lock().expect("lock").validation_retries,
        [pack.to_owned()]
    );
    let done = audit(&s.app, "cloudflare.retry_validation").await;
    assert_eq!(done.len(), 1);
    assert_eq!(
        done[0].after.as_ref().expect("after")["pack_id"],
        json!(pack)
    );

    // A pack the zone does not have: the job fails for good, saying so.
    let id = enqueue(
        &operator,
        "/certificates/retry-validation",
        json!({ "zone": ZONE, "pack_id": "0000000000000000000000000000beef" }),
    )
    .await;
    let job = finished(&s.app, id).await;
    assert_eq!(job.job.state, cc_domain::JobState::Discarded, "{job:?}");
    assert!(
        job.job.errors[0].error.contains("no certificate pack"),
        "{job:?}"
    );

    let res = post(
        &operator,
        "/certificates/retry-validation",
        json!({ "zone": ZONE, "pack_id": "../../etc" }),
    )
    .await;
    assert_eq!(res.status(), 422);
    worker.stop().await;
    s.fake.assert_clean();
}

const ROUTES: [(&str, &str); 5] = [
    ("/plan", "{}"),
    ("/apply", "{}"),
    (
        "/purge",
        r#"{"zone": "district.example.org", "kind": "everything"}"#,
    ),
    ("/certificates/check", "{}"),
    (
        "/certificates/retry-validation",
        r#"{"zone": "district.example.org", "pack_id": "a77f8bd73b4746b4a6f175cf98109948"}"#,
    ),
];

async fn without_cloudflare_every_route_is_404(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (path, body) in ROUTES {
        let body: Value = serde_json::from_str(body).expect("json");
        let res = post(&app.client, path, body).await;
        assert_eq!(res.status(), 404, "{path}");
        let ct = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(ct.starts_with("application/problem+json"), "{path}: {ct}");
        let problem: Value = res.json().await.expect("problem");
        assert!(problem["request_id"].is_string(), "{problem}");
    }
    assert!(app
        .client
        .list_jobs(&[])
        .await
        .expect("jobs")
        .items
        .is_empty());
}

async fn roles_are_checked(backend: Backend) {
    let s = setup(backend, "").await;
    let auditor = s.app.client_as(OperatorRole::Auditor).await;
    let operator = s.app.client_as(OperatorRole::Operator).await;
    for (path, body) in ROUTES {
        let body: Value = serde_json::from_str(body).expect("json");
        let res = post(&auditor, path, body.clone()).await;
        assert_eq!(res.status(), 403, "auditor {path}");
        let res = post(&s.app.anonymous(), path, body).await;
        assert_eq!(res.status(), 401, "anonymous {path}");
    }
    let res = post(&operator, "/apply", json!({})).await;
    assert_eq!(res.status(), 403, "apply is for admins");
    assert!(s
        .app
        .client
        .list_jobs(&[])
        .await
        .expect("jobs")
        .items
        .is_empty());
}

fn seed_pack(fake: &FakeCloudflare, pack: &str, expires_on: chrono::DateTime<chrono::Utc>) {
    let zid = fake.zone_id(ZONE);
    fake.world.lock().expect("lock").packs.insert(zid, vec![
        json!({ "id": pack, "type": "universal", "status": "active", "hosts": ["district.example.org", "www.district.example.org"],
                "certificates": [{ "id": "7e7b8deba8538af625850b7b2530034c", "hosts": ["district.example.org", "www.district.example.org"],
                                   "status": "active", "expires_on": expires_on.to_rfc3339() }] }),
    ]);
}

/// Runs the certificate job through the API: its warnings.
async fn check_certificates(s: &Setup) -> Vec<Value> {
    let id = enqueue(&s.app.client, "/certificates/check", json!({})).await;
    let job = finished(&s.app, id).await;
    assert_eq!(job.job.state, cc_domain::JobState::Completed, "{job:?}");
    job.job.result.as_ref().expect("result")["warnings"]
        .as_array()
        .cloned()
        .expect("warnings")
}

async fn certificate_warnings_survive_a_worker_restart(backend: Backend) {
    let s = setup(backend, "certificate_warning_days = [30, 14, 7]\n").await;
    let pack = "3822ff90ea2944df9e5521300bb9419b";
    seed_pack(
        &s.fake,
        pack,
        chrono::Utc::now() + chrono::Duration::days(10),
    );

    let worker = s.worker();
    let first = check_certificates(&s).await;
    assert_eq!(first.len(), 2, "both hosts: {first:?}");
    assert!(first.iter().all(|w| w["threshold_days"] == json!(14)));
    assert!(check_certificates(&s).await.is_empty(), "no repeat");
    worker.stop().await;

    // A new worker (a restarted process) remembers.
    let worker = s.worker();
    assert!(
        check_certificates(&s).await.is_empty(),
        "no repeat after a restart"
    );
    assert_eq!(
        audit(&s.app, "cloudflare.certificate_expiring").await.len(),
        2
    );

    // Renewed (a new expiry): warned about afresh at its threshold.
    seed_pack(
        &s.fake,
        pack,
        chrono::Utc::now() + chrono::Duration::days(12),
    );
    let renewed = check_certificates(&s).await;
    assert_eq!(renewed.len(), 2, "{renewed:?}");
    assert!(renewed.iter().all(|w| w["threshold_days"] == json!(14)));
    assert_eq!(
        audit(&s.app, "cloudflare.certificate_expiring").await.len(),
        4
    );
    // Renewed far from expiry: nothing due.
    seed_pack(
        &s.fake,
        pack,
        chrono::Utc::now() + chrono::Duration::days(89),
    );
    assert!(check_certificates(&s).await.is_empty());
    worker.stop().await;
    s.fake.assert_clean();
}

/// The record itself: each smaller threshold once; a larger one never after a smaller; a
/// renewal starts afresh and clears the old certificate's record.
async fn the_warning_record_counts_down_thresholds(backend: Backend) {
    let db = cc_tests::TestDb::new(backend).await;
    let store = db.store().await;
    let expires_on = chrono::Utc::now() + chrono::Duration::days(10);
    let warning = |threshold_days: u32, expires_on| cc_store::certificates::CertificateWarning {
        zone: ZONE.into(),
        host: "www.district.example.org".into(),
        pack_id: "p1".into(),
        expires_on,
        threshold_days,
    };
    let claim = |w: cc_store::certificates::CertificateWarning| {
        let store = store.clone();
        async move {
            let mut tx = store.begin().await.expect("begin");
            let claimed = tx.claim_certificate_warning(&w).await.expect("claim");
            tx.commit().await.expect("commit");
            claimed
        }
    };
    assert!(claim(warning(14, expires_on)).await);
    assert!(!claim(warning(14, expires_on)).await);
    assert!(!claim(warning(30, expires_on)).await);
    assert!(claim(warning(7, expires_on)).await);
    assert!(!claim(warning(7, expires_on)).await);
    assert!(!claim(warning(14, expires_on)).await);
    let renewed = expires_on + chrono::Duration::days(60);
    assert!(claim(warning(30, renewed)).await);
    assert!(!claim(warning(30, renewed)).await);
    // Another host of the same certificate is its own record.
    let mut other = warning(14, expires_on);
    other.host = "district.example.org".into();
    assert!(claim(other).await);
    // Rolled back: not recorded.
    let mut tx = store.begin().await.expect("begin");
    assert!(tx
        .claim_certificate_warning(&warning(7, renewed))
        .await
        .expect("claim"));
    drop(tx);
    assert!(claim(warning(7, renewed)).await);
}

async fn token_state_is_in_readiness_without_calling_cloudflare(backend: Backend) {
    let s = setup(backend, "").await;
    let health = TokenHealth::new(Arc::new(
        Cloudflare::new(s.config.clone()).expect("service builds"),
    ));
    let app = TestApp::spawn_customized(backend, test_config(), None, |state| {
        state.with_cloudflare(health.clone())
    })
    .await;
    let (ready, report) = app.client.ready().await.expect("ready");
    assert!(ready, "{report}");
    assert_eq!(report["detail"]["cloudflare"]["status"], json!("unknown"));
    assert!(health.check().await.is_ok());
    let (ready, report) = app.client.ready().await.expect("ready");
    assert!(ready);
    let cf = &report["detail"]["cloudflare"];
    assert_eq!(cf["status"], json!("ok"), "{report}");
    assert!(
        cf["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("token active"),
        "{cf}"
    );
    assert!(cf["checked_at"].is_string());

    // Probes read the last result: Cloudflare is not asked again.
    let verified = s.fake.count("GET /user/tokens/verify");
    for _ in 0..3 {
        app.client.ready().await.expect("ready");
    }
    assert_eq!(s.fake.count("GET /user/tokens/verify"), verified);

    // An expired token: still ready (the API serves), the detail says why.
    s.fake.world.lock().expect("lock").token_status = Some("expired".into());
    assert!(!health.check().await.is_ok());
    let (ready, report) = app.client.ready().await.expect("ready");
    assert!(
        ready,
        "a bad Cloudflare token does not make the server unready"
    );
    let cf = &report["detail"]["cloudflare"];
    assert_eq!(cf["status"], json!("fail"), "{report}");
    let error = cf["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("expired"), "{error}");
    assert!(!report.to_string().contains(TOKEN));

    // Without `[cloudflare]` there is no such detail.
    let (_, report) = s.app.client.ready().await.expect("ready");
    assert!(report["detail"].get("cloudflare").is_none(), "{report}");
    s.fake.assert_clean();
}

backend_tests!(
    plan_then_apply_as_jobs,
    delete_guard_refuses_the_apply_job,
    purge_is_split_and_validated,
    retry_validation_as_a_job,
    without_cloudflare_every_route_is_404,
    roles_are_checked,
    certificate_warnings_survive_a_worker_restart,
    the_warning_record_counts_down_thresholds,
    token_state_is_in_readiness_without_calling_cloudflare,
);
