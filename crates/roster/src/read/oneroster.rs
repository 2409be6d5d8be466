//! OneRoster 1.1 and 1.2 CSV: `manifest.csv`, `orgs.csv`, `users.csv`, and for 1.2 `roles.csv`;
//! `classes.csv` and `enrollments.csv` for class groups when present.
//!
//! Each file is `bulk`, `delta` or `absent` as the manifest says (`file.users = bulk`).
//! 1.1 puts a person's role and orgs on `users.csv` (`role`, `orgSourcedIds`); 1.2 puts them
//! in `roles.csv`, where the `primary` role counts.

use std::collections::HashMap;

use cc_domain::Role;

use super::people::{Columns, Draft, People};
use super::table::Table;
use super::Ctx;
use crate::model::{
    ClassInfo, DesiredStatus, FileIssue, FileMode, Format, IssueKind, RosterError, RowError,
    RowErrors, SchoolInfo, SchoolRef,
};
use crate::names::{parse_bool, slug};
use crate::source::SourceFiles;

/// What a OneRoster role means for the directory.
pub(crate) enum Mapped {
    Person(Role),
    /// Guardians, parents and relatives are not directory people.
    NotAPerson,
    Unknown,
}

/// student, teacher; administrator family → administrator; aide, proctor, counselor → staff;
/// guardian, parent, relative → not a person.
pub(crate) fn map_role(role: &str) -> Mapped {
    match role.trim().to_ascii_lowercase().as_str() {
        "student" => Mapped::Person(Role::Student),
        "teacher" => Mapped::Person(Role::Teacher),
        "administrator"
        | "districtadministrator"
        | "siteadministrator"
        | "systemadministrator"
        | "principal" => Mapped::Person(Role::Administrator),
        "aide" | "proctor" | "counselor" => Mapped::Person(Role::Staff),
        "guardian" | "parent" | "relative" => Mapped::NotAPerson,
        _ => Mapped::Unknown,
    }
}

fn manifest(files: &mut dyn SourceFiles) -> Result<HashMap<String, String>, RosterError> {
    let read = files
        .open("manifest.csv")?
        .ok_or_else(|| RosterError::Unrecognized("no manifest.csv".into()))?;
    let mut t = Table::open("manifest.csv", read, crate::Limits::default())?;
    t.require(&["propertyName", "value"])?;
    let (k, v) = (t.col("propertyName"), t.col("value"));
    let mut out: HashMap<String, (u64, String)> = HashMap::new();
    let mut duplicate = None;
    let (mut errors, mut issues) = (RowErrors::default(), Vec::new());
    t.for_each(&mut errors, &mut issues, |row, _| {
        let key = row.get(k).to_ascii_lowercase();
        if let Some((first, _)) = out.get(&key) {
            duplicate.get_or_insert(RosterError::DuplicateKey {
                file: "manifest.csv".into(),
                key: row.get(k).to_owned(),
                first: *first,
                second: row.line,
            });
            return;
        }
        out.insert(key, (row.line, row.get(v).to_owned()));
    })?;
    if let Some(e) = duplicate {
        return Err(e);
    }
    Ok(out.into_iter().map(|(k, (_, v))| (k, v)).collect())
}

/// The OneRoster version an export declares (`oneroster.version`); without one, 1.2 when a
/// `roles.csv` is present.
pub(crate) fn version(files: &mut dyn SourceFiles) -> Result<Format, RosterError> {
    let m = manifest(files)?;
    match m.get("oneroster.version").map(String::as_str) {
        Some(v) if v.starts_with("1.1") => Ok(Format::OneRoster11),
        Some(v) if v.starts_with("1.2") => Ok(Format::OneRoster12),
        Some(v) => Err(RosterError::Unrecognized(format!(
            "manifest.csv declares OneRoster {v}; versions 1.1 and 1.2 are supported"
        ))),
        None if files.names().iter().any(|n| n == "roles.csv") => Ok(Format::OneRoster12),
        None => Ok(Format::OneRoster11),
    }
}

struct Org {
    short: String,
    is_school: bool,
}

