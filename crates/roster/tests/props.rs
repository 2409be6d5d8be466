//! Property tests of the roster readers: exports are outside input, so no file content may
//! make a reader panic, and what the generator writes reads back as the same people.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is how a test fails.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cc_domain::Role;
use cc_roster::generate::{generate, GenFormat, GenOptions};
use cc_roster::{open_source, read_roster, FormatChoice, Input, Limits, Roster, RosterError};
use proptest::prelude::*;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn read_path(path: &Path, choice: FormatChoice) -> Result<Roster, RosterError> {
    let mut src = open_source(&Input::Path(path.to_owned()))?;
    read_roster(src.as_mut(), choice, Limits::default(), &mut |_| {})
}

/// Bytes that are either arbitrary or the original with a slice of arbitrary bytes spliced in
/// (which gets past the header checks into the row readers).
fn mutation(original: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = original.len();
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..400),
        (0..=len, 0..=len, prop::collection::vec(any::<u8>(), 0..40)).prop_map(
            move |(a, b, insert)| {
                let (a, b) = (a.min(b), a.max(b));
                let mut out = original[..a].to_vec();
                out.extend_from_slice(&insert);
                out.extend_from_slice(&original[b..]);
                out
            }
        ),
    ]
}

/// A copy of a fixture folder with `file` replaced by `content`.
fn folder_with(fixture_dir: &str, file: &str, content: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture(fixture_dir)).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    std::fs::write(dir.path().join(file), content).unwrap();
    dir
}

fn read_file(fixture_dir: &str, file: &str) -> Vec<u8> {
    std::fs::read(fixture(fixture_dir).join(file)).unwrap()
}

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(256)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn own_csv_never_panics(data in mutation(read_file("csv", "roster.csv"))) {
        let input = Input::Bytes { name: "roster.csv".into(), data: Arc::new(data) };
        let mut src = open_source(&input).unwrap();
        let _ = read_roster(src.as_mut(), FormatChoice::Auto, Limits::default(), &mut |_| {});
    }

    #[test]
    fn oneroster_never_panics(
        file in prop::sample::select(vec!["users.csv", "orgs.csv", "classes.csv", "enrollments.csv", "manifest.csv", "roles.csv"]),
        data in mutation(read_file("oneroster-1.2/bulk", "users.csv")),
    ) {
        let dir = folder_with("oneroster-1.2/bulk", file, &data);
        let _ = read_path(dir.path(), FormatChoice::Auto);
    }

    #[test]
    fn sds_never_panics(
        file in prop::sample::select(vec!["users.csv", "orgs.csv", "roles.csv", "classes.csv", "enrollments.csv"]),
        data in mutation(read_file("sds", "roles.csv")),
    ) {
        let dir = folder_with("sds", file, &data);
        let _ = read_path(dir.path(), FormatChoice::Sds);
    }

    #[test]
    fn a_zip_of_any_bytes_is_read_or_refused(data in prop::collection::vec(any::<u8>(), 0..400)) {
        let mut zipped = b"PK\x03\x04".to_vec();
        zipped.extend_from_slice(&data);
        let input = Input::Bytes { name: "export.zip".into(), data: Arc::new(zipped) };
        if let Ok(mut src) = open_source(&input) {
            let _ = read_roster(src.as_mut(), FormatChoice::Auto, Limits::default(), &mut |_| {});
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn generated_rosters_read_back_as_the_generated_people(
        rows in 1u64..40,
        seed in any::<u64>(),
        schools in 1u32..5,
        drift_percent in 0u32..=100,
        turnover_percent in 0u32..=100,
        csv in any::<bool>(),
    ) {
        let opts = GenOptions {
            rows,
            seed,
            format: if csv { GenFormat::Csv } else { GenFormat::OneRoster12 },
            schools,
            drift_percent,
            turnover_percent,
        };
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join(if csv { "roster.csv" } else { "export" });
        generate(&opts, &out).unwrap();
        let roster = read_path(&out, FormatChoice::Auto).unwrap();
        prop_assert!(roster.errors.is_empty(), "{:?}", roster.errors);
        prop_assert_eq!(roster.people.len() as u64 + roster.skipped_roles, opts.people().count() as u64);
        for p in &roster.people {
            let i: u64 = p.external_id.trim_start_matches('u').parse().unwrap();
            let want = opts.person(i);
            prop_assert_eq!(&p.external_id, &want.id);
            prop_assert_eq!(&p.username, &want.username);
            prop_assert_eq!(p.given_name.as_str(), want.given);
            prop_assert_eq!(p.family_name.as_str(), want.family);
            prop_assert_eq!(p.email.as_deref(), Some(want.email.as_str()));
            let role = match want.role {
                "student" => Role::Student,
                "teacher" => Role::Teacher,
                _ => p.role,
            };
            prop_assert_eq!(p.role, role);
            prop_assert_eq!(p.grade.is_some(), want.grade.is_some());
        }
    }
}
