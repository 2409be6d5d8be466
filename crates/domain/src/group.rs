//! Groups: schools, classes and security groups, with members.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::page::{Cursor, SortDir};
use crate::patch::double_option;
use crate::validation::{is_valid_name, ValidationErrors};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum GroupKind {
    School,
    Class,
    #[default]
    Security,
}

impl GroupKind {
    pub const ALL: [GroupKind; 3] = [GroupKind::School, GroupKind::Class, GroupKind::Security];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            GroupKind::School => "school",
            GroupKind::Class => "class",
            GroupKind::Security => "security",
        }
    }
}

impl std::str::FromStr for GroupKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        GroupKind::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown group kind `{s}`"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01936b6e-8f2a-7c3e-9a51-3f1c2d4e5f61", "name": "algebra-2-p3", "display_name": "Algebra II, period 3",
    "kind": "class", "school": "lincoln-hs", "external_id": "CLS-2231", "description": null, "member_count": 24,
    "version": 1, "created_at": "2026-09-01T08:00:00Z", "updated_at": "2026-09-01T08:00:00Z"}))]
pub struct Group {
    pub id: Uuid,
    /// Unique short name: letters, digits, '.', '_' or '-'.
    pub name: String,
    pub display_name: String,
    pub kind: GroupKind,
    /// The school a class or security group belongs to.
    pub school: Option<String>,
    pub external_id: Option<String>,
    pub description: Option<String>,
    pub member_count: i64,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "algebra-2-p3", "display_name": "Algebra II, period 3", "kind": "class", "school": "lincoln-hs"}))]
pub struct NewGroup {
    #[schema(schema_with = crate::schema::name)]
    pub name: String,
    /// Defaults to the name.
    #[schema(schema_with = crate::schema::text_200_or_null)]
    pub display_name: Option<String>,
    pub kind: GroupKind,
    #[schema(schema_with = crate::schema::opt_text_100)]
    pub school: Option<String>,
    #[schema(schema_with = crate::schema::opt_text_128)]
    pub external_id: Option<String>,
    #[schema(schema_with = crate::schema::opt_multiline_2000)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"display_name": "Algebra II (3rd period)", "version": 1}))]
pub struct GroupPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::schema::name_or_null)]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::schema::text_200_or_null)]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<GroupKind>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(schema_with = crate::schema::opt_text_100)]
    pub school: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(schema_with = crate::schema::opt_text_128)]
    pub external_id: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(schema_with = crate::schema::opt_multiline_2000)]
    pub description: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

impl NewGroup {
    /// Validates the input and builds the group.
    ///
    /// # Errors
    /// Every field problem found.
    pub fn into_group(self, id: Uuid, now: DateTime<Utc>) -> Result<Group, ValidationErrors> {
        let display_name = self.display_name.unwrap_or_else(|| self.name.clone());
        let mut g = Group {
            id,
            name: self.name,
            display_name,
            kind: self.kind,
            school: self.school,
            external_id: self.external_id,
            description: self.description,
            member_count: 0,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        normalize(&mut g)?;
        Ok(g)
    }
}

impl Group {
    /// Applies a patch and validates the result.
    ///
    /// # Errors
    /// Every field problem found.
    pub fn patched(&self, p: GroupPatch, now: DateTime<Utc>) -> Result<Group, ValidationErrors> {
        let mut g = self.clone();
        if let Some(v) = p.name {
            g.name = v;
        }
        if let Some(v) = p.display_name {
            g.display_name = v;
        }
        if let Some(v) = p.kind {
            g.kind = v;
        }
        if let Some(v) = p.school {
            g.school = v;
        }
        if let Some(v) = p.external_id {
            g.external_id = v;
        }
        if let Some(v) = p.description {
            g.description = v;
        }
        normalize(&mut g)?;
        if g != *self {
            g.version = self.version + 1;
            g.updated_at = now;
        }
        Ok(g)
    }
}

fn normalize(g: &mut Group) -> Result<(), ValidationErrors> {
    let mut e = ValidationErrors::default();
    g.name = g.name.trim().to_owned();
    if !is_valid_name(&g.name) {
        e.add(
            "name",
            "must be 1–100 characters: letters, digits, '.', '_' or '-'",
        );
    }
    g.display_name = e.text("display_name", &g.display_name, 200);
    g.school = e.opt_text("school", g.school.as_deref(), 100);
    g.external_id = e.opt_text("external_id", g.external_id.as_deref(), 128);
    g.description = match g.description.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(d) if d.chars().count() > 2000 => {
            e.add("description", "must be at most 2000 characters");
            None
        }
        Some(d)
            if d.chars()
                .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) =>
        {
            e.add(
                "description",
                "must not contain control characters other than line breaks and tabs",
            );
            None
        }
        Some(d) => Some(d.to_owned()),
    };
    e.into_result(())
}

#[derive(Debug, Clone, Default)]
pub struct GroupQuery {
    pub kind: Option<GroupKind>,
    pub school: Option<String>,
    pub q: Option<String>,
    pub dir: SortDir,
    pub limit: u32,
    pub cursor: Option<Cursor>,
}
