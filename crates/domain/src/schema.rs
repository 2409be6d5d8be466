//! The validation rules of [`crate::validation`], stated as JSON Schema for the OpenAPI document.
//!
//! Each function here is used as a field's `#[schema(schema_with = …)]`, so the document says
//! exactly what the validators accept: text is trimmed (Unicode white space) before it is
//! checked, must then be non-empty and within its length, and must hold no control characters
//! (Unicode `Cc`) and no bidirectional controls. Patterns are ECMA-262/Python compatible and
//! use no positive lookaround (generators cannot produce strings for those); the unit tests
//! check each pattern against its validator.

use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::RefOr;

/// Unicode `White_Space`, which `str::trim` removes (a character-class body).
pub const WS: &str = r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
/// Not white space, not a control, not a bidirectional control: the first and last character
/// of a trimmed text.
const EDGE: &str = r"[^\x00-\x20\x7f-\xa0\u061c\u1680\u2000-\u200a\u200e\u200f\u2028-\u202f\u205f\u2066-\u2069\u3000]";
/// Not a control, not a bidirectional control: any character of a trimmed text.
const INNER: &str = r"[^\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]";
/// Not white space, not a control other than line breaks and tabs (which are white space).
const EDGE_MULTILINE: &str =
    r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";
/// Not a control other than `\t`, `\n`, `\r`.
const INNER_MULTILINE: &str = r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]";

fn trimmed(edge: &str, inner: &str, max: usize, optional: bool) -> String {
    let core = format!("{edge}(?:{inner}{{0,{}}}{edge})?", max.saturating_sub(2));
    if optional {
        format!("^[{WS}]*(?:{core}[{WS}]*)?$")
    } else {
        format!("^[{WS}]*{core}[{WS}]*$")
    }
}

/// The pattern of [`crate::ValidationErrors::text`]: 1–`max` characters once trimmed, no
/// control or bidirectional control characters.
#[must_use]
pub fn text_pattern(max: usize) -> String {
    trimmed(EDGE, INNER, max, false)
}

/// The pattern of [`crate::ValidationErrors::opt_text`]: blank (stored as none) or
/// [`text_pattern`].
#[must_use]
pub fn opt_text_pattern(max: usize) -> String {
    trimmed(EDGE, INNER, max, true)
}

/// Blank, or up to `max` characters once trimmed with no control characters except line
/// breaks and tabs (descriptions).
#[must_use]
pub fn multiline_pattern(max: usize) -> String {
    trimmed(EDGE_MULTILINE, INNER_MULTILINE, max, true)
}

/// [`crate::validation::is_valid_name`] after trimming: 1–100 letters, digits, `.`, `_`, `-`.
#[must_use]
pub fn name_pattern() -> String {
    format!("^[{WS}]*[A-Za-z0-9._-]{{1,100}}[{WS}]*$")
}

/// A person's username after trimming and lower-casing ([`crate::validation::is_valid_username`]).
#[must_use]
pub fn username_pattern() -> String {
    format!("^[{WS}]*[A-Za-z0-9][A-Za-z0-9._-]{{0,63}}[{WS}]*$")
}

/// A device serial number after trimming and upper-casing: 1–64 letters, digits or `-`.
#[must_use]
pub fn serial_pattern() -> String {
    format!("^[{WS}]*[A-Za-z0-9-]{{1,64}}[{WS}]*$")
}

/// [`crate::validation::is_valid_email`] after trimming, or blank (no address). Lengths are
/// counted in characters here and in bytes by the validator; they differ only for addresses
/// with non-ASCII letters near the limits.
#[must_use]
pub fn opt_email_pattern() -> String {
    // atext (RFC 5322) and letters or digits of any script.
    let atext = r"(?:[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]|[^\W\x00-\x7f])";
    let alnum = r"[^\W_]";
    let label = format!("{alnum}(?:(?:{alnum}|-){{0,61}}{alnum})?");
    format!(
        "^[{WS}]*(?:(?![^{WS}]{{255}})(?![^@]{{65}}){atext}+(?:\\.{atext}+)*@{label}(?:\\.{label})*\\.(?![0-9]+(?:[{WS}]|$)){label}[{WS}]*)?$"
    )
}

/// A string schema with `pattern`, nullable when `nullable`.
fn string(pattern: String, nullable: bool, description: Option<&str>) -> ObjectBuilder {
    let t = if nullable {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::new(Type::String)
    };
    ObjectBuilder::new()
        .schema_type(t)
        .pattern(Some(pattern))
        .description(description)
}

