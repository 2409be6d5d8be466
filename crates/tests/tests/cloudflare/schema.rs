//! Cloudflare's published OpenAPI excerpt as a validator: which operation a request is,
//! whether its parameters and body are allowed, and whether a response matches.
//!
//! OpenAPI 3.0 schemas are turned into JSON Schema (2020-12) first: `nullable` becomes a
//! `null` alternative; for requests, `readOnly` properties may not be sent and are not
//! required; for responses, `writeOnly` ones likewise.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{json, Map, Value};

pub struct Spec {
    doc: Value,
    request_doc: Value,
    response_doc: Value,
    validators: Mutex<HashMap<(bool, String), std::sync::Arc<jsonschema::Validator>>>,
}

/// An operation matched from a method and path.
pub struct Matched {
    pub template: String,
    pub params: HashMap<String, String>,
}

fn excerpt_path() -> String {
    std::env::var("CC_CLOUDFLARE_SCHEMA").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/cloudflare/openapi-excerpt.json"
        )
        .to_owned()
    })
}

impl Spec {
    pub fn load() -> Self {
        let path = excerpt_path();
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("Cloudflare schema excerpt {path}: {e}"));
        let doc: Value = serde_json::from_str(&text).expect("excerpt is JSON");
        let mut server_set = std::collections::HashSet::new();
        collect_read_only(&doc, &doc, &mut server_set);
        server_set.insert("id".to_owned());
        let request_doc = convert(&doc, &doc, Mode::Request(&server_set));
        let response_doc = convert(&doc, &doc, Mode::Response);
        Self {
            doc,
            request_doc,
            response_doc,
            validators: Mutex::new(HashMap::new()),
        }
    }

    /// The path template and parameters a concrete path matches.
    pub fn find(&self, method: &str, path: &str) -> Option<Matched> {
        let paths = self.doc["paths"].as_object()?;
        let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
        // Literal segments beat parameters (`/dns_records/export` before `/{id}`).
        let mut best: Option<(usize, Matched)> = None;
        for (template, item) in paths {
            if item.get(method).is_none() {
                continue;
            }
            let tsegs: Vec<&str> = template.trim_matches('/').split('/').collect();
            if tsegs.len() != segs.len() {
                continue;
            }
            let mut params = HashMap::new();
            let mut literals = 0;
            let ok = tsegs.iter().zip(&segs).all(|(t, s)| {
                if t.starts_with('{') {
                    params.insert(
                        t.trim_matches(|c| c == '{' || c == '}').to_owned(),
                        (*s).to_owned(),
                    );
                    true
                } else {
                    literals += 1;
                    t == s
                }
            });
            if ok && best.as_ref().is_none_or(|(l, _)| literals > *l) {
                best = Some((
                    literals,
                    Matched {
                        template: template.clone(),
                        params,
                    },
                ));
            }
        }
        best.map(|(_, m)| m)
    }

    fn op(&self, method: &str, template: &str) -> &Value {
        &self.doc["paths"][template][method]
    }

    fn resolve<'a>(&'a self, v: &'a Value) -> &'a Value {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => self
                .doc
                .pointer(r.trim_start_matches('#'))
                .unwrap_or(&Value::Null),
            None => v,
        }
    }

    /// Problems with a request: unknown or invalid parameters, a missing or invalid body.
    pub fn check_request(
        &self,
        method: &str,
        m: &Matched,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Vec<String> {
        let mut errs = Vec::new();
        let op = self.op(method, &m.template);
        let mut params: Vec<Value> = Vec::new();
        for list in [
            &self.doc["paths"][&m.template]["parameters"],
            &op["parameters"],
        ] {
            for p in list.as_array().into_iter().flatten() {
                params.push(self.resolve(p).clone());
            }
        }
        let declared = |name: &str, loc: &str| {
            params
                .iter()
                .position(|p| p["name"] == name && p["in"] == loc)
        };
        for (k, v) in query {
            match declared(k, "query") {
                None => errs.push(format!("query parameter `{k}` is not in the schema")),
                Some(i) => {
                    let pointer = format!(
                        "/paths/{}/{method}/parameters/{i}/schema",
                        escape(&m.template)
                    );
                    let pointer = self
                        .param_pointer(&m.template, method, k, "query")
                        .unwrap_or(pointer);
                    errs.extend(self.validate(
                        true,
                        &pointer,
                        &coerce(v, self.param_schema(&params[i])),
                    ));
                }
            }
        }
        for p in &params {
            let name = p["name"].as_str().unwrap_or_default();
            if p["in"] == "query" && p["required"] == true && !query.iter().any(|(k, _)| k == name)
            {
                errs.push(format!("required query parameter `{name}` missing"));
            }
            if p["in"] == "path" {
                match m.params.get(name) {
                    Some(v) => {
                        if let Some(ptr) = self.param_pointer(&m.template, method, name, "path") {
                            errs.extend(self.validate(
                                true,
                                &ptr,
                                &coerce(v, self.param_schema(p)),
                            ));
                        }
                    }
                    None => errs.push(format!("path parameter `{name}` missing")),
                }
            }
        }
        let rb = self.resolve(&op["requestBody"]);
        match (rb.is_null(), body) {
            (true, Some(_)) => errs.push("a body was sent to an operation that takes none".into()),
            (false, None) if rb["required"] == true => {
                errs.push("the required body is missing".into())
            }
            (false, Some(_)) if rb["content"].get("application/json").is_none() => {
                errs.push("the body must not be JSON".into());
            }
            (false, Some(b)) if rb["content"]["application/json"].get("schema").is_some() => {
                let ptr = if let Some(r) = op["requestBody"].get("$ref").and_then(Value::as_str) {
                    format!(
                        "{}/content/application~1json/schema",
                        r.trim_start_matches('#')
                    )
                } else {
                    format!(
                        "/paths/{}/{method}/requestBody/content/application~1json/schema",
                        escape(&m.template)
                    )
                };
                errs.extend(self.validate(true, &ptr, b));
            }
            _ => {}
        }
        errs
    }

    fn param_schema<'a>(&'a self, p: &'a Value) -> &'a Value {
        self.resolve(&p["schema"])
    }

    /// A JSON pointer to a parameter's schema, wherever it is declared.
    fn param_pointer(&self, template: &str, method: &str, name: &str, loc: &str) -> Option<String> {
        for (base, list) in [
            (
                format!("/paths/{}/{method}/parameters", escape(template)),
                &self.doc["paths"][template][method]["parameters"],
            ),
            (
                format!("/paths/{}/parameters", escape(template)),
                &self.doc["paths"][template]["parameters"],
            ),
        ] {
            for (i, p) in list.as_array().into_iter().flatten().enumerate() {
                let (pp, ptr) = match p.get("$ref").and_then(Value::as_str) {
                    Some(r) => (self.resolve(p), r.trim_start_matches('#').to_owned()),
                    None => (p, format!("{base}/{i}")),
                };
                if pp["name"] == name && pp["in"] == loc {
                    return Some(format!("{ptr}/schema"));
                }
            }
        }
        None
    }

    /// Problems with a response: a status the operation does not declare, or a body that
    /// does not match.
    pub fn check_response(
        &self,
        method: &str,
        template: &str,
        status: u16,
        body: Option<&Value>,
    ) -> Vec<String> {
        let op = self.op(method, template);
        let code = status.to_string();
        let range = format!("{}XX", status / 100);
        let key = [code.as_str(), range.as_str(), "default"]
            .into_iter()
            .find(|k| op["responses"].get(*k).is_some());
        let Some(key) = key else {
            return vec![format!(
                "status {status} is not declared for {method} {template}"
            )];
        };
        let declared = &op["responses"][key];
        let (resp, base) = match declared.get("$ref").and_then(Value::as_str) {
            Some(r) => (self.resolve(declared), r.trim_start_matches('#').to_owned()),
            None => (
                declared,
                format!("/paths/{}/{method}/responses/{key}", escape(template)),
            ),
        };
        match (resp["content"].get("application/json"), body) {
            (None, None) => vec![],
            (None, Some(_)) => vec![format!("status {status} declares no body but one was sent")],
            (Some(_), None) => vec![format!("status {status} needs a JSON body")],
            (Some(c), Some(b)) => {
                if let Some(failure) = failure_branch(&c["schema"]).filter(|_| status >= 400) {
                    self.validate(
                        false,
                        &format!("{base}/content/application~1json/schema/allOf/{failure}"),
                        b,
                    )
                } else if c.get("schema").is_some() {
                    self.validate(
                        false,
                        &format!("{base}/content/application~1json/schema"),
                        b,
                    )
                } else {
                    vec![]
                }
            }
        }
    }

    fn validate(&self, request: bool, pointer: &str, instance: &Value) -> Vec<String> {
        let validator = {
            let mut cache = self.validators.lock().expect("lock");
            cache
                .entry((request, pointer.to_owned()))
                .or_insert_with(|| {
                    let doc = if request {
                        &self.request_doc
                    } else {
                        &self.response_doc
                    };
                    let mut root = doc.clone();
                    // A JSON pointer in a URI fragment: braces percent-encoded.
                    let fragment = pointer.replace('{', "%7B").replace('}', "%7D");
                    root["$ref"] = json!(format!("#{fragment}"));
                    root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
                    std::sync::Arc::new(
                        jsonschema::options()
                            .with_draft(jsonschema::Draft::Draft202012)
                            .should_validate_formats(true)
                            .build(&root)
                            .unwrap_or_else(|e| panic!("schema at {pointer}: {e}")),
                    )
                })
                .clone()
        };
        validator
            .iter_errors(instance)
            .map(|e| format!("{pointer}: {} at {}", e, e.instance_path()))
            .collect()
    }
}

