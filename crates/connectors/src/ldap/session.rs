//! A bound LDAP connection, with a timeout on every request, and the mapping of LDAP
//! failures to retryable or permanent errors.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use ldap3::exop::PasswordModify;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, Mod, Scope, SearchEntry};

use crate::TargetError;

/// How to reach and bind to the directory.
pub(crate) struct Endpoint {
    pub url: String,
    pub starttls: bool,
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub insecure: bool,
    pub timeout: Duration,
}

impl Endpoint {
    /// Whether the connection is encrypted (ldaps:// or StartTLS).
    pub fn encrypted(&self) -> bool {
        self.url.starts_with("ldaps://") || self.starttls
    }

    fn settings(&self) -> LdapConnSettings {
        let mut s = LdapConnSettings::new()
            .set_conn_timeout(self.timeout)
            .set_starttls(self.starttls)
            .set_no_tls_verify(self.insecure);
        if let Some(tls) = &self.tls {
            s = s.set_config(tls.clone());
        }
        s
    }

    /// Connects and binds.
    pub async fn bind(&self, dn: &str, password: &str) -> Result<Session, TargetError> {
        let (conn, ldap) = LdapConnAsync::with_settings(self.settings(), &self.url)
            .await
            .map_err(|e| classify(e).context(format!("connect to {}", self.url)))?;
        ldap3::drive!(conn);
        let mut session = Session {
            ldap,
            timeout: self.timeout,
        };
        session
            .ldap
            .with_timeout(self.timeout)
            .simple_bind(dn, password)
            .await
            .and_then(ldap3::LdapResult::success)
            .map_err(|e| classify(e).context(format!("bind as {dn}")))?;
        Ok(session)
    }

