//! SCIM 2.0 target: pushes people to any service provider that speaks RFC 7644.
//!
//! Each operation finds the account (by the link's remote `id`, else by the configured
//! `match` filters: `externalId`, then `userName` and the previous username), compares it
//! with the mapped attributes, and sends only what differs: a `POST /Users` for a missing
//! account, a `PATCH` of the changed attributes otherwise, `active: false` to suspend, and
//! `active: false` or `DELETE` to deprovision. A `409 uniqueness` on create links the
//! account that holds the values. 408, 429, 5xx and connection errors are retryable
//! (`Retry-After` honoured). `plan` stops before sending anything that changes the provider.

mod config;
mod http;
pub mod mapping;
mod plan;

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;

pub use config::{MatchBy, ScimConfig, ScimDeprovision};

use crate::config::{expose, operation_set, resolve_secret};
use crate::ldap::template::Template;
use crate::redaction::shown_url;
use crate::target::unhandled;
use crate::{
    ConfigError, Operation, OperationRequest, Target, TargetError, TargetOutcome, TargetPlan,
};
use http::Api;
use mapping::{AttrPath, CoreAttr};

/// A built SCIM target.
pub struct ScimTarget {
    name: String,
    operations: BTreeSet<Operation>,
    api: Api,
    match_by: Vec<MatchBy>,
    deprovision: ScimDeprovision,
    passwords: bool,
    /// The mapping, `userName` always among it.
    attributes: Vec<(AttrPath, Template)>,
    /// The provider's `ServiceProviderConfig`, read once when a password is to be set.
    provider: tokio::sync::OnceCell<cc_scim::wire::ServiceProviderConfig>,
}

