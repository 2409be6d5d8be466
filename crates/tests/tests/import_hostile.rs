//! Hostile and ambiguous uploads through the API: each is refused with a problem naming what
//! is wrong; uploads are stored in chunks and pruned after their retention — on SQLite and
//! PostgreSQL.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is how a test fails.

use std::fmt::Write as _;
use std::time::Duration;

use cc_domain::ImportStatus;
use cc_tests::queue::{fast_config, RunningWorker};
use cc_tests::{backend_tests, wait_for, Backend, TestApp};

const HEADER: &str =
    "external_id,username,given_name,family_name,email,role,grade,school,groups,status\n";

fn problem(e: &cc_client::ClientError) -> &cc_client::Problem {
    e.problem()
        .unwrap_or_else(|| panic!("not a problem: {e:?}"))
}

async fn a_second_file_part_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let csv = format!("{HEADER}1,ada,Ada,L,,staff,,,,\n");
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(csv.clone().into_bytes()).file_name("a.csv"),
        )
        .part(
            "file",
            reqwest::multipart::Part::bytes(csv.into_bytes()).file_name("b.csv"),
        );
    let res = app
        .client
        .request(reqwest::Method::POST, "/api/v1/imports")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], "duplicate_part", "{body}");
    assert_eq!(body["errors"][0]["field"], "file", "{body}");
    assert!(
        app.client.list_imports(&[]).await.unwrap().items.is_empty(),
        "nothing is recorded for an ambiguous form"
    );
}

async fn a_duplicated_column_answers_422_naming_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let csv = "external_id,username,given_name,family_name,role,email,email\n1,ada,Ada,L,staff,a@x.org,b@x.org\n";
    let err = app
        .client
        .upload_import("dup.csv", csv.as_bytes().to_vec(), &[])
        .await
        .unwrap_err();
    let p = problem(&err);
    assert_eq!(p.status, 422);
    assert_eq!(p.code, "duplicate_column");
    assert!(p.detail.contains("`email`"), "{p:?}");
}

async fn spoofing_names_bad_addresses_and_long_file_names_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let csv = format!(
        "{HEADER}1,ada,Ada\u{202E}gnp.exe,L,,staff,,,,\n2,bob,Bob,K,<script>@x.org,staff,,,,\n3,cy,Cy,M,cy@school.example.org,staff,,,,\n"
    );
    let (status, run) = app
        .client
        .upload_import("people.csv", csv.into_bytes(), &[])
        .await
        .unwrap();
    assert_eq!(status, 201);
    assert_eq!(run.counts["created"], 1, "{run:?}");
    let errors = app.client.import_errors_csv(run.id).await.unwrap();
    assert!(
        errors.contains("given_name") && errors.contains("bidirectional"),
        "{errors}"
    );
    assert!(
        errors.contains("email,must be a valid e-mail address"),
        "{errors}"
    );
    let long = "a".repeat(300);
    let err = app
        .client
        .upload_import(
            &long,
            format!("{HEADER}1,ada,Ada,L,,staff,,,,\n").into_bytes(),
            &[],
        )
        .await
        .unwrap_err();
    let p = problem(&err);
    assert_eq!(p.status, 422);
    assert_eq!(p.code, "validation_failed");
    assert_eq!(p.errors[0].field, "file_name");
}

async fn a_refusal_names_the_api_parameter_not_a_cli_flag(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, run) = app
        .client
        .upload_import("empty.csv", HEADER.as_bytes().to_vec(), &[])
        .await
        .unwrap();
    assert_eq!(run.status, ImportStatus::Refused);
    assert_eq!(
        run.refusals[0]["override"], "allow_empty",
        "{:?}",
        run.refusals
    );
    let err = app.client.apply_import(run.id, &[]).await.unwrap_err();
    let p = problem(&err);
    assert_eq!(p.code, "import_refused");
    assert_eq!(p.errors[0].field, "allow_empty");
    assert!(p.errors[0].message.contains("allow_empty=true"), "{p:?}");
    let text = serde_json::to_string(p).unwrap() + &run.refusals.to_string();
    assert!(!text.contains("--"), "a CLI flag in an API answer: {text}");
}

