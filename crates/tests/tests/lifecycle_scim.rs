//! End to end against a real SCIM 2.0 service provider this project did not write
//! (scim2-server, PyPI): a person's whole lifecycle through the API and the job queue, the
//! provider's state read through its own API after each step, and each job run a second
//! time to show it changes nothing. Both deprovision modes.

#[path = "lifecycle/harness.rs"]
#[allow(dead_code)] // shared with the lifecycle tests, which use all of it
mod harness;

use std::sync::Arc;

use cc_client::Client;
use cc_connectors::Target;
use cc_domain::{JobState, UserPatch};
use cc_service::lifecycle::LifecyclePolicy;
use cc_tests::scim2_server::{Scim2Server, TOKEN};
use cc_tests::Backend;
use harness::{finished, job_id, Harness};
use serde_json::Value;
use uuid::Uuid;

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn scim_target(server: &Scim2Server, deprovision: &str) -> Arc<dyn Target> {
    let text = format!(
        r#"
        kind = "scim"
        name = "learning-app"
        base_url = "{base}"
        token = "{TOKEN}"
        timeout_ms = 5000
        deprovision = "{deprovision}"
        [attributes]
        "{ENTERPRISE}:department" = "{{school}}"
        "{ENTERPRISE}:employeeNumber" = "{{external_id}}"
        "#,
        base = server.base_url()
    );
    let c: cc_connectors::TargetConfig =
        toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    c.build().expect("target builds")
}

/// Runs `operation` for the person and returns the target's outcome once the job completed.
async fn run(c: &Client, id: Uuid, operation: &str) -> Value {
    let (_, body) = c.user_action(id, operation, false).await.unwrap();
    let done = finished(c, job_id(&body)).await;
    assert_eq!(
        done.job.state,
        JobState::Completed,
        "{operation}: {:?}",
        done.job.errors
    );
    done.job.result.expect("result")["targets"][0].clone()
}

/// Runs `operation` a second time: the job completes, changes nothing, and the provider's
/// account keeps its version.
async fn run_again_unchanged(c: &Client, server: &Scim2Server, id: Uuid, operation: &str) {
    let remote_id = linked_id(c, id).await;
    let before = match &remote_id {
        Some(r) => server.user(r).await,
        None => None,
    };
    let again = run(c, id, operation).await;
    assert_eq!(again["status"], "unchanged", "{operation} again: {again}");
    let after = match &remote_id {
        Some(r) => server.user(r).await,
        None => None,
    };
    assert_eq!(
        before.map(|u| u["meta"]["version"].clone()),
        after.map(|u| u["meta"]["version"].clone()),
        "{operation} again left the account as it was"
    );
}

async fn linked_id(c: &Client, id: Uuid) -> Option<String> {
    let links = c.user_targets(id).await.unwrap();
    links["links"][0]["account_id"].as_str().map(str::to_owned)
}

fn changed_attributes(outcome: &Value) -> Vec<String> {
    let mut attrs: Vec<String> = outcome["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{}:{}",
                c["kind"].as_str().unwrap(),
                c["attribute"].as_str().unwrap_or("")
            )
        })
        .collect();
    attrs.sort();
    attrs
}

