//! Attribute mapping: which SCIM attribute paths a target writes, reading them from a remote
//! User, writing them into a new one, and the PATCH operations that bring one up to date.

use serde_json::{json, Value};

use cc_scim::patch::PatchOperation;
use cc_scim::wire::{self, MultiValue};
use cc_scim::ENTERPRISE_USER_SCHEMA;

/// Declares a closed set of string attributes of one wire struct, with their SCIM names.
macro_rules! string_attributes {
    ($(#[$doc:meta])* $name:ident of $owner:ty { $($variant:ident => $scim:literal, $field:ident;)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
        pub enum $name { $($variant),* }

        impl $name {
            const ALL: &'static [$name] = &[$($name::$variant),*];

            #[must_use]
            pub fn scim_name(self) -> &'static str {
                match self { $($name::$variant => $scim),* }
            }

            fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|a| a.scim_name().eq_ignore_ascii_case(s))
            }

            fn get(self, owner: &$owner) -> Option<&str> {
                match self { $($name::$variant => owner.$field.as_deref()),* }
            }

            fn slot(self, owner: &mut $owner) -> &mut Option<String> {
                match self { $($name::$variant => &mut owner.$field),* }
            }
        }
    };
}

string_attributes! {
    /// Single-valued string attributes of the core User schema.
    CoreAttr of wire::User {
        UserName => "userName", user_name;
        ExternalId => "externalId", external_id;
        DisplayName => "displayName", display_name;
        NickName => "nickName", nick_name;
        Title => "title", title;
        UserType => "userType", user_type;
        PreferredLanguage => "preferredLanguage", preferred_language;
        Locale => "locale", locale;
        Timezone => "timezone", timezone;
    }
}

string_attributes! {
    /// Sub-attributes of `name`.
    NameAttr of wire::Name {
        Formatted => "formatted", formatted;
        FamilyName => "familyName", family_name;
        GivenName => "givenName", given_name;
        MiddleName => "middleName", middle_name;
        HonorificPrefix => "honorificPrefix", honorific_prefix;
        HonorificSuffix => "honorificSuffix", honorific_suffix;
    }
}

string_attributes! {
    /// String attributes of the enterprise extension.
    EnterpriseAttr of wire::EnterpriseUser {
        EmployeeNumber => "employeeNumber", employee_number;
        CostCenter => "costCenter", cost_center;
        Organization => "organization", organization;
        Division => "division", division;
        Department => "department", department;
    }
}

/// A multi-valued attribute addressed by the `type` of one of its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MultiAttr {
    Emails,
    PhoneNumbers,
}

impl MultiAttr {
    fn scim_name(self) -> &'static str {
        match self {
            Self::Emails => "emails",
            Self::PhoneNumbers => "phoneNumbers",
        }
    }

    fn values(self, u: &wire::User) -> &[MultiValue] {
        match self {
            Self::Emails => &u.emails,
            Self::PhoneNumbers => &u.phone_numbers,
        }
    }

    fn values_mut(self, u: &mut wire::User) -> &mut Vec<MultiValue> {
        match self {
            Self::Emails => &mut u.emails,
            Self::PhoneNumbers => &mut u.phone_numbers,
        }
    }
}

/// One attribute a target can write.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum AttrPath {
    Core(CoreAttr),
    Name(NameAttr),
    /// `emails[type eq "work"].value`: the value of the `work` e-mail.
    Typed(MultiAttr, String),
    Enterprise(EnterpriseAttr),
}