struct PrimaryRole {
    role: String,
    org: String,
    primary: bool,
}

pub(crate) fn read(
    files: &mut dyn SourceFiles,
    format: Format,
    ctx: &mut Ctx<'_>,
) -> Result<(), RosterError> {
    let m = manifest(files)?;
    let present = files.names();
    let mut modes: HashMap<String, FileMode> = HashMap::new();
    for (key, value) in &m {
        let Some(entity) = key.strip_prefix("file.") else {
            continue;
        };
        let mode = match value.trim().to_ascii_lowercase().as_str() {
            "bulk" => FileMode::Bulk,
            "delta" => FileMode::Delta,
            "absent" | "" => FileMode::Absent,
            other => {
                return Err(RosterError::Invalid(format!(
                    "manifest.csv: `{key}` must be bulk, delta or absent, not `{other}`"
                )))
            }
        };
        let file = format!("{}.csv", entity.to_ascii_lowercase());
        if mode != FileMode::Absent && !present.contains(&file) {
            ctx.roster.issues.push(FileIssue {
                kind: IssueKind::MissingFile,
                file: file.clone(),
                detail: format!(
                    "manifest.csv declares `{key}={value}` but {file} is not in the export"
                ),
            });
            modes.insert(file, FileMode::Absent);
        } else {
            modes.insert(file, mode);
        }
    }
    let mode = |f: &str| modes.get(f).copied().unwrap_or(FileMode::Absent);
    let limits = ctx.limits;

    let mut orgs: HashMap<String, Org> = HashMap::new();
    if mode("orgs.csv") != FileMode::Absent {
        if let Some(read) = files.open("orgs.csv")? {
            read_orgs(Table::open("orgs.csv", read, limits)?, ctx, &mut orgs)?;
        }
    }
    let orgs_complete = mode("orgs.csv") == FileMode::Bulk;

    let mut roles: HashMap<String, PrimaryRole> = HashMap::new();
    if format == Format::OneRoster12 && mode("roles.csv") != FileMode::Absent {
        if let Some(read) = files.open("roles.csv")? {
            read_roles(Table::open("roles.csv", read, limits)?, ctx, &mut roles)?;
        }
    }

    ctx.roster.users_mode = mode("users.csv");
    if ctx.roster.users_mode == FileMode::Absent {
        return Ok(());
    }
    let Some(read) = files.open("users.csv")? else {
        return Ok(());
    };
    let index = read_users(
        Table::open("users.csv", read, limits)?,
        format,
        ctx,
        &Lookups {
            orgs: &orgs,
            orgs_complete,
            roles: &roles,
        },
        mode("enrollments.csv") != FileMode::Absent,
    )?;
    drop(roles);

    let enrollments = mode("enrollments.csv");
    if enrollments != FileMode::Absent && mode("classes.csv") != FileMode::Absent {
        let mut class_index = HashMap::new();
        if let Some(read) = files.open("classes.csv")? {
            read_classes(
                Table::open("classes.csv", read, limits)?,
                ctx,
                &orgs,
                &mut class_index,
            )?;
        }
        if let Some(read) = files.open("enrollments.csv")? {
            read_enrollments(
                Table::open("enrollments.csv", read, limits)?,
                ctx,
                &class_index,
                &index,
            )?;
            ctx.roster.class_mode = enrollments;
        }
    }
    Ok(())
}

