//! LDAP / Active Directory target.
//!
//! Each operation takes a connection bound as the service account from the target's pool
//! (ldaps://, StartTLS, or plain ldap:// for loopback tests; at most `max_connections`),
//! finds the account (by the link's DN, else by the search filter for the current and then
//! the previous user record), works out the steps that bring it to the desired state, and
//! performs them; new group memberships last, after the connection is back in the pool,
//! together with other operations' (see `members`). `plan` stops after working out the
//! steps, on a connection of its own. Nothing is written when the entry already matches, so
//! re-runs converge.

mod capabilities;
mod config;
pub mod dn;
mod entries;
mod exec;
mod groups;
mod known;
mod members;
mod planner;
mod pool;
pub mod schema;
mod session;
mod steps;
pub mod template;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cc_domain::Role;
use secrecy::SecretString;

use config::host_of;
pub use config::{
    DeprovisionConfig, DeprovisionMode, DisableConfig, GroupsConfig, LdapConfig, MemberStyle,
    Schema, DEFAULT_MAX_CONNECTIONS,
};
pub use entries::NewEntry;

use crate::config::{expose, operation_set, resolve_secret};
use crate::target::unhandled;
use crate::{
    ConfigError, Operation, OperationRequest, Target, TargetError, TargetOutcome, TargetPlan,
};
use session::{Endpoint, Session};
use template::Template;

/// A built LDAP target.
pub struct LdapTarget {
    name: String,
    operations: BTreeSet<Operation>,
    endpoint: Endpoint,
    bind_dn: String,
    bind_password: SecretString,
    base_dn: String,
    schema: Schema,
    domain: String,
    user_ou: Template,
    user_ou_by_role: HashMap<Role, Template>,
    create_ous: bool,
    remove_empty_ous: bool,
    rdn_attribute: String,
    search_filter: Template,
    search_base: String,
    object_classes: Vec<String>,
    attributes: Vec<(String, Template)>,
    disable_move_to: Option<Template>,
    disable_attribute: Option<(String, String)>,
    deprovision: DeprovisionMode,
    graveyard: Option<Template>,
    groups: Option<GroupsConfig>,
    /// Whether the capability check has passed once (operations run it until it does).
    capabilities_checked: AtomicBool,
    pool: pool::Pool,
    /// Containers seen to exist a moment ago.
    known: known::KnownEntries,
    /// Members waiting to be added to groups, per group.
    member_queues: members::MemberQueues,
}

