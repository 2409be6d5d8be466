//! The record of certificate expiry warnings (migration 0017): which threshold each
//! certificate has been warned about, so a restarted or second worker does not warn again.

use chrono::{DateTime, Utc};

/// One certificate crossing one warning threshold. A certificate is its zone, host, pack and
/// expiry: a renewed certificate (a new expiry) is a new one and is warned about afresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateWarning {
    pub zone: String,
    pub host: String,
    pub pack_id: String,
    pub expires_on: DateTime<Utc>,
    /// The smallest threshold (days) the certificate is within.
    pub threshold_days: u32,
}
