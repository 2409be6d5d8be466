//! The readers, the plan and the guards on fixtures written from the published column lists
//! (OneRoster 1.1 and 1.2 CSV, School Data Sync v2.1 CSV, and the project's own CSV).

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is how a test fails.

use std::path::PathBuf;

use cc_domain::{GroupKind, Role, UserStatus};
use cc_roster::plan::{ChangeKind, Reason};
use cc_roster::{
    guards, open_source, plan, read_roster, DirectoryView, ExistingGroup, FormatChoice, Input,
    Limits, Overrides, Plan, PlanOptions, Roster, RosterError,
};
use uuid::Uuid;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn read_with(name: &str, choice: FormatChoice, limits: Limits) -> Result<Roster, RosterError> {
    let mut src = open_source(&Input::Path(fixture(name)))?;
    read_roster(src.as_mut(), choice, limits, &mut |_| {})
}

fn read(name: &str) -> Roster {
    read_with(name, FormatChoice::Auto, Limits::default()).expect("readable fixture")
}

/// What the directory looks like after applying a plan (the store does the same in SQL).
fn applied(roster: &Roster, p: &Plan, dir: &DirectoryView) -> DirectoryView {
    let mut out = dir.clone();
    for c in &p.changes {
        if c.kind == ChangeKind::Blocked {
            continue;
        }
        let u = p.target(c, roster, dir, Uuid::now_v7(), cc_domain::now());
        match c.existing {
            Some(i) => out.users[i as usize] = u,
            None => out.users.push(u),
        }
    }
    for g in &p.new_groups {
        out.groups.push(ExistingGroup {
            id: Uuid::now_v7(),
            name: g.name.clone(),
            kind: g.kind,
            external_id: g.external_id.clone(),
        });
    }
    out
}

fn user<'a>(dir: &'a DirectoryView, ext: &str) -> &'a cc_domain::User {
    dir.users
        .iter()
        .find(|u| u.external_id.as_deref() == Some(ext))
        .unwrap_or_else(|| panic!("no user {ext}"))
}

fn start(name: &str) -> (Roster, DirectoryView) {
    let r = read(name);
    let p = plan(&r, &DirectoryView::default(), PlanOptions::default());
    let dir = applied(&r, &p, &DirectoryView::default());
    (r, dir)
}

#[test]
fn oneroster_11_bulk_maps_people_roles_schools_grades_and_classes() {
    let r = read("oneroster-1.1/bulk");
    assert_eq!(r.format.map(|f| f.as_str()), Some("oneroster-1.1"));
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.user_rows, 8);
    assert_eq!(r.skipped_roles, 1, "the parent is not a directory person");
    assert_eq!(r.people.len(), 7);
    let p = plan(&r, &DirectoryView::default(), PlanOptions::default());
    assert_eq!(p.counts.created, 7);
    let dir = applied(&r, &p, &DirectoryView::default());
    let ada = user(&dir, "u1");
    assert_eq!(
        (ada.role, ada.grade, ada.school.as_deref()),
        (Role::Student, Some(10), Some("lhs"))
    );
    assert_eq!(ada.groups, ["lhs", "lhs-alg2-p3"]);
    assert_eq!(ada.status, UserStatus::Active);
    let grace = user(&dir, "u3");
    assert_eq!(
        grace.school.as_deref(),
        Some("washington-middle-school"),
        "slug of the name without identifier"
    );
    let kj = user(&dir, "u4");
    assert_eq!(
        (kj.username.as_str(), kj.role, kj.grade),
        ("kjohnson", Role::Teacher, None)
    );
    assert_eq!(user(&dir, "u5").role, Role::Staff, "aide → staff");
    let admin = user(&dir, "u6");
    assert_eq!(
        (admin.role, admin.school.as_deref()),
        (Role::Administrator, None),
        "district-level"
    );
    let dennis = user(&dir, "u8");
    assert_eq!(
        (dennis.grade, dennis.status),
        (Some(-1), UserStatus::Pending),
        "PK; enabledUser=false"
    );
    let schools: Vec<_> = p
        .new_groups
        .iter()
        .filter(|g| g.kind == GroupKind::School)
        .map(|g| g.name.as_str())
        .collect();
    assert_eq!(schools, ["lhs", "washington-middle-school"]);
    assert_eq!(
        p.counts.lifecycle_jobs, 6,
        "every active create is provisioned; the disabled one is not"
    );
}

