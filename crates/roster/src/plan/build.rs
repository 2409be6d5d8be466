//! Computing the plan, phase by phase: index the directory and the roster, plan each person
//! (match, school, then a create or a change of an existing record), suspend whoever a bulk
//! file leaves out, list the groups to create, and count.

use std::collections::{HashMap, HashSet};

use cc_domain::{GroupKind, User, UserStatus};

use super::{
    ChangeKind, DirectoryView, NewGroupPlan, Plan, PlanCounts, PlanOptions, Reason, UserChange,
    F_GRADE, F_SCHOOL,
};
use crate::model::{DesiredStatus, FileMode, Format, Roster, RosterPerson, RowError, SchoolRef};

/// Computes the plan.
#[must_use]
pub fn plan(roster: &Roster, dir: &DirectoryView, opts: PlanOptions) -> Plan {
    let mut planner = Planner::new(roster, dir, opts);
    for (pi, p) in roster.people.iter().enumerate() {
        planner.person(u32::try_from(pi).unwrap_or(u32::MAX), p);
    }
    // Whoever a bulk file leaves out has left.
    if roster.users_mode == FileMode::Bulk {
        planner.absentees();
    }
    planner.finish()
}

/// Lookups over the directory and the roster, built once before any person is planned.
struct Index<'a> {
    /// The file row errors name, and the field an unknown org is reported on.
    users_file: &'static str,
    org_field: &'static str,
    by_ext: HashMap<&'a str, u32>,
    by_username: HashMap<&'a str, u32>,
    by_email: HashMap<&'a str, u32>,
    group_kind: HashMap<&'a str, GroupKind>,
    school_by_ext: HashMap<&'a str, &'a str>,
    class_by_ext: HashMap<&'a str, &'a str>,
    /// A school the directory already holds under the same org id keeps the directory's name.
    school_rename: HashMap<&'a str, &'a str>,
    /// Class names as the directory knows them (an existing group with the class's id keeps
    /// its name), by index into [`Roster::classes`].
    class_names: Vec<String>,
    /// Enrollments a delta file ends, by person external id.
    removals: HashMap<&'a str, Vec<u32>>,
    /// External ids of people whose rows had errors (never suspended as absent).
    errored: HashSet<&'a str>,
}

impl<'a> Index<'a> {
    fn new(roster: &'a Roster, dir: &'a DirectoryView) -> Self {
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
        let group_kind = dir
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
        let school_rename = roster
            .schools
            .iter()
            .filter_map(|s| {
                let existing = school_by_ext.get(s.external_id.as_deref()?)?;
                (*existing != s.name).then_some((s.name.as_str(), *existing))
            })
            .collect();
        let class_names = roster
            .classes
            .iter()
            .map(|c| {
                c.external_id
                    .as_deref()
                    .and_then(|x| class_by_ext.get(x))
                    .map_or_else(|| c.name.clone(), |n| (*n).to_owned())
            })
            .collect();
        let mut removals: HashMap<&str, Vec<u32>> = HashMap::new();
        for (ext, ci) in &roster.enrollment_removals {
            removals.entry(ext.as_str()).or_default().push(*ci);
        }
        Self {
            users_file,
            org_field,
            by_ext,
            by_username,
            by_email,
            group_kind,
            school_by_ext,
            class_by_ext,
            school_rename,
            class_names,
            removals,
            errored: roster.errored_ids.iter().map(String::as_str).collect(),
        }
    }

    fn error(&self, line: u64, field: &str, message: &str) -> RowError {
        RowError {
            file: self.users_file.to_owned(),
            line,
            field: field.to_owned(),
            message: message.to_owned(),
        }
    }

    fn taken(&self, line: u64, field: &str) -> RowError {
        self.error(
            line,
            field,
            "is already used by another person in the directory",
        )
    }
}

/// Group names interned to the indices changes carry.
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

/// The plan under construction.
struct Planner<'a> {
    roster: &'a Roster,
    dir: &'a DirectoryView,
    opts: PlanOptions,
    ix: Index<'a>,
    out: Plan,
    counts: PlanCounts,
    names: Interner,
    /// Classes and schools some person is placed in (their groups may need creating).
    class_used: Vec<bool>,
    schools_used: HashSet<String>,
    /// Directory people the file mentions.
    seen: Vec<bool>,
}

impl<'a> Planner<'a> {
    fn new(roster: &'a Roster, dir: &'a DirectoryView, opts: PlanOptions) -> Self {
        Self {
            roster,
            dir,
            opts,
            ix: Index::new(roster, dir),
            out: Plan::default(),
            counts: PlanCounts {
                rows: roster.user_rows,
                skipped: roster.skipped_roles,
                ..PlanCounts::default()
            },
            names: Interner {
                names: Vec::new(),
                index: HashMap::new(),
            },
            class_used: vec![false; roster.classes.len()],
            schools_used: HashSet::new(),
            seen: vec![false; dir.users.len()],
        }
    }