impl LdapTarget {
    /// Builds the target from its configuration.
    ///
    /// # Errors
    /// An invalid URL, template, attribute mapping or disable/deprovision setting, or an
    /// unreadable secret.
    pub fn new(c: &LdapConfig) -> Result<Self, ConfigError> {
        let err = |m: String| ConfigError::new(&c.name, m);
        let tpl = |field: &str, s: &str| {
            Template::parse(s).map_err(|m| ConfigError::new(&c.name, format!("`{field}`: {m}")))
        };
        let operations = operation_set(&c.name, c.operations.as_deref())?;
        let scheme_ok = c.url.starts_with("ldap://") || c.url.starts_with("ldaps://");
        if !scheme_ok {
            return Err(err("`url` must start with ldap:// or ldaps://".into()));
        }
        if c.starttls && c.url.starts_with("ldaps://") {
            return Err(err(
                "`starttls` applies to ldap:// URLs, not ldaps://".into()
            ));
        }
        if c.timeout_ms == 0 {
            return Err(err("`timeout_ms` must be positive".into()));
        }
        if c.max_connections == 0 {
            return Err(err("`max_connections` must be at least 1".into()));
        }
        let bind_password = resolve_secret(
            &c.name,
            "bind_password",
            c.bind_password.as_ref(),
            c.bind_password_file.as_deref(),
            true,
        )?
        .unwrap_or_else(|| unreachable!("required"));
        let pool_password = bind_password.clone();
        let tls = match &c.tls_ca_file {
            Some(path) => Some(tls_config(path).map_err(|m| err(format!("`tls_ca_file`: {m}")))?),
            None => None,
        };
        let endpoint = Endpoint {
            url: c.url.clone(),
            starttls: c.starttls,
            tls,
            insecure: c.tls_insecure_skip_verify,
            timeout: Duration::from_millis(c.timeout_ms),
        };
        c.check_transport()?;
        if !endpoint.encrypted() && !crate::is_loopback_host(&host_of(&c.url)) {
            tracing::warn!(
                target_name = %c.name,
                "LDAP target `{}` uses plain ldap:// to a non-loopback host (allow_plaintext = \
                 true): the bind password and any account password cross the network in clear text",
                c.name
            );
        }
        if c.tls_insecure_skip_verify {
            tracing::warn!(target_name = %c.name, "TLS certificate verification is off for `{}`", c.name);
        }
        if c.base_dn.trim().is_empty() {
            return Err(err("`base_dn` is required".into()));
        }
        let check_under_base = |field: &str, t: &Template| {
            if dn::is_within(t.source(), &c.base_dn) {
                Ok(())
            } else {
                Err(ConfigError::new(
                    &c.name,
                    format!("`{field}` must be below `base_dn` ({})", c.base_dn),
                ))
            }
        };
        let user_ou = tpl("user_ou", &c.user_ou)?;
        check_under_base("user_ou", &user_ou)?;
        let mut user_ou_by_role = HashMap::new();
        for (role, t) in &c.user_ou_by_role {
            let field = format!("user_ou_by_role.{}", role.as_str());
            let t = tpl(&field, t)?;
            check_under_base(&field, &t)?;
            user_ou_by_role.insert(*role, t);
        }

        let mut attributes: Vec<(String, Template)> = Vec::new();
        let mut merged: BTreeMap<String, (String, String)> = schema::preset_attributes(c.schema)
            .iter()
            .map(|(a, t)| (a.to_ascii_lowercase(), ((*a).to_owned(), (*t).to_owned())))
            .collect();
        for (a, t) in &c.attributes {
            if a.eq_ignore_ascii_case("objectClass")
                || a.eq_ignore_ascii_case("unicodePwd")
                || a.eq_ignore_ascii_case("userPassword")
                || a.eq_ignore_ascii_case("userAccountControl")
            {
                return Err(err(format!(
                    "`attributes.{a}` is managed by the target and cannot be mapped"
                )));
            }
            if t.is_empty() {
                merged.remove(&a.to_ascii_lowercase());
            } else {
                merged.insert(a.to_ascii_lowercase(), (a.clone(), t.clone()));
            }
        }
        for (attr, t) in merged.into_values() {
            let parsed = tpl(&format!("attributes.{attr}"), &t)?;
            attributes.push((attr, parsed));
        }
        let rdn_attribute = c
            .rdn_attribute
            .clone()
            .unwrap_or_else(|| schema::preset_rdn_attribute(c.schema).to_owned());
        if !attributes
            .iter()
            .any(|(a, _)| a.eq_ignore_ascii_case(&rdn_attribute))
        {
            return Err(err(format!(
                "`rdn_attribute` {rdn_attribute} has no template in `attributes`"
            )));
        }
        let search_filter = tpl(
            "search_filter",
            c.search_filter
                .as_deref()
                .unwrap_or(schema::preset_search_filter(c.schema)),
        )?;
        if !search_filter.source().starts_with('(') {
            return Err(err(
                "`search_filter` must be an LDAP filter in parentheses".into()
            ));
        }

        let disable_move_to = match &c.disable.move_to {
            Some(t) => {
                let t = tpl("disable.move_to", t)?;
                check_under_base("disable.move_to", &t)?;
                Some(t)
            }
            None => None,
        };
        let disable_attribute = match (&c.disable.attribute, &c.disable.value) {
            (Some(a), Some(v)) => Some((a.clone(), v.clone())),
            (None, None) => None,
            _ => {
                return Err(err(
                    "`disable.attribute` and `disable.value` go together".into()
                ))
            }
        };
        if let Some((a, _)) = &disable_attribute {
            if attributes.iter().any(|(m, _)| m.eq_ignore_ascii_case(a)) {
                return Err(err(format!(
                    "`disable.attribute` {a} is also in `attributes`; remove it there (set it to \"\")"
                )));
            }
        }
        if c.schema == Schema::Inetorgperson
            && disable_move_to.is_none()
            && disable_attribute.is_none()
            && operations.contains(&Operation::Suspend)
        {
            return Err(err(
                "set `disable.attribute`/`disable.value` and/or `disable.move_to`: OpenLDAP has no \
                 built-in disabled flag"
                    .into(),
            ));
        }
        let graveyard = match (c.deprovision.mode, &c.deprovision.graveyard_ou) {
            (DeprovisionMode::Move, Some(t)) => {
                let t = tpl("deprovision.graveyard_ou", t)?;
                check_under_base("deprovision.graveyard_ou", &t)?;
                Some(t)
            }
            (DeprovisionMode::Move, None) => {
                return Err(err(
                    "`deprovision.mode = \"move\"` needs `deprovision.graveyard_ou`".into(),
                ))
            }
            (DeprovisionMode::Delete, Some(_)) => {
                return Err(err(
                    "`deprovision.graveyard_ou` applies only with `mode = \"move\"`".into(),
                ))
            }
            (DeprovisionMode::Delete, None) => None,
        };
        if let Some(g) = &c.groups {
            if !dn::is_within(&g.base, &c.base_dn) {
                return Err(err("`groups.base` must be below `base_dn`".into()));
            }
            if g.create_missing && g.style == MemberStyle::MemberUid && g.object_class.is_none() {
                return Err(err(
                    "`groups.create_missing` with `memberUid` needs `groups.object_class` (a \
                     posixGroup also needs a gidNumber, which Command Center does not assign)"
                        .into(),
                ));
            }
        }
        let object_classes = c
            .object_classes
            .clone()
            .unwrap_or_else(|| schema::preset_object_classes(c.schema));
        Ok(Self {
            name: c.name.clone(),
            operations,
            endpoint,
            bind_dn: c.bind_dn.clone(),
            bind_password,
            base_dn: c.base_dn.clone(),
            schema: c.schema,
            domain: dn::domain_of(&c.base_dn),
            user_ou,
            user_ou_by_role,
            create_ous: c.create_ous,
            remove_empty_ous: c.remove_empty_ous,
            rdn_attribute,
            search_filter,
            search_base: c.search_base.clone().unwrap_or_else(|| c.base_dn.clone()),
            object_classes,
            attributes,
            disable_move_to,
            disable_attribute,
            deprovision: c.deprovision.mode,
            graveyard,
            groups: c.groups.clone(),
            capabilities_checked: AtomicBool::new(false),
            pool: pool::Pool::new(c.max_connections, c.bind_dn.clone(), pool_password),
            known: known::KnownEntries::default(),
            member_queues: members::MemberQueues::default(),
        })
    }

