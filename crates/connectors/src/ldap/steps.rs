//! The steps an LDAP operation is made of. `plan` reports them, `apply` performs them: both
//! come from the same list, so the dry run says exactly what the real run does.

use serde_json::{json, Map, Value};

use crate::{Change, ChangeKind};

/// One write to the directory. Steps never hold secrets: the executor adds the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Create a missing `ou=` container.
    CreateOu {
        dn: String,
    },
    /// Create the account. `with_password`: Active Directory sets `unicodePwd` in the same
    /// request.
    Add {
        dn: String,
        attrs: Vec<(String, Vec<String>)>,
        with_password: bool,
    },
    /// modrdn: rename and/or move.
    Rename {
        from: String,
        rdn: String,
        parent: String,
    },
    /// Replace (or, with `to` empty, remove) one attribute.
    Modify {
        dn: String,
        attribute: String,
        from: Vec<String>,
        to: Vec<String>,
    },
    /// Enable or disable: replace (or remove) `attribute`.
    SetEnabled {
        dn: String,
        enabled: bool,
        attribute: String,
        from: Vec<String>,
        to: Vec<String>,
    },
    SetPassword {
        dn: String,
    },
    CreateGroup {
        dn: String,
        object_class: String,
        name_attribute: String,
        name: String,
        member_attribute: String,
        member: String,
    },
    AddMember {
        group: String,
        attribute: String,
        value: String,
    },
    RemoveMember {
        group: String,
        attribute: String,
        value: String,
    },
    Delete {
        dn: String,
    },
    /// Delete an OU the account left, if nothing else is in it (`remove_empty_ous`).
    RemoveEmptyOu {
        dn: String,
    },
}

fn values(v: &[String]) -> Value {
    match v {
        [] => Value::Null,
        [one] => Value::String(one.clone()),
        many => json!(many),
    }
}

impl Step {
    /// How the step is reported.
    pub fn change(&self) -> Change {
        match self {
            Step::CreateOu { dn } => Change::new(ChangeKind::Create, dn)
                .attribute("objectClass")
                .to_value("organizationalUnit"),
            Step::Add { dn, attrs, .. } => {
                let map: Map<String, Value> =
                    attrs.iter().map(|(k, v)| (k.clone(), values(v))).collect();
                Change::new(ChangeKind::Create, dn).to_value(map)
            }
            Step::Rename { from, rdn, parent } => {
                Change::new(ChangeKind::Move, format!("{rdn},{parent}"))
                    .from_value(from.clone())
                    .to_value(format!("{rdn},{parent}"))
            }
            Step::Modify {
                dn,
                attribute,
                from,
                to,
            } => Change::new(ChangeKind::Modify, dn)
                .attribute(attribute)
                .from_value(values(from))
                .to_value(values(to)),
            Step::SetEnabled {
                dn,
                enabled,
                attribute,
                from,
                to,
            } => Change::new(
                if *enabled {
                    ChangeKind::Enable
                } else {
                    ChangeKind::Disable
                },
                dn,
            )
            .attribute(attribute)
            .from_value(values(from))
            .to_value(values(to)),
            Step::SetPassword { dn } => Change::new(ChangeKind::SetPassword, dn),
            Step::CreateGroup {
                dn,
                member_attribute,
                member,
                ..
            } => Change::new(ChangeKind::Create, dn)
                .attribute(member_attribute)
                .to_value(member.clone()),
            Step::AddMember {
                group,
                attribute,
                value,
            } => Change::new(ChangeKind::AddMember, group)
                .attribute(attribute)
                .to_value(value.clone()),
            Step::RemoveMember {
                group,
                attribute,
                value,
            } => Change::new(ChangeKind::RemoveMember, group)
                .attribute(attribute)
                .from_value(value.clone()),
            Step::Delete { dn } => Change::new(ChangeKind::Delete, dn),
            Step::RemoveEmptyOu { dn } => Change::new(ChangeKind::Delete, dn)
                .attribute("objectClass")
                .from_value("organizationalUnit"),
        }
    }
}