macro_rules! text_schemas {
    ($($(#[$doc:meta])* $name:ident => $pattern:expr, $nullable:expr, $desc:expr;)*) => {$(
        $(#[$doc])*
        #[must_use]
        pub fn $name() -> Schema {
            Schema::Object(string($pattern, $nullable, $desc).build())
        }
    )*};
}

text_schemas! {
    /// A required text of at most 100 characters (names of people).
    text_100 => text_pattern(100), false, None;
    /// Like [`text_100`], nullable in patches (null means unchanged).
    text_100_or_null => text_pattern(100), true, None;
    /// A text of at most 200 characters, or null (unchanged in a patch, the default when new).
    text_200_or_null => text_pattern(200), true, None;
    /// An optional text of at most 64 characters.
    opt_text_64 => opt_text_pattern(64), true, None;
    /// An optional text of at most 100 characters.
    opt_text_100 => opt_text_pattern(100), true, None;
    /// An optional text of at most 128 characters (external ids).
    opt_text_128 => opt_text_pattern(128), true, Some("The identifier in the student information system.");
    /// An optional text of at most 2,000 characters.
    opt_text_2000 => opt_text_pattern(2000), true, None;
    /// An optional text of at most 4,000 characters.
    opt_text_4000 => opt_text_pattern(4000), true, None;
    /// An optional description: up to 2,000 characters, line breaks and tabs allowed.
    opt_multiline_2000 => multiline_pattern(2000), true, None;
    /// A group or policy name.
    name => name_pattern(), false, Some("Unique short name: 1–100 letters, digits, '.', '_' or '-'.");
    /// A group or policy name, nullable in patches (null means unchanged).
    name_or_null => name_pattern(), true, Some("Unique short name: 1–100 letters, digits, '.', '_' or '-'.");
    /// A person's username.
    username => username_pattern(), false, Some("1–64 letters, digits, '.', '_' or '-', starting with a letter or digit; stored lower-case.");
    /// A person's username, nullable in patches (null means unchanged).
    username_or_null => username_pattern(), true, Some("1–64 letters, digits, '.', '_' or '-', starting with a letter or digit; stored lower-case.");
    /// A device serial number.
    serial => serial_pattern(), false, Some("Unique; 1–64 letters, digits or '-'; stored upper-case.");
    /// A device serial number, nullable in patches (null means unchanged).
    serial_or_null => serial_pattern(), true, Some("Unique; 1–64 letters, digits or '-'; stored upper-case.");
    /// An optional e-mail address.
    opt_email => opt_email_pattern(), true, Some("An address like `name@example.org` (stored lower-case); blank or null for none.");
}

/// Group names: at most 200, each a [`name_pattern`].
fn group_names(nullable: bool) -> Schema {
    let t = if nullable {
        SchemaType::from_iter([Type::Array, Type::Null])
    } else {
        SchemaType::new(Type::Array)
    };
    Schema::Array(
        ArrayBuilder::new()
            .schema_type(t)
            .items(string(name_pattern(), false, None))
            .max_items(Some(200))
            .description(Some(
                "Names of existing groups (at most 200); replaces the person's memberships.",
            ))
            .build(),
    )
}

/// The `groups` of a new person.
#[must_use]
pub fn group_names_new() -> Schema {
    group_names(false)
}

/// The `groups` of a person's patch (null means unchanged).
#[must_use]
pub fn group_names_patch() -> Schema {
    group_names(true)
}

/// A reference to the [`json_value_component`]: any JSON value without NUL characters.
fn json_without_nul() -> RefOr<Schema> {
    RefOr::Ref(utoipa::openapi::Ref::from_schema_name("JsonValue"))
}

/// The `JsonValue` component: any JSON value with no NUL character in any string or key
/// (PostgreSQL cannot store one), at any depth.
#[must_use]
pub fn json_value_component() -> (String, RefOr<Schema>) {
    use utoipa::openapi::schema::{AdditionalProperties, OneOfBuilder};
    let no_nul = || string(r"^[^\x00]*$".to_owned(), false, None);
    let one = OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(SchemaType::from_iter([
            Type::Null,
            Type::Boolean,
            Type::Number,
        ])))
        .item(no_nul())
        .item(ArrayBuilder::new().items(json_without_nul()).build())
        .item(
            ObjectBuilder::new()
                .schema_type(SchemaType::new(Type::Object))
                .property_names(Some(no_nul()))
                .additional_properties(Some(AdditionalProperties::RefOr(json_without_nul()))),
        )
        .description(Some("Any JSON value without NUL characters."));
    ("JsonValue".to_owned(), RefOr::T(Schema::OneOf(one.build())))
}

/// A device's `facts`: a JSON object (at most 64 KiB serialized) without NUL characters.
fn facts(nullable: bool) -> Schema {
    use utoipa::openapi::schema::AdditionalProperties;
    let t = if nullable {
        SchemaType::from_iter([Type::Object, Type::Null])
    } else {
        SchemaType::new(Type::Object)
    };
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(t)
            .property_names(Some(string(r"^[^\x00]*$".to_owned(), false, None)))
            .additional_properties(Some(AdditionalProperties::RefOr(json_without_nul())))
            .description(Some(
                "What the device reports about itself: a JSON object of at most 64 KiB, with no \
                 NUL character in any key or string.",
            ))
            .build(),
    )
}