    /// Plans one person of the file.
    fn person(&mut self, pi: u32, p: &RosterPerson) {
        let (matched, linking) = self.match_person(p);
        if let Some(i) = matched {
            self.seen[i as usize] = true;
        }
        let school = match self.school_of(pi, p) {
            Ok(s) => s,
            Err(e) => {
                self.out.errors.push(e);
                return;
            }
        };
        match matched {
            None => self.create(pi, p, school),
            Some(ei) => self.existing(pi, p, ei, linking, school),
        }
    }

    /// The directory person this one is, by external id, else (when allowed) by the username
    /// of somebody without an external id — then `linking` is true.
    fn match_person(&self, p: &RosterPerson) -> (Option<u32>, bool) {
        if let Some(&i) = self.ix.by_ext.get(p.external_id.as_str()) {
            return (Some(i), false);
        }
        if self.opts.match_by_username && p.status != DesiredStatus::Deleted {
            if let Some(&i) = self.ix.by_username.get(p.username.as_str()) {
                if self.dir.users[i as usize].external_id.is_none() {
                    return (Some(i), true);
                }
            }
        }
        (None, false)
    }

    /// The school the person belongs to, by name; an org nobody knows is a row error.
    fn school_of(&mut self, pi: u32, p: &RosterPerson) -> Result<Option<String>, RowError> {
        Ok(match &p.school {
            None => None,
            Some(SchoolRef::Name(n)) => match self.ix.school_rename.get(n.as_str()) {
                Some(existing) => {
                    self.out.org_schools.insert(pi, (*existing).to_owned());
                    Some((*existing).to_owned())
                }
                None => Some(n.clone()),
            },
            Some(SchoolRef::Org(x)) => {
                match self.ix.school_by_ext.get(x.as_str()) {
                    Some(n) => {
                        self.out.org_schools.insert(pi, (*n).to_owned());
                        Some((*n).to_owned())
                    }
                    None if p.status == DesiredStatus::Deleted => None,
                    None => return Err(self.ix.error(
                        p.line,
                        self.ix.org_field,
                        "names an org that is neither in orgs.csv nor a school in the directory",
                    )),
                }
            }
        })
    }