#[test]
fn oneroster_12_reads_roles_from_roles_csv_like_11() {
    let r11 = read("oneroster-1.1/bulk");
    let r12 = read("oneroster-1.2/bulk");
    assert_eq!(r12.format.map(|f| f.as_str()), Some("oneroster-1.2"));
    assert!(r12.errors.is_empty(), "{:?}", r12.errors);
    assert_eq!(r12.skipped_roles, 1, "guardian skipped");
    let d11 = applied(
        &r11,
        &plan(&r11, &DirectoryView::default(), PlanOptions::default()),
        &DirectoryView::default(),
    );
    let d12 = applied(
        &r12,
        &plan(&r12, &DirectoryView::default(), PlanOptions::default()),
        &DirectoryView::default(),
    );
    for id in ["u1", "u2", "u3", "u4", "u5", "u6", "u8"] {
        let (a, b) = (user(&d11, id), user(&d12, id));
        assert_eq!(
            (&a.username, a.role, a.grade, &a.school, &a.groups, a.status),
            (&b.username, b.role, b.grade, &b.school, &b.groups, b.status),
            "{id}"
        );
    }
    assert_eq!(
        user(&d12, "u6").role,
        Role::Administrator,
        "districtAdministrator → administrator"
    );
}

#[test]
fn sds_maps_cleanly() {
    let r = read("sds");
    assert_eq!(r.format.map(|f| f.as_str()), Some("sds"));
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.skipped_roles, 1, "`other` (guardian) skipped");
    let dir = applied(
        &r,
        &plan(&r, &DirectoryView::default(), PlanOptions::default()),
        &DirectoryView::default(),
    );
    let ada = user(&dir, "u1");
    assert_eq!(
        (ada.username.as_str(), ada.grade, ada.school.as_deref()),
        ("ada.lovelace", Some(10), Some("lincoln-high-school"))
    );
    assert_eq!(
        ada.groups,
        ["lincoln-high-school", "lincoln-high-school-algebra-ii"]
    );
    assert_eq!(
        user(&dir, "u4").school.as_deref(),
        Some("lincoln-high-school"),
        "the primary role's org"
    );
}

#[test]
fn own_csv_reads_groups_status_and_grades() {
    let r = read("csv/roster.csv");
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let p = plan(&r, &DirectoryView::default(), PlanOptions::default());
    let dir = applied(&r, &p, &DirectoryView::default());
    assert_eq!(
        user(&dir, "S-100").groups,
        ["algebra-2", "lincoln-hs", "robotics"]
    );
    assert_eq!(user(&dir, "S-101").grade, Some(0));
    assert_eq!(
        user(&dir, "A-300").status,
        UserStatus::Pending,
        "suspended in the file: created without accounts"
    );
}

#[test]
fn renamed_and_moved_people_match_by_external_id() {
    let (_, dir) = start("oneroster-1.1/bulk");
    let r = read("oneroster-1.1/renamed");
    let p = plan(&r, &dir, PlanOptions::default());
    assert_eq!(p.counts.created, 0, "nobody is created twice");
    assert_eq!(p.counts.moved, 2, "{:?}", p.counts);
    assert_eq!(p.counts.suspended, 1, "Alan is absent from the bulk file");
    let ada = p
        .changes
        .iter()
        .find(|c| {
            c.person
                .is_some_and(|i| r.people[i as usize].external_id == "u1")
        })
        .unwrap();
    assert_eq!(ada.kind, ChangeKind::Move);
    let fields: Vec<_> = ada.field_names().collect();
    assert_eq!(fields, ["username", "family_name", "email", "grade"]);
    let after = applied(&r, &p, &dir);
    let grace = user(&after, "u3");
    assert_eq!(
        (grace.school.as_deref(), grace.grade),
        (Some("lhs"), Some(8))
    );
    assert_eq!(
        grace.groups,
        ["lhs", "lhs-alg2-p3"],
        "school group swapped, class replaced"
    );
    let alan = user(&after, "u2");
    assert_eq!(alan.status, UserStatus::Suspended);
    let suspend = p
        .changes
        .iter()
        .find(|c| c.kind == ChangeKind::Suspend)
        .unwrap();
    assert_eq!(suspend.reason, Reason::AbsentFromBulkFile);
}

