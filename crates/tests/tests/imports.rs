//! Roster imports applied to a real database, on SQLite and PostgreSQL: one transaction per
//! import, bulk writes, audit events, guards, idempotent re-imports and the job seam.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is how a test fails.

use std::path::PathBuf;
use std::sync::Arc;

use cc_domain::{Actor, AuditQuery, GroupKind, LifecycleOperation, UserQuery, UserStatus};
use cc_roster::{FormatChoice, Input, Overrides, Roster};
use cc_service::imports::{self, ImportError, ImportOptions, ImportSettings, Progress};
use cc_store::Store;
use cc_tests::{backend_tests, Backend, TestDb};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../roster/tests/fixtures")
        .join(name)
}

fn read(name: &str) -> Roster {
    imports::read(
        &Input::Path(fixture(name)),
        FormatChoice::Auto,
        cc_roster::Limits::default(),
        &Progress::default(),
    )
    .expect("readable fixture")
}

fn actor() -> Actor {
    Actor {
        name: "operator:admin".into(),
        request_id: Some("req-import".into()),
    }
}

async fn fresh(backend: Backend) -> (TestDb, Arc<dyn Store>) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    (db, store)
}

async fn apply(
    store: &Arc<dyn Store>,
    name: &str,
    overrides: Overrides,
) -> Result<imports::ApplyOutcome, ImportError> {
    let roster = read(name);
    let run = imports::new_run(
        &actor(),
        name,
        b"",
        false,
        &ImportOptions {
            format: FormatChoice::Auto,
            overrides,
        },
    );
    let req = imports::ApplyRequest {
        actor: &actor(),
        roster: &roster,
        settings: &ImportSettings::default(),
        overrides: &overrides,
        expected: None,
        stored: false,
        progress: &Progress::default(),
    };
    imports::apply(store.as_ref(), req, run).await
}

/// Applies `roster` with the default settings and no overrides.
async fn apply_roster(
    store: &Arc<dyn Store>,
    roster: &Roster,
    name: &str,
) -> imports::ApplyOutcome {
    apply_roster_with(store, roster, name, &Overrides::default()).await
}

async fn apply_roster_with(
    store: &Arc<dyn Store>,
    roster: &Roster,
    name: &str,
    overrides: &Overrides,
) -> imports::ApplyOutcome {
    let run = imports::new_run(&actor(), name, b"", false, &ImportOptions::default());
    let req = imports::ApplyRequest {
        actor: &actor(),
        roster,
        settings: &ImportSettings::default(),
        overrides,
        expected: None,
        stored: false,
        progress: &Progress::default(),
    };
    imports::apply(store.as_ref(), req, run).await.unwrap()
}

async fn user(store: &Arc<dyn Store>, username: &str) -> cc_domain::User {
    store
        .get_user_by_username(username)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no user {username}"))
}

async fn all_users(store: &Arc<dyn Store>) -> Vec<cc_domain::User> {
    store
        .list_users(&UserQuery {
            limit: 500,
            ..UserQuery::default()
        })
        .await
        .unwrap()
        .items
}

async fn preview(store: &Arc<dyn Store>, name: &str) -> imports::Preview {
    imports::preview(
        store.as_ref(),
        read(name),
        &ImportSettings::default(),
        &Overrides::default(),
        &Progress::default(),
    )
    .await
    .unwrap()
}

