//! Replays a recorded client conversation (`scim/fixtures/*.json`): each step's request, the
//! status it must get, values the answer must hold (JSON pointers), and ids to remember for
//! later steps (`{{name}}` in paths, queries and bodies).

use std::collections::HashMap;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::support::Scim;

fn substitute(v: &Value, saved: &HashMap<String, String>) -> Value {
    match v {
        Value::String(s) => {
            let mut out = s.clone();
            for (k, val) in saved {
                out = out.replace(&format!("{{{{{k}}}}}"), val);
            }
            Value::String(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute(x, saved)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), substitute(x, saved)))
                .collect(),
        ),
        other => other.clone(),
    }
}

pub async fn run(scim: &Scim, fixture: &str) {
    let path = format!(
        "{}/tests/scim/fixtures/{fixture}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let mut saved: HashMap<String, String> = HashMap::new();
    for step in doc["steps"].as_array().unwrap() {
        let step = substitute(step, &saved);
        let name = step["name"].as_str().unwrap();
        let method: Method = step["method"].as_str().unwrap().parse().unwrap();
        let path = step["path"].as_str().unwrap();
        let query: Vec<(String, String)> = step["query"]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let q: Vec<(&str, &str)> = query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let (status, body, _) = if q.is_empty() {
            scim.send(method, path, step.get("body").cloned()).await
        } else {
            scim.list(path, &q).await
        };
        let want =
            StatusCode::from_u16(u16::try_from(step["status"].as_u64().unwrap()).unwrap()).unwrap();
        assert_eq!(status, want, "{fixture} / {name}: {body}");
        if let Some(expect) = step["expect"].as_object() {
            for (pointer, value) in expect {
                assert_eq!(
                    body.pointer(pointer),
                    Some(value),
                    "{fixture} / {name}: {pointer} in {body}"
                );
            }
        }
        if let Some(save) = step["save"].as_object() {
            for (key, pointer) in save {
                let v = body
                    .pointer(pointer.as_str().unwrap())
                    .and_then(Value::as_str);
                saved.insert(key.clone(), v.unwrap().to_owned());
            }
        }
    }
}
