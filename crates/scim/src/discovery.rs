//! Discovery (RFC 7644 §4): what this service provider supports, its resource types, and the
//! schemas of the attributes it keeps.

use serde_json::{json, Value};

/// What `ServiceProviderConfig` declares.
#[derive(Debug, Clone, Copy)]
pub struct Capabilities {
    /// The most resources one list answers (`filter.maxResults`).
    pub max_results: usize,
    /// The largest request body accepted, in bytes.
    pub max_payload: usize,
}

/// `GET /ServiceProviderConfig`.
#[must_use]
pub fn service_provider_config(base: &str, caps: Capabilities) -> Value {
    json!({
        "schemas": [crate::SERVICE_PROVIDER_CONFIG_SCHEMA],
        "documentationUri": "https://github.com/command-center/command-center/blob/main/docs/scim.md",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": caps.max_payload},
        "filter": {"supported": true, "maxResults": caps.max_results},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "An API token with the `scim` role, sent as `Authorization: Bearer <token>`.",
            "primary": true
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")}
    })
}

/// `GET /ResourceTypes`.
#[must_use]
pub fn resource_types(base: &str) -> Vec<Value> {
    vec![
        json!({
            "schemas": [crate::RESOURCE_TYPE_SCHEMA],
            "id": "User", "name": "User", "endpoint": "/Users",
            "description": "People in the directory",
            "schema": crate::USER_SCHEMA,
            "schemaExtensions": [
                {"schema": crate::ENTERPRISE_USER_SCHEMA, "required": false},
                {"schema": crate::DIRECTORY_USER_SCHEMA, "required": false}
            ],
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")}
        }),
        json!({
            "schemas": [crate::RESOURCE_TYPE_SCHEMA],
            "id": "Group", "name": "Group", "endpoint": "/Groups",
            "description": "Groups of people",
            "schema": crate::GROUP_SCHEMA,
            "schemaExtensions": [],
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group")}
        }),
    ]
}

/// One attribute definition.
struct Attr {
    name: &'static str,
    kind: &'static str,
    multi: bool,
    required: bool,
    case_exact: bool,
    mutability: &'static str,
    returned: &'static str,
    uniqueness: &'static str,
    subs: Vec<Attr>,
}

fn attr(name: &'static str, kind: &'static str) -> Attr {
    Attr {
        name,
        kind,
        multi: false,
        required: false,
        case_exact: false,
        mutability: "readWrite",
        returned: "default",
        uniqueness: "none",
        subs: Vec::new(),
    }
}

impl Attr {
    fn multi(mut self) -> Self {
        self.multi = true;
        self
    }
    fn required(mut self) -> Self {
        self.required = true;
        self
    }
    fn exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    fn mutability(mut self, m: &'static str) -> Self {
        self.mutability = m;
        self
    }
    fn unique(mut self) -> Self {
        self.uniqueness = "server";
        self
    }
    fn subs(mut self, subs: Vec<Attr>) -> Self {
        self.subs = subs;
        self
    }

    fn to_json(&self) -> Value {
        let mut v = json!({
            "name": self.name, "type": self.kind, "multiValued": self.multi,
            "description": "", "required": self.required, "caseExact": self.case_exact,
            "mutability": self.mutability, "returned": self.returned, "uniqueness": self.uniqueness,
        });
        if self.kind == "reference" {
            v["referenceTypes"] = json!(["User", "Group"]);
        }
        if !self.subs.is_empty() {
            v["subAttributes"] = self.subs.iter().map(Attr::to_json).collect();
        }
        v
    }
}

fn schema(id: &str, name: &str, attrs: &[Attr], base: &str) -> Value {
    json!({
        "schemas": [crate::SCHEMA_SCHEMA],
        "id": id, "name": name, "description": format!("{name} resource"),
        "attributes": attrs.iter().map(Attr::to_json).collect::<Vec<_>>(),
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{id}")}
    })
}

/// `GET /Schemas`: the User, enterprise User and Group schemas, as kept here.
#[must_use]
pub fn schemas(base: &str) -> Vec<Value> {
    let user = [
        attr("userName", "string").required().unique(),
        attr("externalId", "string").exact(),
        attr("name", "complex").required().subs(vec![
            attr("familyName", "string"),
            attr("givenName", "string"),
        ]),
        attr("displayName", "string").mutability("readOnly"),
        attr("userType", "string"),
        attr("active", "boolean").required(),
        attr("emails", "complex").multi().subs(vec![
            attr("value", "string"),
            attr("type", "string"),
            attr("primary", "boolean"),
        ]),
        attr("groups", "complex")
            .multi()
            .mutability("readOnly")
            .subs(vec![
                attr("value", "string").mutability("readOnly"),
                attr("$ref", "reference").mutability("readOnly"),
                attr("display", "string").mutability("readOnly"),
            ]),
    ];
    let enterprise = [
        attr("employeeNumber", "string"),
        attr("department", "string"),
        attr("manager", "complex").subs(vec![
            attr("value", "string"),
            attr("$ref", "reference"),
            attr("displayName", "string").mutability("readOnly"),
        ]),
    ];
    let directory = [
        attr("grade", "integer").mutability("readOnly"),
        attr("school", "string"),
    ];
    let group = [
        attr("displayName", "string").required().unique(),
        attr("externalId", "string").exact(),
        attr("members", "complex").multi().subs(vec![
            attr("value", "string").exact().mutability("immutable"),
            attr("$ref", "reference").mutability("immutable"),
            attr("display", "string").mutability("readOnly"),
            attr("type", "string").mutability("readOnly"),
        ]),
    ];
    vec![
        schema(crate::USER_SCHEMA, "User", &user, base),
        schema(
            crate::ENTERPRISE_USER_SCHEMA,
            "EnterpriseUser",
            &enterprise,
            base,
        ),
        schema(
            crate::DIRECTORY_USER_SCHEMA,
            "CommandCenterUser",
            &directory,
            base,
        ),
        schema(crate::GROUP_SCHEMA, "Group", &group, base),
    ]
}
