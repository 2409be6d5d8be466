//! Property tests of DN templates: user values are outside input, so every value must be
//! escaped so that the rendered DN splits into the template's RDNs and each value reads back
//! unchanged; the DN helpers must not panic on any text.

use cc_connectors::ldap::dn::{escape_value, normalize, rdn_parts, rdns, split_first, unescape};
use cc_connectors::ldap::template::{Template, Vars};
use cc_domain::{Role, User, UserStatus};
use proptest::prelude::*;

/// A user whose username, school and names are arbitrary text.
fn user(username: String, school: String, given: String, family: String) -> User {
    let now = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
    User {
        id: uuid::Uuid::nil(),
        external_id: Some("x1".into()),
        username,
        given_name: given,
        family_name: family,
        email: None,
        role: Role::Student,
        grade: Some(5),
        school: Some(school),
        status: UserStatus::Active,
        groups: Vec::new(),
        version: 1,
        created_at: now,
        updated_at: now,
        sync: None,
    }
}

fn value() -> impl Strategy<Value = String> {
    // Arbitrary text, plus the characters DNs treat specially, at any position.
    prop_oneof![
        any::<String>(),
        prop::collection::vec(
            prop::sample::select(vec![
                ' ', ',', '+', '"', '\\', '<', '>', ';', '=', '#', '\0', 'a', 'é', '\t', '\n',
                '\u{3000}'
            ]),
            0..12
        )
        .prop_map(|c| c.into_iter().collect()),
    ]
    .prop_filter("values are non-empty", |v: &String| !v.is_empty())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn an_escaped_value_reads_back_unchanged(v in value()) {
        let dn = format!("cn={},dc=example,dc=org", escape_value(&v));
        let parts = rdns(&dn);
        prop_assert_eq!(parts.len(), 3, "{}", dn);
        let (attr, got) = rdn_parts(parts[0]);
        prop_assert_eq!(attr, "cn");
        prop_assert_eq!(got, v);
    }

    #[test]
    fn a_rendered_dn_template_has_the_templates_rdns(
        username in value(),
        school in value(),
        given in value(),
        family in value(),
    ) {
        let t = Template::parse("uid={username},ou={school},cn={display_name},dc=example,dc=org")
            .expect("template");
        let u = user(username, school, given, family);
        let vars = Vars::of(&u, "example.org");
        let dn = t.render(&vars, escape_value).expect("every variable has a value");
        let parts = rdns(&dn);
        prop_assert_eq!(parts.len(), 5, "{}", dn);
        prop_assert_eq!(rdn_parts(parts[0]).1, u.username.clone());
        prop_assert_eq!(rdn_parts(parts[1]).1, u.school.clone().unwrap_or_default());
        prop_assert_eq!(rdn_parts(parts[2]).1, u.display_name());
        let (first, parent) = split_first(&dn);
        prop_assert_eq!(rdn_parts(&first).1, u.username.clone());
        prop_assert_eq!(rdns(&parent).len(), 4);
    }

    #[test]
    fn dn_helpers_never_panic(s in any::<String>()) {
        let _ = rdns(&s);
        let _ = rdn_parts(&s);
        let _ = unescape(&s);
        let _ = normalize(&s);
        let _ = split_first(&s);
        let _ = Template::parse(&s);
    }
}
