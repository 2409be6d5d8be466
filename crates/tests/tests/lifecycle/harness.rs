//! A running app with lifecycle targets, and an in-process worker for its jobs.

use std::sync::Arc;
use std::time::Duration;

use cc_client::Client;
use cc_connectors::Target;
use cc_domain::{JobState, NewUser, UserStatus};
use cc_queue::{Registry, RetryPolicy};
use cc_service::lifecycle::LifecyclePolicy;
use cc_tests::queue::{fast_config, RunningWorker};
use cc_tests::{wait_for, Backend, TestApp};
use serde_json::Value;

/// The bash example target (`examples/scripts/bash/cc-target.sh`), keeping its accounts as
/// JSON files in `dir`, with passwords.
pub fn bash_target(name: &str, dir: &std::path::Path) -> Arc<dyn Target> {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/scripts/bash/cc-target.sh");
    let text = format!(
        "kind = \"script\"\nname = \"{name}\"\nholds_passwords = true\ncommand = [\"bash\", \"{}\"]\nenv = {{ CC_SCRIPT_STATE_DIR = \"{}\" }}\n",
        script.display(),
        dir.display()
    );
    let c: cc_connectors::TargetConfig = toml::from_str(&text).expect("valid target");
    c.build().expect("target builds")
}

pub struct Harness {
    pub app: TestApp,
    pub engine: cc_lifecycle::Engine,
    workers: Vec<RunningWorker>,
}

impl Harness {
    pub async fn start(
        backend: Backend,
        targets: Vec<Arc<dyn Target>>,
        policy: LifecyclePolicy,
    ) -> Self {
        let slot: Arc<std::sync::Mutex<Option<cc_lifecycle::Engine>>> = Arc::default();
        let out = slot.clone();
        let app = TestApp::spawn_customized(backend, cc_tests::test_config(), None, move |state| {
            let engine =
                cc_lifecycle::Engine::new(state.store.clone(), targets, state.auth.clone())
                    .with_retry(RetryPolicy {
                        base: Duration::from_millis(200),
                        max: Duration::from_millis(400),
                        jitter: 0.0,
                    });
            *out.lock().unwrap() = Some(engine.clone());
            state.with_lifecycle(engine, policy)
        })
        .await;
        let engine = slot.lock().unwrap().take().expect("engine");
        Self {
            app,
            engine,
            workers: Vec::new(),
        }
    }

    pub fn start_worker(&mut self) {
        self.start_workers(1, 4);
    }

    /// Starts `count` workers (each with its own id, claims and leases, as separate
    /// `command-center worker` processes would be), each running `concurrency` jobs at once.
    pub fn start_workers(&mut self, count: usize, concurrency: u32) {
        for _ in 0..count {
            let mut registry = Registry::with_builtins();
            self.engine.register(&mut registry);
            self.workers.push(RunningWorker::start(
                self.app.store.clone(),
                registry,
                fast_config(&[("default", concurrency)]),
            ));
        }
    }

    pub fn client(&self) -> &Client {
        &self.app.client
    }

    pub async fn stop(mut self) {
        for w in self.workers.drain(..) {
            w.stop().await;
        }
        self.app.stop().await;
    }
}

pub async fn create(
    client: &Client,
    username: &str,
    status: Option<UserStatus>,
) -> cc_domain::User {
    let mut input: NewUser = cc_tests::student(username);
    input.status = status;
    client.create_user(&input).await.expect("create user")
}

/// Waits until job `id` is finished and returns it with its detail.
pub async fn finished(client: &Client, id: i64) -> cc_domain::JobDetail {
    wait_for("the job to finish", Duration::from_secs(30), || async {
        let d = client.get_job(id).await.ok()?;
        matches!(
            d.job.state,
            JobState::Completed | JobState::Discarded | JobState::Cancelled
        )
        .then_some(d)
    })
    .await
}

pub fn job_id(body: &Value) -> i64 {
    body["id"].as_i64().expect("job id")
}