#[test]
fn delta_suspends_tobedeleted_only_and_resolves_orgs_through_the_directory() {
    let (_, dir) = start("oneroster-1.2/bulk");
    let r = read("oneroster-1.2/delta");
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let p = plan(&r, &dir, PlanOptions::default());
    assert_eq!(
        (p.counts.created, p.counts.suspended, p.counts.unchanged),
        (1, 1, 0),
        "{:?}",
        p.counts
    );
    let after = applied(&r, &p, &dir);
    assert_eq!(user(&after, "u2").status, UserStatus::Suspended);
    assert_eq!(
        user(&after, "u1").status,
        UserStatus::Active,
        "absent from a delta: unchanged"
    );
    assert_eq!(
        user(&after, "u9").school.as_deref(),
        Some("washington-middle-school")
    );
}

#[test]
fn reimporting_the_same_file_plans_nothing() {
    for name in [
        "oneroster-1.1/bulk",
        "oneroster-1.2/bulk",
        "sds",
        "csv/roster.csv",
    ] {
        let (r, dir) = start(name);
        let again = plan(&r, &dir, PlanOptions::default());
        assert!(again.changes.is_empty(), "{name}: {:?}", again.changes);
        assert!(
            again.counts.is_empty() && again.new_groups.is_empty(),
            "{name}"
        );
    }
}

#[test]
fn deprovisioned_people_are_reported_not_reactivated() {
    let (r, mut dir) = start("oneroster-1.1/bulk");
    let i = dir
        .users
        .iter()
        .position(|u| u.external_id.as_deref() == Some("u1"))
        .unwrap();
    dir.users[i].status = UserStatus::Deprovisioned;
    let p = plan(&r, &dir, PlanOptions::default());
    assert_eq!(p.counts.blocked, 1);
    assert_eq!(p.changes[0].reason, Reason::Deprovisioned);
    let j = dir
        .users
        .iter()
        .position(|u| u.external_id.as_deref() == Some("u2"))
        .unwrap();
    dir.users[j].status = UserStatus::Suspended;
    let p = plan(&r, &dir, PlanOptions::default());
    assert_eq!(
        p.counts.reactivated, 1,
        "suspended and back in the file: reactivated"
    );
}

#[test]
fn manual_people_are_adopted_by_username_and_never_suspended_by_absence() {
    let (r, mut dir) = start("oneroster-1.1/bulk");
    let mut manual = dir.users[0].clone();
    manual.id = Uuid::now_v7();
    manual.external_id = None;
    manual.username = "manual.person".into();
    manual.email = None;
    dir.users.push(manual);
    let i = dir
        .users
        .iter()
        .position(|u| u.external_id.as_deref() == Some("u2"))
        .unwrap();
    dir.users[i].external_id = None;
    let p = plan(&r, &dir, PlanOptions::default());
    assert_eq!(
        p.counts.suspended, 0,
        "manual people are never suspended by absence"
    );
    assert_eq!(p.counts.updated, 1, "alan.turing linked by username");
    assert_eq!(
        p.changes[0].field_names().collect::<Vec<_>>(),
        ["external_id"]
    );
    let p = plan(
        &r,
        &dir,
        PlanOptions {
            match_by_username: false,
        },
    );
    assert_eq!(
        p.errors.total(),
        1,
        "without username matching the username is taken"
    );
    assert_eq!(
        (p.errors.kept()[0].line, p.errors.kept()[0].field.as_str()),
        (3, "username")
    );
}

#[test]
fn malformed_rows_are_reported_by_line_and_field_and_skipped() {
    let r = read("csv/malformed.csv");
    let got: Vec<(u64, &str)> = r
        .errors
        .iter()
        .map(|e| (e.line, e.field.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (3, "email"),
            (4, "grade"),
            (5, "external_id"),
            (6, "username"),
            (7, "role"),
            (8, "grade"),
            (9, "username"),
            (10, "row"),
            (11, "row"),
        ],
        "{:#?}",
        r.errors
    );
    assert!(
        r.errors.kept()[2].message.contains("duplicates line 2"),
        "{}",
        r.errors.kept()[2].message
    );
    assert_eq!(r.people.len(), 2, "the good rows are kept");
    let p = plan(&r, &DirectoryView::default(), PlanOptions::default());
    assert_eq!(p.counts.errors, 9);
    let strict = guards::check(
        &r,
        &p,
        &DirectoryView::default(),
        &guards::GuardSettings::default(),
        &Overrides {
            strict: true,
            ..Overrides::default()
        },
    );
    assert_eq!(
        strict.iter().map(|x| x.code.as_str()).collect::<Vec<_>>(),
        ["row_errors"]
    );
    let mut out = Vec::new();
    cc_roster::render::errors_csv(r.errors.iter(), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.starts_with("file,line,field,message\nroster.csv,3,email,"),
        "{text}"
    );
}

