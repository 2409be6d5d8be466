//! Demo data: two high schools, their classes, 20 students (grades 9–12, five per grade), a few
//! staff, 12 devices across four platforms (some failing policies) and 7 policies.
//!
//! Loading is idempotent: each record is keyed by its unique name and skipped when present,
//! so `seed` can run any number of times, and `serve --demo` loads it only once.
//!
//! Every person is loaded `pending`: a status says where their accounts stand, and nobody has
//! an account yet. [`provision_demo`] then asks for the accounts through the ordinary
//! lifecycle request (a bulk `provision`), so statuses, jobs, links and sync state all tell
//! the truth once the workers have run it.

use cc_domain::{
    Actor, GroupKind, LifecycleOperation, NewDevice, NewGroup, NewPolicy, NewUser, Platform,
    PolicyCategory, PolicyRule, Role, Severity, UserStatus,
};
use serde::Serialize;
use serde_json::json;

use crate::{Directory, Result, ServiceError};

/// What a seed run created and what it found already present.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct SeedReport {
    pub created: usize,
    pub existing: usize,
}

impl SeedReport {
    fn record<T>(&mut self, r: Result<T>) -> Result<Option<T>> {
        match r {
            Ok(v) => {
                self.created += 1;
                Ok(Some(v))
            }
            Err(ServiceError::Conflict { .. }) => {
                self.existing += 1;
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

const STUDENTS: [(&str, &str); 20] = [
    ("Ava", "Martinez"),
    ("Liam", "Johnson"),
    ("Sophia", "Nguyen"),
    ("Noah", "Williams"),
    ("Isabella", "Brown"),
    ("Mason", "Garcia"),
    ("Mia", "Davis"),
    ("Ethan", "Rodriguez"),
    ("Amelia", "Wilson"),
    ("Lucas", "Anderson"),
    ("Harper", "Thomas"),
    ("Elijah", "Taylor"),
    ("Evelyn", "Moore"),
    ("James", "Jackson"),
    ("Abigail", "White"),
    ("Benjamin", "Harris"),
    ("Emily", "Clark"),
    ("Daniel", "Lewis"),
    ("Ella", "Robinson"),
    ("Henry", "Walker"),
];

const STAFF: [(&str, &str, Role, &str); 5] = [
    ("Grace", "Hopper", Role::Teacher, "lincoln-hs"),
    ("Alan", "Turing", Role::Teacher, "roosevelt-hs"),
    ("Katherine", "Johnson", Role::Teacher, "lincoln-hs"),
    ("Margaret", "Hamilton", Role::Staff, "lincoln-hs"),
    ("Dennis", "Ritchie", Role::Administrator, "roosevelt-hs"),
];

const CLASSES: [(&str, &str, &str); 6] = [
    ("lincoln-algebra-2", "Algebra II", "lincoln-hs"),
    ("lincoln-biology", "Biology", "lincoln-hs"),
    (
        "lincoln-cs-principles",
        "AP Computer Science Principles",
        "lincoln-hs",
    ),
    ("roosevelt-us-history", "U.S. History", "roosevelt-hs"),
    ("roosevelt-chemistry", "Chemistry", "roosevelt-hs"),
    ("roosevelt-english-11", "English 11", "roosevelt-hs"),
];

fn username(given: &str, family: &str) -> String {
    format!(
        "{}.{}",
        given.to_ascii_lowercase(),
        family.to_ascii_lowercase()
    )
}

/// Loads the demo data set.
///
/// # Errors
/// A store failure (records that already exist are skipped, not errors).
pub async fn demo(dir: &Directory) -> Result<SeedReport> {
    let actor = Actor::system("seed");
    let mut report = SeedReport::default();
    for (name, display) in [
        ("lincoln-hs", "Lincoln High School"),
        ("roosevelt-hs", "Roosevelt High School"),
    ] {
        let g = NewGroup {
            name: name.into(),
            display_name: Some(display.into()),
            kind: GroupKind::School,
            school: Some(name.into()),
            ..NewGroup::default()
        };
        report.record(dir.create_group(&actor, g).await)?;
    }
    for (name, display, school) in CLASSES {
        let g = NewGroup {
            name: name.into(),
            display_name: Some(display.into()),
            kind: GroupKind::Class,
            school: Some(school.into()),
            ..NewGroup::default()
        };
        report.record(dir.create_group(&actor, g).await)?;
    }
    for (name, display) in [
        ("all-staff", "All staff"),
        ("student-wifi", "Student Wi-Fi access"),
    ] {
        let g = NewGroup {
            name: name.into(),
            display_name: Some(display.into()),
            kind: GroupKind::Security,
            ..NewGroup::default()
        };
        report.record(dir.create_group(&actor, g).await)?;
    }

    let mut usernames = Vec::new();
    for (i, (given, family)) in STUDENTS.iter().enumerate() {
        let grade = 9 + i16::try_from(i % 4).unwrap_or(0);
        let school = if i % 2 == 0 {
            "lincoln-hs"
        } else {
            "roosevelt-hs"
        };
        let class = CLASSES
            .iter()
            .filter(|c| c.2 == school)
            .nth(i % 3)
            .map_or("", |c| c.0);
        let u = NewUser {
            external_id: Some(format!("SIS-{}", 100_001 + i)),
            username: username(given, family),
            given_name: (*given).into(),
            family_name: (*family).into(),
            email: Some(format!("{}@students.example.org", username(given, family))),
            role: Role::Student,
            grade: Some(grade),
            school: Some(school.into()),
            status: Some(UserStatus::Pending),
            groups: vec![school.into(), class.into(), "student-wifi".into()],
        };
        usernames.push(u.username.clone());
        report.record(dir.create_user(&actor, u).await)?;
    }
    for (i, (given, family, role, school)) in STAFF.iter().enumerate() {
        let u = NewUser {
            external_id: Some(format!("EMP-{}", 5_001 + i)),
            username: username(given, family),
            given_name: (*given).into(),
            family_name: (*family).into(),
            email: Some(format!("{}@example.org", username(given, family))),
            role: *role,
            grade: None,
            school: Some((*school).into()),
            status: Some(UserStatus::Pending),
            groups: vec![(*school).into(), "all-staff".into()],
        };
        report.record(dir.create_user(&actor, u).await)?;
    }

    for p in demo_policies() {
        report.record(dir.create_policy(&actor, p).await)?;
    }

    for (i, d) in demo_devices().into_iter().enumerate() {
        let owner = dir
            .store()
            .get_user_by_username(&usernames[i])
            .await?
            .map(|u| u.id);
        report.record(
            dir.create_device(
                &actor,
                NewDevice {
                    assigned_user_id: owner,
                    ..d
                },
            )
            .await,
        )?;
    }
    Ok(report)
}

/// The demo person [`provision_demo`] leaves `pending`, to provision by hand in the tour.
pub const DEMO_LEFT_PENDING: &str = "henry.walker";

/// What [`provision_demo`] requested.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct DemoProvisioning {
    /// The batch of `provision` jobs, when any was requested.
    pub batch_id: Option<uuid::Uuid>,
    pub provisioned: usize,
}

/// Requests accounts for the demo people on the configured targets, the way an operator
/// would: one bulk `provision` for every `pending` demo person but [`DEMO_LEFT_PENDING`]. The
/// statuses change with the request; the workers carry it to the targets, and the sync state
/// shows the people whose accounts are still on their way. People who are no longer
/// `pending` are left alone, so running it again requests nothing.
///
/// # Errors
/// A store failure (then nothing was requested).
pub async fn provision_demo(dir: &Directory) -> Result<DemoProvisioning> {
    let mut ids = Vec::new();
    for username in STUDENTS
        .iter()
        .map(|(g, f)| username(g, f))
        .chain(STAFF.iter().map(|(g, f, _, _)| username(g, f)))
        .filter(|u| u != DEMO_LEFT_PENDING)
    {
        if let Some(u) = dir.store().get_user_by_username(&username).await? {
            if u.status == UserStatus::Pending {
                ids.push(u.id);
            }
        }
    }
    if ids.is_empty() {
        return Ok(DemoProvisioning::default());
    }
    let bulk = dir
        .request_bulk(
            &Actor::system("demo"),
            &ids,
            LifecycleOperation::Provision,
            &std::collections::HashMap::new(),
        )
        .await?;
    Ok(DemoProvisioning {
        batch_id: Some(bulk.batch_id),
        provisioned: bulk.jobs.len(),
    })
}

fn policy(
    name: &str,
    category: PolicyCategory,
    platforms: &[Platform],
    rule: serde_json::Value,
    severity: Severity,
    remediation: &str,
) -> NewPolicy {
    NewPolicy {
        name: name.into(),
        description: None,
        category,
        platforms: platforms.to_vec(),
        rule: PolicyRule(rule),
        severity,
        enabled: Some(true),
        remediation: Some(remediation.into()),
    }
}

fn demo_policies() -> Vec<NewPolicy> {
    use Platform::{Chromeos, Ipados, Macos, Windows};
    use PolicyCategory::{Network, Security, Updates};
    vec![
        policy(
            "disk-encryption",
            Security,
            &[Windows, Macos],
            json!({"fact": "disk_encryption", "op": "eq", "value": true}),
            Severity::High,
            "Turn on BitLocker (Windows) or FileVault (macOS) and escrow the recovery key.",
        ),
        policy(
            "screen-lock",
            Security,
            &[],
            json!({"fact": "screen_lock_minutes", "op": "lte", "value": 10}),
            Severity::Medium,
            "Set the screen to lock after at most 10 minutes idle.",
        ),
        policy(
            "antivirus-running",
            Security,
            &[Windows],
            json!({"fact": "antivirus.running", "op": "eq", "value": true}),
            Severity::High,
            "Re-enable Microsoft Defender real-time protection.",
        ),
        policy(
            "firewall-enabled",
            Network,
            &[Windows, Macos],
            json!({"fact": "firewall_enabled", "op": "eq", "value": true}),
            Severity::Medium,
            "Turn the host firewall on.",
        ),
        policy(
            "district-wifi-only",
            Network,
            &[Chromeos, Ipados],
            json!({"fact": "wifi_profile", "op": "in", "value": ["district-secure", "district-students"]}),
            Severity::Low,
            "Re-enroll the device so it receives the district Wi-Fi profile.",
        ),
        policy(
            "windows-current",
            Updates,
            &[Windows],
            json!({"fact": "os_version", "op": "version_gte", "value": "10.0.22631"}),
            Severity::High,
            "Install the latest Windows feature update.",
        ),
        policy(
            "apple-current",
            Updates,
            &[Macos, Ipados],
            json!({"fact": "os_version", "op": "version_gte", "value": "17.0"}),
            Severity::Medium,
            "Update to the current macOS or iPadOS release.",
        ),
    ]
}

fn device(
    serial: &str,
    name: &str,
    platform: Platform,
    model: &str,
    facts: serde_json::Value,
) -> NewDevice {
    let os_version = facts
        .get("os_version")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    NewDevice {
        serial_number: serial.into(),
        name: Some(name.into()),
        platform,
        model: Some(model.into()),
        os_version,
        assigned_user_id: None,
        facts: Some(facts),
        last_check_in_at: Some(cc_domain::now()),
    }
}

fn demo_devices() -> Vec<NewDevice> {
    use Platform::{Chromeos, Ipados, Macos, Windows};
    let win = |ok: bool, ver: &str| json!({"os_version": ver, "disk_encryption": ok, "screen_lock_minutes": 5, "antivirus": {"running": true}, "firewall_enabled": true});
    let mac = |enc: bool, ver: &str| json!({"os_version": ver, "disk_encryption": enc, "screen_lock_minutes": 5, "firewall_enabled": true});
    let chrome = |wifi: &str| json!({"os_version": "126.0.6478.132", "screen_lock_minutes": 5, "wifi_profile": wifi});
    let ipad = |ver: &str, lock: i64| json!({"os_version": ver, "screen_lock_minutes": lock, "wifi_profile": "district-students"});
    vec![
        device(
            "5CG1234WQ1",
            "LHS-WIN-001",
            Windows,
            "HP ProBook 450 G9",
            win(true, "10.0.22631"),
        ),
        device(
            "5CG1234WQ2",
            "LHS-WIN-002",
            Windows,
            "HP ProBook 450 G9",
            win(false, "10.0.22631"),
        ),
        device(
            "PF3ABCD1",
            "RHS-WIN-003",
            Windows,
            "Lenovo ThinkPad L14",
            win(true, "10.0.19045"),
        ),
        device(
            "PF3ABCD2",
            "RHS-WIN-004",
            Windows,
            "Lenovo ThinkPad L14",
            win(true, "10.0.22631"),
        ),
        device(
            "C02XK1JHJG51",
            "LHS-MAC-001",
            Macos,
            "MacBook Air (M2)",
            mac(true, "17.1"),
        ),
        device(
            "C02XK1JHJG52",
            "LHS-MAC-002",
            Macos,
            "MacBook Air (M2)",
            mac(false, "17.1"),
        ),
        device(
            "C02XK1JHJG53",
            "RHS-MAC-003",
            Macos,
            "iMac 24-inch",
            mac(true, "16.7"),
        ),
        device(
            "NXHQEAA0011",
            "LHS-CB-001",
            Chromeos,
            "Acer Chromebook 314",
            chrome("district-students"),
        ),
        device(
            "NXHQEAA0012",
            "RHS-CB-002",
            Chromeos,
            "Acer Chromebook 314",
            chrome("home-network"),
        ),
        device(
            "NXHQEAA0013",
            "RHS-CB-003",
            Chromeos,
            "Lenovo 300e Chromebook",
            chrome("district-secure"),
        ),
        device(
            "DMPXL0AAQ1GC",
            "LHS-IPAD-001",
            Ipados,
            "iPad (10th generation)",
            ipad("17.5", 2),
        ),
        device(
            "DMPXL0AAQ1GD",
            "RHS-IPAD-002",
            Ipados,
            "iPad (10th generation)",
            ipad("16.6", 15),
        ),
    ]
}