/// The published error schema of many operations is `allOf` the operation's success
/// envelope (`success: true`, a typed `result`) and the failure envelope (`success: false`,
/// `result: null`), which no body can satisfy; such errors are checked against the failure
/// envelope alone. Returns that branch's index.
fn failure_branch(schema: &Value) -> Option<usize> {
    let all = schema.get("allOf")?.as_array()?;
    all.iter().position(|b| {
        b.get("$ref")
            .and_then(Value::as_str)
            .is_some_and(|r| r.ends_with("api-response-common-failure"))
    })
}

fn escape(template: &str) -> String {
    template.replace('~', "~0").replace('/', "~1")
}

/// A query or path value as the type its schema expects.
fn coerce(v: &str, schema: &Value) -> Value {
    let inferred = match schema["enum"].get(0) {
        Some(Value::Bool(_)) => "boolean",
        Some(Value::Number(_)) => "number",
        _ => "string",
    };
    let ty = schema["type"].as_str().unwrap_or(inferred);
    match ty {
        "number" | "integer" => v.parse::<f64>().map_or_else(
            |_| json!(v),
            |n| {
                if n.fract() == 0.0 {
                    json!(n as i64)
                } else {
                    json!(n)
                }
            },
        ),
        "boolean" => match v {
            "true" => json!(true),
            "false" => json!(false),
            _ => json!(v),
        },
        _ => json!(v),
    }
}