#[test]
fn truncated_files_are_refused_unless_allowed() {
    let (_, dir) = start("csv/roster.csv");
    for name in ["csv/truncated-quote.csv", "csv/truncated-line.csv"] {
        let r = read(name);
        assert_eq!(r.issues.len(), 1, "{name}: {:?}", r.issues);
        let p = plan(&r, &dir, PlanOptions::default());
        let refusals = guards::check(
            &r,
            &p,
            &dir,
            &guards::GuardSettings::default(),
            &Overrides::default(),
        );
        let codes: Vec<_> = refusals.iter().map(|x| x.code.as_str()).collect();
        assert!(codes.contains(&"truncated"), "{name}: {refusals:?}");
        let t = refusals.iter().find(|x| x.code == "truncated").unwrap();
        assert_eq!(t.overridden_by.as_deref(), Some("allow_truncated"));
        let allowed = guards::check(
            &r,
            &p,
            &dir,
            &guards::GuardSettings::default(),
            &Overrides {
                allow_truncated: true,
                allow_mass_suspend: true,
                allow_shrink: true,
                ..Overrides::default()
            },
        );
        assert!(allowed.is_empty(), "{allowed:?}");
    }
}

#[test]
fn a_missing_declared_file_is_refused() {
    let r = read("oneroster-1.2/missing-file");
    let p = plan(&r, &DirectoryView::default(), PlanOptions::default());
    let refusals = guards::check(
        &r,
        &p,
        &DirectoryView::default(),
        &guards::GuardSettings::default(),
        &Overrides::default(),
    );
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert_eq!(refusals[0].code, "missing_file");
    assert!(refusals[0].message.contains("enrollments.csv"));
    assert_eq!(
        refusals[0].overridden_by.as_deref(),
        Some("allow_missing_files")
    );
}

#[test]
fn mass_suspension_and_shrunk_files_are_refused_then_allowed() {
    let gen = cc_roster::generate::GenOptions {
        rows: 200,
        seed: 7,
        ..Default::default()
    };
    let dir_tmp = tempfile::tempdir().unwrap();
    cc_roster::generate::generate(&gen, &dir_tmp.path().join("full")).unwrap();
    cc_roster::generate::generate(
        &cc_roster::generate::GenOptions { rows: 180, ..gen },
        &dir_tmp.path().join("less"),
    )
    .unwrap();
    cc_roster::generate::generate(
        &cc_roster::generate::GenOptions { rows: 20, ..gen },
        &dir_tmp.path().join("tiny"),
    )
    .unwrap();
    let read_dir = |n: &str| {
        let mut s = open_source(&Input::Path(dir_tmp.path().join(n))).unwrap();
        read_roster(
            s.as_mut(),
            FormatChoice::Auto,
            Limits::default(),
            &mut |_| {},
        )
        .unwrap()
    };
    let full = read_dir("full");
    assert_eq!(full.people.len(), 200);
    let dir = applied(
        &full,
        &plan(&full, &DirectoryView::default(), PlanOptions::default()),
        &DirectoryView::default(),
    );
    let settings = guards::GuardSettings::default();
    let less = read_dir("less");
    let p = plan(&less, &dir, PlanOptions::default());
    assert_eq!(p.counts.suspended, 20);
    let refused = guards::check(&less, &p, &dir, &settings, &Overrides::default());
    assert_eq!(
        refused.iter().map(|x| x.code.as_str()).collect::<Vec<_>>(),
        ["mass_suspend"]
    );
    assert!(
        refused[0].message.contains("suspends 20 of 200"),
        "{}",
        refused[0].message
    );
    assert!(guards::check(
        &less,
        &p,
        &dir,
        &settings,
        &Overrides {
            allow_mass_suspend: true,
            ..Overrides::default()
        }
    )
    .is_empty());
    let tiny = read_dir("tiny");
    let p = plan(&tiny, &dir, PlanOptions::default());
    let codes: Vec<_> = guards::check(&tiny, &p, &dir, &settings, &Overrides::default())
        .into_iter()
        .map(|x| x.code)
        .collect();
    assert_eq!(codes, ["shrunk", "mass_suspend"]);
}