    /// Somebody new.
    fn create(&mut self, pi: u32, p: &RosterPerson, school: Option<String>) {
        match p.status {
            DesiredStatus::Deleted => {
                self.counts.skipped += 1;
                return;
            }
            DesiredStatus::Active | DesiredStatus::Disabled => {}
        }
        if self.ix.by_username.contains_key(p.username.as_str()) {
            self.out.errors.push(self.ix.taken(p.line, "username"));
            return;
        }
        if let Some(e) = &p.email {
            if self.ix.by_email.contains_key(e.as_str()) {
                self.out.errors.push(self.ix.taken(p.line, "email"));
                return;
            }
        }
        let mut add = Vec::new();
        if let Some(s) = &school {
            self.schools_used.insert(s.clone());
            add.push(self.names.get(s));
        }
        for &ci in &p.classes {
            self.class_used[ci as usize] = true;
            add.push(self.names.get(&self.ix.class_names[ci as usize]));
        }
        add.sort_unstable();
        add.dedup();
        let status = p.status.initial_status();
        self.counts.created += 1;
        self.counts.memberships_added += add.len() as u64;
        self.out.changes.push(UserChange {
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
    }

    /// A change to somebody the directory holds (at index `ei`).
    fn existing(
        &mut self,
        pi: u32,
        p: &RosterPerson,
        ei: u32,
        linking: bool,
        school: Option<String>,
    ) {
        let dir = self.dir;
        let e = &dir.users[ei as usize];
        if e.status == UserStatus::Deprovisioned {
            if p.status == DesiredStatus::Deleted {
                self.counts.unchanged += 1;
            } else {
                self.counts.blocked += 1;
                self.out.changes.push(status_change(
                    ChangeKind::Blocked,
                    ei,
                    Some(pi),
                    None,
                    Reason::Deprovisioned,
                ));
            }
            return;
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
                    self.counts.suspended += 1;
                    self.out.changes.push(status_change(
                        ChangeKind::Suspend,
                        ei,
                        Some(pi),
                        Some(s),
                        Reason::ToBeDeleted,
                    ));
                }
                None => self.counts.unchanged += 1,
            }
            return;
        }
        let fields = match self.changed_fields(p, e, ei, linking, school.as_deref()) {
            Ok(f) => f,
            Err(err) => {
                self.out.errors.push(err);
                return;
            }
        };
        let (add, remove) = self.memberships(p, e, school.as_ref());
        let kind = match next_status {
            Some(UserStatus::Active) => ChangeKind::Reactivate,
            Some(_) => ChangeKind::Suspend,
            None if fields & (F_GRADE | F_SCHOOL) != 0 => ChangeKind::Move,
            None if fields != 0 || !add.is_empty() || !remove.is_empty() => ChangeKind::Update,
            None => {
                self.counts.unchanged += 1;
                return;
            }
        };
        match kind {
            ChangeKind::Reactivate => self.counts.reactivated += 1,
            ChangeKind::Suspend => self.counts.suspended += 1,
            ChangeKind::Move => self.counts.moved += 1,
            _ => self.counts.updated += 1,
        }
        self.counts.memberships_added += add.len() as u64;
        self.counts.memberships_removed += remove.len() as u64;
        self.out.changes.push(UserChange {
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

    /// The changed fields, as bits over [`super::FIELDS`]; a username or e-mail another person
    /// holds is a row error.
    fn changed_fields(
        &self,
        p: &RosterPerson,
        e: &User,
        ei: u32,
        linking: bool,
        school: Option<&str>,
    ) -> Result<u16, RowError> {
        let mut fields = 0u16;
        if linking {
            fields |= 1;
        }
        if p.username != e.username {
            if self
                .ix
                .by_username
                .get(p.username.as_str())
                .is_some_and(|&o| o != ei)
            {
                return Err(self.ix.taken(p.line, "username"));
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
                if self.ix.by_email.get(m.as_str()).is_some_and(|&o| o != ei) {
                    return Err(self.ix.taken(p.line, "email"));
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
        if school != e.school.as_deref() {
            fields |= F_SCHOOL;
        }
        Ok(fields)
    }

    /// Memberships the import manages, to add and to remove: school groups always, class
    /// groups when the file has classes.
    fn memberships(
        &mut self,
        p: &RosterPerson,
        e: &User,
        school: Option<&String>,
    ) -> (Vec<u32>, Vec<u32>) {
        let mut add = Vec::new();
        let mut remove = Vec::new();
        let group_kind = &self.ix.group_kind;
        let kind_of = |name: &str| group_kind.get(name).copied();
        if let Some(s) = school {
            self.schools_used.insert(s.clone());
            if !e.groups.iter().any(|g| g == s) {
                add.push(self.names.get(s));
            }
        }
        for g in &e.groups {
            if kind_of(g) == Some(GroupKind::School)
                && school.map(String::as_str) != Some(g.as_str())
            {
                remove.push(self.names.get(g));
            }
        }
        if self.roster.class_mode != FileMode::Absent {
            let class_used = &mut self.class_used;
            let class_names = &self.ix.class_names;
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
                    add.push(self.names.get(d));
                }
            }
            if self.roster.class_mode == FileMode::Bulk {
                for g in &e.groups {
                    if kind_of(g) == Some(GroupKind::Class) && !desired.contains(&g.as_str()) {
                        remove.push(self.names.get(g));
                    }
                }
            } else if let Some(rm) = self.ix.removals.get(p.external_id.as_str()) {
                for &ci in rm {
                    let n = class_names[ci as usize].as_str();
                    if e.groups.iter().any(|g| g == n) && !desired.contains(&n) {
                        remove.push(self.names.get(n));
                    }
                }
            }
        }
        add.sort_unstable();
        add.dedup();
        remove.sort_unstable();
        remove.dedup();
        (add, remove)
    }

    /// Suspends the SIS-managed active people a bulk file leaves out.
    fn absentees(&mut self) {
        let dir = self.dir;
        for (i, u) in dir.users.iter().enumerate() {
            let Some(x) = &u.external_id else { continue };
            if self.seen[i]
                || u.status != UserStatus::Active
                || self.ix.errored.contains(x.as_str())
            {
                continue;
            }
            self.counts.suspended += 1;
            self.out.changes.push(status_change(
                ChangeKind::Suspend,
                u32::try_from(i).unwrap_or(u32::MAX),
                None,
                Some(UserStatus::Suspended),
                Reason::AbsentFromBulkFile,
            ));
        }
    }

    /// Groups to create: schools and classes people are placed in that the directory lacks.
    fn new_groups(&self) -> Vec<NewGroupPlan> {
        let group_kind = &self.ix.group_kind;
        let mut new_groups: Vec<NewGroupPlan> = Vec::new();
        let mut new_group_names: HashSet<String> = HashSet::new();
        for s in &self.roster.schools {
            if self.schools_used.contains(&s.name)
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
        let mut used_schools: Vec<&String> = self.schools_used.iter().collect();
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
        for (ci, c) in self.roster.classes.iter().enumerate() {
            let name = &self.ix.class_names[ci];
            if self.class_used[ci]
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
                .is_some_and(|x| self.ix.class_by_ext.contains_key(x))
            {
                g.external_id = None;
            }
        }
        new_groups
    }

    /// The groups to create, the totals, and the plan.
    fn finish(self) -> Plan {
        let new_groups = self.new_groups();
        let Self {
            roster,
            dir,
            mut out,
            mut counts,
            names,
            ..
        } = self;
        counts.groups_created = new_groups.len() as u64;
        counts.errors = roster.errors.total() + out.errors.total();
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
}

/// A change of status only (no fields, no memberships).
fn status_change(
    kind: ChangeKind,
    existing: u32,
    person: Option<u32>,
    status: Option<UserStatus>,
    reason: Reason,
) -> UserChange {
    UserChange {
        kind,
        existing: Some(existing),
        person,
        fields: 0,
        status,
        groups_add: Vec::new(),
        groups_remove: Vec::new(),
        reason,
    }
}
