//! The project's own CSV: one file, one row per person.
//!
//! `external_id,username,given_name,family_name,email,role,grade,school,groups,status`
//! — `groups` separated by `;`, `status` one of `active` (default) or `suspended`. The file is
//! always a complete (bulk) list.

use std::collections::HashMap;

use cc_domain::Role;

use super::people::{Columns, Draft, People};
use super::table::Table;
use super::Ctx;
use crate::model::{ClassInfo, DesiredStatus, FileMode, RowError, RowErrors, SchoolRef};

pub(crate) const HEADER: [&str; 10] = [
    "external_id",
    "username",
    "given_name",
    "family_name",
    "email",
    "role",
    "grade",
    "school",
    "groups",
    "status",
];

pub(crate) fn read(mut t: Table<'_>, ctx: &mut Ctx<'_>) -> Result<(), crate::RosterError> {
    if t.has("sourcedId") {
        return Err(crate::RosterError::Unrecognized(
            "this looks like one file of a OneRoster or School Data Sync export: import the whole \
             export (its folder or zip, with manifest.csv or orgs.csv and roles.csv)"
                .into(),
        ));
    }
    t.require(&[
        "external_id",
        "username",
        "given_name",
        "family_name",
        "role",
    ])?;
    let c = |n: &str| t.col(n);
    let (ext, user, given, family, email, role, grade, school, groups, status) = (
        c("external_id"),
        c("username"),
        c("given_name"),
        c("family_name"),
        c("email"),
        c("role"),
        c("grade"),
        c("school"),
        c("groups"),
        c("status"),
    );
    let roster = &mut *ctx.roster;
    roster.users_mode = FileMode::Bulk;
    roster.class_mode = if groups.is_some() {
        FileMode::Bulk
    } else {
        FileMode::Absent
    };
    let mut people = People::new(&t.name, own_columns());
    let mut class_index: HashMap<String, u32> = HashMap::new();
    let mut schools_seen: HashMap<String, ()> = HashMap::new();
    let file = t.name.clone();
    let progress = &mut ctx.progress;
    let mut errors = RowErrors::default();
    let mut issues = Vec::new();
    let mut errored = Vec::new();
    let mut found = Vec::new();
    let mut classes: Vec<ClassInfo> = Vec::new();
    let rows = t.for_each(&mut errors, &mut issues, |row, errors| {
        let line = row.line;
        let role = match parse_role(row.get(role)) {
            Ok(r) => r,
            Err(m) => {
                errors.push(RowError {
                    file: file.clone(),
                    line,
                    field: "role".into(),
                    message: m,
                });
                if !row.get(ext).is_empty() {
                    errored.push(row.get(ext).to_owned());
                }
                return;
            }
        };
        let desired = match row.get(status).to_ascii_lowercase().as_str() {
            "" | "active" => DesiredStatus::Active,
            "suspended" | "disabled" | "inactive" => DesiredStatus::Disabled,
            _ => {
                errors.push(RowError {
                    file: file.clone(),
                    line,
                    field: "status".into(),
                    message: "must be active or suspended".into(),
                });
                if !row.get(ext).is_empty() {
                    errored.push(row.get(ext).to_owned());
                }
                return;
            }
        };
        let school_name = row.get(school);
        if !school_name.is_empty() {
            schools_seen.entry(school_name.to_owned()).or_insert(());
        }
        let mut member_of = Vec::new();
        let listed: Vec<&str> = row
            .get(groups)
            .split(';')
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .collect();
        if listed
            .iter()
            .any(|g| !cc_domain::validation::is_valid_name(g))
        {
            errors.push(RowError {
                file: file.clone(),
                line,
                field: "groups".into(),
                message: "group names are letters, digits, '.', '_' or '-', separated by ';'"
                    .into(),
            });
            if !row.get(ext).is_empty() {
                errored.push(row.get(ext).to_owned());
            }
            return;
        }
        for g in listed {
            let idx = *class_index.entry(g.to_owned()).or_insert_with(|| {
                classes.push(ClassInfo {
                    name: g.to_owned(),
                    display_name: g.to_owned(),
                    school: (!school_name.is_empty()).then(|| school_name.to_owned()),
                    external_id: None,
                });
                u32::try_from(classes.len() - 1).unwrap_or(u32::MAX)
            });
            member_of.push(idx);
        }
        let draft = Draft {
            line,
            external_id: row.get(ext),
            username: row.get(user),
            given_name: row.get(given),
            family_name: row.get(family),
            email: row.get(email),
            role,
            grade: Some(row.get(grade)),
            school: (!school_name.is_empty()).then(|| SchoolRef::Name(school_name.to_owned())),
            classes: member_of,
            status: desired,
        };
        if let Some(p) = people.accept(draft, errors, &mut errored) {
            found.push(p);
        }
        progress(1);
    })?;
    roster.user_rows = rows;
    roster.people = found;
    roster.errors.append(errors);
    roster.issues.extend(issues);
    roster.errored_ids.extend(errored);
    roster.classes = classes;
    roster.schools = schools_seen
        .into_keys()
        .map(|name| crate::SchoolInfo {
            display_name: name.clone(),
            name,
            external_id: None,
        })
        .collect();
    roster.schools.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(())
}

fn own_columns() -> Columns {
    Columns {
        external_id: "external_id",
        username: "username",
        given_name: "given_name",
        family_name: "family_name",
        email: "email",
        role: "role",
        grade: "grade",
        school: "school",
    }
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.to_ascii_lowercase()
        .parse::<Role>()
        .map_err(|_| "must be student, teacher, staff or administrator".to_owned())
}