/// `facts` of a new device (absent or null: `{}`).
#[must_use]
pub fn facts_new() -> Schema {
    facts(true)
}

/// `facts` of a device patch (replaces the document; null means unchanged).
#[must_use]
pub fn facts_patch() -> Schema {
    facts(true)
}

/// A dotted numeric version as the policy rules read it (`14.6.1`): one to four parts.
const VERSION_PATTERN: &str = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*\+?[0-9]{1,19}(?:\.\+?[0-9]{1,19}){0,3}[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$";

fn rule_ref() -> RefOr<Schema> {
    RefOr::Ref(utoipa::openapi::Ref::from_schema_name("PolicyRule"))
}

/// One condition of a policy rule, in the shape its `op` needs.
fn rule_condition() -> Schema {
    use utoipa::openapi::schema::OneOfBuilder;
    let fact = || {
        ObjectBuilder::new()
            .schema_type(SchemaType::new(Type::String))
            .min_length(Some(1))
            .max_length(Some(200))
            .pattern(Some(r"^[^\x00]*$"))
            .description(Some(
                "A fact's path in the device's facts, dotted for nested ones (`battery.health`).",
            ))
    };
    let variant = |ops: &[&str], value: Option<RefOr<Schema>>, value_required: bool| {
        let mut required = vec!["fact", "op"];
        if value_required {
            required.push("value");
        }
        let mut o = ObjectBuilder::new()
            .schema_type(SchemaType::new(Type::Object))
            .property("fact", fact())
            .property(
                "op",
                ObjectBuilder::new()
                    .schema_type(SchemaType::new(Type::String))
                    .enum_values(Some(ops.iter().copied())),
            )
            .additional_properties(Some(
                utoipa::openapi::schema::AdditionalProperties::FreeForm(false),
            ));
        if let Some(v) = value {
            o = o.property("value", v);
        }
        for r in required {
            o = o.required(r);
        }
        o
    };
    let typed = |t: Type| {
        RefOr::T(Schema::Object(
            ObjectBuilder::new().schema_type(SchemaType::new(t)).build(),
        ))
    };
    Schema::OneOf(
        OneOfBuilder::new()
            .item(variant(
                &["eq", "ne", "contains"],
                Some(json_without_nul()),
                true,
            ))
            .item(variant(
                &["gt", "gte", "lt", "lte"],
                Some(typed(Type::Number)),
                true,
            ))
            .item(variant(
                &["in"],
                Some(RefOr::T(Schema::Array(
                    ArrayBuilder::new().items(json_without_nul()).build(),
                ))),
                true,
            ))
            .item(variant(
                &["version_gte", "version_lt"],
                Some(RefOr::T(Schema::Object(
                    ObjectBuilder::new()
                        .schema_type(SchemaType::new(Type::String))
                        .pattern(Some(VERSION_PATTERN))
                        .build(),
                ))),
                true,
            ))
            .item(variant(&["exists"], Some(typed(Type::Boolean)), false))
            .build(),
    )
}

/// The `PolicyRule` component: a condition (`fact`, `op`, `value`) or exactly one of `all` /
/// `any` (a non-empty list of rules) or `not` (a rule). The bounds on nesting (8 levels) and
/// size (100 conditions and combinators) are stated in its description.
#[must_use]
pub fn policy_rule_component() -> (String, RefOr<Schema>) {
    use utoipa::openapi::schema::{AdditionalProperties, OneOfBuilder};
    let list = || ArrayBuilder::new().items(rule_ref()).min_items(Some(1));
    let combinator = ObjectBuilder::new()
        .schema_type(SchemaType::new(Type::Object))
        .property("all", list())
        .property("any", list())
        .property("not", rule_ref())
        .min_properties(Some(1))
        .max_properties(Some(1))
        .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)));
    let one = OneOfBuilder::new()
        .item(rule_condition())
        .item(combinator)
        .description(Some(format!(
            "A condition on the device's facts (`{{\"fact\": \"disk_encryption\", \"op\": \"eq\", \"value\": true}}`), \
             or `all` / `any` of a non-empty list of rules, or `not` a rule; nested at most {} levels \
             deep, with at most {} conditions and combinators in all. `exists` takes an optional boolean, \
             `gt`/`gte`/`lt`/`lte` a number, `in` a list, `version_gte`/`version_lt` a dotted version \
             (`14.6.1`), `eq`/`ne`/`contains` any value.",
            crate::policy::MAX_RULE_DEPTH,
            crate::policy::MAX_RULE_NODES
        )));
    (
        "PolicyRule".to_owned(),
        RefOr::T(Schema::OneOf(one.build())),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;

    use proptest::prelude::*;
    use regex::Regex;

    use super::*;
    use crate::validation::{is_valid_name, is_valid_username, ValidationErrors};

    fn re(p: &str) -> Regex {
        Regex::new(p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    static TEXT: LazyLock<Vec<(usize, Regex, Regex)>> = LazyLock::new(|| {
        [2, 3, 5]
            .into_iter()
            .map(|max| (max, re(&text_pattern(max)), re(&opt_text_pattern(max))))
            .collect()
    });
    static NAMES: LazyLock<[Regex; 4]> = LazyLock::new(|| {
        [
            re(&name_pattern()),
            re(&username_pattern()),
            re(&serial_pattern()),
            re(&multiline_pattern(5)),
        ]
    });

    /// Characters a generator tends to produce, and every boundary the rules care about.
    fn interesting() -> impl Strategy<Value = String> {
        let special = prop::sample::select(vec![
            ' ', '\t', '\n', '\r', '\u{b}', '\u{c}', '\u{0}', '\u{1f}', '\u{7f}', '\u{85}',
            '\u{9f}', '\u{a0}', '\u{1680}', '\u{2000}', '\u{200a}', '\u{200b}', '\u{200e}',
            '\u{200f}', '\u{2028}', '\u{202a}', '\u{202e}', '\u{202f}', '\u{205f}', '\u{2066}',
            '\u{2069}', '\u{3000}', '\u{61c}', 'a', 'Z', '0', '.', '_', '-', '@', 'é', '中',
        ]);
        prop::collection::vec(prop_oneof![special, any::<char>()], 0..8)
            .prop_map(|v| v.into_iter().collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn text_patterns_agree_with_the_validators(s in interesting()) {
            for (max, text, opt) in TEXT.iter() {
                let mut e = ValidationErrors::default();
                e.text("f", &s, *max);
                prop_assert_eq!(text.is_match(&s), e.is_empty(), "{:?} max {}", s, max);
                let mut e = ValidationErrors::default();
                e.opt_text("f", Some(&s), *max);
                prop_assert_eq!(opt.is_match(&s), e.is_empty(), "{:?} max {}", s, max);
            }
        }

        #[test]
        fn name_patterns_agree_with_the_validators(s in interesting()) {
            let [name, username, serial, _] = &*NAMES;
            prop_assert_eq!(name.is_match(&s), is_valid_name(s.trim()), "{:?}", s);
            prop_assert_eq!(
                username.is_match(&s),
                is_valid_username(&s.trim().to_ascii_lowercase()),
                "{:?}", s
            );
            let upper = s.trim().to_ascii_uppercase();
            let valid = !upper.is_empty() && upper.len() <= 64
                && upper.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            prop_assert_eq!(serial.is_match(&s), valid, "{:?}", s);
        }

        #[test]
        fn the_multiline_pattern_allows_line_breaks_and_tabs_only(s in interesting()) {
            let t = s.trim();
            let valid = t.chars().count() <= 5
                && !t.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'));
            prop_assert_eq!(NAMES[3].is_match(&s), valid, "{:?}", s);
        }
    }

    #[test]
    fn lengths_count_the_trimmed_text() {
        let p = re(&text_pattern(100));
        assert!(p.is_match(&"a".repeat(100)));
        assert!(p.is_match(&format!("  {}\n", "a".repeat(100))));
        assert!(!p.is_match(&"a".repeat(101)));
        assert!(!p.is_match("   "));
        assert!(p.is_match("Ada Lovelace"));
        assert!(!p.is_match("Ada\u{202E}gnp.exe"));
        let o = re(&opt_text_pattern(10));
        assert!(o.is_match(""));
        assert!(o.is_match(" \t "));
    }
}