    /// Whether `dn` can bind with `password` (on a connection of its own). Connection
    /// failures are errors; a rejected bind is `false`.
    pub async fn can_bind(&self, dn: &str, password: &str) -> Result<bool, TargetError> {
        match self.bind(dn, password).await {
            Ok(mut s) => {
                s.close().await;
                Ok(true)
            }
            Err(TargetError::Permanent { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// A bound connection.
pub(crate) struct Session {
    ldap: Ldap,
    timeout: Duration,
}

/// The result codes worth retrying: timeLimitExceeded, busy, unavailable.
const RETRYABLE_CODES: [u32; 3] = [3, 51, 52];
/// noSuchObject.
pub(crate) const NO_SUCH_OBJECT: u32 = 32;
/// entryAlreadyExists (Active Directory also answers it for a member already in a group).
pub(crate) const ENTRY_ALREADY_EXISTS: u32 = 68;
/// attributeOrValueExists: the value is already there.
pub(crate) const ATTRIBUTE_OR_VALUE_EXISTS: u32 = 20;
/// noSuchAttribute: the value is already gone.
pub(crate) const NO_SUCH_ATTRIBUTE: u32 = 16;
/// notAllowedOnNonLeaf: the entry has children.
pub(crate) const NOT_ALLOWED_ON_NON_LEAF: u32 = 66;
/// sizeLimitExceeded.
const SIZE_LIMIT_EXCEEDED: u32 = 4;

/// How a write ended when the directory may already be in the wanted state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    /// The write changed the directory.
    Changed,
    /// The directory answered with this result code, which the caller said to expect (an
    /// entry that exists already, a value already present or already gone).
    Found(u32),
}

/// Maps an LDAP failure to a target error. Transport problems and "busy/unavailable" are
/// retryable; everything the server refused for a reason is permanent.
pub(crate) fn classify(e: LdapError) -> TargetError {
    match e {
        LdapError::LdapResult { result } => {
            let text = if result.text.is_empty() {
                String::new()
            } else {
                format!(": {}", result.text.trim())
            };
            let message = format!("{} (code {}){text}", rc_name(result.rc), result.rc);
            if RETRYABLE_CODES.contains(&result.rc) {
                TargetError::retryable(message)
            } else {
                TargetError::permanent(message)
            }
        }
        LdapError::Io { .. }
        | LdapError::Timeout { .. }
        | LdapError::OpSend { .. }
        | LdapError::ResultRecv { .. }
        | LdapError::IdScrubSend { .. }
        | LdapError::MiscSend { .. }
        | LdapError::EndOfStream => TargetError::retryable(e.to_string()),
        other => TargetError::permanent(other.to_string()),
    }
}

fn rc_name(rc: u32) -> &'static str {
    match rc {
        1 => "operations error",
        3 => "time limit exceeded",
        16 => "no such attribute",
        17 => "undefined attribute type",
        19 => "constraint violation",
        20 => "attribute or value exists",
        21 => "invalid attribute syntax",
        32 => "no such object",
        34 => "invalid DN syntax",
        49 => "invalid credentials",
        50 => "insufficient access rights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwilling to perform",
        64 => "naming violation",
        65 => "object class violation",
        66 => "not allowed on non-leaf",
        68 => "entry already exists",
        _ => "LDAP error",
    }
}

type Attrs = Vec<(Vec<u8>, HashSet<Vec<u8>>)>;

impl Session {
    fn ldap(&mut self) -> &mut Ldap {
        self.ldap.with_timeout(self.timeout)
    }

    /// Reads one entry by DN; `None` when it does not exist.
    pub async fn read(
        &mut self,
        dn: &str,
        attrs: &[&str],
    ) -> Result<Option<SearchEntry>, TargetError> {
        let res = self
            .ldap()
            .search(dn, Scope::Base, "(objectClass=*)", attrs.to_vec())
            .await
            .map_err(|e| classify(e).context(format!("read {dn}")))?;
        if res.1.rc == NO_SUCH_OBJECT {
            return Ok(None);
        }
        let (entries, _) = res
            .success()
            .map_err(|e| classify(e).context(format!("read {dn}")))?;
        Ok(entries.into_iter().next().map(SearchEntry::construct))
    }

    /// The first entry a search finds (`None` when there is none or `base` does not exist).
    pub async fn search_one(
        &mut self,
        base: &str,
        scope: Scope,
        filter: &str,
        attrs: &[&str],
    ) -> Result<Option<SearchEntry>, TargetError> {
        let what = || format!("read {base:?} with {filter}");
        let res = self
            .ldap()
            .search(base, scope, filter, attrs.to_vec())
            .await
            .map_err(|e| classify(e).context(what()))?;
        if res.1.rc == NO_SUCH_OBJECT {
            return Ok(None);
        }
        let (entries, _) = res.success().map_err(|e| classify(e).context(what()))?;
        Ok(entries
            .into_iter()
            .find(|e| !e.is_ref() && !e.is_intermediate())
            .map(SearchEntry::construct))
    }

    /// Searches the subtree under `base`; a missing base yields no entries.
    pub async fn search(
        &mut self,
        base: &str,
        filter: &str,
        attrs: &[&str],
    ) -> Result<Vec<SearchEntry>, TargetError> {
        let res = self
            .ldap()
            .search(base, Scope::Subtree, filter, attrs.to_vec())
            .await
            .map_err(|e| classify(e).context(format!("search {base} for {filter}")))?;
        if res.1.rc == NO_SUCH_OBJECT {
            return Ok(Vec::new());
        }
        let (entries, _) = res
            .success()
            .map_err(|e| classify(e).context(format!("search {base} for {filter}")))?;
        Ok(entries
            .into_iter()
            .filter(|e| !e.is_ref() && !e.is_intermediate())
            .map(SearchEntry::construct)
            .collect())
    }

    /// Adds an entry; a result code in `expected` is returned rather than failed.
    pub async fn add_expecting(
        &mut self,
        dn: &str,
        attrs: Attrs,
        expected: &[u32],
    ) -> Result<Written, TargetError> {
        let res = self
            .ldap()
            .add(dn, attrs)
            .await
            .map_err(|e| classify(e).context(format!("add {dn}")))?;
        written(res, expected).map_err(|e| e.context(format!("add {dn}")))
    }

    pub async fn modify(&mut self, dn: &str, mods: Vec<Mod<Vec<u8>>>) -> Result<(), TargetError> {
        self.modify_expecting(dn, mods, &[]).await.map(drop)
    }

    /// Modifies an entry; a result code in `expected` is returned rather than failed.
    pub async fn modify_expecting(
        &mut self,
        dn: &str,
        mods: Vec<Mod<Vec<u8>>>,
        expected: &[u32],
    ) -> Result<Written, TargetError> {
        if mods.is_empty() {
            return Ok(Written::Changed);
        }
        let res = self
            .ldap()
            .modify(dn, mods)
            .await
            .map_err(|e| classify(e).context(format!("modify {dn}")))?;
        written(res, expected).map_err(|e| e.context(format!("modify {dn}")))
    }

    /// Renames or moves an entry; a result code in `expected` is returned rather than failed.
    pub async fn rename_expecting(
        &mut self,
        dn: &str,
        new_rdn: &str,
        new_parent: &str,
        expected: &[u32],
    ) -> Result<Written, TargetError> {
        let what = format!("move {dn} to {new_rdn},{new_parent}");
        let res = self
            .ldap()
            .modifydn(dn, new_rdn, true, Some(new_parent))
            .await
            .map_err(|e| classify(e).context(&what))?;
        written(res, expected).map_err(|e| e.context(&what))
    }

    /// Deletes an entry; one that is already gone is [`Written::Found`]`(NO_SUCH_OBJECT)`.
    pub async fn delete(&mut self, dn: &str) -> Result<Written, TargetError> {
        self.delete_expecting(dn, &[NO_SUCH_OBJECT]).await
    }

    /// Deletes an entry; a result code in `expected` is returned rather than failed.
    pub async fn delete_expecting(
        &mut self,
        dn: &str,
        expected: &[u32],
    ) -> Result<Written, TargetError> {
        let res = self
            .ldap()
            .delete(dn)
            .await
            .map_err(|e| classify(e).context(format!("delete {dn}")))?;
        written(res, expected).map_err(|e| e.context(format!("delete {dn}")))
    }

    /// Whether `parent` has a child entry other than `except` (a missing `parent` has none).
    /// Reads at most two children.
    pub async fn has_other_children(
        &mut self,
        parent: &str,
        except: &str,
    ) -> Result<bool, TargetError> {
        let what = || format!("list the entries under {parent}");
        let res = self
            .ldap
            .with_timeout(self.timeout)
            .with_search_options(ldap3::SearchOptions::new().sizelimit(2))
            .search(parent, Scope::OneLevel, "(objectClass=*)", vec!["1.1"])
            .await
            .map_err(|e| classify(e).context(what()))?;
        match res.1.rc {
            NO_SUCH_OBJECT => return Ok(false),
            SIZE_LIMIT_EXCEEDED => return Ok(true),
            _ => {}
        }
        let (entries, _) = res.success().map_err(|e| classify(e).context(what()))?;
        Ok(entries
            .into_iter()
            .filter(|e| !e.is_ref() && !e.is_intermediate())
            .map(SearchEntry::construct)
            .any(|e| !super::dn::same(&e.dn, except)))
    }

    /// Sets a password with the Password Modify extended operation (RFC 3062).
    pub async fn password_modify(&mut self, dn: &str, password: &str) -> Result<(), TargetError> {
        self.ldap()
            .extended(PasswordModify {
                user_id: Some(dn),
                old_pass: None,
                new_pass: Some(password),
            })
            .await
            .and_then(ldap3::result::ExopResult::success)
            .map(drop)
            .map_err(|e| classify(e).context(format!("set the password of {dn}")))
    }

    /// Whether the connection is gone (the server or the network closed it).
    pub fn is_closed(&mut self) -> bool {
        self.ldap.is_closed()
    }

    pub async fn close(&mut self) {
        let _ = self.ldap.unbind().await;
    }
}

/// Success, an expected result code, or the classified failure.
fn written(res: ldap3::LdapResult, expected: &[u32]) -> Result<Written, TargetError> {
    if res.rc != 0 && expected.contains(&res.rc) {
        return Ok(Written::Found(res.rc));
    }
    res.success().map(|_| Written::Changed).map_err(classify)
}

/// Attribute values of an entry, by lower-cased attribute name.
pub(crate) fn attr_map(entry: &SearchEntry) -> HashMap<String, Vec<String>> {
    entry
        .attrs
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect()
}
