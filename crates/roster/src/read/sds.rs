//! Microsoft School Data Sync v2.1 CSV: `orgs.csv`, `users.csv`, `roles.csv`, and optionally
//! `classes.csv` and `enrollments.csv`. SDS has no manifest: every file is a complete (bulk) list.
//!
//! SDS usernames are sign-in names (`cbeane@domain.com`): the directory username is the part
//! before the `@`. Roles come from `roles.csv` (the `isPrimary` row, else the first).

use std::collections::HashMap;

use cc_domain::Role;

use super::people::{Columns, Draft, People};
use super::table::Table;
use super::Ctx;
use crate::model::{
    ClassInfo, DesiredStatus, FileMode, RosterError, RowError, RowErrors, SchoolInfo, SchoolRef,
};
use crate::names::slug;
use crate::source::SourceFiles;

enum Mapped {
    Person(Role),
    NotAPerson,
}

/// SDS role values: student; teaching roles → teacher; principal, administrator, itAdmin →
/// administrator; other staff roles → staff; `other` and `alumni` are not directory people.
fn map_role(role: &str) -> Option<Mapped> {
    let r = role.trim().to_ascii_lowercase();
    Some(match r.as_str() {
        "student" => Mapped::Person(Role::Student),
        "teacher" | "faculty" | "instructor" | "lecturer" | "professor" | "substitute"
        | "adjunct" => Mapped::Person(Role::Teacher),
        "principal" | "administrator" | "itadmin" => Mapped::Person(Role::Administrator),
        "chair"
        | "researcher"
        | "affiliate"
        | "occupationaltherapist"
        | "physicaltherapist"
        | "speechtherapist"
        | "visiontherapist"
        | "paraprofessional"
        | "specialservices"
        | "advisor"
        | "proctor"
        | "nurse"
        | "officestaff"
        | "staff"
        | "teacherassistant"
        | "assistant"
        | "coach" => Mapped::Person(Role::Staff),
        "other" | "alumni" | "guardian" | "parent" | "relative" => Mapped::NotAPerson,
        _ => return None,
    })
}

struct RoleRow {
    role: String,
    org: String,
    grade: String,
    primary: bool,
}

