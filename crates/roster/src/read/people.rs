//! Turning one row's values into a validated [`RosterPerson`], and catching duplicates.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use cc_domain::{NewUser, Role};

use crate::model::{DesiredStatus, RosterPerson, RowError, RowErrors, SchoolRef};
use crate::names::{parse_grade, username_of};

/// The file's own names for the directory fields, so errors name the column the operator sees.
pub(crate) struct Columns {
    pub external_id: &'static str,
    pub username: &'static str,
    pub given_name: &'static str,
    pub family_name: &'static str,
    pub email: &'static str,
    pub role: &'static str,
    pub grade: &'static str,
    pub school: &'static str,
}

/// What a row says about a person, before validation.
pub(crate) struct Draft<'r> {
    pub line: u64,
    pub external_id: &'r str,
    pub username: &'r str,
    pub given_name: &'r str,
    pub family_name: &'r str,
    pub email: &'r str,
    pub role: Role,
    /// The raw grade code, for students.
    pub grade: Option<&'r str>,
    pub school: Option<SchoolRef>,
    pub classes: Vec<u32>,
    pub status: DesiredStatus,
}

/// Validates drafts and remembers external ids, usernames and e-mail addresses seen so far
/// (as 64-bit hashes, to keep a million rows small), reporting duplicates within the file.
pub(crate) struct People {
    file: String,
    cols: Columns,
    seen_ids: HashMap<u64, u64>,
    seen_usernames: HashMap<u64, u64>,
    seen_emails: HashMap<u64, u64>,
    now: chrono::DateTime<chrono::Utc>,
}

fn key(s: &str) -> u64 {
    let mut h = DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

impl People {
    pub fn new(file: &str, cols: Columns) -> Self {
        Self {
            file: file.to_owned(),
            cols,
            seen_ids: HashMap::new(),
            seen_usernames: HashMap::new(),
            seen_emails: HashMap::new(),
            now: cc_domain::now(),
        }
    }

    fn err(&self, line: u64, field: &str, message: impl Into<String>) -> RowError {
        RowError {
            file: self.file.clone(),
            line,
            field: field.to_owned(),
            message: message.into(),
        }
    }

    /// Validates a draft; on failure every problem is pushed to `errors` (and the external id,
    /// when there is one, to `errored_ids`).
    pub fn accept(
        &mut self,
        d: Draft<'_>,
        errors: &mut RowErrors,
        errored_ids: &mut Vec<String>,
    ) -> Option<RosterPerson> {
        let mut errs = RowErrors::default();
        if d.external_id.is_empty() {
            errs.push(self.err(d.line, self.cols.external_id, "must not be empty"));
        }
        let mut grade = None;
        if d.role == Role::Student {
            match d.grade.filter(|g| !g.is_empty()) {
                None => errs.push(self.err(d.line, self.cols.grade, "is required for students")),
                Some(code) => match parse_grade(code) {
                    Ok(g) => grade = Some(g),
                    Err(m) => errs.push(self.err(d.line, self.cols.grade, m)),
                },
            }
        }
        let email = (!d.email.is_empty()).then(|| d.email.to_owned());
        let school = match &d.school {
            Some(SchoolRef::Name(n)) => Some(n.clone()),
            _ => None,
        };
        let draft_user = NewUser {
            external_id: Some(d.external_id.to_owned()),
            username: username_of(d.username),
            given_name: d.given_name.to_owned(),
            family_name: d.family_name.to_owned(),
            email,
            role: d.role,
            grade: grade.or(if d.role == Role::Student {
                Some(0)
            } else {
                None
            }),
            school,
            status: None,
            groups: Vec::new(),
        };
        let user = match draft_user.into_user(uuid::Uuid::nil(), self.now) {
            Ok(u) => Some(u),
            Err(v) => {
                for fe in v.0 {
                    let col = match fe.field.as_str() {
                        "external_id" => self.cols.external_id,
                        "username" => self.cols.username,
                        "given_name" => self.cols.given_name,
                        "family_name" => self.cols.family_name,
                        "email" => self.cols.email,
                        "role" => self.cols.role,
                        "grade" => self.cols.grade,
                        "school" => self.cols.school,
                        other => other,
                    };
                    if col == self.cols.external_id && d.external_id.is_empty() {
                        continue;
                    }
                    errs.push(self.err(d.line, col, fe.message));
                }
                None
            }
        };
        if let Some(u) = &user {
            self.check_dup(
                DupKind::Id,
                d.external_id,
                d.line,
                self.cols.external_id,
                &mut errs,
            );
            self.check_dup(
                DupKind::Username,
                &u.username,
                d.line,
                self.cols.username,
                &mut errs,
            );
            if let Some(e) = &u.email {
                self.check_dup(DupKind::Email, e, d.line, self.cols.email, &mut errs);
            }
        }
        if !errs.is_empty() || user.is_none() {
            if !d.external_id.is_empty() {
                errored_ids.push(d.external_id.to_owned());
            }
            errors.append(errs);
            return None;
        }
        let u = user?;
        Some(RosterPerson {
            line: d.line,
            external_id: u.external_id.unwrap_or_default(),
            username: u.username,
            given_name: u.given_name,
            family_name: u.family_name,
            email: u.email,
            role: u.role,
            grade,
            school: d.school.map(|s| match s {
                SchoolRef::Name(_) => SchoolRef::Name(u.school.unwrap_or_default()),
                org => org,
            }),
            classes: d.classes,
            status: d.status,
        })
    }

    fn check_dup(
        &mut self,
        kind: DupKind,
        value: &str,
        line: u64,
        col: &str,
        errs: &mut RowErrors,
    ) {
        let map = match kind {
            DupKind::Id => &mut self.seen_ids,
            DupKind::Username => &mut self.seen_usernames,
            DupKind::Email => &mut self.seen_emails,
        };
        match map.entry(key(value)) {
            std::collections::hash_map::Entry::Occupied(o) => {
                let first = *o.get();
                errs.push(RowError {
                    file: self.file.clone(),
                    line,
                    field: col.to_owned(),
                    message: format!("duplicates line {first}"),
                });
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(line);
            }
        }
    }
}

#[derive(Clone, Copy)]
enum DupKind {
    Id,
    Username,
    Email,
}