#[test]
fn an_empty_bulk_file_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("empty.csv");
    std::fs::write(&f, cc_roster_header()).unwrap();
    let mut s = open_source(&Input::Path(f)).unwrap();
    let r = read_roster(
        s.as_mut(),
        FormatChoice::Csv,
        Limits::default(),
        &mut |_| {},
    )
    .unwrap();
    let p = plan(&r, &DirectoryView::default(), PlanOptions::default());
    let refusals = guards::check(
        &r,
        &p,
        &DirectoryView::default(),
        &guards::GuardSettings::default(),
        &Overrides::default(),
    );
    assert_eq!(refusals[0].code, "empty_file");
}

fn cc_roster_header() -> &'static str {
    "external_id,username,given_name,family_name,email,role,grade,school,groups,status\n"
}

#[test]
fn limits_give_clear_errors() {
    let tight = Limits {
        max_rows: 2,
        ..Limits::default()
    };
    let e = read_with("csv/roster.csv", FormatChoice::Auto, tight).unwrap_err();
    assert_eq!(e.code(), "too_many_rows");
    let e = read_with(
        "csv/roster.csv",
        FormatChoice::Auto,
        Limits {
            max_file_bytes: 100,
            ..Limits::default()
        },
    )
    .unwrap_err();
    assert_eq!(e.code(), "file_too_large");
    assert!(e.to_string().contains("import.max_file_bytes"));
    let e = read_with(
        "csv/roster.csv",
        FormatChoice::Auto,
        Limits {
            max_row_bytes: 100,
            ..Limits::default()
        },
    )
    .unwrap_err();
    assert_eq!(e.code(), "row_too_long");
    assert!(e.to_string().contains("line 2"), "{e}");
}

/// An endless line is refused when it passes the row limit, not buffered to the file limit:
/// the reader stops having read little more than the limit.
#[test]
fn an_endless_line_stops_at_the_row_limit() {
    struct Endless {
        served: std::sync::Arc<std::sync::atomic::AtomicU64>,
    }
    impl std::io::Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            buf.fill(b'x');
            self.served
                .fetch_add(buf.len() as u64, std::sync::atomic::Ordering::Relaxed);
            Ok(buf.len())
        }
    }
    struct OneStream(Option<Endless>);
    impl cc_roster::SourceFiles for OneStream {
        fn names(&self) -> Vec<String> {
            vec!["roster.csv".into()]
        }
        fn open(
            &mut self,
            _: &str,
        ) -> Result<Option<Box<dyn std::io::Read + '_>>, cc_roster::RosterError> {
            Ok(self.0.take().map(|e| Box::new(e) as Box<dyn std::io::Read>))
        }
        fn is_single_file(&self) -> bool {
            true
        }
    }
    let served = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut src = OneStream(Some(Endless {
        served: served.clone(),
    }));
    let e = read_roster(&mut src, FormatChoice::Auto, Limits::default(), &mut |_| {}).unwrap_err();
    assert_eq!(e.code(), "row_too_long", "{e}");
    assert!(e.to_string().contains("line 1"), "{e}");
    let read = served.load(std::sync::atomic::Ordering::Relaxed);
    assert!(read < 4 * 1024 * 1024, "read {read} bytes before refusing");
}

#[test]
fn format_detection_and_missing_columns() {
    let e = read_with(
        "oneroster-1.1/bulk/users.csv",
        FormatChoice::Auto,
        Limits::default(),
    )
    .unwrap_err();
    assert_eq!(e.code(), "unrecognized_format");
    let e = read_with("sds", FormatChoice::OneRoster, Limits::default()).unwrap_err();
    assert!(e.to_string().contains("manifest"), "{e}");
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("x.csv");
    std::fs::write(&f, "external_id,username\nx,y\n").unwrap();
    let mut s = open_source(&Input::Path(f)).unwrap();
    let e = read_roster(
        s.as_mut(),
        FormatChoice::Auto,
        Limits::default(),
        &mut |_| {},
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "roster.csv: missing required columns: given_name, family_name, role"
    );
}