fn read_orgs(
    mut t: Table<'_>,
    ctx: &mut Ctx<'_>,
    orgs: &mut HashMap<String, Org>,
) -> Result<(), RosterError> {
    t.require(&["sourcedId", "name", "type"])?;
    let (sid, status, name, kind, ident) = (
        t.col("sourcedId"),
        t.col("status"),
        t.col("name"),
        t.col("type"),
        t.col("identifier"),
    );
    let mut errors = RowErrors::default();
    let mut issues = Vec::new();
    let file = t.name.clone();
    let mut schools = Vec::new();
    t.for_each(&mut errors, &mut issues, |row, errors| {
        if row.get(status).eq_ignore_ascii_case("tobedeleted") {
            return;
        }
        let id = row.get(sid);
        let Some(short) = slug(row.get(ident))
            .or_else(|| slug(row.get(name)))
            .or_else(|| slug(id))
        else {
            errors.push(RowError {
                file: file.clone(),
                line: row.line,
                field: "sourcedId".into(),
                message: "must not be empty".into(),
            });
            return;
        };
        let is_school = row.get(kind).eq_ignore_ascii_case("school");
        if is_school {
            let display = if row.get(name).is_empty() {
                short.clone()
            } else {
                row.get(name).to_owned()
            };
            schools.push(SchoolInfo {
                name: short.clone(),
                display_name: display,
                external_id: Some(id.to_owned()),
            });
        }
        orgs.insert(id.to_owned(), Org { short, is_school });
    })?;
    ctx.roster.schools.extend(schools);
    ctx.roster.errors.append(errors);
    ctx.roster.issues.extend(issues);
    Ok(())
}

fn read_roles(
    mut t: Table<'_>,
    ctx: &mut Ctx<'_>,
    roles: &mut HashMap<String, PrimaryRole>,
) -> Result<(), RosterError> {
    t.require(&["userSourcedId", "roleType", "role", "orgSourcedId"])?;
    let (user, status, kind, role, org) = (
        t.col("userSourcedId"),
        t.col("status"),
        t.col("roleType"),
        t.col("role"),
        t.col("orgSourcedId"),
    );
    let mut errors = RowErrors::default();
    let mut issues = Vec::new();
    t.for_each(&mut errors, &mut issues, |row, _| {
        if row.get(status).eq_ignore_ascii_case("tobedeleted") {
            return;
        }
        let primary = row.get(kind).eq_ignore_ascii_case("primary");
        let entry = roles.entry(row.get(user).to_owned());
        match entry {
            std::collections::hash_map::Entry::Occupied(mut o) => {
                if primary && !o.get().primary {
                    o.insert(PrimaryRole {
                        role: row.get(role).to_owned(),
                        org: row.get(org).to_owned(),
                        primary,
                    });
                }
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(PrimaryRole {
                    role: row.get(role).to_owned(),
                    org: row.get(org).to_owned(),
                    primary,
                });
            }
        }
    })?;
    ctx.roster.errors.append(errors);
    ctx.roster.issues.extend(issues);
    Ok(())
}

struct Lookups<'a> {
    orgs: &'a HashMap<String, Org>,
    /// The orgs file is a complete list: an unknown org is an error rather than a reference
    /// to resolve against the directory.
    orgs_complete: bool,
    roles: &'a HashMap<String, PrimaryRole>,
}

impl Lookups<'_> {
    /// The school for a list of org ids: the first known school; a district-level person has none.
    fn school(&self, org_ids: &[&str]) -> Result<Option<SchoolRef>, ()> {
        let mut any_known = false;
        for id in org_ids {
            if let Some(o) = self.orgs.get(*id) {
                any_known = true;
                if o.is_school {
                    return Ok(Some(SchoolRef::Name(o.short.clone())));
                }
            }
        }
        match org_ids.first() {
            _ if any_known => Ok(None),
            None => Ok(None),
            Some(_) if self.orgs_complete => Err(()),
            Some(first) => Ok(Some(SchoolRef::Org((*first).to_owned()))),
        }
    }
}

