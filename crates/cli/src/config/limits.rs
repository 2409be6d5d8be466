//! The `[limits]` section: what one caller may hold at once, and how long a connection or a
//! statement may take. See docs/security.md ("Hostile clients").

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSettings {
    /// Open `/api/v1/events` streams per operator or API token.
    pub streams_per_principal: usize,
    /// Open `/api/v1/events` streams per client address.
    pub streams_per_address: usize,
    /// How often an open stream re-checks its credentials.
    pub stream_recheck_ms: u64,
    /// Expensive requests (audit verification, searches) in flight per principal.
    pub expensive_per_principal: usize,
    /// Time a client has to send a request's headers (also closes idle keep-alive
    /// connections and connections that send nothing).
    pub header_read_timeout_ms: u64,
    /// Time a client has to complete the TLS handshake (with `tls.*` set).
    pub tls_handshake_timeout_ms: u64,
    /// Open connections per client address (plain HTTP and TLS); more are closed at once.
    pub connections_per_address: usize,
}

impl Default for LimitsSettings {
    fn default() -> Self {
        let d = cc_api::LimitsConfig::default();
        let c = cc_api::ConnectionLimits::default();
        Self {
            header_read_timeout_ms: u64::try_from(c.header_read_timeout.as_millis())
                .unwrap_or(10_000),
            tls_handshake_timeout_ms: u64::try_from(c.tls_handshake_timeout.as_millis())
                .unwrap_or(10_000),
            connections_per_address: c.connections_per_address,
            streams_per_principal: d.streams_per_principal,
            streams_per_address: d.streams_per_address,
            stream_recheck_ms: u64::try_from(d.stream_recheck.as_millis()).unwrap_or(5_000),
            expensive_per_principal: d.expensive_per_principal,
        }
    }
}

impl LimitsSettings {
    /// The connection bounds of these settings.
    #[must_use]
    pub fn connections(&self) -> cc_api::ConnectionLimits {
        cc_api::ConnectionLimits {
            header_read_timeout: Duration::from_millis(self.header_read_timeout_ms.max(100)),
            tls_handshake_timeout: Duration::from_millis(self.tls_handshake_timeout_ms.max(100)),
            connections_per_address: self.connections_per_address.max(1),
        }
    }

    /// The API's view of these settings.
    #[must_use]
    pub fn api(&self) -> cc_api::LimitsConfig {
        cc_api::LimitsConfig {
            streams_per_principal: self.streams_per_principal.max(1),
            streams_per_address: self.streams_per_address.max(1),
            stream_recheck: Duration::from_millis(self.stream_recheck_ms.max(100)),
            expensive_per_principal: self.expensive_per_principal.max(1),
        }
    }
}