impl AttrPath {
    /// Parses a configured path.
    ///
    /// # Errors
    /// A message listing what is accepted.
    pub fn parse(path: &str) -> Result<Self, String> {
        let unknown = || {
            format!(
                "`{path}` is not a supported attribute path; use a core string attribute ({}), \
                 `name.<{}>`, `emails[type eq \"work\"].value`, `phoneNumbers[type eq \"mobile\"].value` \
                 or `{ENTERPRISE_USER_SCHEMA}:<{}>`",
                names(CoreAttr::ALL.iter().map(|a| a.scim_name())),
                names(NameAttr::ALL.iter().map(|a| a.scim_name())),
                names(EnterpriseAttr::ALL.iter().map(|a| a.scim_name())),
            )
        };
        if let Some(rest) = path.strip_prefix(ENTERPRISE_USER_SCHEMA) {
            let attr = rest.strip_prefix(':').ok_or_else(unknown)?;
            return EnterpriseAttr::parse(attr)
                .map(Self::Enterprise)
                .ok_or_else(unknown);
        }
        if let Some(sub) = path.strip_prefix("name.") {
            return NameAttr::parse(sub).map(Self::Name).ok_or_else(unknown);
        }
        if let Some((attr, rest)) = path.split_once('[') {
            let multi = match attr {
                "emails" => MultiAttr::Emails,
                "phoneNumbers" => MultiAttr::PhoneNumbers,
                _ => return Err(unknown()),
            };
            let kind = rest
                .strip_suffix("].value")
                .and_then(|f| f.strip_prefix("type eq \""))
                .and_then(|f| f.strip_suffix('"'))
                .filter(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric()))
                .ok_or_else(unknown)?;
            return Ok(Self::Typed(multi, kind.to_owned()));
        }
        CoreAttr::parse(path).map(Self::Core).ok_or_else(unknown)
    }

    /// The path as sent in a PATCH operation.
    #[must_use]
    pub fn patch_path(&self) -> String {
        match self {
            Self::Core(a) => a.scim_name().to_owned(),
            Self::Name(a) => format!("name.{}", a.scim_name()),
            Self::Typed(m, kind) => format!("{}[type eq \"{kind}\"].value", m.scim_name()),
            Self::Enterprise(a) => format!("{ENTERPRISE_USER_SCHEMA}:{}", a.scim_name()),
        }
    }

    /// The attribute's value on a remote User.
    #[must_use]
    pub fn read<'u>(&self, u: &'u wire::User) -> Option<&'u str> {
        match self {
            Self::Core(a) => a.get(u),
            Self::Name(a) => u.name.as_ref().and_then(|n| a.get(n)),
            Self::Typed(m, kind) => typed_value(m.values(u), kind).and_then(|v| v.value.as_deref()),
            Self::Enterprise(a) => u.enterprise.as_ref().and_then(|e| a.get(e)),
        }
    }

    /// Sets the attribute on a User being built for creation.
    pub fn write(&self, u: &mut wire::User, value: &str) {
        let value = Some(value.to_owned());
        match self {
            Self::Core(a) => *a.slot(u) = value,
            Self::Name(a) => *a.slot(u.name.get_or_insert_with(Default::default)) = value,
            Self::Typed(m, kind) => {
                let values = m.values_mut(u);
                let primary = values.is_empty().then_some(true);
                values.push(MultiValue {
                    value,
                    kind: Some(kind.clone()),
                    primary,
                    ..MultiValue::default()
                });
            }
            Self::Enterprise(a) => {
                *a.slot(u.enterprise.get_or_insert_with(Default::default)) = value;
            }
        }
    }

    /// Whether `current` already holds `desired` (`userName` compares without case, as
    /// RFC 7643 defines it).
    fn same(&self, current: &str, desired: &str) -> bool {
        match self {
            Self::Core(CoreAttr::UserName) => current.eq_ignore_ascii_case(desired),
            _ => current == desired,
        }
    }

    /// The PATCH operation that takes `remote` from its value to `desired`, or `None` when
    /// it already matches.
    #[must_use]
    pub fn patch(&self, remote: &wire::User, desired: Option<&str>) -> Option<PatchOperation> {
        let current = self.read(remote);
        match (current, desired) {
            (Some(c), Some(d)) if self.same(c, d) => None,
            (None, None) => None,
            (_, Some(d)) => Some(match self {
                // A value of a type the account lacks: add one (a filtered path would
                // match nothing).
                Self::Typed(m, kind) if typed_value(m.values(remote), kind).is_none() => {
                    PatchOperation::add(m.scim_name(), json!([{"type": kind, "value": d}]))
                }
                _ => PatchOperation::replace(self.patch_path(), Value::String(d.to_owned())),
            }),
            (Some(_), None) => Some(match self {
                Self::Typed(m, kind) => {
                    PatchOperation::remove(format!("{}[type eq \"{kind}\"]", m.scim_name()))
                }
                _ => PatchOperation::remove(self.patch_path()),
            }),
        }
    }
}

fn typed_value<'v>(values: &'v [MultiValue], kind: &str) -> Option<&'v MultiValue> {
    values.iter().find(|v| {
        v.kind
            .as_deref()
            .is_some_and(|k| k.eq_ignore_ascii_case(kind))
    })
}

fn names<'a>(it: impl Iterator<Item = &'a str>) -> String {
    it.collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_paths() {
        for p in [
            "userName",
            "name.givenName",
            "emails[type eq \"work\"].value",
            "phoneNumbers[type eq \"mobile\"].value",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        ] {
            assert_eq!(AttrPath::parse(p).unwrap().patch_path(), p);
        }
        for bad in [
            "password",
            "active",
            "name.nope",
            "emails[value eq \"x\"].value",
            "emails[type eq \"a\\\"b\"].value",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
        ] {
            let e = AttrPath::parse(bad).unwrap_err();
            assert!(e.contains("not a supported attribute path"), "{bad}: {e}");
        }
    }

    #[test]
    fn patches_only_what_differs() {
        let mut remote = wire::User::default();
        let user_name = AttrPath::parse("userName").unwrap();
        let given = AttrPath::parse("name.givenName").unwrap();
        let work = AttrPath::parse("emails[type eq \"work\"].value").unwrap();
        let dept = AttrPath::parse(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        )
        .unwrap();
        user_name.write(&mut remote, "Ada");
        given.write(&mut remote, "Ada");
        dept.write(&mut remote, "lincoln");
        assert_eq!(user_name.patch(&remote, Some("ada")), None);
        assert_eq!(given.patch(&remote, Some("Ada")), None);
        let op = given.patch(&remote, Some("Adah")).unwrap();
        assert_eq!(
            (op.op.as_str(), op.path.as_deref()),
            ("replace", Some("name.givenName"))
        );
        let op = work.patch(&remote, Some("a@x.org")).unwrap();
        assert_eq!(
            (op.op.as_str(), op.path.as_deref()),
            ("add", Some("emails"))
        );
        work.write(&mut remote, "a@x.org");
        assert_eq!(remote.emails[0].primary, Some(true));
        let op = work.patch(&remote, Some("b@x.org")).unwrap();
        assert_eq!(op.path.as_deref(), Some("emails[type eq \"work\"].value"));
        let op = work.patch(&remote, None).unwrap();
        assert_eq!(
            (op.op.as_str(), op.path.as_deref()),
            ("remove", Some("emails[type eq \"work\"]"))
        );
        assert_eq!(dept.patch(&remote, None).unwrap().op, "remove");
    }
}