    /// A connection of its own (not from the pool), for a dry run or the capability check:
    /// they do not wait behind the jobs, and the check shows that a bind works now.
    async fn session(&self) -> Result<Session, TargetError> {
        self.endpoint
            .bind(&self.bind_dn, expose(&self.bind_password))
            .await
    }

    /// Refuses to send a password where it would travel in clear text: always for Active
    /// Directory (`unicodePwd` needs TLS), with a loud warning for others on non-loopback hosts.
    fn check_password_transport(&self) -> Result<(), TargetError> {
        if self.endpoint.encrypted() {
            return Ok(());
        }
        if self.schema == Schema::ActiveDirectory {
            return Err(TargetError::permanent(format!(
                "refusing to send unicodePwd to {} without TLS: use ldaps:// or starttls = true",
                self.endpoint.url
            )));
        }
        if !crate::is_loopback_host(&host_of(&self.endpoint.url)) {
            tracing::warn!(
                target_name = %self.name,
                "sending a password to {} over plain LDAP: it crosses the network in clear text",
                self.endpoint.url
            );
        }
        Ok(())
    }

    fn secrets<'a>(&'a self, req: &'a OperationRequest) -> Vec<&'a str> {
        let mut s = vec![expose(&self.bind_password)];
        if let Some(pw) = &req.password {
            s.push(expose(pw));
        }
        s
    }