fn read_users(
    mut t: Table<'_>,
    format: Format,
    ctx: &mut Ctx<'_>,
    look: &Lookups<'_>,
    keep_index: bool,
) -> Result<HashMap<String, u32>, RosterError> {
    let v11 = format == Format::OneRoster11;
    if v11 {
        t.require(&[
            "sourcedId",
            "username",
            "givenName",
            "familyName",
            "role",
            "orgSourcedIds",
        ])?;
    } else {
        t.require(&["sourcedId", "username", "givenName", "familyName"])?;
    }
    let c = |n: &str| t.col(n);
    let (sid, status, enabled, orgs_col, role_col, user, given, family, email, grades, primary_org) = (
        c("sourcedId"),
        c("status"),
        c("enabledUser"),
        c("orgSourcedIds"),
        c("role"),
        c("username"),
        c("givenName"),
        c("familyName"),
        c("email"),
        c("grades"),
        c("primaryOrgSourcedId"),
    );
    let mut people = People::new(
        &t.name,
        Columns {
            external_id: "sourcedId",
            username: "username",
            given_name: "givenName",
            family_name: "familyName",
            email: "email",
            role: if v11 { "role" } else { "roles.csv" },
            grade: "grades",
            school: if v11 {
                "orgSourcedIds"
            } else {
                "primaryOrgSourcedId"
            },
        },
    );
    let file = t.name.clone();
    let (mut errors, mut issues, mut errored, mut found) =
        (RowErrors::default(), Vec::new(), Vec::new(), Vec::new());
    let mut index = HashMap::new();
    let mut skipped = 0u64;
    let progress = &mut ctx.progress;
    let rows = t.for_each(&mut errors, &mut issues, |row, errors| {
        let line = row.line;
        let id = row.get(sid);
        let fail =
            |errors: &mut RowErrors, errored: &mut Vec<String>, field: &str, message: String| {
                errors.push(RowError {
                    file: file.clone(),
                    line,
                    field: field.to_owned(),
                    message,
                });
                if !id.is_empty() {
                    errored.push(id.to_owned());
                }
            };
        progress(1);
        let deleted = row.get(status).eq_ignore_ascii_case("tobedeleted");
        let enabled = match parse_bool(row.get(enabled)) {
            Ok(v) => v.unwrap_or(true),
            Err(m) => return fail(errors, &mut errored, "enabledUser", m),
        };
        let (role_text, role_org) = if v11 {
            (row.get(role_col).to_owned(), None)
        } else if let Some(r) = look.roles.get(id) {
            (r.role.clone(), Some(r.org.as_str()))
        } else if !row.get(role_col).is_empty() {
            (row.get(role_col).to_owned(), None)
        } else if deleted {
            (String::from("student"), None)
        } else {
            return fail(
                errors,
                &mut errored,
                "roles.csv",
                "no role for this user in roles.csv".into(),
            );
        };
        let role = match map_role(&role_text) {
            Mapped::Person(r) => r,
            Mapped::NotAPerson => {
                skipped += 1;
                return;
            }
            Mapped::Unknown => {
                let field = if v11 { "role" } else { "roles.csv" };
                return fail(
                    errors,
                    &mut errored,
                    field,
                    "is not a OneRoster role".into(),
                );
            }
        };
        let org_ids: Vec<&str> = if v11 {
            row.get(orgs_col)
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        } else {
            let p = row.get(primary_org);
            if p.is_empty() {
                role_org.into_iter().filter(|s| !s.is_empty()).collect()
            } else {
                vec![p]
            }
        };
        let school = match look.school(&org_ids) {
            Ok(s) => s,
            Err(()) => {
                let field = if v11 {
                    "orgSourcedIds"
                } else {
                    "primaryOrgSourcedId"
                };
                return fail(
                    errors,
                    &mut errored,
                    field,
                    "names an org that is not in orgs.csv".into(),
                );
            }
        };
        let grade = row
            .get(grades)
            .split(',')
            .map(str::trim)
            .find(|g| !g.is_empty());
        let status = if deleted {
            DesiredStatus::Deleted
        } else if enabled {
            DesiredStatus::Active
        } else {
            DesiredStatus::Disabled
        };
        let draft = Draft {
            line,
            external_id: id,
            username: row.get(user),
            given_name: row.get(given),
            family_name: row.get(family),
            email: row.get(email),
            role,
            grade,
            school,
            classes: Vec::new(),
            status,
        };
        // A departing person's row may be sparse; only its id matters.
        if deleted && !id.is_empty() {
            if let Some(p) = people.accept(draft, &mut RowErrors::default(), &mut Vec::new()) {
                found.push(p);
            } else {
                found.push(crate::RosterPerson {
                    line,
                    external_id: id.to_owned(),
                    username: String::new(),
                    given_name: String::new(),
                    family_name: String::new(),
                    email: None,
                    role,
                    grade: None,
                    school: None,
                    classes: Vec::new(),
                    status,
                });
            }
        } else if let Some(p) = people.accept(draft, errors, &mut errored) {
            found.push(p);
        } else {
            return;
        }
        if keep_index {
            index.insert(
                id.to_owned(),
                u32::try_from(found.len() - 1).unwrap_or(u32::MAX),
            );
        }
    })?;
    let r = &mut *ctx.roster;
    r.user_rows = rows;
    r.people = found;
    r.skipped_roles += skipped;
    r.errors.append(errors);
    r.issues.extend(issues);
    r.errored_ids.extend(errored);
    Ok(index)
}

