//! The plan: what an import would change, computed from a [`Roster`] and a snapshot of the
//! directory, with no IO.
//!
//! Matching is by external id, then (optionally) by username for people the directory holds
//! without an external id — so a re-export where people were renamed still links to the same
//! records, and manually created people can be adopted. Every person lands in exactly one
//! category: created, updated (fields or memberships), moved (school or grade changed),
//! suspended, reactivated, unchanged, or blocked (the state machine forbids the change).

use std::collections::{HashMap, HashSet};

use cc_domain::{GroupKind, Role, User, UserStatus};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::model::{LifecycleOperation, Roster, RosterPerson, RowErrors, SchoolRef};

mod build;
pub use build::plan;

/// A group as the plan needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingGroup {
    pub id: Uuid,
    pub name: String,
    pub kind: GroupKind,
    pub external_id: Option<String>,
}

/// The directory as the plan sees it: every person (with group names) and every group.
#[derive(Debug, Clone, Default)]
pub struct DirectoryView {
    pub users: Vec<User>,
    pub groups: Vec<ExistingGroup>,
}

impl DirectoryView {
    /// Active people who carry an external id: the population a bulk file is compared with.
    #[must_use]
    pub fn sis_managed_active(&self) -> u64 {
        self.users
            .iter()
            .filter(|u| u.external_id.is_some() && u.status == UserStatus::Active)
            .count() as u64
    }

    #[must_use]
    pub fn active(&self) -> u64 {
        self.users
            .iter()
            .filter(|u| u.status == UserStatus::Active)
            .count() as u64
    }
}

/// How people are matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanOptions {
    /// After the external id, match by username people who have no external id yet.
    pub match_by_username: bool,
}

impl Default for PlanOptions {
    fn default() -> Self {
        Self {
            match_by_username: true,
        }
    }
}

/// The category of one person's change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Create,
    Update,
    Move,
    Suspend,
    Reactivate,
    Blocked,
}

/// Why a change is planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The file says so.
    InFile,
    /// Missing from a bulk file.
    AbsentFromBulkFile,
    /// `status=tobedeleted`.
    ToBeDeleted,
    /// `enabledUser=false` or `status=suspended`.
    Disabled,
    /// The person is deprovisioned; the import does not bring them back.
    Deprovisioned,
}

/// Directory fields an import can change, in a fixed order (bit positions).
pub const FIELDS: [&str; 8] = [
    "external_id",
    "username",
    "given_name",
    "family_name",
    "email",
    "role",
    "grade",
    "school",
];
const F_GRADE: u16 = 1 << 6;
const F_SCHOOL: u16 = 1 << 7;

/// One person's change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserChange {
    pub kind: ChangeKind,
    /// Index into [`DirectoryView::users`]; `None` for a create.
    pub existing: Option<u32>,
    /// Index into [`Roster::people`]; `None` for an absence.
    pub person: Option<u32>,
    /// Changed fields, as bits over [`FIELDS`].
    pub fields: u16,
    /// The new status, when it changes (or the initial status of a create).
    pub status: Option<UserStatus>,
    /// Indices into [`Plan::group_names`].
    pub groups_add: Vec<u32>,
    pub groups_remove: Vec<u32>,
    pub reason: Reason,
}

impl UserChange {
    /// Names of the changed fields.
    pub fn field_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        FIELDS
            .iter()
            .enumerate()
            .filter(move |(i, _)| self.fields & (1 << i) != 0)
            .map(|(_, f)| *f)
    }

    /// The lifecycle job this change asks for, if any.
    #[must_use]
    pub fn operation(&self, current: Option<UserStatus>) -> Option<LifecycleOperation> {
        match self.kind {
            ChangeKind::Create => {
                (self.status == Some(UserStatus::Active)).then_some(LifecycleOperation::Provision)
            }
            ChangeKind::Reactivate => Some(LifecycleOperation::Provision),
            ChangeKind::Suspend => Some(LifecycleOperation::Suspend),
            ChangeKind::Update | ChangeKind::Move => match current {
                Some(UserStatus::Active | UserStatus::Suspended) => {
                    Some(LifecycleOperation::Update)
                }
                _ => None,
            },
            ChangeKind::Blocked => None,
        }
    }
}

/// A group the import creates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewGroupPlan {
    pub name: String,
    pub display_name: String,
    pub kind: GroupKind,
    pub school: Option<String>,
    pub external_id: Option<String>,
}

/// How many of each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanCounts {
    /// Data rows in the people file.
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    pub moved: u64,
    pub suspended: u64,
    pub reactivated: u64,
    pub unchanged: u64,
    pub blocked: u64,
    /// Rows that are not directory people, and departures of people the directory never had.
    pub skipped: u64,
    /// Row errors (reading and planning).
    pub errors: u64,
    pub groups_created: u64,
    pub memberships_added: u64,
    pub memberships_removed: u64,
    /// Lifecycle jobs an apply enqueues.
    pub lifecycle_jobs: u64,
}

