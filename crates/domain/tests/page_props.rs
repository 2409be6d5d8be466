//! Property tests of list cursors, limits and sorts: they come from clients, so arbitrary input
//! must be refused with a message, never a panic, and a cursor must survive its round trip.

use cc_domain::page::{parse_limit, parse_sort, SortDir, MAX_LIMIT};
use cc_domain::Cursor;
use proptest::prelude::*;

const SORTS: &[&str] = &["username", "family_name", "created_at"];

fn cursor() -> impl Strategy<Value = Cursor> {
    (
        prop::sample::select(SORTS),
        any::<String>().prop_filter("no NUL", |v| !v.contains('\0')),
        any::<u128>(),
    )
        .prop_map(|(s, v, id)| Cursor {
            s: s.to_owned(),
            v,
            id: uuid::Uuid::from_u128(id),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_cursor_decodes_to_what_was_encoded(c in cursor()) {
        let encoded = c.encode();
        // Short enough values fit the length limit; longer ones are refused, never mangled.
        match Cursor::decode(&encoded, &c.s) {
            Ok(d) => prop_assert_eq!(d, c),
            Err(m) => prop_assert!(encoded.len() > 1024, "{m}"),
        }
    }

    #[test]
    fn a_cursor_is_refused_under_another_sort(c in cursor(), other in prop::sample::select(SORTS)) {
        prop_assume!(other != c.s);
        prop_assert!(Cursor::decode(&c.encode(), other).is_err());
    }

    #[test]
    fn any_cursor_text_is_decoded_or_refused(s in any::<String>(), sort in prop::sample::select(SORTS)) {
        if let Ok(c) = Cursor::decode(&s, sort) {
            prop_assert_eq!(c.s.as_str(), sort);
            prop_assert!(!c.v.contains('\0'));
        }
    }

    #[test]
    fn base64_of_any_bytes_is_decoded_or_refused(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        use base64::Engine as _;
        let s = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let _ = Cursor::decode(&s, "username");
    }

    #[test]
    fn limits_are_in_range_or_refused(limit in any::<Option<u32>>()) {
        match parse_limit(limit) {
            Ok(n) => prop_assert!((1..=MAX_LIMIT).contains(&n)),
            Err(_) => prop_assert!(matches!(limit, Some(0)) || limit.is_some_and(|n| n > MAX_LIMIT)),
        }
    }

    #[test]
    fn a_sort_is_an_allowed_field_or_refused(sort in any::<Option<String>>()) {
        match parse_sort(sort.as_deref(), SORTS) {
            Ok((field, dir)) => {
                prop_assert!(SORTS.contains(&field));
                let raw = sort.as_deref().unwrap_or(SORTS[0]);
                let want = if raw.starts_with('-') { SortDir::Desc } else { SortDir::Asc };
                prop_assert_eq!(dir, want);
                prop_assert_eq!(raw.trim_start_matches('-'), field);
            }
            Err(m) => prop_assert!(m.contains("sort must be one of")),
        }
    }
}
