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

use crate::model::{
    DesiredStatus, FileMode, Format, LifecycleOperation, Roster, RosterPerson, RowError, SchoolRef,
};

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
    pub errors: Vec<RowError>,
    /// Schools found through the directory (by org id) for people whose school the export
    /// names differently or does not describe.
    pub org_schools: HashMap<u32, String>,
}

struct Interner {
    names: Vec<String>,
    index: HashMap<String, u32>,
}

impl Interner {
    fn get(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(name.to_owned());
        self.index.insert(name.to_owned(), i);
        i
    }
}

/// Computes the plan.
#[must_use]
#[allow(clippy::too_many_lines)]
pub fn plan(roster: &Roster, dir: &DirectoryView, opts: PlanOptions) -> Plan {
    let users_file = match roster.format {
        Some(Format::Csv) => "roster.csv",
        _ => "users.csv",
    };
    let org_field = match roster.format {
        Some(Format::OneRoster11) => "orgSourcedIds",
        Some(Format::Sds) => "roles.csv:orgSourcedId",
        _ => "primaryOrgSourcedId",
    };
    let mut by_ext: HashMap<&str, u32> = HashMap::with_capacity(dir.users.len());
    let mut by_username: HashMap<&str, u32> = HashMap::with_capacity(dir.users.len());
    let mut by_email: HashMap<&str, u32> = HashMap::new();
    for (i, u) in dir.users.iter().enumerate() {
        let i = u32::try_from(i).unwrap_or(u32::MAX);
        if let Some(x) = &u.external_id {
            by_ext.insert(x, i);
        }
        by_username.insert(&u.username, i);
        if let Some(e) = &u.email {
            by_email.insert(e, i);
        }
    }
    let group_kind: HashMap<&str, GroupKind> = dir
        .groups
        .iter()
        .map(|g| (g.name.as_str(), g.kind))
        .collect();
    let school_by_ext: HashMap<&str, &str> = dir
        .groups
        .iter()
        .filter(|g| g.kind == GroupKind::School)
        .filter_map(|g| g.external_id.as_deref().map(|x| (x, g.name.as_str())))
        .collect();
    let class_by_ext: HashMap<&str, &str> = dir
        .groups
        .iter()
        .filter_map(|g| g.external_id.as_deref().map(|x| (x, g.name.as_str())))
        .collect();

    // A school the directory already holds under the same org id keeps the directory's name.
    let school_rename: HashMap<&str, &str> = roster
        .schools
        .iter()
        .filter_map(|s| {
            let existing = school_by_ext.get(s.external_id.as_deref()?)?;
            (*existing != s.name).then_some((s.name.as_str(), *existing))
        })
        .collect();
    let mut out = Plan::default();
    let mut names = Interner {
        names: Vec::new(),
        index: HashMap::new(),
    };
    let mut new_groups: Vec<NewGroupPlan> = Vec::new();
    let mut new_group_names: HashSet<String> = HashSet::new();

    // Class names as the directory knows them (an existing group with the class's id keeps its name).
    let class_names: Vec<String> = roster
        .classes
        .iter()
        .map(|c| {
            c.external_id
                .as_deref()
                .and_then(|x| class_by_ext.get(x))
                .map_or_else(|| c.name.clone(), |n| (*n).to_owned())
        })
        .collect();
    let mut class_used = vec![false; roster.classes.len()];
    let mut schools_used: HashSet<String> = HashSet::new();

    let mut removals: HashMap<&str, Vec<u32>> = HashMap::new();
    for (ext, ci) in &roster.enrollment_removals {
        removals.entry(ext.as_str()).or_default().push(*ci);
    }

    let mut seen = vec![false; dir.users.len()];
    let errored: HashSet<&str> = roster.errored_ids.iter().map(String::as_str).collect();
    let mut counts = PlanCounts {
        rows: roster.user_rows,
        skipped: roster.skipped_roles,
        ..PlanCounts::default()
    };
    let err = |line: u64, field: &str, message: &str| RowError {
        file: users_file.to_owned(),
        line,
        field: field.to_owned(),
        message: message.to_owned(),
    };

    for (pi, p) in roster.people.iter().enumerate() {
        let pi = u32::try_from(pi).unwrap_or(u32::MAX);
        let mut matched = by_ext.get(p.external_id.as_str()).copied();
        let mut linking = false;
        if matched.is_none() && opts.match_by_username && p.status != DesiredStatus::Deleted {
            if let Some(&i) = by_username.get(p.username.as_str()) {
                if dir.users[i as usize].external_id.is_none() {
                    matched = Some(i);
                    linking = true;
                }
            }
        }
        if let Some(i) = matched {
            seen[i as usize] = true;
        }
        // The school the person belongs to, by name.
        let school: Option<String> = match &p.school {
            None => None,
            Some(SchoolRef::Name(n)) => match school_rename.get(n.as_str()) {
                Some(existing) => {
                    out.org_schools.insert(pi, (*existing).to_owned());
                    Some((*existing).to_owned())
                }
                None => Some(n.clone()),
            },
            Some(SchoolRef::Org(x)) => {
                match school_by_ext.get(x.as_str()) {
                    Some(n) => {
                        out.org_schools.insert(pi, (*n).to_owned());
                        Some((*n).to_owned())
                    }
                    None if p.status == DesiredStatus::Deleted => None,
                    None => {
                        out.errors.push(err(p.line, org_field, "names an org that is neither in orgs.csv nor a school in the directory"));
                        continue;
                    }
                }
            }
        };

        let Some(ei) = matched else {
            // Somebody new.
            match p.status {
                DesiredStatus::Deleted => {
                    counts.skipped += 1;
                    continue;
                }
                DesiredStatus::Active | DesiredStatus::Disabled => {}
            }
            if let Some(&other) = by_username.get(p.username.as_str()) {
                let _ = other;
                out.errors.push(err(
                    p.line,
                    "username",
                    "is already used by another person in the directory",
                ));
                continue;
            }
            if let Some(e) = &p.email {
                if by_email.contains_key(e.as_str()) {
                    out.errors.push(err(
                        p.line,
                        "email",
                        "is already used by another person in the directory",
                    ));
                    continue;
                }
            }
            let mut add = Vec::new();
            if let Some(s) = &school {
                schools_used.insert(s.clone());
                add.push(names.get(s));
            }
            for &ci in &p.classes {
                class_used[ci as usize] = true;
                add.push(names.get(&class_names[ci as usize]));
            }
            add.sort_unstable();
            add.dedup();
            let status = p.status.initial_status();
            counts.created += 1;
            counts.memberships_added += add.len() as u64;
            out.changes.push(UserChange {
                kind: ChangeKind::Create,
                existing: None,
                person: Some(pi),
                fields: 0,
                status: Some(status),
                groups_add: add,
                groups_remove: Vec::new(),
                reason: if status == UserStatus::Active {
                    Reason::InFile
                } else {
                    Reason::Disabled
                },
            });
            continue;
        };

        let e = &dir.users[ei as usize];
        if e.status == UserStatus::Deprovisioned {
            if p.status == DesiredStatus::Deleted {
                counts.unchanged += 1;
            } else {
                counts.blocked += 1;
                out.changes.push(UserChange {
                    kind: ChangeKind::Blocked,
                    existing: Some(ei),
                    person: Some(pi),
                    fields: 0,
                    status: None,
                    groups_add: Vec::new(),
                    groups_remove: Vec::new(),
                    reason: Reason::Deprovisioned,
                });
            }
            continue;
        }
        let next_status = match (p.status, e.status) {
            (DesiredStatus::Active, UserStatus::Pending | UserStatus::Suspended) => {
                Some(UserStatus::Active)
            }
            (DesiredStatus::Disabled | DesiredStatus::Deleted, UserStatus::Active) => {
                Some(UserStatus::Suspended)
            }
            _ => None,
        }
        .filter(|s| e.status.can_become(*s));
        if p.status == DesiredStatus::Deleted {
            match next_status {
                Some(s) => {
                    counts.suspended += 1;
                    out.changes.push(UserChange {
                        kind: ChangeKind::Suspend,
                        existing: Some(ei),
                        person: Some(pi),
                        fields: 0,
                        status: Some(s),
                        groups_add: Vec::new(),
                        groups_remove: Vec::new(),
                        reason: Reason::ToBeDeleted,
                    });
                }
                None => counts.unchanged += 1,
            }
            continue;
        }

        // Field by field.
        let mut fields = 0u16;
        if linking {
            fields |= 1;
        }
        if p.username != e.username {
            if by_username
                .get(p.username.as_str())
                .is_some_and(|&o| o != ei)
            {
                out.errors.push(err(
                    p.line,
                    "username",
                    "is already used by another person in the directory",
                ));
                continue;
            }
            fields |= 1 << 1;
        }
        if p.given_name != e.given_name {
            fields |= 1 << 2;
        }
        if p.family_name != e.family_name {
            fields |= 1 << 3;
        }
        if p.email != e.email {
            if let Some(m) = &p.email {
                if by_email.get(m.as_str()).is_some_and(|&o| o != ei) {
                    out.errors.push(err(
                        p.line,
                        "email",
                        "is already used by another person in the directory",
                    ));
                    continue;
                }
            }
            fields |= 1 << 4;
        }
        if p.role != e.role {
            fields |= 1 << 5;
        }
        if p.grade != e.grade {
            fields |= F_GRADE;
        }
        if school != e.school {
            fields |= F_SCHOOL;
        }

        // Memberships the import manages: school groups always, class groups when the file has classes.
        let mut add = Vec::new();
        let mut remove = Vec::new();
        let kind_of = |name: &str| group_kind.get(name).copied();
        if let Some(s) = &school {
            schools_used.insert(s.clone());
            if !e.groups.iter().any(|g| g == s) {
                add.push(names.get(s));
            }
        }
        for g in &e.groups {
            if kind_of(g) == Some(GroupKind::School) && school.as_deref() != Some(g.as_str()) {
                remove.push(names.get(g));
            }
        }
        if roster.class_mode != FileMode::Absent {
            let desired: Vec<&str> = p
                .classes
                .iter()
                .map(|&ci| {
                    class_used[ci as usize] = true;
                    class_names[ci as usize].as_str()
                })
                .collect();
            for d in &desired {
                if !e.groups.iter().any(|g| g == d) {
                    add.push(names.get(d));
                }
            }
            if roster.class_mode == FileMode::Bulk {
                for g in &e.groups {
                    if kind_of(g) == Some(GroupKind::Class) && !desired.contains(&g.as_str()) {
                        remove.push(names.get(g));
                    }
                }
            } else if let Some(rm) = removals.get(p.external_id.as_str()) {
                for &ci in rm {
                    let n = class_names[ci as usize].as_str();
                    if e.groups.iter().any(|g| g == n) && !desired.contains(&n) {
                        remove.push(names.get(n));
                    }
                }
            }
        }
        add.sort_unstable();
        add.dedup();
        remove.sort_unstable();
        remove.dedup();

        let kind = match next_status {
            Some(UserStatus::Active) => ChangeKind::Reactivate,
            Some(_) => ChangeKind::Suspend,
            None if fields & (F_GRADE | F_SCHOOL) != 0 => ChangeKind::Move,
            None if fields != 0 || !add.is_empty() || !remove.is_empty() => ChangeKind::Update,
            None => {
                counts.unchanged += 1;
                continue;
            }
        };
        match kind {
            ChangeKind::Reactivate => counts.reactivated += 1,
            ChangeKind::Suspend => counts.suspended += 1,
            ChangeKind::Move => counts.moved += 1,
            _ => counts.updated += 1,
        }
        counts.memberships_added += add.len() as u64;
        counts.memberships_removed += remove.len() as u64;
        out.changes.push(UserChange {
            kind,
            existing: Some(ei),
            person: Some(pi),
            fields,
            status: next_status,
            groups_add: add,
            groups_remove: remove,
            reason: if kind == ChangeKind::Suspend {
                Reason::Disabled
            } else {
                Reason::InFile
            },
        });
    }

    // Whoever a bulk file leaves out has left: suspend SIS-managed active people.
    if roster.users_mode == FileMode::Bulk {
        for (i, u) in dir.users.iter().enumerate() {
            let Some(x) = &u.external_id else { continue };
            if seen[i] || u.status != UserStatus::Active || errored.contains(x.as_str()) {
                continue;
            }
            counts.suspended += 1;
            out.changes.push(UserChange {
                kind: ChangeKind::Suspend,
                existing: Some(u32::try_from(i).unwrap_or(u32::MAX)),
                person: None,
                fields: 0,
                status: Some(UserStatus::Suspended),
                groups_add: Vec::new(),
                groups_remove: Vec::new(),
                reason: Reason::AbsentFromBulkFile,
            });
        }
    }

    // Groups to create: schools and classes people are placed in that the directory lacks.
    for s in &roster.schools {
        if schools_used.contains(&s.name)
            && !group_kind.contains_key(s.name.as_str())
            && new_group_names.insert(s.name.clone())
        {
            new_groups.push(NewGroupPlan {
                name: s.name.clone(),
                display_name: s.display_name.clone(),
                kind: GroupKind::School,
                school: Some(s.name.clone()),
                external_id: s.external_id.clone(),
            });
        }
    }
    let mut used_schools: Vec<&String> = schools_used.iter().collect();
    used_schools.sort();
    for s in used_schools {
        if !group_kind.contains_key(s.as_str()) && new_group_names.insert(s.clone()) {
            new_groups.push(NewGroupPlan {
                name: s.clone(),
                display_name: s.clone(),
                kind: GroupKind::School,
                school: Some(s.clone()),
                external_id: None,
            });
        }
    }
    for (ci, c) in roster.classes.iter().enumerate() {
        let name = &class_names[ci];
        if class_used[ci]
            && !group_kind.contains_key(name.as_str())
            && new_group_names.insert(name.clone())
        {
            new_groups.push(NewGroupPlan {
                name: name.clone(),
                display_name: c.display_name.clone(),
                kind: GroupKind::Class,
                school: c.school.clone(),
                external_id: c.external_id.clone(),
            });
        }
    }
    for g in &mut new_groups {
        if g.external_id
            .as_deref()
            .is_some_and(|x| class_by_ext.contains_key(x))
        {
            g.external_id = None;
        }
    }
    counts.groups_created = new_groups.len() as u64;
    counts.errors = (roster.errors.len() + out.errors.len()) as u64;
    counts.lifecycle_jobs = out
        .changes
        .iter()
        .filter(|c| {
            c.operation(
                c.existing
                    .map(|i| dir.users[i as usize].status)
                    .or(c.status),
            )
            .is_some()
        })
        .count() as u64;
    out.counts = counts;
    out.group_names = names.names;
    out.new_groups = new_groups;
    out
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