async fn a_person_lifecycle(deprovision: &str) {
    let server = Scim2Server::start().await;
    let mut h = Harness::start(
        Backend::Sqlite,
        vec![scim_target(&server, deprovision)],
        LifecyclePolicy {
            sync_on_change: false,
            auto_provision: false,
        },
    )
    .await;
    h.start_worker();
    let c = h.client().clone();
    let mut input = cc_tests::student("ada");
    input.given_name = "Ada".into();
    input.family_name = "Lovelace".into();
    let ada = c.create_user(&input).await.unwrap();

    // The dry run says what would be created, and creates nothing.
    let (_, plan) = c.user_action(ada.id, "provision", true).await.unwrap();
    let target = &plan["targets"][0];
    assert!(target["error"].is_null(), "{target}");
    assert_eq!(target["plan"]["changes"][0]["kind"], "create", "{target}");
    assert!(
        server.users_named("ada").await.is_empty(),
        "a dry run creates nothing"
    );

    // Provision: the account exists with the mapped attributes, and the link holds its id.
    let out = run(&c, ada.id, "provision").await;
    assert_eq!(out["status"], "changed", "{out}");
    let found = server.users_named("ada").await;
    assert_eq!(found.len(), 1);
    let remote_id = found[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        linked_id(&c, ada.id).await.as_deref(),
        Some(remote_id.as_str())
    );
    let u = server.user(&remote_id).await.unwrap();
    assert_eq!(u["externalId"], "SIS-ada");
    assert_eq!(u["name"]["givenName"], "Ada");
    assert_eq!(u["name"]["familyName"], "Lovelace");
    assert_eq!(u["displayName"], "Ada Lovelace");
    assert_eq!(u["emails"][0]["value"], "ada@students.example.org");
    assert_eq!(u["emails"][0]["type"], "work");
    assert_eq!(u[ENTERPRISE]["department"], "lincoln-hs");
    assert_eq!(u[ENTERPRISE]["employeeNumber"], "SIS-ada");
    assert_eq!(u["active"], true);
    assert!(u.get("password").is_none(), "never returned");
    run_again_unchanged(&c, &server, ada.id, "provision").await;
    assert_eq!(server.users_named("ada").await.len(), 1, "no duplicate");

    // Update: a PATCH of only what changed.
    let patch = UserPatch {
        given_name: Some("Augusta Ada".into()),
        school: Some(Some("roosevelt-ms".into())),
        ..UserPatch::default()
    };
    c.update_user(ada.id, &patch, None).await.unwrap();
    let out = run(&c, ada.id, "update").await;
    assert_eq!(
        changed_attributes(&out),
        [
            "modify:displayName",
            "modify:name.givenName",
            &format!("modify:{ENTERPRISE}:department"),
        ],
        "{out}"
    );
    let u = server.user(&remote_id).await.unwrap();
    assert_eq!(u["name"]["givenName"], "Augusta Ada");
    assert_eq!(u["name"]["familyName"], "Lovelace");
    assert_eq!(u["displayName"], "Augusta Ada Lovelace");
    assert_eq!(u[ENTERPRISE]["department"], "roosevelt-ms");
    assert_eq!(u["emails"][0]["value"], "ada@students.example.org");
    run_again_unchanged(&c, &server, ada.id, "update").await;

    // Reset password: the provider accepts it (its version moves; it never shows passwords).
    let version = server.user(&remote_id).await.unwrap()["meta"]["version"].clone();
    let out = run(&c, ada.id, "reset-password").await;
    assert_eq!(changed_attributes(&out), ["set_password:"], "{out}");
    assert_ne!(
        server.user(&remote_id).await.unwrap()["meta"]["version"],
        version
    );

    // Suspend: active false.
    let out = run(&c, ada.id, "suspend").await;
    assert_eq!(changed_attributes(&out), ["disable:active"], "{out}");
    assert_eq!(server.user(&remote_id).await.unwrap()["active"], false);
    run_again_unchanged(&c, &server, ada.id, "suspend").await;
    // An update keeps a suspended account inactive.
    run_again_unchanged(&c, &server, ada.id, "update").await;

    // Provision again reactivates.
    let out = run(&c, ada.id, "provision").await;
    assert_eq!(changed_attributes(&out), ["enable:active"], "{out}");
    assert_eq!(server.user(&remote_id).await.unwrap()["active"], true);

    // Deprovision, as configured.
    let out = run(&c, ada.id, "deprovision").await;
    match deprovision {
        "deactivate" => {
            assert_eq!(changed_attributes(&out), ["disable:active"], "{out}");
            let u = server.user(&remote_id).await.expect("the account stays");
            assert_eq!(u["active"], false);
            assert_eq!(u["name"]["givenName"], "Augusta Ada");
        }
        _ => {
            assert_eq!(changed_attributes(&out), ["delete:"], "{out}");
            assert!(server.user(&remote_id).await.is_none(), "deleted");
            assert!(server.users_named("ada").await.is_empty());
        }
    }
    run_again_unchanged(&c, &server, ada.id, "deprovision").await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_lifecycle_on_scim2_server_deprovision_deactivates() {
    a_person_lifecycle("deactivate").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_lifecycle_on_scim2_server_deprovision_deletes() {
    a_person_lifecycle("delete").await;
}