/// Some published schemas serve both the request and the response (the DNS record requires
/// `id`, `proxiable`, `created_on`, `modified_on`), so in requests a field the server assigns
/// — `readOnly` anywhere in the document, or `id` — is not required unless the schema's own
/// properties declare it.
#[derive(Clone, Copy)]
enum Mode<'a> {
    Request(&'a std::collections::HashSet<String>),
    Response,
}

fn collect_read_only(root: &Value, v: &Value, out: &mut std::collections::HashSet<String>) {
    match v {
        Value::Object(o) => {
            if let Some(Value::Object(props)) = o.get("properties") {
                for (k, s) in props {
                    if marked(root, s, "readOnly", 0) {
                        out.insert(k.clone());
                    }
                }
            }
            for x in o.values() {
                collect_read_only(root, x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_read_only(root, x, out)),
        _ => {}
    }
}

/// Whether a (possibly referenced, possibly allOf-wrapped) schema is marked with `flag`.
fn marked(root: &Value, s: &Value, flag: &str, depth: u8) -> bool {
    if depth > 4 {
        return false;
    }
    if s.get(flag) == Some(&json!(true)) {
        return true;
    }
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        if let Some(t) = root.pointer(r.trim_start_matches('#')) {
            return marked(root, t, flag, depth + 1);
        }
    }
    s.get("allOf")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|x| marked(root, x, flag, depth + 1)))
}

