//! `/api/v1/imports` end to end: upload → plan → apply, guards, stale plans, row errors,
//! limits and background runs — on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is how a test fails.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cc_domain::{ImportStatus, UserStatus};
use cc_tests::{backend_tests, wait_for, Backend, TestApp};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../roster/tests/fixtures")
        .join(name)
}

/// A zip archive of a fixture folder.
fn zip_of(dir: &Path) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for p in names {
        w.start_file(
            format!("export/{}", p.file_name().unwrap().to_string_lossy()),
            opts,
        )
        .unwrap();
        w.write_all(&std::fs::read(&p).unwrap()).unwrap();
    }
    w.finish().unwrap().into_inner()
}

async fn spawn(backend: Backend) -> TestApp {
    TestApp::spawn(backend).await
}

async fn upload_plan_apply_and_reimport(backend: Backend) {
    let app = spawn(backend).await;
    let csv = std::fs::read(fixture("csv/roster.csv")).unwrap();
    let (status, run) = app
        .client
        .upload_import("roster.csv", csv.clone(), &[])
        .await
        .unwrap();
    assert_eq!(status, 201);
    assert_eq!(run.status, ImportStatus::Planned, "{run:?}");
    assert!(run.dry_run, "dry_run defaults to true");
    assert_eq!(run.format.as_deref(), Some("csv"));
    assert_eq!(run.counts["created"], 4);
    assert_eq!(run.sha256.len(), 64);
    assert_eq!(
        app.client.list_users(&[]).await.unwrap().items.len(),
        0,
        "a plan changes nothing"
    );
    let got = app.client.get_import(run.id).await.unwrap();
    let changes = got.plan.as_ref().unwrap()["changes"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(changes.len(), 4);
    assert_eq!(changes[0]["kind"], "create");

    let (status, applied) = app.client.apply_import(run.id, &[]).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(applied.status, ImportStatus::Applied);
    let users = app.client.list_users(&[]).await.unwrap().items;
    assert_eq!(users.len(), 4);
    let err = app.client.apply_import(run.id, &[]).await.unwrap_err();
    assert_eq!(err.problem().unwrap().code, "import_not_applicable");

    let (_, again) = app
        .client
        .upload_import("roster.csv", csv, &[("dry_run", "false")])
        .await
        .unwrap();
    assert_eq!(again.status, ImportStatus::Applied);
    assert_eq!(again.counts["created"], 0);
    assert_eq!(again.counts["updated"], 0);
    assert_eq!(again.counts["unchanged"], 4);
    let list = app.client.list_imports(&[("limit", "1")]).await.unwrap();
    assert_eq!(list.items[0].id, again.id, "newest first");
    assert!(list.next_cursor.is_some());
    let audit = app
        .client
        .list_audit(&[("action", "import.")])
        .await
        .unwrap()
        .items;
    let actions: Vec<_> = audit.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["import.apply", "import.plan", "import.apply", "import.plan"]
    );
}

async fn multipart_zip_applies_directly(backend: Backend) {
    let app = spawn(backend).await;
    let body = zip_of(&fixture("oneroster-1.2/bulk"));
    let (status, run) = app
        .client
        .upload_import_multipart(
            "oneroster.zip",
            body,
            &[("dry_run", "false"), ("format", "oneroster")],
        )
        .await
        .unwrap();
    assert_eq!(status, 201);
    assert_eq!(
        (run.status, run.file_name.as_str()),
        (ImportStatus::Applied, "oneroster.zip")
    );
    assert_eq!(run.format.as_deref(), Some("oneroster-1.2"));
    assert_eq!(app.client.list_users(&[]).await.unwrap().items.len(), 7);
}

