//! Devices and what they report about themselves.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::page::{Cursor, SortDir};
use crate::patch::double_option;
use crate::validation::ValidationErrors;

/// Largest accepted `facts` document, serialized.
pub const MAX_FACTS_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    #[default]
    Windows,
    Macos,
    Chromeos,
    Ipados,
    Ios,
    Android,
    Linux,
    Other,
}

impl Platform {
    pub const ALL: [Platform; 8] = [
        Platform::Windows,
        Platform::Macos,
        Platform::Chromeos,
        Platform::Ipados,
        Platform::Ios,
        Platform::Android,
        Platform::Linux,
        Platform::Other,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Windows => "windows",
            Platform::Macos => "macos",
            Platform::Chromeos => "chromeos",
            Platform::Ipados => "ipados",
            Platform::Ios => "ios",
            Platform::Android => "android",
            Platform::Linux => "linux",
            Platform::Other => "other",
        }
    }
}

impl std::str::FromStr for Platform {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Platform::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown platform `{s}`"))
    }
}

/// Whether a device meets the policies that apply to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum Compliance {
    /// Not evaluated yet.
    #[default]
    Unknown,
    Compliant,
    Noncompliant,
}

impl Compliance {
    pub const ALL: [Compliance; 3] = [
        Compliance::Unknown,
        Compliance::Compliant,
        Compliance::Noncompliant,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Compliance::Unknown => "unknown",
            Compliance::Compliant => "compliant",
            Compliance::Noncompliant => "noncompliant",
        }
    }
}

impl std::str::FromStr for Compliance {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Compliance::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown compliance `{s}`"))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01936b6e-8f2a-7c3e-9a51-3f1c2d4e5f62", "serial_number": "C02XK1JHJG5H", "name": "LHS-LAB-07",
    "platform": "macos", "model": "MacBook Air (M2)", "os_version": "14.6.1",
    "assigned_user_id": "01936b6e-8f2a-7c3e-9a51-3f1c2d4e5f60",
    "facts": {"disk_encryption": true, "firewall_enabled": true, "os_version": "14.6.1"},
    "last_check_in_at": "2026-11-20T14:03:00Z", "compliance": "compliant",
    "version": 3, "created_at": "2026-09-01T08:00:00Z", "updated_at": "2026-11-20T14:03:00Z"}))]
pub struct Device {
    pub id: Uuid,
    /// Unique; stored upper-case.
    pub serial_number: String,
    /// Host name or asset tag.
    pub name: Option<String>,
    pub platform: Platform,
    pub model: Option<String>,
    pub os_version: Option<String>,
    pub assigned_user_id: Option<Uuid>,
    /// What the device last reported about itself (a JSON object).
    #[schema(value_type = Object)]
    pub facts: serde_json::Value,
    pub last_check_in_at: Option<DateTime<Utc>>,
    pub compliance: Compliance,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"serial_number": "C02XK1JHJG5H", "name": "LHS-LAB-07", "platform": "macos",
    "model": "MacBook Air (M2)", "os_version": "14.6.1", "facts": {"disk_encryption": true}}))]
pub struct NewDevice {
    #[schema(schema_with = crate::schema::serial)]
    pub serial_number: String,
    #[schema(schema_with = crate::schema::opt_text_100)]
    pub name: Option<String>,
    pub platform: Platform,
    #[schema(schema_with = crate::schema::opt_text_100)]
    pub model: Option<String>,
    #[schema(schema_with = crate::schema::opt_text_64)]
    pub os_version: Option<String>,
    pub assigned_user_id: Option<Uuid>,
    #[schema(schema_with = crate::schema::facts_new)]
    pub facts: Option<serde_json::Value>,
    pub last_check_in_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"os_version": "14.7", "facts": {"disk_encryption": true, "os_version": "14.7"},
    "last_check_in_at": "2026-11-21T09:12:00Z"}))]
pub struct DevicePatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::schema::serial_or_null)]
    pub serial_number: Option<String>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(schema_with = crate::schema::opt_text_100)]
    pub name: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(schema_with = crate::schema::opt_text_100)]
    pub model: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(schema_with = crate::schema::opt_text_64)]
    pub os_version: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<Uuid>)]
    pub assigned_user_id: Option<Option<Uuid>>,
    /// Replaces the facts document.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::schema::facts_patch)]
    pub facts: Option<serde_json::Value>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub last_check_in_at: Option<Option<DateTime<Utc>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

impl NewDevice {
    /// Validates the input and builds the device.
    ///
    /// # Errors
    /// Every field problem found.
    pub fn into_device(self, id: Uuid, now: DateTime<Utc>) -> Result<Device, ValidationErrors> {
        let mut d = Device {
            id,
            serial_number: self.serial_number,
            name: self.name,
            platform: self.platform,
            model: self.model,
            os_version: self.os_version,
            assigned_user_id: self.assigned_user_id,
            facts: self.facts.unwrap_or_else(|| serde_json::json!({})),
            last_check_in_at: self.last_check_in_at.map(crate::truncate_micros),
            compliance: Compliance::Unknown,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        normalize(&mut d)?;
        Ok(d)
    }
}

impl Device {
    /// Applies a patch and validates the result.
    ///
    /// # Errors
    /// Every field problem found.
    pub fn patched(&self, p: DevicePatch, now: DateTime<Utc>) -> Result<Device, ValidationErrors> {
        let mut d = self.clone();
        if let Some(v) = p.serial_number {
            d.serial_number = v;
        }
        if let Some(v) = p.name {
            d.name = v;
        }
        if let Some(v) = p.platform {
            d.platform = v;
        }
        if let Some(v) = p.model {
            d.model = v;
        }
        if let Some(v) = p.os_version {
            d.os_version = v;
        }
        if let Some(v) = p.assigned_user_id {
            d.assigned_user_id = v;
        }
        if let Some(v) = p.facts {
            d.facts = v;
        }
        if let Some(v) = p.last_check_in_at {
            d.last_check_in_at = v.map(crate::truncate_micros);
        }
        normalize(&mut d)?;
        if d != *self {
            d.version = self.version + 1;
            d.updated_at = now;
        }
        Ok(d)
    }
}

fn normalize(d: &mut Device) -> Result<(), ValidationErrors> {
    let mut e = ValidationErrors::default();
    d.serial_number = d.serial_number.trim().to_ascii_uppercase();
    if d.serial_number.is_empty()
        || d.serial_number.len() > 64
        || !d
            .serial_number
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        e.add(
            "serial_number",
            "must be 1–64 characters: letters, digits or '-'",
        );
    }
    d.name = e.opt_text("name", d.name.as_deref(), 100);
    d.model = e.opt_text("model", d.model.as_deref(), 100);
    d.os_version = e.opt_text("os_version", d.os_version.as_deref(), 64);
    if !d.facts.is_object() {
        e.add("facts", "must be a JSON object");
    } else if crate::validation::contains_nul(&d.facts) {
        e.add("facts", "must not contain NUL characters");
    } else if serde_json::to_vec(&d.facts).map_or(0, |v| v.len()) > MAX_FACTS_BYTES {
        e.add("facts", format!("must be at most {MAX_FACTS_BYTES} bytes"));
    }
    e.into_result(())
}

#[derive(Debug, Clone, Default)]
pub struct DeviceQuery {
    pub platform: Option<Platform>,
    pub compliance: Option<Compliance>,
    pub assigned_user_id: Option<Uuid>,
    /// Free text matched against serial number, name and model.
    pub q: Option<String>,
    pub dir: SortDir,
    pub limit: u32,
    pub cursor: Option<Cursor>,
}
