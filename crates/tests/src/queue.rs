//! Helpers for queue tests: in-process workers, `command-center worker` child processes, and
//! a fast test configuration.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use cc_queue::{QueueConfig, QueueSpec, Registry, Worker};
use cc_store::Store;
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

/// Short leases and intervals so rescue, cancellation and polling happen within a second.
#[must_use]
pub fn fast_config(queues: &[(&str, u32)]) -> QueueConfig {
    QueueConfig {
        queues: queues
            .iter()
            .map(|(name, concurrency)| QueueSpec {
                name: (*name).to_owned(),
                concurrency: *concurrency,
            })
            .collect(),
        lease_ttl: Duration::from_millis(1500),
        heartbeat_interval: Duration::from_millis(300),
        cancel_poll_interval: Duration::from_millis(200),
        poll_interval: Duration::from_millis(100),
        rescue_interval: Duration::from_millis(200),
        shutdown_timeout: Duration::from_secs(2),
        ..QueueConfig::default()
    }
}

/// A worker running in this process.
pub struct RunningWorker {
    pub id: String,
    token: CancellationToken,
    handle: tokio::task::JoinHandle<Result<(), String>>,
}

impl RunningWorker {
    /// Starts a worker on `store`.
    #[must_use]
    pub fn start(store: Arc<dyn Store>, registry: Registry, config: QueueConfig) -> Self {
        Self::run(Worker::new(store, registry, config))
    }

    /// Starts a worker built by the test (e.g. with another clock).
    #[must_use]
    pub fn run(worker: Worker) -> Self {
        let id = worker.id().to_owned();
        let token = CancellationToken::new();
        let handle = tokio::spawn(worker.run(token.clone()));
        Self { id, token, handle }
    }

    /// Shuts the worker down the way SIGTERM does and waits for it.
    ///
    /// # Panics
    /// When the worker failed.
    pub async fn stop(self) {
        self.token.cancel();
        self.handle.await.expect("worker task").expect("worker ran");
    }
}

/// The `command-center` binary: `CC_BIN`, or the one Cargo built next to this test.
///
/// # Panics
/// When it cannot be found.
#[must_use]
pub fn command_center_bin() -> PathBuf {
    if let Ok(p) = std::env::var("CC_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/<profile>/command-center
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let bin = dir.join("command-center");
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build -p command-center` (cargo test --workspace does)",
        bin.display()
    );
    bin
}

/// A `command-center worker` child process.
pub struct WorkerProcess {
    pub id: String,
    child: Child,
}

impl WorkerProcess {
    /// Starts `command-center worker --id <id> --queues <queues>` on the database at `url`,
    /// with the fast test intervals and any extra `CC_*` settings.
    ///
    /// # Panics
    /// When the process cannot start.
    #[must_use]
    pub fn spawn(
        url: &str,
        id: &str,
        queues: &str,
        concurrency: u32,
        env: &[(&str, &str)],
    ) -> Self {
        let mut cmd = Command::new(command_center_bin());
        cmd.args(["worker", "--id", id, "--queues", queues, "--concurrency"])
            .arg(concurrency.to_string())
            .env("CC_DATABASE_URL", url)
            .env("CC_LOG", "warn")
            .env("CC_LOG_FORMAT", "pretty")
            .env("CC_QUEUE_LEASE_TTL_MS", "1500")
            .env("CC_QUEUE_HEARTBEAT_INTERVAL_MS", "300")
            .env("CC_QUEUE_POLL_INTERVAL_MS", "100")
            .env("CC_QUEUE_RESCUE_INTERVAL_MS", "200")
            .env("CC_QUEUE_CANCEL_POLL_INTERVAL_MS", "200")
            .env_remove("CC_CONFIG")
            .stdout(Stdio::null())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start command-center worker");
        Self {
            id: id.to_owned(),
            child,
        }
    }

    /// `kill -9`: the process dies without releasing anything.
    pub async fn kill9(&mut self) {
        let _ = self.child.kill().await;
    }

    /// SIGTERM, then waits for the process to exit; returns whether it exited successfully.
    pub async fn terminate(&mut self) -> bool {
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        self.child.wait().await.is_ok_and(|s| s.success())
    }
}