impl ScimTarget {
    /// Builds the target from its configuration.
    ///
    /// # Errors
    /// An invalid URL, attribute path or template, a plain-text URL to a remote host without
    /// `allow_plaintext`, an unreadable token or CA file.
    pub fn new(c: &ScimConfig) -> Result<Self, ConfigError> {
        let err = |m: String| ConfigError::new(&c.name, m);
        let operations = operation_set(&c.name, c.operations.as_deref())?;
        let base = check_base_url(c)?;
        let token = resolve_secret(
            &c.name,
            "token",
            c.token.as_ref(),
            c.token_file.as_deref(),
            true,
        )?
        .unwrap_or_else(|| unreachable!("required"));
        if c.timeout_ms == 0 {
            return Err(err("`timeout_ms` must be positive".into()));
        }
        let attributes = build_mapping(c)?;
        if c.match_by.is_empty() {
            return Err(err(
                "`match` is empty: list `externalId` and/or `userName`, or accounts would be \
                 duplicated"
                    .into(),
            ));
        }
        if c.match_by.contains(&MatchBy::ExternalId)
            && !attributes
                .iter()
                .any(|(p, _)| *p == AttrPath::Core(CoreAttr::ExternalId))
        {
            return Err(err(
                "`match` uses `externalId`, but `attributes` maps no `externalId`".into(),
            ));
        }
        let timeout = Duration::from_millis(c.timeout_ms);
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("command-center/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &c.tls_ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| err(format!("cannot read `tls_ca_file` {}: {e}", path.display())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| err(format!("`tls_ca_file` {}: {e}", path.display())))?;
            if certs.is_empty() {
                return Err(err(format!(
                    "`tls_ca_file` {} holds no certificate",
                    path.display()
                )));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .build()
            .map_err(|e| err(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            name: c.name.clone(),
            operations,
            api: Api {
                client,
                shown: shown_url(&base),
                base,
                token,
                timeout,
            },
            match_by: c.match_by.clone(),
            deprovision: c.deprovision,
            passwords: c.passwords,
            attributes,
            provider: tokio::sync::OnceCell::new(),
        })
    }

    /// Removes the token and the password from a message a provider might have echoed them
    /// into.
    fn scrub(&self, req: Option<&OperationRequest>, e: TargetError) -> TargetError {
        let mut secrets = vec![expose(&self.api.token)];
        if let Some(pw) = req.and_then(|r| r.password.as_ref()) {
            secrets.push(expose(pw));
        }
        match e {
            TargetError::Retryable {
                message,
                retry_after,
            } => TargetError::Retryable {
                message: crate::error::redact(&message, &secrets),
                retry_after,
            },
            TargetError::Permanent { message } => TargetError::Permanent {
                message: crate::error::redact(&message, &secrets),
            },
        }
    }

    async fn provider(&self) -> Result<&cc_scim::wire::ServiceProviderConfig, TargetError> {
        self.provider
            .get_or_try_init(|| self.api.service_provider_config())
            .await
    }
}

/// The base URL: http(s), no credentials, no query; plain http only to loopback unless
/// allowed.
pub(crate) fn check_base_url(c: &ScimConfig) -> Result<reqwest::Url, ConfigError> {
    let err = |m: String| ConfigError::new(&c.name, m);
    let shown = crate::redaction::redact_url(&c.base_url);
    let base =
        reqwest::Url::parse(&c.base_url).map_err(|e| err(format!("`base_url` {shown}: {e}")))?;
    if !matches!(base.scheme(), "http" | "https") {
        return Err(err(
            "`base_url` must be https:// (or http:// on loopback)".into()
        ));
    }
    if !base.username().is_empty() || base.password().is_some() || base.query().is_some() {
        return Err(err(format!(
            "`base_url` {shown} must not carry credentials or a query: put the token in \
             `token_file`"
        )));
    }
    let host = base.host_str().unwrap_or_default();
    if base.scheme() == "http" && !crate::is_loopback_host(host) && !c.allow_plaintext {
        return Err(err(format!(
            "`base_url` {shown} is plain http:// to a host that is not loopback: the token and \
             personal data would cross the network in clear text; use https://, or set \
             `allow_plaintext = true` to accept that"
        )));
    }
    Ok(base)
}

/// The defaults with the configured attributes merged over them; `userName` required.
fn build_mapping(c: &ScimConfig) -> Result<Vec<(AttrPath, Template)>, ConfigError> {
    let err = |m: String| ConfigError::new(&c.name, m);
    let mut merged = std::collections::BTreeMap::new();
    for (path, template) in config::DEFAULT_ATTRIBUTES {
        let path = AttrPath::parse(path).map_err(|m| err(format!("default mapping: {m}")))?;
        merged.insert(path, template.to_owned());
    }
    for (path, template) in &c.attributes {
        let parsed = AttrPath::parse(path).map_err(|m| err(format!("`attributes`: {m}")))?;
        if template.is_empty() {
            merged.remove(&parsed);
        } else {
            merged.insert(parsed, template.clone());
        }
    }
    if !merged.contains_key(&AttrPath::Core(CoreAttr::UserName)) {
        return Err(err(
            "`attributes.userName` cannot be removed: every account needs one".into(),
        ));
    }
    merged
        .into_iter()
        .map(|(path, t)| {
            let field = format!("attributes.{}", path.patch_path());
            Template::parse(&t)
                .map(|t| (path, t))
                .map_err(|m| err(format!("`{field}`: {m}")))
        })
        .collect()
}

#[async_trait]
impl Target for ScimTarget {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "scim"
    }

    fn holds_passwords(&self) -> bool {
        self.passwords
    }

    fn handles(&self, operation: Operation) -> bool {
        self.operations.contains(&operation)
    }

    async fn plan(&self, req: &OperationRequest) -> Result<TargetPlan, TargetError> {
        if !self.handles(req.operation) {
            return Err(unhandled(&self.name, req.operation));
        }
        let plan = self
            .plan_steps(req, true)
            .await
            .map_err(|e| self.scrub(Some(req), e))?;
        Ok(TargetPlan {
            account_id: plan.account_id.clone(),
            exists: plan.current.is_some(),
            changes: plan.changes.clone(),
            detail: plan.detail(),
        })
    }

    async fn apply(&self, req: &OperationRequest) -> Result<TargetOutcome, TargetError> {
        if !self.handles(req.operation) {
            return Err(unhandled(&self.name, req.operation));
        }
        self.converge(req)
            .await
            .map_err(|e| self.scrub(Some(req), e))
    }

    /// Reads `ServiceProviderConfig` and one page of `/Users` with the token, and checks
    /// that the provider supports what the configuration uses: PATCH, filters for matching,
    /// and password changes when passwords are sent.
    async fn check(&self) -> Result<String, TargetError> {
        let run = async {
            let spc = self.api.service_provider_config().await?;
            let total = self.api.probe_users().await?;
            let mut problems = Vec::new();
            if !spc.patch.yes() {
                problems.push("the provider does not support PATCH (patch.supported)");
            }
            if !spc.filter.yes() {
                problems.push(
                    "the provider does not support filters (filter.supported): accounts \
                     cannot be matched",
                );
            }
            if self.passwords
                && self.handles(Operation::ResetPassword)
                && !spc.change_password.yes()
            {
                problems.push(
                    "the provider does not accept password changes (changePassword.supported): \
                     set `passwords = false` or leave `reset_password` out of `operations`",
                );
            }
            if !problems.is_empty() {
                return Err(TargetError::permanent(format!(
                    "{}: {}",
                    self.api.shown,
                    problems.join("; ")
                )));
            }
            Ok(format!(
                "{}: token accepted ({total} accounts visible); PATCH and filters supported{}",
                self.api.shown,
                if self.passwords && spc.change_password.yes() {
                    "; password changes accepted"
                } else {
                    ""
                }
            ))
        };
        run.await.map_err(|e| self.scrub(None, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> ScimConfig {
        let text = format!(
            "name = \"app\"\nbase_url = \"https://app.example.org/scim/v2\"\ntoken = \"tok-Zq7\"\n{extra}"
        );
        toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    fn build_err(extra: &str) -> String {
        ScimTarget::new(&config(extra))
            .err()
            .expect("refused")
            .to_string()
    }

    #[test]
    fn builds_with_defaults() {
        let t = ScimTarget::new(&config("")).unwrap();
        assert_eq!(t.kind(), "scim");
        assert!(t.holds_passwords());
        assert_eq!(t.match_by, vec![MatchBy::ExternalId, MatchBy::UserName]);
        assert_eq!(t.deprovision, ScimDeprovision::Deactivate);
        assert_eq!(t.attributes.len(), 6);
        let t = ScimTarget::new(&config(
            "match = [\"userName\"]\ndeprovision = \"delete\"\npasswords = false\n\
             [attributes]\nexternalId = \"\"\ntitle = \"{role}\"",
        ))
        .unwrap();
        assert_eq!(t.deprovision, ScimDeprovision::Delete);
        assert!(!t.holds_passwords());
        assert!(t
            .attributes
            .iter()
            .all(|(p, _)| *p != AttrPath::Core(CoreAttr::ExternalId)));
    }

    #[test]
    fn refuses_bad_settings() {
        let plain = ScimConfig {
            base_url: "http://app.example.org/scim/v2".into(),
            ..config("")
        };
        let e = ScimTarget::new(&plain).err().unwrap().to_string();
        assert!(e.contains("allow_plaintext = true"), "{e}");
        let checked = crate::TargetConfig::Scim(plain.clone()).validate();
        assert_eq!(checked.err().map(|e| e.to_string()), Some(e));
        let loopback = ScimConfig {
            base_url: "http://127.0.0.1:9/scim/v2".into(),
            ..config("")
        };
        ScimTarget::new(&loopback).unwrap();
        let creds = ScimConfig {
            base_url: "https://u:pw-in-url@app.example.org/scim".into(),
            ..config("")
        };
        let e = ScimTarget::new(&creds).err().unwrap().to_string();
        assert!(
            e.contains("must not carry credentials") && !e.contains("pw-in-url"),
            "{e}"
        );
        assert!(build_err("match = []").contains("`match` is empty"));
        assert!(build_err("[attributes]\nuserName = \"\"").contains("cannot be removed"));
        assert!(build_err("[attributes]\nexternalId = \"\"").contains("maps no `externalId`"));
        assert!(build_err("[attributes]\npassword = \"{username}\"").contains("not a supported"));
        assert!(build_err("[attributes]\ntitle = \"{nope}\"").contains("unknown variable"));
        assert!(build_err("timeout_ms = 0").contains("positive"));
    }

    #[test]
    fn the_printed_configuration_hides_the_token() {
        let c = config("");
        let printed = serde_json::to_string(&c).unwrap();
        assert!(!printed.contains("tok-Zq7") && printed.contains("[REDACTED]"));
        assert!(!format!("{c:?}").contains("tok-Zq7"));
    }
}