impl PlanCounts {
    /// Whether applying would change nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.created
            + self.updated
            + self.moved
            + self.suspended
            + self.reactivated
            + self.groups_created
            == 0
    }
}

/// The planned changes.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub changes: Vec<UserChange>,
    /// Names of the groups changes refer to.
    pub group_names: Vec<String>,
    pub new_groups: Vec<NewGroupPlan>,
    pub counts: PlanCounts,
    /// Problems found while planning (e.g. a username another person holds).
    pub errors: RowErrors,
    /// Schools found through the directory (by org id) for people whose school the export
    /// names differently or does not describe.
    pub org_schools: HashMap<u32, String>,
}

impl Plan {
    /// The record a change leads to. `id` names a created person.
    #[must_use]
    pub fn target(
        &self,
        change: &UserChange,
        roster: &Roster,
        dir: &DirectoryView,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> User {
        let person = change.person.map(|i| &roster.people[i as usize]);
        let school_of = |p: &RosterPerson| match &p.school {
            None => None,
            Some(SchoolRef::Name(n)) => Some(
                change
                    .person
                    .and_then(|i| self.org_schools.get(&i).cloned())
                    .unwrap_or_else(|| n.clone()),
            ),
            Some(SchoolRef::Org(_)) => change
                .person
                .and_then(|i| self.org_schools.get(&i).cloned()),
        };
        match change.existing {
            None => {
                let p = person.expect("a create has a person");
                let mut groups: Vec<String> = change
                    .groups_add
                    .iter()
                    .map(|&g| self.group_names[g as usize].clone())
                    .collect();
                groups.sort();
                User {
                    id,
                    external_id: Some(p.external_id.clone()),
                    username: p.username.clone(),
                    given_name: p.given_name.clone(),
                    family_name: p.family_name.clone(),
                    email: p.email.clone(),
                    role: p.role,
                    grade: if p.role == Role::Student {
                        p.grade
                    } else {
                        None
                    },
                    school: school_of(p),
                    status: change.status.unwrap_or(UserStatus::Active),
                    groups,
                    version: 1,
                    created_at: now,
                    updated_at: now,
                    sync: None,
                }
            }
            Some(ei) => {
                let e = &dir.users[ei as usize];
                let mut u = e.clone();
                if let Some(p) = person {
                    for f in change.field_names() {
                        match f {
                            "external_id" => u.external_id = Some(p.external_id.clone()),
                            "username" => u.username.clone_from(&p.username),
                            "given_name" => u.given_name.clone_from(&p.given_name),
                            "family_name" => u.family_name.clone_from(&p.family_name),
                            "email" => u.email.clone_from(&p.email),
                            "role" => u.role = p.role,
                            "grade" => u.grade = p.grade,
                            "school" => u.school = school_of(p),
                            _ => {}
                        }
                    }
                }
                if let Some(s) = change.status {
                    u.status = s;
                }
                if !change.groups_add.is_empty() || !change.groups_remove.is_empty() {
                    let remove: HashSet<&str> = change
                        .groups_remove
                        .iter()
                        .map(|&g| self.group_names[g as usize].as_str())
                        .collect();
                    u.groups.retain(|g| !remove.contains(g.as_str()));
                    u.groups.extend(
                        change
                            .groups_add
                            .iter()
                            .map(|&g| self.group_names[g as usize].clone()),
                    );
                    u.groups.sort();
                    u.groups.dedup();
                }
                if change.kind != ChangeKind::Blocked {
                    u.version = e.version + 1;
                    u.updated_at = now;
                }
                u
            }
        }
    }

    /// A digest of everything the plan would do, to tell whether a later re-plan is the same.
    #[must_use]
    pub fn fingerprint(&self, roster: &Roster, dir: &DirectoryView) -> String {
        let mut h = Sha256::new();
        let epoch = DateTime::<Utc>::UNIX_EPOCH;
        for c in &self.changes {
            let t = self.target(c, roster, dir, Uuid::nil(), epoch);
            let before = c
                .existing
                .map(|i| (dir.users[i as usize].id, dir.users[i as usize].version));
            let line = format!(
                "{:?}|{:?}|{}|{:?}|{:?}|{}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}\n",
                c.kind,
                before,
                c.fields,
                c.status,
                t.external_id,
                t.username,
                t.given_name,
                t.family_name,
                t.email,
                t.role,
                t.grade,
                t.school,
                t.groups
            );
            h.update(line.as_bytes());
        }
        for g in &self.new_groups {
            h.update(format!("{g:?}\n").as_bytes());
        }
        hex::encode(h.finalize())
    }
}