fn read_classes(
    mut t: Table<'_>,
    ctx: &mut Ctx<'_>,
    orgs: &HashMap<String, Org>,
    index: &mut HashMap<String, u32>,
) -> Result<(), RosterError> {
    t.require(&["sourcedId", "title"])?;
    let (sid, status, title, code, school) = (
        t.col("sourcedId"),
        t.col("status"),
        t.col("title"),
        t.col("classCode"),
        t.col("schoolSourcedId"),
    );
    let mut names: HashMap<String, ()> = HashMap::new();
    let mut classes = Vec::new();
    let (mut errors, mut issues) = (RowErrors::default(), Vec::new());
    t.for_each(&mut errors, &mut issues, |row, _| {
        if row.get(status).eq_ignore_ascii_case("tobedeleted") {
            return;
        }
        let id = row.get(sid);
        let school_short = orgs.get(row.get(school)).map(|o| o.short.clone());
        let base = slug(row.get(code))
            .or_else(|| slug(row.get(title)))
            .or_else(|| slug(id))
            .unwrap_or_else(|| "class".into());
        let mut name = match &school_short {
            Some(s) => format!("{s}-{base}"),
            None => base,
        };
        if names.contains_key(&name) {
            name = format!("{name}-{}", slug(id).unwrap_or_default());
        }
        name.truncate(100);
        names.insert(name.clone(), ());
        let display = if row.get(title).is_empty() {
            name.clone()
        } else {
            row.get(title).to_owned()
        };
        classes.push(ClassInfo {
            name,
            display_name: display,
            school: school_short,
            external_id: Some(id.to_owned()),
        });
        index.insert(
            id.to_owned(),
            u32::try_from(classes.len() - 1).unwrap_or(u32::MAX),
        );
    })?;
    ctx.roster.classes = classes;
    ctx.roster.errors.append(errors);
    ctx.roster.issues.extend(issues);
    Ok(())
}

fn read_enrollments(
    mut t: Table<'_>,
    ctx: &mut Ctx<'_>,
    classes: &HashMap<String, u32>,
    people: &HashMap<String, u32>,
) -> Result<(), RosterError> {
    t.require(&["classSourcedId", "userSourcedId"])?;
    let (class, user, status) = (
        t.col("classSourcedId"),
        t.col("userSourcedId"),
        t.col("status"),
    );
    let file = t.name.clone();
    let (mut errors, mut issues) = (RowErrors::default(), Vec::new());
    let mut removals = Vec::new();
    let roster = &mut *ctx.roster;
    let found = &mut roster.people;
    t.for_each(&mut errors, &mut issues, |row, errors| {
        let Some(&ci) = classes.get(row.get(class)) else {
            errors.push(RowError {
                file: file.clone(),
                line: row.line,
                field: "classSourcedId".into(),
                message: "names a class that is not in classes.csv".into(),
            });
            return;
        };
        if row.get(status).eq_ignore_ascii_case("tobedeleted") {
            removals.push((row.get(user).to_owned(), ci));
            return;
        }
        if let Some(&pi) = people.get(row.get(user)) {
            if let Some(p) = found.get_mut(pi as usize) {
                p.classes.push(ci);
            }
        }
    })?;
    roster.enrollment_removals = removals;
    roster.errors.append(errors);
    roster.issues.extend(issues);
    Ok(())
}
