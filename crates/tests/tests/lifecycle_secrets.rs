//! Temporary passwords are shown once, in the response that creates them, and nowhere else:
//! not in the server's logs (captured at `trace`), the audit trail, or the jobs — not even when
//! a script echoes the password back and fails.

#[path = "lifecycle/harness.rs"]
#[allow(dead_code)] // shared with the lifecycle tests
mod harness;
#[path = "common/logs.rs"]
mod logs;

use std::path::Path;
use std::sync::Arc;

use cc_domain::JobState;
use cc_service::lifecycle::LifecyclePolicy;
use cc_tests::Backend;
use harness::{create, finished, job_id, Harness};
use reqwest::Method;

/// A script that echoes the password it is given on stdout and stderr, and fails (retryably)
/// on its first run.
fn leaky_target(dir: &Path) -> Arc<dyn cc_connectors::Target> {
    let script = dir.join("leaky.sh");
    std::fs::write(
        &script,
        format!(
            "input=$(cat)\npw=$(printf '%s' \"$input\" | jq -r '.password // empty')\n\
             echo \"got password $pw\" >&2\n\
             if [ ! -e {d}/ran ]; then touch {d}/ran; echo \"{{\\\"error\\\":\\\"cannot use $pw\\\",\\\"retryable\\\":true}}\"; exit 1; fi\n\
             echo \"{{\\\"account_id\\\":\\\"a-1\\\",\\\"changes\\\":[],\\\"detail\\\":{{\\\"echo\\\":\\\"$pw\\\"}}}}\"\n",
            d = dir.display()
        ),
    )
    .unwrap();
    let text = format!(
        "kind = \"script\"\nname = \"leaky\"\nholds_passwords = true\ncommand = [\"bash\", \"{}\"]\n",
        script.display()
    );
    let c: cc_connectors::TargetConfig = toml::from_str(&text).unwrap();
    c.build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporary_passwords_appear_only_in_the_response() {
    logs::capture();
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::start(
        Backend::Sqlite,
        vec![leaky_target(dir.path())],
        LifecyclePolicy::default(),
    )
    .await;
    h.start_worker();
    let c = h.client().clone();
    let ada = create(&c, "ada", None).await;
    let mut passwords = Vec::new();
    let mut jobs = Vec::new();
    for op in ["provision", "reset-password", "reset-password"] {
        let (_, body) = c.user_action(ada.id, op, false).await.unwrap();
        passwords.push(body["temporary_password"].as_str().unwrap().to_owned());
        jobs.push(job_id(&body));
        assert_eq!(
            finished(&c, job_id(&body)).await.job.state,
            JobState::Completed
        );
    }
    // The failed first attempt was recorded (with the script's error, redacted).
    let first = c.get_job(jobs[0]).await.unwrap();
    assert!(!first.job.errors.is_empty(), "the first attempt failed");

    let mut seen = Vec::new();
    for id in &jobs {
        seen.push(serde_json::to_string(&c.get_job(*id).await.unwrap()).unwrap());
    }
    assert!(
        seen[0].contains("got password [REDACTED]") && seen[0].contains("cannot use [REDACTED]"),
        "the script saw the password and echoed it; the job keeps it redacted: {}",
        seen[0]
    );
    seen.push(
        c.request(Method::GET, "/api/v1/audit?limit=500")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    seen.push(serde_json::to_string(&c.user_targets(ada.id).await.unwrap()).unwrap());
    seen.push(logs::captured());
    assert!(
        seen.last().unwrap().contains("lifecycle"),
        "the logs were captured"
    );
    for pw in &passwords {
        for (i, text) in seen.iter().enumerate() {
            assert!(
                !text.contains(pw.as_str()),
                "a temporary password leaked into source {i}"
            );
        }
    }
    h.stop().await;
}