#[test]
fn zip_archives_read_like_folders() {
    let tmp = tempfile::tempdir().unwrap();
    let zip_path = tmp.path().join("export.zip");
    let gen = cc_roster::generate::GenOptions {
        rows: 50,
        seed: 3,
        ..Default::default()
    };
    cc_roster::generate::generate(&gen, &zip_path).unwrap();
    cc_roster::generate::generate(&gen, &tmp.path().join("folder")).unwrap();
    let read_path = |p: PathBuf| {
        let mut s = open_source(&Input::Path(p)).unwrap();
        read_roster(
            s.as_mut(),
            FormatChoice::Auto,
            Limits::default(),
            &mut |_| {},
        )
        .unwrap()
    };
    let a = read_path(zip_path.clone());
    let b = read_path(tmp.path().join("folder"));
    assert_eq!(a.people, b.people);
    let bytes = std::sync::Arc::new(std::fs::read(&zip_path).unwrap());
    let mut s = open_source(&Input::Bytes {
        name: "export.zip".into(),
        data: bytes,
    })
    .unwrap();
    let c = read_roster(
        s.as_mut(),
        FormatChoice::Auto,
        Limits::default(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(c.people.len(), 50);
}

#[test]
fn the_generator_is_reproducible_and_drifts() {
    let tmp = tempfile::tempdir().unwrap();
    let gen = cc_roster::generate::GenOptions {
        rows: 300,
        seed: 11,
        format: cc_roster::generate::GenFormat::Csv,
        ..Default::default()
    };
    cc_roster::generate::generate(&gen, &tmp.path().join("a.csv")).unwrap();
    cc_roster::generate::generate(&gen, &tmp.path().join("b.csv")).unwrap();
    assert_eq!(
        std::fs::read(tmp.path().join("a.csv")).unwrap(),
        std::fs::read(tmp.path().join("b.csv")).unwrap()
    );
    let drifted = cc_roster::generate::GenOptions {
        drift_percent: 10,
        ..gen
    };
    cc_roster::generate::generate(&drifted, &tmp.path().join("c.csv")).unwrap();
    let read_path = |p: PathBuf| {
        let mut s = open_source(&Input::Path(p)).unwrap();
        read_roster(
            s.as_mut(),
            FormatChoice::Auto,
            Limits::default(),
            &mut |_| {},
        )
        .unwrap()
    };
    let a = read_path(tmp.path().join("a.csv"));
    assert!(a.errors.is_empty(), "{:?}", a.errors);
    let dir = applied(
        &a,
        &plan(&a, &DirectoryView::default(), PlanOptions::default()),
        &DirectoryView::default(),
    );
    let c = read_path(tmp.path().join("c.csv"));
    let p = plan(&c, &dir, PlanOptions::default());
    assert!(p.counts.moved > 10 && p.counts.moved < 50, "{:?}", p.counts);
    assert_eq!(p.counts.created + p.counts.suspended, 0);
    // Turnover: some people leave (suspended), as many newcomers arrive (created).
    let churned = cc_roster::generate::GenOptions {
        turnover_percent: 10,
        ..drifted
    };
    cc_roster::generate::generate(&churned, &tmp.path().join("t.csv")).unwrap();
    let t = read_path(tmp.path().join("t.csv"));
    let p = plan(&t, &dir, PlanOptions::default());
    assert_eq!(p.counts.created, 30, "{:?}", p.counts);
    assert!(
        p.counts.suspended > 10 && p.counts.suspended < 50,
        "{:?}",
        p.counts
    );
    assert_eq!(
        t.people.len() as u64 + t.skipped_roles,
        churned.people().count() as u64
    );
}

#[test]
fn plan_json_lists_changes_field_by_field() {
    let (_, dir) = start("oneroster-1.1/bulk");
    let r = read("oneroster-1.1/renamed");
    let p = plan(&r, &dir, PlanOptions::default());
    let doc = cc_roster::render::PlanDocument {
        plan: &p,
        roster: &r,
        dir: &dir,
        refusals: &[],
        limit: None,
    };
    let v = serde_json::to_value(&doc).unwrap();
    assert_eq!(v["counts"]["moved"], 2);
    let ada = v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["external_id"] == "u1")
        .unwrap();
    assert_eq!(
        ada["fields"]["grade"],
        serde_json::json!({"before": 10, "after": 11})
    );
    assert_eq!(ada["fields"]["username"]["after"], "ada.king");
    let table = cc_roster::render::summary_table(&p.counts);
    assert!(table.contains("move (school or grade)"), "{table}");
}