async fn a_refused_plan_is_applied_with_the_override(backend: Backend) {
    let app = spawn(backend).await;
    let (_, first) = app
        .client
        .upload_import(
            "bulk.zip",
            zip_of(&fixture("oneroster-1.1/bulk")),
            &[("dry_run", "false")],
        )
        .await
        .unwrap();
    assert_eq!(first.status, ImportStatus::Applied);
    let (_, run) = app
        .client
        .upload_import(
            "renamed.zip",
            zip_of(&fixture("oneroster-1.1/renamed")),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(run.status, ImportStatus::Refused);
    assert_eq!(run.refusals[0]["code"], "mass_suspend");
    assert_eq!(run.refusals[0]["override"], "allow_mass_suspend");
    let err = app.client.apply_import(run.id, &[]).await.unwrap_err();
    let p = err.problem().unwrap();
    assert_eq!((p.status, p.code.as_str()), (409, "import_refused"));
    assert_eq!(p.errors[0].field, "allow_mass_suspend");
    let (status, applied) = app
        .client
        .apply_import(run.id, &[("allow_mass_suspend", "true")])
        .await
        .unwrap();
    assert_eq!((status, applied.status), (200, ImportStatus::Applied));
    let alan = app
        .client
        .list_users(&[("q", "alan.turing")])
        .await
        .unwrap()
        .items;
    assert_eq!(alan[0].status, UserStatus::Suspended);
}

async fn a_stale_plan_is_not_applied(backend: Backend) {
    let app = spawn(backend).await;
    app.client
        .upload_import(
            "bulk.zip",
            zip_of(&fixture("oneroster-1.1/bulk")),
            &[("dry_run", "false")],
        )
        .await
        .unwrap();
    let (_, run) = app
        .client
        .upload_import(
            "renamed.zip",
            zip_of(&fixture("oneroster-1.1/renamed")),
            &[("allow_mass_suspend", "true")],
        )
        .await
        .unwrap();
    assert_eq!(run.status, ImportStatus::Planned);
    let grace = app
        .client
        .list_users(&[("q", "grace.hopper")])
        .await
        .unwrap()
        .items
        .remove(0);
    let patch = cc_domain::UserPatch {
        given_name: Some("Amazing Grace".into()),
        ..Default::default()
    };
    app.client
        .update_user(grace.id, &patch, None)
        .await
        .unwrap();
    let err = app
        .client
        .apply_import(run.id, &[("allow_mass_suspend", "true")])
        .await
        .unwrap_err();
    assert_eq!(err.problem().unwrap().code, "plan_stale");
    let after = app.client.get_import(run.id).await.unwrap();
    assert_eq!(after.status, ImportStatus::Failed);
    assert!(after.failure.unwrap().contains("changed"));
    let ada = app
        .client
        .list_users(&[("q", "ada.lovelace")])
        .await
        .unwrap()
        .items;
    assert_eq!(ada.len(), 1, "nothing applied");
}

async fn row_errors_are_listed_and_downloadable(backend: Backend) {
    let app = spawn(backend).await;
    let (_, run) = app
        .client
        .upload_import(
            "bad.csv",
            std::fs::read(fixture("csv/malformed.csv")).unwrap(),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(run.error_count, 9);
    let got = app.client.get_import(run.id).await.unwrap();
    assert_eq!(got.errors.as_array().unwrap().len(), 9);
    assert_eq!(got.errors[0]["line"], 3);
    assert_eq!(got.errors[0]["field"], "email");
    let csv = app.client.import_errors_csv(run.id).await.unwrap();
    let lines: Vec<_> = csv.lines().collect();
    assert_eq!(lines[0], "file,line,field,message");
    assert_eq!(lines.len(), 10);
    assert!(lines[1].starts_with("roster.csv,3,email,"));
    let (_, strict) = app
        .client
        .upload_import(
            "bad.csv",
            std::fs::read(fixture("csv/malformed.csv")).unwrap(),
            &[("strict", "true")],
        )
        .await
        .unwrap();
    assert_eq!(strict.status, ImportStatus::Refused);
    assert_eq!(strict.refusals[0]["code"], "row_errors");
    // An unreadable upload is a client error, and the attempt is still recorded.
    let err = app
        .client
        .upload_import("x.csv", b"just,some\ncolumns,here\n".to_vec(), &[])
        .await
        .unwrap_err();
    let p = err.problem().unwrap();
    assert_eq!(p.status, 422);
    assert_eq!(p.code, "missing_columns");
    assert!(p.detail.contains("missing required columns"), "{p:?}");
    let runs = app.client.list_imports(&[]).await.unwrap().items;
    assert_eq!(runs[0].file_name, "x.csv");
    assert_eq!(runs[0].status, ImportStatus::Failed);
    assert!(runs[0]
        .failure
        .as_deref()
        .unwrap()
        .contains("missing required columns"));
}

async fn uploads_have_their_own_size_limit_and_long_runs_answer_202(backend: Backend) {
    let config = cc_api::ApiConfig {
        body_limit: 1024,
        import: cc_api::ImportApiConfig {
            max_upload_bytes: 8 * 1024 * 1024,
            sync_wait: Duration::ZERO,
            ..cc_api::ImportApiConfig::default()
        },
        ..cc_api::ApiConfig::default()
    };
    let app = TestApp::spawn_with(backend, config, None).await;
    let big = vec![b'x'; 8 * 1024 * 1024 + 1];
    let err = app
        .client
        .upload_import("big.csv", big, &[])
        .await
        .unwrap_err();
    assert_eq!(err.problem().unwrap().code, "payload_too_large");
    // 20,000 people: far above the API body limit, and more than no time at all to plan.
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("roster.csv");
    let gen = cc_roster::generate::GenOptions {
        rows: 20_000,
        format: cc_roster::generate::GenFormat::Csv,
        ..Default::default()
    };
    cc_roster::generate::generate(&gen, &file).unwrap();
    let (status, run) = app
        .client
        .upload_import("roster.csv", std::fs::read(&file).unwrap(), &[])
        .await
        .unwrap();
    assert_eq!(status, 202, "answered before the plan is ready");
    assert_eq!(run.status, ImportStatus::Planning);
    let client = app.client.clone();
    let done = wait_for("the plan", Duration::from_secs(120), || {
        let c = client.clone();
        async move {
            c.get_import(run.id)
                .await
                .ok()
                .filter(|r| r.status == ImportStatus::Planned)
        }
    })
    .await;
    assert_eq!(done.counts["created"], 20_000);
    let (status, applying) = app.client.apply_import(run.id, &[]).await.unwrap();
    assert_eq!((status, applying.status), (202, ImportStatus::Applying));
    let client = app.client.clone();
    wait_for("the apply", Duration::from_secs(300), || {
        let c = client.clone();
        async move {
            c.get_import(run.id)
                .await
                .ok()
                .filter(|r| r.status == ImportStatus::Applied)
        }
    })
    .await;
    assert_eq!(
        app.client
            .list_users(&[("limit", "1")])
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}

async fn missing_runs_and_bad_parameters(backend: Backend) {
    let app = spawn(backend).await;
    let err = app
        .client
        .get_import(uuid::Uuid::now_v7())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
    let err = app
        .client
        .upload_import("x.csv", b"a".to_vec(), &[("format", "excel")])
        .await
        .unwrap_err();
    assert_eq!(err.problem().unwrap().errors[0].field, "format");
    let err = app
        .client
        .upload_import("x.csv", Vec::new(), &[])
        .await
        .unwrap_err();
    assert_eq!(err.problem().unwrap().code, "empty_upload");
}

/// A JSON body is no roster export: refused with 415 before a run is stored.
async fn a_json_upload_is_415_and_stores_no_run(backend: Backend) {
    let app = spawn(backend).await;
    for content_type in [
        "application/json",
        "application/merge-patch+json; charset=utf-8",
    ] {
        let res = app
            .client
            .request(reqwest::Method::POST, "/api/v1/imports?dry_run=true")
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(r#"{"file": "roster.csv"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 415, "{content_type}");
        assert_eq!(
            res.headers()[reqwest::header::CONTENT_TYPE],
            "application/problem+json"
        );
        let problem: serde_json::Value = res.json().await.unwrap();
        assert_eq!(problem["code"], "unsupported_media_type");
    }
    let runs = app.client.list_imports(&[]).await.unwrap();
    assert!(runs.items.is_empty(), "no run was stored: {:?}", runs.items);
}

/// A roster import records its source and leaves fields another source owns as they are,
/// reporting each such change as an API or SCIM write would.
async fn imports_respect_field_owners(backend: Backend) {
    let owners: cc_domain::FieldOwners =
        serde_json::from_value(serde_json::json!({"email": "scim", "given_name": "api"})).unwrap();
    let app = TestApp::spawn_customized(backend, cc_tests::test_config(), None, |s| {
        s.with_field_owners(owners)
    })
    .await;
    let header =
        "external_id,username,given_name,family_name,email,role,grade,school,groups,status\n";
    let first =
        format!("{header}S-1,rosa,Rosa,Parks,rosa@roster.example,student,9,lincoln-hs,,active\n");
    let (_, run) = app
        .client
        .upload_import("r.csv", first.into_bytes(), &[("dry_run", "false")])
        .await
        .unwrap();
    assert_eq!(run.status, ImportStatus::Applied, "{run:?}");
    assert_eq!(run.counts["source_conflicts"], 0);
    let rosa = app.client.list_users(&[]).await.unwrap().items[0].clone();
    // The record keeps its source: the roster.
    let sources = app.store.user_sources(&[rosa.id]).await.unwrap();
    assert_eq!(sources[&rosa.id].source, cc_domain::RecordSource::Roster);
    // The next import changes the e-mail (owned by SCIM), the given name (owned by the API)
    // and the grade (no owner): only the grade changes.
    let second =
        format!("{header}S-1,rosa,Rosie,Parks,rosa@other.example,student,10,lincoln-hs,,active\n");
    let (_, run) = app
        .client
        .upload_import("r.csv", second.into_bytes(), &[("dry_run", "false")])
        .await
        .unwrap();
    assert_eq!(run.status, ImportStatus::Applied, "{run:?}");
    assert_eq!(run.counts["source_conflicts"], 1, "{:?}", run.counts);
    assert_eq!(
        run.counts["source_conflict_fields"],
        serde_json::json!({"email": 1, "given_name": 1})
    );
    let after = app.client.get_user(rosa.id).await.unwrap();
    assert_eq!(after.email.as_deref(), Some("rosa@roster.example"));
    assert_eq!(after.given_name, "Rosa");
    assert_eq!(after.grade, Some(10));
    let conflicts = app
        .client
        .list_audit(&[("action", "user.source_conflict")])
        .await
        .unwrap()
        .items;
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(
        conflicts[0].target_id.as_deref(),
        Some(rosa.id.to_string().as_str())
    );
    let reported = &conflicts[0].after.as_ref().unwrap()["conflicts"];
    assert_eq!(
        reported,
        &serde_json::json!([
            {"field": "given_name", "owner": "api", "attempted_by": "roster"},
            {"field": "email", "owner": "scim", "attempted_by": "roster"}
        ])
    );
    // Field names only: the values are in neither the event nor the run.
    assert!(!reported.to_string().contains("other.example"));
    // An import that changes only owned fields writes nothing else.
    let third =
        format!("{header}S-1,rosa,Rosie,Parks,rosa@other.example,student,10,lincoln-hs,,active\n");
    let (_, run) = app
        .client
        .upload_import("r.csv", third.into_bytes(), &[("dry_run", "false")])
        .await
        .unwrap();
    assert_eq!(run.counts["source_conflicts"], 1);
    assert_eq!(
        app.client.get_user(rosa.id).await.unwrap().version,
        after.version
    );
    app.stop().await;
}

backend_tests!(
    a_json_upload_is_415_and_stores_no_run,
    imports_respect_field_owners,
    upload_plan_apply_and_reimport,
    multipart_zip_applies_directly,
    a_refused_plan_is_applied_with_the_override,
    a_stale_plan_is_not_applied,
    row_errors_are_listed_and_downloadable,
    uploads_have_their_own_size_limit_and_long_runs_answer_202,
    missing_runs_and_bad_parameters,
);