/// OpenAPI 3.0 schema → JSON Schema, recursively.
fn convert(root: &Value, v: &Value, mode: Mode) -> Value {
    match v {
        Value::Array(a) => Value::Array(a.iter().map(|x| convert(root, x, mode)).collect()),
        Value::Object(o) => {
            let mut out = Map::new();
            for (k, x) in o {
                // `example(s)` are data, not schemas: copied as they are.
                if k == "example" || k == "examples" || k == "enum" || k == "default" {
                    out.insert(k.clone(), x.clone());
                } else {
                    out.insert(k.clone(), convert(root, x, mode));
                }
            }
            let hidden = if matches!(mode, Mode::Request(_)) {
                "readOnly"
            } else {
                "writeOnly"
            };
            if let (Mode::Request(server_set), Some(Value::Array(req))) =
                (mode, out.get_mut("required"))
            {
                let own = o.get("properties").and_then(Value::as_object);
                req.retain(|r| {
                    let name = r.as_str().unwrap_or_default();
                    !server_set.contains(name)
                        || own.is_some_and(|p| {
                            p.contains_key(name) && !marked(root, &p[name], "readOnly", 0)
                        })
                });
            }
            if let Some(Value::Object(props)) = o.get("properties") {
                let hide: Vec<String> = props
                    .iter()
                    .filter(|(_, s)| marked(root, s, hidden, 0))
                    .map(|(k, _)| k.clone())
                    .collect();
                if !hide.is_empty() {
                    if let Some(Value::Object(p)) = out.get_mut("properties") {
                        for k in &hide {
                            p.insert(k.clone(), json!(false));
                        }
                    }
                    if let Some(Value::Array(req)) = out.get_mut("required") {
                        req.retain(|r| !hide.iter().any(|h| r == h));
                    }
                }
            }
            // OpenAPI's discriminator picks the one branch named by the property; plain
            // `oneOf` would also fail when branches overlap.
            if let (Some(disc), Some(_)) = (o.get("discriminator"), o.get("oneOf")) {
                let prop = disc["propertyName"].as_str().unwrap_or_default().to_owned();
                if let Some(mapping) = disc["mapping"].as_object() {
                    out.remove("oneOf");
                    out.remove("discriminator");
                    let keys: Vec<&String> = mapping.keys().collect();
                    let mut branches = vec![
                        json!({ "required": [prop], "properties": { prop.clone(): { "enum": keys } } }),
                    ];
                    for (k, r) in mapping {
                        branches.push(json!({
                            "if": { "properties": { prop.clone(): { "const": k } } },
                            "then": { "$ref": r }
                        }));
                    }
                    if let Some(Value::Array(all)) = out.get_mut("allOf") {
                        all.extend(branches);
                    } else {
                        out.insert("allOf".into(), Value::Array(branches));
                    }
                }
            }
            if o.get("nullable") == Some(&json!(true)) {
                out.remove("nullable");
                if let Some(Value::Array(e)) = out.get_mut("enum") {
                    e.push(Value::Null);
                }
                return json!({ "anyOf": [Value::Object(out), { "type": "null" }] });
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}
