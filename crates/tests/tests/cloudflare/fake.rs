//! A local, stateful stand-in for the Cloudflare API v4 that checks every request it
//! receives and every response it sends against Cloudflare's published schema.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::schema::{Matched, Spec};

pub const TOKEN: &str = "cf-test-token-7d1c0e55b2a94f3e";
const PREFIX: &str = "/client/v4";

/// A failure to give the next time an operation is called.
#[derive(Clone)]
pub struct Failure {
    pub method: &'static str,
    pub template: &'static str,
    pub status: u16,
    pub retry_after: Option<u64>,
    pub code: i64,
    pub message: &'static str,
}

#[derive(Default)]
pub struct World {
    pub zones: Vec<(String, String)>,
    pub dns: HashMap<String, Vec<Value>>,
    pub entrypoints: HashMap<String, Value>,
    pub packs: HashMap<String, Vec<Value>>,
    pub verification: HashMap<String, Vec<Value>>,
    pub purges: Vec<Value>,
    pub validation_retries: Vec<String>,
    pub failures: VecDeque<Failure>,
    /// What `GET /user/tokens/verify` says of the token (`active` when unset).
    pub token_status: Option<String>,
    /// `METHOD template` of every request, in order.
    pub log: Vec<String>,
    /// Requests or responses the schema does not allow.
    pub violations: Vec<String>,
}

#[derive(Clone)]
pub struct FakeCloudflare {
    pub world: Arc<Mutex<World>>,
    spec: Arc<Spec>,
    pub addr: SocketAddr,
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

impl FakeCloudflare {
    pub async fn start(zones: &[&str]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut world = World::default();
        for z in zones {
            let id = new_id();
            world.dns.insert(id.clone(), vec![]);
            world.zones.push((id, (*z).to_owned()));
        }
        let fake = Self {
            world: Arc::new(Mutex::new(world)),
            spec: Arc::new(Spec::load()),
            addr,
        };
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        fake
    }

    pub fn base_url(&self) -> String {
        format!("http://{}{PREFIX}", self.addr)
    }

    pub fn zone_id(&self, name: &str) -> String {
        let w = self.world.lock().expect("lock");
        w.zones
            .iter()
            .find(|(_, n)| n == name)
            .expect("zone")
            .0
            .clone()
    }

    /// Adds a record directly (as if made by hand in Cloudflare's dashboard).
    pub fn seed_record(&self, zone: &str, record: Value) -> String {
        let zid = self.zone_id(zone);
        let mut w = self.world.lock().expect("lock");
        let r = stored_record(zone, record);
        let id = r["id"].as_str().expect("id").to_owned();
        w.dns.get_mut(&zid).expect("zone").push(r);
        id
    }

    pub fn records(&self, zone: &str) -> Vec<Value> {
        let zid = self.zone_id(zone);
        self.world.lock().expect("lock").dns[&zid].clone()
    }

    pub fn rules(&self, zone: &str) -> Vec<Value> {
        let zid = self.zone_id(zone);
        let w = self.world.lock().expect("lock");
        w.entrypoints
            .get(&zid)
            .and_then(|r| r["rules"].as_array().cloned())
            .unwrap_or_default()
    }

    pub fn fail_next(&self, f: Failure) {
        self.world.lock().expect("lock").failures.push_back(f);
    }

    pub fn count(&self, what: &str) -> usize {
        self.world
            .lock()
            .expect("lock")
            .log
            .iter()
            .filter(|l| *l == what)
            .count()
    }

