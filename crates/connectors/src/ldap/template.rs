//! `{variable}` templates for OUs, attributes and search filters, and the user's values.

use std::collections::BTreeMap;

use cc_domain::User;

/// Names a template may use.
pub const VARIABLES: [&str; 13] = [
    "id",
    "external_id",
    "username",
    "given_name",
    "family_name",
    "display_name",
    "email",
    "role",
    "grade",
    "grade_label",
    "school",
    "status",
    "domain",
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Var(String),
}

/// A parsed template such as `ou={grade_label},ou={school},dc=example,dc=org`.
/// `{{` and `}}` stand for literal braces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

impl Template {
    /// Parses a template, checking every variable name.
    ///
    /// # Errors
    /// Unbalanced braces or an unknown variable, as a message.
    pub fn parse(source: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut chars = source.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    text.push('}');
                }
                '{' => {
                    let name: String = chars.by_ref().take_while(|c| *c != '}').collect();
                    if !VARIABLES.contains(&name.as_str()) {
                        return Err(format!(
                            "unknown variable `{{{name}}}` in `{source}` (known: {})",
                            VARIABLES.join(", ")
                        ));
                    }
                    if !text.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut text)));
                    }
                    parts.push(Part::Var(name));
                }
                '}' => return Err(format!("unbalanced `}}` in `{source}`")),
                c => text.push(c),
            }
        }
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Self {
            source: source.to_owned(),
            parts,
        })
    }

    #[must_use]
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders the template, escaping each value with `escape`. Returns `Err(variable)` when
    /// a variable the template uses has no value for this user.
    ///
    /// # Errors
    /// The name of the first variable without a value.
    pub fn render(&self, vars: &Vars, escape: fn(&str) -> String) -> Result<String, String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Var(name) => match vars.get(name) {
                    Some(v) => out.push_str(&escape(v)),
                    None => return Err(name.clone()),
                },
            }
        }
        Ok(out)
    }
}

/// No escaping: attribute values are sent as they are.
#[must_use]
pub fn raw(s: &str) -> String {
    s.to_owned()
}

/// The values templates can use for one user; a variable without a value (no e-mail, no
/// grade) is absent.
#[derive(Debug, Clone, Default)]
pub struct Vars(BTreeMap<&'static str, String>);

impl Vars {
    #[must_use]
    pub fn of(user: &User, domain: &str) -> Self {
        let mut m = BTreeMap::new();
        let mut put = |k: &'static str, v: Option<String>| {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                m.insert(k, v);
            }
        };
        put("id", Some(user.id.to_string()));
        put("external_id", user.external_id.clone());
        put("username", Some(user.username.clone()));
        put("given_name", Some(user.given_name.clone()));
        put("family_name", Some(user.family_name.clone()));
        put("display_name", Some(user.display_name()));
        put("email", user.email.clone());
        put("role", Some(user.role.as_str().to_owned()));
        put("grade", user.grade.map(|g| g.to_string()));
        put("grade_label", user.grade.map(grade_label));
        put("school", user.school.clone());
        put("status", Some(user.status.as_str().to_owned()));
        put("domain", Some(domain.to_owned()));
        Self(m)
    }

    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// `-1` → `pre-k`, `0` → `kindergarten`, `10` → `grade-10`.
#[must_use]
pub fn grade_label(grade: i16) -> String {
    match grade {
        g if g < 0 => "pre-k".to_owned(),
        0 => "kindergarten".to_owned(),
        g => format!("grade-{g}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ldap::dn::escape_value;

    fn vars() -> Vars {
        let mut m = BTreeMap::new();
        m.insert("school", "Lincoln, HS".to_owned());
        m.insert("grade_label", "grade-10".to_owned());
        m.insert("username", "ada".to_owned());
        Vars(m)
    }

    #[test]
    fn renders_with_escaping() {
        let t =
            Template::parse("ou={grade_label},ou={school},ou=Students,dc=example,dc=org").unwrap();
        assert_eq!(
            t.render(&vars(), escape_value).unwrap(),
            "ou=grade-10,ou=Lincoln\\, HS,ou=Students,dc=example,dc=org"
        );
        let t = Template::parse("{username}@{{x}}").unwrap();
        assert_eq!(t.render(&vars(), raw).unwrap(), "ada@{x}");
    }

    #[test]
    fn reports_missing_and_unknown_variables() {
        let t = Template::parse("{email}").unwrap();
        assert_eq!(t.render(&vars(), raw), Err("email".into()));
        assert!(Template::parse("{nope}")
            .unwrap_err()
            .contains("unknown variable"));
        assert!(Template::parse("a}b").is_err());
    }

    #[test]
    fn grade_labels() {
        assert_eq!(grade_label(-1), "pre-k");
        assert_eq!(grade_label(0), "kindergarten");
        assert_eq!(grade_label(10), "grade-10");
    }
}