pub(crate) fn read(files: &mut dyn SourceFiles, ctx: &mut Ctx<'_>) -> Result<(), RosterError> {
    let limits = ctx.limits;
    let mut orgs: HashMap<String, (String, bool)> = HashMap::new();
    if let Some(read) = files.open("orgs.csv")? {
        let mut t = Table::open("orgs.csv", read, limits)?;
        t.require(&["sourcedId", "name", "type"])?;
        let (sid, name, kind) = (t.col("sourcedId"), t.col("name"), t.col("type"));
        let (mut errors, mut issues, mut schools) = (RowErrors::default(), Vec::new(), Vec::new());
        t.for_each(&mut errors, &mut issues, |row, _| {
            let id = row.get(sid);
            let short = slug(row.get(name)).or_else(|| slug(id)).unwrap_or_default();
            let is_school = row.get(kind).eq_ignore_ascii_case("school");
            if is_school {
                schools.push(SchoolInfo {
                    name: short.clone(),
                    display_name: row.get(name).to_owned(),
                    external_id: Some(id.to_owned()),
                });
            }
            orgs.insert(id.to_owned(), (short, is_school));
        })?;
        ctx.roster.schools = schools;
        ctx.roster.errors.append(errors);
        ctx.roster.issues.extend(issues);
    }

    let mut roles: HashMap<String, RoleRow> = HashMap::new();
    if let Some(read) = files.open("roles.csv")? {
        let mut t = Table::open("roles.csv", read, limits)?;
        t.require(&["userSourcedId", "orgSourcedId", "role"])?;
        let (user, org, role, grade, primary) = (
            t.col("userSourcedId"),
            t.col("orgSourcedId"),
            t.col("role"),
            t.col("grade"),
            t.col("isPrimary"),
        );
        let (mut errors, mut issues) = (RowErrors::default(), Vec::new());
        t.for_each(&mut errors, &mut issues, |row, _| {
            let is_primary = row.get(primary).eq_ignore_ascii_case("true");
            let new = RoleRow {
                role: row.get(role).to_owned(),
                org: row.get(org).to_owned(),
                grade: row.get(grade).to_owned(),
                primary: is_primary,
            };
            match roles.entry(row.get(user).to_owned()) {
                std::collections::hash_map::Entry::Occupied(mut o) => {
                    if is_primary && !o.get().primary {
                        o.insert(new);
                    }
                }
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(new);
                }
            }
        })?;
        ctx.roster.errors.append(errors);
        ctx.roster.issues.extend(issues);
    }

    ctx.roster.users_mode = FileMode::Bulk;
    let Some(read) = files.open("users.csv")? else {
        return Ok(());
    };
    let mut t = Table::open("users.csv", read, limits)?;
    t.require(&["sourcedId", "username"])?;
    let (sid, user, given, family, email) = (
        t.col("sourcedId"),
        t.col("username"),
        t.col("givenName"),
        t.col("familyName"),
        t.col("email"),
    );
    let mut people = People::new(
        "users.csv",
        Columns {
            external_id: "sourcedId",
            username: "username",
            given_name: "givenName",
            family_name: "familyName",
            email: "email",
            role: "roles.csv",
            grade: "roles.csv:grade",
            school: "roles.csv:orgSourcedId",
        },
    );
    let (mut errors, mut issues, mut errored, mut found) =
        (RowErrors::default(), Vec::new(), Vec::new(), Vec::new());
    let mut index = HashMap::new();
    let mut skipped = 0u64;
    let progress = &mut ctx.progress;
    let rows = t.for_each(&mut errors, &mut issues, |row, errors| {
        progress(1);
        let id = row.get(sid);
        let fail = |errors: &mut RowErrors, errored: &mut Vec<String>, field: &str, m: &str| {
            errors.push(RowError {
                file: "users.csv".into(),
                line: row.line,
                field: field.into(),
                message: m.into(),
            });
            if !id.is_empty() {
                errored.push(id.to_owned());
            }
        };
        let Some(r) = roles.get(id) else {
            return fail(
                errors,
                &mut errored,
                "roles.csv",
                "no role for this user in roles.csv",
            );
        };
        let role = match map_role(&r.role) {
            Some(Mapped::Person(role)) => role,
            Some(Mapped::NotAPerson) => {
                skipped += 1;
                return;
            }
            None => return fail(errors, &mut errored, "roles.csv:role", "is not an SDS role"),
        };
        let school = match orgs.get(&r.org) {
            Some((short, true)) => Some(SchoolRef::Name(short.clone())),
            Some((_, false)) => None,
            None => {
                return fail(
                    errors,
                    &mut errored,
                    "roles.csv:orgSourcedId",
                    "names an org that is not in orgs.csv",
                )
            }
        };
        let draft = Draft {
            line: row.line,
            external_id: id,
            username: row.get(user),
            given_name: row.get(given),
            family_name: row.get(family),
            email: row.get(email),
            role,
            grade: Some(r.grade.as_str()),
            school,
            classes: Vec::new(),
            status: DesiredStatus::Active,
        };
        if let Some(p) = people.accept(draft, errors, &mut errored) {
            found.push(p);
            index.insert(
                id.to_owned(),
                u32::try_from(found.len() - 1).unwrap_or(u32::MAX),
            );
        }
    })?;
    drop(roles);
    drop(t);
    let r = &mut *ctx.roster;
    r.user_rows = rows;
    r.people = found;
    r.skipped_roles = skipped;
    r.errors.append(errors);
    r.issues.extend(issues);
    r.errored_ids.extend(errored);

    let Some(classes_read) = files.open("classes.csv")? else {
        return Ok(());
    };
    let mut t = Table::open("classes.csv", classes_read, limits)?;
    t.require(&["sourcedId", "orgSourcedId", "title"])?;
    let (sid, org, title) = (t.col("sourcedId"), t.col("orgSourcedId"), t.col("title"));
    let (mut errors, mut issues) = (RowErrors::default(), Vec::new());
    let mut classes = Vec::new();
    let mut class_index = HashMap::new();
    let mut names: HashMap<String, ()> = HashMap::new();
    t.for_each(&mut errors, &mut issues, |row, _| {
        let id = row.get(sid);
        let school = orgs.get(row.get(org)).map(|o| o.0.clone());
        let base = slug(row.get(title))
            .or_else(|| slug(id))
            .unwrap_or_else(|| "class".into());
        let mut name = school
            .as_ref()
            .map_or_else(|| base.clone(), |s| format!("{s}-{base}"));
        if names.contains_key(&name) {
            name = format!("{name}-{}", slug(id).unwrap_or_default());
        }
        names.insert(name.clone(), ());
        classes.push(ClassInfo {
            name,
            display_name: row.get(title).to_owned(),
            school,
            external_id: Some(id.to_owned()),
        });
        class_index.insert(
            id.to_owned(),
            u32::try_from(classes.len() - 1).unwrap_or(u32::MAX),
        );
    })?;
    drop(t);
    ctx.roster.classes = classes;
    ctx.roster.errors.append(errors);
    ctx.roster.issues.extend(issues);
    if let Some(read) = files.open("enrollments.csv")? {
        let mut t = Table::open("enrollments.csv", read, limits)?;
        t.require(&["classSourcedId", "userSourcedId"])?;
        let (class, user) = (t.col("classSourcedId"), t.col("userSourcedId"));
        let (mut errors, mut issues) = (RowErrors::default(), Vec::new());
        let people = &mut ctx.roster.people;
        t.for_each(&mut errors, &mut issues, |row, errors| {
            let Some(&ci) = class_index.get(row.get(class)) else {
                errors.push(RowError {
                    file: "enrollments.csv".into(),
                    line: row.line,
                    field: "classSourcedId".into(),
                    message: "names a class that is not in classes.csv".into(),
                });
                return;
            };
            if let Some(&pi) = index.get(row.get(user)) {
                if let Some(p) = people.get_mut(pi as usize) {
                    p.classes.push(ci);
                }
            }
        })?;
        ctx.roster.class_mode = FileMode::Bulk;
        ctx.roster.errors.append(errors);
        ctx.roster.issues.extend(issues);
    }
    Ok(())
}