    /// Panics when any request or response broke the schema.
    pub fn assert_clean(&self) {
        let w = self.world.lock().expect("lock");
        assert!(
            w.violations.is_empty(),
            "schema violations:\n{}",
            w.violations.join("\n")
        );
    }
}

fn stored_record(zone: &str, mut r: Value) -> Value {
    let t = now();
    r["id"] = json!(new_id());
    r["zone_name"] = json!(zone);
    r["created_on"] = json!(t);
    r["modified_on"] = json!(t);
    r["meta"] = json!({ "auto_added": false, "source": "primary" });
    r["tags"] = json!([]);
    let proxiable = matches!(r["type"].as_str(), Some("A" | "AAAA" | "CNAME"));
    r["proxiable"] = json!(proxiable);
    if r.get("ttl").is_none() {
        r["ttl"] = json!(1);
    }
    if proxiable && r.get("proxied").is_none() {
        r["proxied"] = json!(false);
    }
    r
}

fn envelope_ok(result: Value) -> Value {
    json!({ "success": true, "errors": [], "messages": [], "result": result })
}

fn envelope_err(code: i64, message: &str) -> Value {
    json!({ "success": false, "errors": [{ "code": code, "message": message }], "messages": [], "result": null })
}

fn list(items: Vec<Value>, page: usize, per_page: usize) -> Value {
    let total = items.len();
    let pages = total.div_ceil(per_page).max(1);
    let slice: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let mut e = envelope_ok(json!(slice));
    e["result_info"] = json!({ "page": page, "per_page": per_page, "count": slice.len(), "total_count": total, "total_pages": pages });
    e
}

async fn handle(
    State(fake): State<FakeCloudflare>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let m = method.as_str().to_ascii_lowercase();
    let path = uri.path().strip_prefix(PREFIX).unwrap_or("").to_owned();
    let query: Vec<(String, String)> = uri
        .query()
        .map(|q| {
            reqwest::Url::parse(&format!("http://x/?{q}"))
                .expect("query")
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    let mut w = fake.world.lock().expect("lock");
    let Some(matched) = fake.spec.find(&m, &path) else {
        w.violations
            .push(format!("{method} {path}: no such operation in the schema"));
        return (
            StatusCode::NOT_FOUND,
            axum::Json(envelope_err(7003, "No route for the URI")),
        )
            .into_response();
    };
    let what = format!("{} {}", method, matched.template);
    w.log.push(what.clone());
    let body: Option<Value> = if body.is_empty() {
        None
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => Some(v),
            Err(e) => {
                w.violations.push(format!("{what}: body is not JSON: {e}"));
                return (
                    StatusCode::BAD_REQUEST,
                    axum::Json(envelope_err(6007, "Malformed JSON")),
                )
                    .into_response();
            }
        }
    };
    let (status, resp, retry_after) = if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {TOKEN}"))
    {
        (401, Some(envelope_err(10000, "Authentication error")), None)
    } else {
        let problems = fake.spec.check_request(&m, &matched, &query, body.as_ref());
        if problems.is_empty() {
            let failure = w
                .failures
                .iter()
                .position(|f| f.method == method.as_str() && f.template == matched.template)
                .and_then(|i| w.failures.remove(i));
            match failure {
                Some(f) => (
                    f.status,
                    Some(envelope_err(f.code, f.message)),
                    f.retry_after,
                ),
                None => {
                    let (s, v) = respond(&mut w, &m, &matched, &query, body);
                    (s, v, None)
                }
            }
        } else {
            for p in &problems {
                w.violations.push(format!("request {what}: {p}"));
            }
            // The schema's reasons travel back in the error, so the failing test shows them.
            (400, Some(envelope_err(1004, &problems.join("; "))), None)
        }
    };
    for p in fake
        .spec
        .check_response(&m, &matched.template, status, resp.as_ref())
    {
        eprintln!("schema violation: response {what} {status}: {p}");
        w.violations.push(format!("response {what} {status}: {p}"));
    }
    let code = StatusCode::from_u16(status).expect("status");
    let mut res = match resp {
        Some(v) => (code, axum::Json(v)).into_response(),
        None => code.into_response(),
    };
    if let Some(s) = retry_after {
        res.headers_mut()
            .insert("retry-after", s.to_string().parse().expect("header"));
    }
    res
}

fn page_args(query: &[(String, String)]) -> (usize, usize) {
    let get = |k: &str, d: usize| {
        query
            .iter()
            .find(|(n, _)| n == k)
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(d)
    };
    (get("page", 1).max(1), get("per_page", 20).max(1))
}

fn respond(
    w: &mut World,
    m: &str,
    matched: &Matched,
    query: &[(String, String)],
    body: Option<Value>,
) -> (u16, Option<Value>) {
    let p = |k: &str| matched.params.get(k).cloned().unwrap_or_default();
    let zid = p("zone_id");
    let zone_name = w
        .zones
        .iter()
        .find(|(i, _)| *i == zid)
        .map(|(_, n)| n.clone());
    if matched.template.starts_with("/zones/{zone_id}") && zone_name.is_none() {
        return (404, Some(envelope_err(1001, "Invalid zone identifier")));
    }
    let (page, per_page) = page_args(query);
    match (m, matched.template.as_str()) {
        ("get", "/user/tokens/verify") => {
            let status = w.token_status.clone().unwrap_or_else(|| "active".into());
            (
                200,
                Some(envelope_ok(
                    json!({ "id": "ed17574386854bf78a67040be0a770b0", "status": status }),
                )),
            )
        }
        ("get", "/zones") => {
            let name = query
                .iter()
                .find(|(k, _)| k == "name")
                .map(|(_, v)| v.clone());
            let zones: Vec<Value> = w
                .zones
                .iter()
                .filter(|(_, n)| name.as_ref().is_none_or(|x| x == n))
                .map(|(id, n)| json!({ "id": id, "name": n, "status": "active", "paused": false, "type": "full", "development_mode": 0, "name_servers": ["ns1.example.net", "ns2.example.net"], "original_name_servers": null, "original_registrar": null, "original_dnshost": null, "created_on": "2024-01-01T05:20:00.12345Z", "modified_on": "2024-01-01T05:20:00.12345Z", "activated_on": "2024-01-02T00:01:00.12345Z", "meta": {}, "owner": {}, "account": { "id": "01a7362d577a6c3019a474fd6f485823", "name": "District" }, "permissions": [], "plan": {} }))
                .collect();
            (200, Some(list(zones, page, per_page)))
        }
        ("get", "/zones/{zone_id}/dns_records") => {
            (200, Some(list(w.dns[&zid].clone(), page, per_page)))
        }
        ("post", "/zones/{zone_id}/dns_records") => {
            let b = body.unwrap_or_default();
            let dup = w.dns[&zid].iter().any(|r| {
                r["type"] == b["type"] && r["name"] == b["name"] && r["content"] == b["content"]
            });
            if dup {
                return (
                    400,
                    Some(envelope_err(81058, "An identical record already exists.")),
                );
            }
            let r = stored_record(zone_name.as_deref().unwrap_or_default(), b);
            w.dns.get_mut(&zid).expect("zone").push(r.clone());
            (200, Some(envelope_ok(r)))
        }
        ("patch", "/zones/{zone_id}/dns_records/{dns_record_id}") => {
            let id = p("dns_record_id");
            let Some(r) = w
                .dns
                .get_mut(&zid)
                .expect("zone")
                .iter_mut()
                .find(|r| r["id"] == json!(id))
            else {
                return (404, Some(envelope_err(81044, "Record does not exist.")));
            };
            for (k, v) in body
                .unwrap_or_default()
                .as_object()
                .cloned()
                .unwrap_or_default()
            {
                r[k] = v;
            }
            r["modified_on"] = json!(now());
            (200, Some(envelope_ok(r.clone())))
        }
        ("delete", "/zones/{zone_id}/dns_records/{dns_record_id}") => {
            let id = p("dns_record_id");
            let records = w.dns.get_mut(&zid).expect("zone");
            let before = records.len();
            records.retain(|r| r["id"] != json!(id));
            if records.len() == before {
                return (404, Some(envelope_err(81044, "Record does not exist.")));
            }
            (200, Some(json!({ "result": { "id": id } })))
        }
        ("post", "/zones/{zone_id}/purge_cache") => {
            w.purges.push(body.unwrap_or_default());
            (200, Some(envelope_ok(json!({ "id": zid }))))
        }
        ("get", "/zones/{zone_id}/ssl/certificate_packs") => {
            let packs = w.packs.get(&zid).cloned().unwrap_or_default();
            let n = packs.len();
            let mut e = envelope_ok(json!(packs));
            e["result_info"] = json!({ "page": 1, "per_page": 20, "count": n, "total_count": n, "total_pages": 1 });
            (200, Some(e))
        }
        ("get", "/zones/{zone_id}/ssl/verification") => {
            if query.iter().any(|(k, v)| k == "retry" && v == "true") {
                w.validation_retries.push(zid.clone());
            }
            (
                200,
                Some(json!({ "result": w.verification.get(&zid).cloned().unwrap_or_default() })),
            )
        }
        ("patch", "/zones/{zone_id}/ssl/certificate_packs/{certificate_pack_id}") => {
            let id = p("certificate_pack_id");
            let Some(pack) = w
                .packs
                .get(&zid)
                .and_then(|ps| ps.iter().find(|x| x["id"] == json!(id)))
                .cloned()
            else {
                return (404, Some(envelope_err(1403, "Certificate pack not found.")));
            };
            w.validation_retries.push(id);
            (200, Some(envelope_ok(pack)))
        }
        ("get", "/zones/{zone_id}/rulesets/phases/{ruleset_phase}/entrypoint") => match w
            .entrypoints
            .get(&zid)
        {
            Some(r) if p("ruleset_phase") == "http_request_firewall_custom" => {
                (200, Some(envelope_ok(r.clone())))
            }
            _ => (
                404,
                Some(envelope_err(
                    10003,
                    "could not find entrypoint ruleset in the http_request_firewall_custom phase",
                )),
            ),
        },
        ("put", "/zones/{zone_id}/rulesets/phases/{ruleset_phase}/entrypoint") => {
            let b = body.unwrap_or_default();
            let previous = w.entrypoints.get(&zid).cloned();
            let old_rules: Vec<Value> = previous
                .as_ref()
                .and_then(|r| r["rules"].as_array().cloned())
                .unwrap_or_default();
            let version = previous
                .as_ref()
                .and_then(|r| r["version"].as_str()?.parse::<u64>().ok())
                .unwrap_or(0)
                + 1;
            let mut rules = Vec::new();
            for mut r in b["rules"].as_array().cloned().unwrap_or_default() {
                match r.get("id").and_then(Value::as_str) {
                    Some(id) if !old_rules.iter().any(|o| o["id"] == json!(id)) => {
                        return (
                            400,
                            Some(envelope_err(20003, "rule id does not exist in the ruleset")),
                        );
                    }
                    Some(_) => {}
                    None => r["id"] = json!(new_id()),
                }
                if r.get("ref").is_none() {
                    r["ref"] = r["id"].clone();
                }
                if r.get("enabled").is_none() {
                    r["enabled"] = json!(true);
                }
                r["version"] = json!(version.to_string());
                r["last_updated"] = json!(now());
                rules.push(r);
            }
            let ruleset = json!({
                "id": previous.as_ref().map_or_else(new_id, |r| r["id"].as_str().unwrap_or_default().to_owned()),
                "name": "default",
                "description": "",
                "kind": "zone",
                "phase": "http_request_firewall_custom",
                "version": version.to_string(),
                "last_updated": now(),
                "rules": rules,
            });
            w.entrypoints.insert(zid, ruleset.clone());
            (200, Some(envelope_ok(ruleset)))
        }
        _ => (404, Some(envelope_err(7003, "No route for the URI"))),
    }
}