fn big_roster(rows: usize) -> Vec<u8> {
    let mut s = String::from(HEADER);
    for i in 0..rows {
        writeln!(
            s,
            "e{i},user{i},Given{i},Family{i}-{},,staff,,,,",
            "x".repeat(50)
        )
        .unwrap();
    }
    s.into_bytes()
}

async fn an_upload_of_many_chunks_is_stored_and_applied(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let content = big_roster(30_000);
    assert!(content.len() > 2 * cc_service::imports::CHUNK_BYTES);
    let (_, run) = app
        .client
        .upload_import("big.csv", content.clone(), &[])
        .await
        .unwrap();
    assert_eq!(run.status, ImportStatus::Planned, "{run:?}");
    let imports = app.store.imports().unwrap();
    let mut stored = Vec::new();
    let mut seq = 0;
    while let Some(chunk) = imports.import_file_chunk(run.id, seq).await.unwrap() {
        assert!(chunk.len() <= cc_service::imports::CHUNK_BYTES);
        stored.extend_from_slice(&chunk);
        seq += 1;
    }
    assert!(seq >= 3, "{seq} chunks");
    assert_eq!(stored, content);
    app.client.apply_import(run.id, &[]).await.unwrap();
    let applied = wait_for("the apply to finish", Duration::from_secs(120), || async {
        let r = app.client.get_import(run.id).await.unwrap();
        (r.status != ImportStatus::Applying).then_some(r)
    })
    .await;
    assert_eq!(applied.status, ImportStatus::Applied, "{applied:?}");
    assert_eq!(applied.counts["created"], 30_000);
}

async fn uploads_are_pruned_after_their_retention(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let imports = app.store.imports().unwrap();
    let (_, planned) = app
        .client
        .upload_import(
            "ok.csv",
            format!("{HEADER}1,ada,Ada,L,,staff,,,,\n").into_bytes(),
            &[],
        )
        .await
        .unwrap();
    let _ = app
        .client
        .upload_import("bad.csv", b"just,columns\n1,2\n".to_vec(), &[])
        .await
        .unwrap_err();
    let failed = app.client.list_imports(&[]).await.unwrap().items[0].clone();
    assert_eq!(failed.status, ImportStatus::Failed);
    assert!(imports
        .import_file_chunk(failed.id, 0)
        .await
        .unwrap()
        .is_some());

    // Failed runs' files go sooner: they are pruned, a planned run's file is kept.
    let mut config = fast_config(&[("default", 1)]);
    config.prune_interval = Duration::from_millis(50);
    config.upload_retention = Duration::from_secs(24 * 3600);
    config.failed_upload_retention = Duration::ZERO;
    let worker = RunningWorker::start(
        app.store.clone(),
        cc_queue::Registry::with_builtins(),
        config.clone(),
    );
    wait_for(
        "the failed run's file is pruned",
        Duration::from_secs(20),
        || async {
            imports
                .import_file_chunk(failed.id, 0)
                .await
                .unwrap()
                .is_none()
                .then_some(())
        },
    )
    .await;
    worker.stop().await;
    assert!(imports
        .import_file_chunk(planned.id, 0)
        .await
        .unwrap()
        .is_some());

    // Past the retention every finished run loses its file; the run record stays and an
    // apply says to upload again.
    config.upload_retention = Duration::ZERO;
    let worker = RunningWorker::start(
        app.store.clone(),
        cc_queue::Registry::with_builtins(),
        config,
    );
    wait_for(
        "the planned run's file is pruned",
        Duration::from_secs(20),
        || async {
            imports
                .import_file_chunk(planned.id, 0)
                .await
                .unwrap()
                .is_none()
                .then_some(())
        },
    )
    .await;
    worker.stop().await;
    let (_, run) = app.client.apply_import(planned.id, &[]).await.unwrap();
    assert_eq!(run.status, ImportStatus::Failed);
    assert!(
        run.failure.as_deref().unwrap().contains("upload it again"),
        "{run:?}"
    );
    assert_eq!(app.client.list_imports(&[]).await.unwrap().items.len(), 2);
}

backend_tests!(
    a_second_file_part_is_refused,
    a_duplicated_column_answers_422_naming_it,
    spoofing_names_bad_addresses_and_long_file_names_are_refused,
    a_refusal_names_the_api_parameter_not_a_cli_flag,
    an_upload_of_many_chunks_is_stored_and_applied,
    uploads_are_pruned_after_their_retention,
);