    /// Removes any secret that a server might have echoed into an error.
    fn scrub(&self, req: &OperationRequest, e: TargetError) -> TargetError {
        let secrets = self.secrets(req);
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
}

/// How many times one `apply` plans again after the directory changed under its plan
/// (another job created the same OU, group or account a moment ago).
const MAX_PLANS: usize = 3;

impl LdapTarget {
    /// Plans and performs the steps on `s`, but for the member additions that can wait
    /// until the connection is back in the pool (returned, for [`LdapTarget::add_members`]).
    /// When another job changed the directory under the plan, plans again from what is
    /// there now; `round` counts the plans made for this operation (at most [`MAX_PLANS`]).
    async fn converge(
        &self,
        s: &mut Session,
        req: &OperationRequest,
        changes: &mut Vec<crate::Change>,
        round: &mut usize,
    ) -> Result<(planner::Plan, Vec<steps::Step>), TargetError> {
        loop {
            let mut plan = self.plan_steps(s, req, false).await?;
            let later = exec::take_member_adds(&mut plan.steps);
            match self.execute(s, req, &plan.steps).await {
                Ok(done) => {
                    changes.extend(done);
                    return Ok((plan, later));
                }
                Err(stop) => {
                    changes.extend(stop.done.iter().cloned());
                    self.plan_again(&stop, *round)?;
                    *round += 1;
                }
            }
        }
    }

    /// The stop's error, unless it asks for a fresh plan and one is left.
    fn plan_again(&self, stop: &exec::Stop, round: usize) -> Result<(), TargetError> {
        if !stop.replan || round >= MAX_PLANS {
            return Err(stop.error.clone());
        }
        tracing::debug!(
            target_name = %self.name,
            reason = stop.error.message(),
            "the directory changed under the plan; planning again"
        );
        Ok(())
    }

    /// [`LdapTarget::converge`] on a pooled connection; once more on a new one when a
    /// reused connection turns out to be closed (see `Lease::went_stale`).
    async fn converge_pooled(
        &self,
        req: &OperationRequest,
        changes: &mut Vec<crate::Change>,
        round: &mut usize,
    ) -> Result<(planner::Plan, Vec<steps::Step>), TargetError> {
        let mut first = true;
        loop {
            let mut lease = self.pool.get(&self.endpoint).await?;
            let s = lease.session();
            let result = async {
                self.ensure_capabilities(s).await?;
                self.converge(s, req, changes, round).await
            }
            .await;
            if std::mem::take(&mut first) && lease.went_stale(&result) {
                continue;
            }
            lease.finish(&result).await;
            return result;
        }
    }