async fn bulk_import_creates_people_groups_memberships_and_audit(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    let out = apply(&store, "oneroster-1.1/bulk", Overrides::default())
        .await
        .unwrap();
    assert_eq!(out.counts.created, 7);
    assert_eq!(all_users(&store).await.len(), 7);
    let ada = user(&store, "ada.lovelace").await;
    assert_eq!(
        (ada.grade, ada.school.as_deref(), ada.status),
        (Some(10), Some("lhs"), UserStatus::Active)
    );
    assert_eq!(ada.external_id.as_deref(), Some("u1"));
    assert_eq!(ada.groups, ["lhs", "lhs-alg2-p3"]);
    let dennis = user(&store, "dennis.ritchie").await;
    assert_eq!(dennis.status, UserStatus::Pending);
    let lhs = store.get_group_by_name("lhs").await.unwrap().unwrap();
    assert_eq!(
        (lhs.kind, lhs.external_id.as_deref(), lhs.member_count),
        (GroupKind::School, Some("s1"), 3)
    );
    // One audit event per person and group, and one for the run; the chain verifies.
    let events = store
        .list_audit(&AuditQuery {
            limit: 500,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let creates = events.iter().filter(|e| e.action == "user.create").count();
    assert_eq!(creates, 7);
    assert_eq!(
        events.iter().filter(|e| e.action == "group.create").count(),
        4
    );
    let run_event = events
        .iter()
        .find(|e| e.action == "import.apply")
        .expect("the run is audited");
    assert_eq!(run_event.actor, "operator:admin");
    let payload = run_event.after.as_ref().unwrap().to_string();
    assert!(payload.contains("\"created\":7"), "{payload}");
    assert!(
        !payload.contains("Lovelace") && !payload.contains("ada"),
        "no personal data in the run's event: {payload}"
    );
    let report = cc_service::verify_chain(store.as_ref()).await.unwrap();
    assert!(report.first_break.is_none(), "{report:?}");
    // The run is recorded.
    let run = store
        .imports()
        .unwrap()
        .get_import_run(out.run.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.status, cc_domain::ImportStatus::Applied);
    assert_eq!(run.counts["created"], 7);
}

async fn reimporting_the_same_file_changes_nothing(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    for name in ["oneroster-1.2/bulk", "sds", "csv/roster.csv"] {
        apply(
            &store,
            name,
            Overrides {
                allow_mass_suspend: true,
                ..Overrides::default()
            },
        )
        .await
        .unwrap();
        let before = cc_service::verify_chain(store.as_ref())
            .await
            .unwrap()
            .head_seq;
        let p = preview(&store, name).await;
        assert!(p.plan.changes.is_empty(), "{name}: {:?}", p.plan.counts);
        let again = apply(&store, name, Overrides::default()).await.unwrap();
        assert!(again.counts.is_empty(), "{name}: {:?}", again.counts);
        let after = cc_service::verify_chain(store.as_ref())
            .await
            .unwrap()
            .head_seq;
        assert_eq!(after, before + 1, "{name}: only the run itself is audited");
    }
}

async fn renamed_and_moved_people_and_a_mass_suspension_refused_then_allowed(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    apply(&store, "oneroster-1.1/bulk", Overrides::default())
        .await
        .unwrap();
    let ada_id = user(&store, "ada.lovelace").await.id;
    let head = cc_service::verify_chain(store.as_ref())
        .await
        .unwrap()
        .head_seq;
    // Alan is missing: 1 of 6 active people is more than 5%.
    match apply(&store, "oneroster-1.1/renamed", Overrides::default()).await {
        Err(ImportError::Refused(r)) => {
            assert_eq!(r.len(), 1);
            assert_eq!(r[0].code, "mass_suspend");
            assert_eq!(r[0].overridden_by.as_deref(), Some("allow_mass_suspend"));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(
        cc_service::verify_chain(store.as_ref())
            .await
            .unwrap()
            .head_seq,
        head,
        "a refusal writes nothing"
    );
    assert_eq!(user(&store, "alan.turing").await.status, UserStatus::Active);
    let out = apply(
        &store,
        "oneroster-1.1/renamed",
        Overrides {
            allow_mass_suspend: true,
            ..Overrides::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (out.counts.moved, out.counts.suspended, out.counts.created),
        (2, 1, 0)
    );
    let ada = user(&store, "ada.king").await;
    assert_eq!(ada.id, ada_id, "renamed, matched by external id");
    assert_eq!(
        (ada.family_name.as_str(), ada.grade, ada.version),
        ("King", Some(11), 2)
    );
    let grace = user(&store, "grace.hopper").await;
    assert_eq!(
        (grace.school.as_deref(), grace.grade),
        (Some("lhs"), Some(8))
    );
    assert_eq!(grace.groups, ["lhs", "lhs-alg2-p3"]);
    assert_eq!(
        user(&store, "alan.turing").await.status,
        UserStatus::Suspended
    );
    let ops: Vec<_> = out.intents.iter().map(|i| i.operation).collect();
    assert_eq!(
        ops.iter()
            .filter(|o| **o == LifecycleOperation::Suspend)
            .count(),
        1
    );
    assert_eq!(
        ops.iter()
            .filter(|o| **o == LifecycleOperation::Update)
            .count(),
        2
    );
    let events = store
        .list_audit(&AuditQuery {
            action: Some("user.update".into()),
            limit: 50,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let ada_event = events
        .iter()
        .find(|e| e.target_id.as_deref() == Some(&ada_id.to_string()[..]))
        .unwrap();
    assert_eq!(
        ada_event.after.as_ref().unwrap()["grade"],
        11,
        "field-level audit"
    );
}

async fn delta_files_suspend_tobedeleted_people_only(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    apply(&store, "oneroster-1.2/bulk", Overrides::default())
        .await
        .unwrap();
    let out = apply(
        &store,
        "oneroster-1.2/delta",
        Overrides {
            allow_mass_suspend: true,
            ..Overrides::default()
        },
    )
    .await
    .unwrap();
    assert_eq!((out.counts.created, out.counts.suspended), (1, 1));
    assert_eq!(
        user(&store, "alan.turing").await.status,
        UserStatus::Suspended
    );
    assert_eq!(
        user(&store, "ada.lovelace").await.status,
        UserStatus::Active
    );
    assert_eq!(
        user(&store, "edsger.dijkstra").await.school.as_deref(),
        Some("washington-middle-school")
    );
}

/// The snapshot a dry run plans against (on SQLite read directly from the file) is the same as
/// the one an apply reads inside its transaction.
async fn the_planning_snapshot_matches_the_transactional_one(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    apply(&store, "oneroster-1.1/bulk", Overrides::default())
        .await
        .unwrap();
    let dir = cc_service::Directory::new(store.clone());
    dir.create_user(&actor(), cc_tests::student("no.groups"))
        .await
        .unwrap();
    let imports = store.imports().expect("imports");
    let mut fast = imports.directory_snapshot().await.unwrap();
    let mut tx = imports.begin_import().await.unwrap();
    let mut slow = tx.directory_snapshot().await.unwrap();
    drop(tx); // rolled back
    for s in [&mut fast, &mut slow] {
        s.users.sort_by_key(|u| u.id);
        s.groups.sort_by_key(|g| g.id);
    }
    assert!(fast.users.len() >= 7, "{}", fast.users.len());
    assert!(fast.users.iter().any(|u| !u.groups.is_empty()));
    assert_eq!(fast.users, slow.users);
    assert_eq!(fast.groups, slow.groups);
}

async fn an_apply_enqueues_one_lifecycle_job_per_change_as_one_batch(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    let out = apply(&store, "oneroster-1.1/bulk", Overrides::default())
        .await
        .unwrap();
    assert_eq!(
        out.intents.len(),
        6,
        "six active people to provision; the disabled one waits"
    );
    assert!(out
        .intents
        .iter()
        .all(|i| i.operation == LifecycleOperation::Provision));
    for i in &out.intents {
        let u = store
            .get_user(i.user_id)
            .await
            .unwrap()
            .expect("intent names a written user");
        assert_eq!(u.status, UserStatus::Active);
    }
    // The jobs were enqueued in the apply's transaction, as one batch named by the run.
    assert_eq!(out.jobs_enqueued, 6);
    assert_eq!(out.run.counts["lifecycle_jobs"], 6);
    assert_eq!(out.run.counts["jobs_enqueued"], 6);
    let batch = store.batch_counts(out.run.id).await.unwrap();
    assert_eq!(batch, vec![(cc_domain::JobState::Available, 6)]);
    let jobs = store
        .list_jobs(&cc_domain::JobQuery {
            kind: Some("lifecycle.provision".into()),
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(jobs.items.len(), 6);
    let mut ids: Vec<uuid::Uuid> = jobs
        .items
        .iter()
        .map(|j| j.args["user_id"].as_str().unwrap().parse().unwrap())
        .collect();
    let mut want: Vec<uuid::Uuid> = out.intents.iter().map(|i| i.user_id).collect();
    ids.sort();
    want.sort();
    assert_eq!(ids, want);
    // Re-importing the same file changes nothing and enqueues nothing.
    let again = apply(&store, "oneroster-1.1/bulk", Overrides::default())
        .await
        .unwrap();
    assert_eq!(again.jobs_enqueued, 0);
}

async fn a_preview_is_not_applied_once_the_directory_changed(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    apply(&store, "oneroster-1.1/bulk", Overrides::default())
        .await
        .unwrap();
    let p = preview(&store, "oneroster-1.1/renamed").await;
    let dir = cc_service::Directory::new(store.clone());
    let grace = user(&store, "grace.hopper").await;
    dir.update_user(
        &actor(),
        grace.id,
        cc_domain::UserPatch {
            given_name: Some("Amazing Grace".into()),
            ..Default::default()
        },
        None,
    )
    .await
    .unwrap();
    let run = imports::new_run(&actor(), "renamed", b"", false, &ImportOptions::default());
    let allow = Overrides {
        allow_mass_suspend: true,
        ..Overrides::default()
    };
    let r = imports::apply_preview(
        store.as_ref(),
        &actor(),
        &p,
        &ImportSettings::default(),
        &allow,
        run,
        &Progress::default(),
    )
    .await;
    assert!(matches!(r, Err(ImportError::Stale)), "{r:?}");
    assert_eq!(
        user(&store, "ada.lovelace").await.grade,
        Some(10),
        "nothing applied"
    );
}

async fn a_generated_roster_applies_in_chunks(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    let tmp = tempfile::tempdir().unwrap();
    let gen = cc_roster::generate::GenOptions {
        rows: 25_000,
        seed: 5,
        ..Default::default()
    };
    let roster = read_generated(&gen, &tmp.path().join("r"));
    let out = apply_roster(&store, &roster, "gen").await;
    assert_eq!(out.counts.created, 25_000);
    let snapshot = store.imports().unwrap().directory_snapshot().await.unwrap();
    assert_eq!(snapshot.users.len(), 25_000);
    assert!(snapshot.users.iter().all(|u| !u.groups.is_empty()));
    let report = cc_service::verify_chain(store.as_ref()).await.unwrap();
    assert!(report.first_break.is_none());
    assert!(report.checked > 25_000);
    let drifted = cc_roster::generate::GenOptions {
        drift_percent: 5,
        ..gen
    };
    let roster = read_generated(&drifted, &tmp.path().join("d"));
    let out = apply_roster(&store, &roster, "gen2").await;
    assert!(out.counts.moved > 500, "{:?}", out.counts);
}

/// Each person of a directory by external id: what a roster decides about them, groups
/// included (as `group_members` holds them).
async fn people_by_external_id(
    store: &Arc<dyn Store>,
) -> std::collections::BTreeMap<
    String,
    (String, Option<i16>, Option<String>, UserStatus, Vec<String>),
> {
    let snapshot = store.imports().unwrap().directory_snapshot().await.unwrap();
    snapshot
        .users
        .into_iter()
        .map(|u| {
            (
                u.external_id.clone().unwrap(),
                (u.username, u.grade, u.school, u.status, u.groups),
            )
        })
        .collect()
}

async fn a_drift_apply_leaves_exactly_the_memberships_a_first_load_of_it_makes(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    let (_fresh_db, fresh_store) = fresh(backend).await;
    let tmp = tempfile::tempdir().unwrap();
    // More people than one apply chunk, so changes span chunks.
    let gen = cc_roster::generate::GenOptions {
        rows: 12_000,
        seed: 9,
        ..Default::default()
    };
    let drifted = cc_roster::generate::GenOptions {
        drift_percent: 30,
        turnover_percent: 3,
        ..gen
    };
    apply_roster(
        &store,
        &read_generated(&gen, &tmp.path().join("base")),
        "base",
    )
    .await;
    let roster = read_generated(&drifted, &tmp.path().join("drift"));
    let allow = Overrides {
        allow_mass_suspend: true,
        ..Overrides::default()
    };
    let out = apply_roster_with(&store, &roster, "drift", &allow).await;
    let c = out.counts;
    assert!(
        c.moved > 2_000 && c.created > 100 && c.suspended > 100,
        "{c:?}"
    );
    assert!(c.memberships_removed >= c.moved, "{c:?}");
    apply_roster(&fresh_store, &roster, "first load").await;

    let after_drift = people_by_external_id(&store).await;
    let first_load = people_by_external_id(&fresh_store).await;
    for (ext, want) in &first_load {
        assert_eq!(after_drift.get(ext), Some(want), "{ext}");
    }
    let leavers: Vec<_> = after_drift
        .iter()
        .filter(|(ext, _)| !first_load.contains_key(*ext))
        .collect();
    assert_eq!(leavers.len() as u64, c.suspended);
    assert!(leavers.iter().all(|(_, p)| p.3 == UserStatus::Suspended));
    // Applying the same roster again changes nothing: the memberships are already right.
    let again = apply_roster_with(&store, &roster, "again", &allow).await;
    assert_eq!(
        again.counts.memberships_added + again.counts.memberships_removed,
        0,
        "{:?}",
        again.counts
    );
}

/// Every index and constraint of the schema, as the database describes them.
async fn schema(db: &TestDb) -> Vec<String> {
    use sqlx::Connection;
    match db.backend {
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
            let mut rows: Vec<String> = sqlx::query_scalar(
                "SELECT tablename || ' ' || indexname || ' ' || indexdef FROM pg_indexes \
                 WHERE schemaname = current_schema()",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap();
            let constraints: Vec<String> = sqlx::query_scalar(
                "SELECT conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid) \
                 FROM pg_constraint WHERE connamespace = current_schema()::regnamespace",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap();
            rows.extend(constraints);
            rows.sort();
            rows
        }
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            sqlx::query_scalar(
                "SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_master ORDER BY name",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap()
        }
    }
}

fn generated(rows: u64, dir: &std::path::Path) -> Roster {
    let gen = cc_roster::generate::GenOptions {
        rows,
        seed: 7,
        ..Default::default()
    };
    read_generated(&gen, dir)
}

/// Generates a roster into `dir` and reads it back.
fn read_generated(gen: &cc_roster::generate::GenOptions, dir: &std::path::Path) -> Roster {
    cc_roster::generate::generate(gen, dir).unwrap();
    imports::read(
        &Input::Path(dir.to_path_buf()),
        FormatChoice::Auto,
        cc_roster::Limits::default(),
        &Progress::default(),
    )
    .unwrap()
}

async fn a_first_load_leaves_the_indexes_and_constraints_the_migrations_made(backend: Backend) {
    let (db, store) = fresh(backend).await;
    let before = schema(&db).await;
    assert!(
        before.iter().any(|r| r.contains("users_family_name")),
        "{before:?}"
    );
    let tmp = tempfile::tempdir().unwrap();
    let roster = generated(imports::FIRST_LOAD_MIN, &tmp.path().join("r"));
    let out = apply_roster(&store, &roster, "first").await;
    assert_eq!(out.counts.created, imports::FIRST_LOAD_MIN);
    // PostgreSQL builds the directory's indexes after the rows; SQLite has nothing to set aside.
    let rebuilt = out.timings.iter().any(|(step, _)| *step == "indexes");
    assert_eq!(rebuilt, backend == Backend::Postgres, "{:?}", out.timings);
    assert_eq!(schema(&db).await, before);
    let report = cc_service::verify_chain(store.as_ref()).await.unwrap();
    assert!(report.first_break.is_none(), "{report:?}");
    // Memberships, unique keys and foreign keys hold as before.
    let snapshot = store.imports().unwrap().directory_snapshot().await.unwrap();
    assert_eq!(snapshot.users.len() as u64, imports::FIRST_LOAD_MIN);
    assert!(snapshot.users.iter().all(|u| !u.groups.is_empty()));
    // A second import of the same file into the now full directory changes nothing.
    let again = apply_roster(&store, &roster, "again").await;
    assert!(again.counts.is_empty(), "{:?}", again.counts);
    assert!(!again.timings.iter().any(|(step, _)| *step == "indexes"));
    assert_eq!(schema(&db).await, before);
}

fn person(username: &str) -> cc_domain::User {
    cc_tests::student(username)
        .into_user(cc_domain::new_id(), cc_domain::now())
        .unwrap()
}

async fn a_first_load_that_fails_writes_nothing_and_keeps_the_indexes(backend: Backend) {
    let (db, store) = fresh(backend).await;
    let before = schema(&db).await;
    let imports_store = store.imports().unwrap();

    // A duplicate username: found when the unique index is built (PostgreSQL, after a first
    // load set it aside) or on insert (SQLite). Either way the transaction fails.
    let mut tx = imports_store.begin_import().await.unwrap();
    let set_aside = tx.begin_first_load().await.unwrap();
    assert_eq!(set_aside, backend == Backend::Postgres);
    let mut twin = person("grace");
    twin.external_id = Some("SIS-other".into());
    twin.email = None;
    let users = vec![person("ada"), person("grace"), twin];
    let inserted = tx.insert_users_bulk(&users).await;
    if set_aside {
        inserted.unwrap();
        assert!(
            tx.finish_first_load().await.is_err(),
            "the rebuilt unique index must refuse the duplicate username"
        );
    } else {
        assert!(
            inserted.is_err(),
            "a duplicate username must fail the insert"
        );
    }
    drop(tx);
    assert!(all_users(&store).await.is_empty());
    assert_eq!(schema(&db).await, before);

    // Abandoned after writing (an error elsewhere, a crash): rolled back, indexes intact.
    let mut tx = imports_store.begin_import().await.unwrap();
    tx.begin_first_load().await.unwrap();
    let ada = person("ada");
    tx.insert_users_bulk(std::slice::from_ref(&ada))
        .await
        .unwrap();
    drop(tx);
    assert!(all_users(&store).await.is_empty());
    assert_eq!(schema(&db).await, before);

    // Committed without an explicit finish: the commit builds what was set aside.
    let mut tx = imports_store.begin_import().await.unwrap();
    tx.begin_first_load().await.unwrap();
    tx.insert_users_bulk(std::slice::from_ref(&ada))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(all_users(&store).await.len(), 1);
    assert_eq!(schema(&db).await, before);

    // Not empty any more: nothing is set aside.
    let mut tx = imports_store.begin_import().await.unwrap();
    assert!(!tx.begin_first_load().await.unwrap());
    drop(tx);
    assert_eq!(schema(&db).await, before);
}

backend_tests!(
    a_first_load_leaves_the_indexes_and_constraints_the_migrations_made,
    a_first_load_that_fails_writes_nothing_and_keeps_the_indexes,
    bulk_import_creates_people_groups_memberships_and_audit,
    reimporting_the_same_file_changes_nothing,
    renamed_and_moved_people_and_a_mass_suspension_refused_then_allowed,
    delta_files_suspend_tobedeleted_people_only,
    an_apply_enqueues_one_lifecycle_job_per_change_as_one_batch,
    the_planning_snapshot_matches_the_transactional_one,
    a_preview_is_not_applied_once_the_directory_changed,
    a_generated_roster_applies_in_chunks,
    a_drift_apply_leaves_exactly_the_memberships_a_first_load_of_it_makes,
);
