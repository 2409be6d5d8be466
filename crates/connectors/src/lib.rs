//! Targets that lifecycle operations act on: LDAP / Active Directory, scripts (PowerShell,
//! bash, …), webhooks and SCIM 2.0 service providers.
//!
//! The lifecycle engine builds targets once from the `[[targets]]` configuration
//! ([`build_targets`]) and, for each job, sends an [`OperationRequest`] to each target that
//! [handles](Target::handles) the operation: [`Target::plan`] for a dry run,
//! [`Target::apply`] to act. Outcomes carry the account id to remember as the user's
//! [`TargetLink`] for that target; errors say whether a retry can help.

pub mod cloudflare;
pub mod config;
pub mod error;
pub mod ldap;
pub mod operation;
pub mod outcome;
pub mod paths;
pub mod redaction;
pub mod scim;
pub mod script;
pub mod target;
pub mod webhook;

pub use config::{build_targets, TargetConfig};
pub use error::{redact, ConfigError, TargetError};
pub use operation::{Operation, OperationRequest, TargetLink};
pub use outcome::{Change, ChangeKind, TargetOutcome, TargetPlan};
pub use target::Target;

/// Whether a host name or address is the local machine (where plain-text protocols are
/// acceptable).
#[must_use]
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_hosts() {
        assert!(super::is_loopback_host("127.0.0.1"));
        assert!(super::is_loopback_host("127.8.0.2"));
        assert!(super::is_loopback_host("[::1]"));
        assert!(super::is_loopback_host("LOCALHOST"));
        assert!(!super::is_loopback_host("ldap.example.org"));
        assert!(!super::is_loopback_host("10.0.0.1"));
    }
}