    /// Converges on a pooled connection, gives the connection back, then adds the account
    /// to its groups together with other operations joining the same groups.
    async fn converge_and_join(
        &self,
        req: &OperationRequest,
    ) -> Result<TargetOutcome, TargetError> {
        let mut changes = Vec::new();
        let mut round = 1;
        loop {
            let (plan, later) = self.converge_pooled(req, &mut changes, &mut round).await?;
            match self.add_members(&later).await {
                Ok(done) => {
                    changes.extend(done);
                    return Ok(TargetOutcome {
                        account_id: plan.account_id.clone(),
                        changes,
                        detail: plan.detail(),
                    });
                }
                Err(stop) => {
                    changes.extend(stop.done.iter().cloned());
                    self.plan_again(&stop, round)?;
                    round += 1;
                }
            }
        }
    }
}

fn tls_config(path: &std::path::Path) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("{}: {e}", path.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if roots.is_empty() {
        return Err(format!("{} holds no certificate", path.display()));
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

#[async_trait]
impl Target for LdapTarget {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "ldap"
    }

    fn holds_passwords(&self) -> bool {
        true
    }

    fn handles(&self, operation: Operation) -> bool {
        self.operations.contains(&operation)
    }

    async fn plan(&self, req: &OperationRequest) -> Result<TargetPlan, TargetError> {
        if !self.handles(req.operation) {
            return Err(unhandled(&self.name, req.operation));
        }
        // A connection of its own: a dry run is asked for by someone waiting for it, and
        // must not queue behind a bulk of jobs holding the pool.
        let run = async {
            let mut s = self.session().await?;
            let plan = async {
                self.check_capabilities(&mut s).await?;
                self.plan_steps(&mut s, req, true).await
            }
            .await;
            s.close().await;
            plan
        };
        let plan = run.await.map_err(|e| self.scrub(req, e))?;
        Ok(TargetPlan {
            account_id: plan.account_id.clone(),
            exists: plan.current.is_some(),
            changes: plan.steps.iter().map(steps::Step::change).collect(),
            detail: plan.detail(),
        })
    }

    async fn apply(&self, req: &OperationRequest) -> Result<TargetOutcome, TargetError> {
        if !self.handles(req.operation) {
            return Err(unhandled(&self.name, req.operation));
        }
        self.converge_and_join(req)
            .await
            .map_err(|e| self.scrub(req, e))
    }

    async fn check(&self) -> Result<String, TargetError> {
        let run = async {
            let mut s = self.session().await?;
            let result = self.check_capabilities(&mut s).await;
            s.close().await;
            result
        };
        let secret = [expose(&self.bind_password)];
        run.await.map_err(|e| match e {
            TargetError::Retryable {
                message,
                retry_after,
            } => TargetError::Retryable {
                message: crate::error::redact(&message, &secret),
                retry_after,
            },
            TargetError::Permanent { message } => TargetError::Permanent {
                message: crate::error::redact(&message, &secret),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_from_urls() {
        assert_eq!(host_of("ldap://127.0.0.1:3890"), "127.0.0.1");
        assert_eq!(host_of("ldaps://dc1.example.org"), "dc1.example.org");
        assert_eq!(host_of("ldap://[::1]:389/"), "::1");
    }

    fn config(url: &str, extra: &str) -> LdapConfig {
        let text = format!(
            "name = \"dir\"\nurl = \"{url}\"\nbind_dn = \"cn=cc,dc=example,dc=org\"\n\
             bind_password = \"pw-Zq7\"\nbase_dn = \"dc=example,dc=org\"\n\
             user_ou = \"ou=People,dc=example,dc=org\"\n{extra}\n\
             [disable]\nattribute = \"employeeType\"\nvalue = \"disabled\"\n"
        );
        toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    #[test]
    fn plain_ldap_to_a_remote_host_needs_the_opt_in() {
        for url in [
            "ldap://127.0.0.1:3890",
            "ldap://127.8.0.2",
            "ldap://localhost",
            "ldap://[::1]:389",
            "ldaps://ldap.example.org",
        ] {
            let c = config(url, "");
            c.check_transport().unwrap();
            LdapTarget::new(&c).unwrap_or_else(|e| panic!("{url}: {e}"));
        }
        let starttls = config("ldap://ldap.example.org", "starttls = true");
        LdapTarget::new(&starttls).unwrap();

        let refused = config("ldap://cc:pw-in-url@ldap.example.org:389", "");
        let e = refused.check_transport().unwrap_err().to_string();
        assert!(e.starts_with("target `dir`:"), "{e}");
        assert!(e.contains("ldap.example.org"), "names the host: {e}");
        assert!(
            e.contains("allow_plaintext = true"),
            "names the opt-in: {e}"
        );
        assert!(!e.contains("pw-in-url"), "no secret in the message: {e}");
        assert_eq!(
            LdapTarget::new(&refused).err().map(|e| e.to_string()),
            Some(e)
        );
        for url in ["ldap://10.0.0.5", "ldap://ldap.example.org"] {
            let allowed = config(url, "allow_plaintext = true");
            allowed.check_transport().unwrap();
            LdapTarget::new(&allowed).unwrap();
        }
    }

    #[test]
    fn only_ous_strictly_below_the_base_are_removable() {
        let t = LdapTarget::new(&config(
            "ldap://127.0.0.1",
            "remove_empty_ous = true\nsearch_base = \"ou=People,dc=example,dc=org\"",
        ))
        .unwrap();
        assert!(t.removable_ou("ou=grade-6,ou=bars-ms,ou=People,dc=example,dc=org"));
        assert!(t.removable_ou("OU=Graveyard,DC=example,DC=org"));
        for kept in [
            "dc=example,dc=org",
            "dc=org",
            "ou=People,dc=example,dc=org",
            "ou=x,dc=other,dc=org",
            "cn=not-an-ou,ou=People,dc=example,dc=org",
        ] {
            assert!(!t.removable_ou(kept), "{kept}");
        }
    }
}
