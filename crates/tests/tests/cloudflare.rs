//! Cloudflare automation against a local, stateful fake of the API that checks every request
//! and response against Cloudflare's published schema (`crates/tests/fixtures/cloudflare/`).

#[path = "cloudflare/fake.rs"]
mod fake;
#[path = "cloudflare/schema.rs"]
mod schema;

use cc_connectors::cloudflare::{CertificateWatch, Cloudflare, CloudflareConfig, PurgeRequest};
use fake::{Failure, FakeCloudflare, TOKEN};
use serde_json::{json, Value};

const ZONE: &str = "district.example.org";
const MANAGED: &str = "managed-by:command-center";

struct Setup {
    fake: FakeCloudflare,
    _dir: tempfile::TempDir,
    token_file: std::path::PathBuf,
}

async fn setup() -> Setup {
    let fake = FakeCloudflare::start(&[ZONE, "other.example.org"]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("token file");
    Setup {
        fake,
        _dir: dir,
        token_file,
    }
}

/// Builds the service from a `[cloudflare]` TOML section (plus the test's token and URL).
fn service(s: &Setup, extra: &str) -> Cloudflare {
    let text = format!(
        "token_file = {:?}\napi_base = {:?}\nzones = [{ZONE:?}]\n{extra}",
        s.token_file,
        s.fake.base_url()
    );
    let config: CloudflareConfig = toml::from_str(&text).expect("config parses");
    Cloudflare::new(config).expect("service builds")
}

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
comment = "public site"

[[dns]]
zone = "district.example.org"
type = "TXT"
name = "_verify.district.example.org"
content = "v=verify1"
ttl = 3600

[[waf]]
zone = "district.example.org"
name = "block-wp-login"
expression = "http.request.uri.path contains \"/wp-login.php\""
action = "block"
description = "No WordPress here"

[[waf]]
zone = "district.example.org"
name = "challenge-admin"
expression = "starts_with(http.request.uri.path, \"/admin\") and ip.geoip.country ne \"US\""
# The published schema's rule action pattern (^[a-z]+$) leaves out managed_challenge.
action = "challenge"
"#;

fn hand_made_rule(fake: &FakeCloudflare) -> Value {
    let zid = fake.zone_id(ZONE);
    let rule = json!({
        "id": fake::new_id(), "ref": "office-allow", "version": "1",
        "last_updated": "2024-05-01T00:00:00.000000Z", "action": "skip",
        "action_parameters": { "ruleset": "current" },
        "expression": "ip.src in {192.0.2.0/24}", "description": "Office", "enabled": true,
        "logging": { "enabled": true }
    });
    fake.world.lock().expect("lock").entrypoints.insert(
        zid,
        json!({ "id": fake::new_id(), "name": "default", "description": "", "kind": "zone",
                "phase": "http_request_firewall_custom", "version": "1",
                "last_updated": "2024-05-01T00:00:00.000000Z", "rules": [rule.clone()] }),
    );
    rule
}

#[tokio::test]
async fn apply_twice_leaves_nothing_to_do_and_unmanaged_state_untouched() {
    let s = setup().await;
    // Enough hand-made records that listing takes two pages.
    for i in 0..120 {
        s.fake.seed_record(ZONE, json!({ "type": "A", "name": format!("host{i}.district.example.org"), "content": "192.0.2.10", "ttl": 300, "comment": "made by hand" }));
    }
    s.fake.seed_record(ZONE, json!({ "type": "TXT", "name": "district.example.org", "content": "google-site-verification=abc" }));
    s.fake.seed_record(ZONE, json!({ "type": "CNAME", "name": "www.district.example.org", "content": "old.example.net", "proxied": false, "comment": MANAGED }));
    s.fake.seed_record(ZONE, json!({ "type": "A", "name": "retired.district.example.org", "content": "192.0.2.99", "comment": format!("{MANAGED} old") }));
    let office = hand_made_rule(&s.fake);
    let unmanaged_before: Vec<Value> = s
        .fake
        .records(ZONE)
        .into_iter()
        .filter(|r| !r["comment"].as_str().unwrap_or("").starts_with(MANAGED))
        .collect();

    let cf = service(&s, DECLARED);
    let plan = cf.plan().await.expect("plan");
    assert!(
        s.fake.count("GET /zones/{zone_id}/dns_records") >= 2,
        "pagination followed"
    );
    let dns = &plan.dns[0];
    assert_eq!(dns.creates.len(), 2, "{dns:#?}");
    assert_eq!(dns.updates.len(), 1);
    assert_eq!(dns.deletes.len(), 1);
    assert_eq!(dns.managed_count, 2);
    assert_eq!(plan.waf[0].creates.len(), 2);
    assert_eq!(plan.waf[0].unmanaged_count, 1);

    let summary = cf.apply(&plan, false).await.expect("apply");
    assert_eq!(summary.dns_changes, 4);
    assert_eq!(summary.waf_changes, 2);

    let again = cf.plan().await.expect("second plan");
    assert!(again.is_empty(), "second plan is empty: {again:#?}");

    let unmanaged_after: Vec<Value> = s
        .fake
        .records(ZONE)
        .into_iter()
        .filter(|r| !r["comment"].as_str().unwrap_or("").starts_with(MANAGED))
        .collect();
    assert_eq!(
        unmanaged_before, unmanaged_after,
        "hand-made records untouched"
    );
    let rules = s.fake.rules(ZONE);
    assert_eq!(rules.len(), 3);
    assert_eq!(
        rules[0]["id"], office["id"],
        "the hand-made rule keeps its id and place"
    );
    for k in [
        "ref",
        "expression",
        "action",
        "action_parameters",
        "description",
        "enabled",
        "logging",
    ] {
        assert_eq!(rules[0][k], office[k], "hand-made rule field {k}");
    }
    let www = s
        .fake
        .records(ZONE)
        .into_iter()
        .find(|r| r["name"] == "www.district.example.org")
        .expect("www");
    assert_eq!(www["content"], "district.example.org");
    assert_eq!(www["comment"], format!("{MANAGED} public site"));

    // Changing a declared rule updates it in place and still leaves the office rule alone.
    let cf = service(
        &s,
        &DECLARED.replace("action = \"block\"", "action = \"log\""),
    );
    let plan = cf.plan().await.expect("plan");
    assert_eq!(plan.waf[0].updates.len(), 1);
    let ids: Vec<Value> = s.fake.rules(ZONE).iter().map(|r| r["id"].clone()).collect();
    cf.apply(&plan, false).await.expect("apply");
    let after: Vec<Value> = s.fake.rules(ZONE).iter().map(|r| r["id"].clone()).collect();
    assert_eq!(ids, after, "rule ids are stable across updates");
    assert!(cf.plan().await.expect("plan").is_empty());
    s.fake.assert_clean();
}

#[tokio::test]
async fn delete_guard_refuses_removing_too_many() {
    let s = setup().await;
    for i in 0..5 {
        s.fake.seed_record(ZONE, json!({ "type": "A", "name": format!("lab{i}.district.example.org"), "content": "192.0.2.20", "comment": MANAGED }));
    }
    s.fake.seed_record(
        ZONE,
        json!({ "type": "A", "name": "printer.district.example.org", "content": "192.0.2.30" }),
    );
    let one = "[[dns]]\nzone = \"district.example.org\"\ntype = \"A\"\nname = \"lab0.district.example.org\"\ncontent = \"192.0.2.20\"\nttl = 1\n";
    let cf = service(&s, one);
    let plan = cf.plan().await.expect("plan");
    assert_eq!(plan.dns[0].deletes.len(), 4);
    let err = cf.apply(&plan, false).await.expect_err("guard refuses");
    assert!(!err.is_retryable());
    assert!(err.message().contains("delete guard"), "{err}");
    assert!(err.message().contains("4 of 5"), "{err}");
    assert_eq!(s.fake.records(ZONE).len(), 6, "nothing deleted");
    assert_eq!(
        s.fake
            .count("DELETE /zones/{zone_id}/dns_records/{dns_record_id}"),
        0
    );

    // The count limit applies on its own too.
    let cf2 = service(
        &s,
        &format!("[delete_guard]\nmax_deletes = 2\nmax_delete_percent = 100.0\n{one}"),
    );
    let err = cf2
        .apply(&cf2.plan().await.expect("plan"), false)
        .await
        .expect_err("count guard");
    assert!(err.message().contains("more than the limit of 2"), "{err}");

    let summary = cf.apply(&plan, true).await.expect("forced apply");
    assert_eq!(summary.dns_changes, 4);
    let names: Vec<String> = s
        .fake
        .records(ZONE)
        .iter()
        .map(|r| r["name"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(
        names.contains(&"printer.district.example.org".to_owned()),
        "unmanaged record kept"
    );
    s.fake.assert_clean();
}

#[tokio::test]
async fn rate_limits_are_retried_then_succeed() {
    let s = setup().await;
    let cf = service(&s, DECLARED);
    s.fake.fail_next(Failure {
        method: "POST",
        template: "/zones/{zone_id}/dns_records",
        status: 429,
        retry_after: Some(1),
        code: 10000,
        message: "Rate limited. Please wait and try again later.",
    });
    // (The published schema declares no 5xx answers, so the fake cannot send one; 5xx is
    // retried by the same path as 429.)
    s.fake.fail_next(Failure {
        method: "GET",
        template: "/zones",
        status: 429,
        retry_after: Some(1),
        code: 10000,
        message: "Rate limited.",
    });
    let plan = cf.plan().await.expect("plan after a 429");
    let summary = cf.apply(&plan, false).await.expect("apply after a 429");
    assert_eq!(summary.dns_changes, 3);
    assert_eq!(
        s.fake.count("POST /zones/{zone_id}/dns_records"),
        4,
        "one retried create"
    );
    assert!(cf.plan().await.expect("plan").is_empty());
    s.fake.assert_clean();
}

#[tokio::test]
async fn other_client_errors_are_permanent_with_cloudflares_code_and_no_token() {
    let s = setup().await;
    let cf = service(&s, DECLARED);
    let plan = cf.plan().await.expect("plan");
    s.fake.fail_next(Failure {
        method: "POST",
        template: "/zones/{zone_id}/dns_records",
        status: 400,
        retry_after: None,
        code: 9005,
        message: "Content for A record is invalid.",
    });
    let err = cf.apply(&plan, false).await.expect_err("permanent");
    assert!(!err.is_retryable());
    assert!(
        err.message()
            .contains("code 9005: Content for A record is invalid."),
        "{err}"
    );
    assert!(!err.message().contains(TOKEN));
    assert_eq!(
        s.fake.count("POST /zones/{zone_id}/dns_records"),
        1,
        "not retried"
    );

    // Attempts run out on a persistent 429: handed back as retryable, with Retry-After.
    for _ in 0..3 {
        s.fake.fail_next(Failure {
            method: "POST",
            template: "/zones/{zone_id}/purge_cache",
            status: 429,
            retry_after: Some(1),
            code: 10000,
            message: "Rate limited.",
        });
    }
    let err = cf
        .purge(ZONE, &PurgeRequest::Everything)
        .await
        .expect_err("retryable");
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(std::time::Duration::from_secs(1)));

    // A wrong token: the check fails permanently and says nothing of the token.
    std::fs::write(&s.token_file, "not-the-token").expect("write");
    let bad = service(&s, "");
    let err = bad.check().await.expect_err("rejected token");
    assert!(!err.is_retryable());
    assert!(err.message().contains("code 10000"), "{err}");
    assert!(!err.message().contains("not-the-token"));
    s.fake.assert_clean();
}

#[tokio::test]
async fn token_is_verified_and_zones_looked_up() {
    let s = setup().await;
    let cf = service(&s, "");
    let ok = cf.check().await.expect("check");
    assert!(ok.contains("token active"), "{ok}");
    assert_eq!(cf.zone_id(ZONE).await.expect("id"), s.fake.zone_id(ZONE));
    s.fake.assert_clean();
}

#[tokio::test]
async fn cache_purge_is_split_by_the_per_request_limit() {
    let s = setup().await;
    let cf = service(&s, "");
    let urls: Vec<String> = (0..65)
        .map(|i| format!("https://www.district.example.org/news/{i}.html"))
        .collect();
    assert_eq!(
        cf.purge(ZONE, &PurgeRequest::Urls(urls))
            .await
            .expect("purge"),
        3
    );
    assert_eq!(
        cf.purge(
            ZONE,
            &PurgeRequest::Hosts(vec!["www.district.example.org".into()])
        )
        .await
        .expect("hosts"),
        1
    );
    assert_eq!(
        cf.purge(
            ZONE,
            &PurgeRequest::Prefixes(vec!["www.district.example.org/img".into()])
        )
        .await
        .expect("prefixes"),
        1
    );
    assert_eq!(
        cf.purge(ZONE, &PurgeRequest::Everything)
            .await
            .expect("everything"),
        1
    );
    let purges = s.fake.world.lock().expect("lock").purges.clone();
    let sizes: Vec<usize> = purges
        .iter()
        .filter_map(|p| p["files"].as_array().map(Vec::len))
        .collect();
    assert_eq!(sizes, [30, 30, 5]);
    assert_eq!(purges[3], json!({ "hosts": ["www.district.example.org"] }));
    assert_eq!(purges[5], json!({ "purge_everything": true }));
    assert!(cf
        .purge("elsewhere.example", &PurgeRequest::Everything)
        .await
        .is_err());
    s.fake.assert_clean();
}

#[tokio::test]
async fn a_certificate_ten_days_from_expiry_is_measured_and_warned_once() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).expect("the only recorder in this test binary");

    let s = setup().await;
    let zid = s.fake.zone_id(ZONE);
    let soon = chrono::Utc::now() + chrono::Duration::days(10);
    let later = chrono::Utc::now() + chrono::Duration::days(80);
    let pack_id = "3822ff90ea2944df9e5521300bb9419b";
    {
        let mut w = s.fake.world.lock().expect("lock");
        w.packs.insert(zid.clone(), vec![
            json!({ "id": pack_id, "type": "universal", "status": "active", "hosts": ["district.example.org", "www.district.example.org"],
                    "validation_method": "txt", "validity_days": 90, "certificate_authority": "lets_encrypt",
                    "certificates": [{ "id": "7e7b8deba8538af625850b7b2530034c", "hosts": ["district.example.org", "www.district.example.org"],
                                       "issuer": "LetsEncrypt", "signature": "ECDSAWithSHA256", "status": "active",
                                       "expires_on": soon.to_rfc3339(), "uploaded_on": "2024-01-01T00:00:00Z" }] }),
            json!({ "id": "a77f8bd73b4746b4a6f175cf98109948", "type": "advanced", "status": "pending_validation", "hosts": ["lms.district.example.org"],
                    "certificates": [{ "id": "1b9a3b5c9d6e4f1aa1b2c3d4e5f60718", "hosts": ["lms.district.example.org"], "status": "pending", "expires_on": later.to_rfc3339() }] }),
        ]);
        w.verification.insert(zid.clone(), vec![
            json!({ "cert_pack_uuid": pack_id, "certificate_status": "active", "verification_status": true, "verification_type": "cname", "signature": "ECDSAWithSHA256", "brand_check": false }),
            json!({ "cert_pack_uuid": "a77f8bd73b4746b4a6f175cf98109948", "certificate_status": "pending_deployment", "verification_status": false, "validation_method": "txt" }),
        ]);
    }
    let cf = service(&s, "certificate_warning_days = [30, 14, 7]\n");
    let watch = CertificateWatch::default();
    let first = cf.monitor_certificates(&watch).await.expect("monitor");
    let second = cf
        .monitor_certificates(&watch)
        .await
        .expect("monitor again");
    assert_eq!(first.len(), 2, "both hosts of the pack: {first:#?}");
    assert!(second.is_empty(), "no repeat warning");
    let seen = first;
    assert!(seen
        .iter()
        .all(|e| e.threshold_days == 14 && e.days_left == 9));
    assert!(seen.iter().any(|e| e.host == "www.district.example.org"));

    let text = handle.render();
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("cc_cloudflare_certificate_expiry_timestamp_seconds{")
                && l.contains("host=\"www.district.example.org\"")
        })
        .unwrap_or_else(|| panic!("metric missing:\n{text}"));
    assert!(line.contains("zone=\"district.example.org\""), "{line}");
    let value: f64 = line
        .rsplit(' ')
        .next()
        .expect("value")
        .parse()
        .expect("number");
    assert_eq!(value as i64, soon.timestamp());

    let certs = cf.certificates().await.expect("certificates");
    let lms = certs
        .iter()
        .find(|c| c.host == "lms.district.example.org")
        .expect("lms");
    assert_eq!(
        lms.verification_status.as_deref(),
        Some("pending_deployment")
    );
    cf.retry_validation(ZONE, &lms.pack_id)
        .await
        .expect("retry advanced");
    cf.retry_validation(ZONE, pack_id)
        .await
        .expect("retry universal");
    let retries = s
        .fake
        .world
        .lock()
        .expect("lock")
        .validation_retries
        .clone();
    assert_eq!(retries, [lms.pack_id.clone(), zid]);
    s.fake.assert_clean();
}
