//! The demo's own instance: a fresh SQLite directory, the demo target, an operator, the API
//! and job workers in this process on `127.0.0.1:0`. It reads no `CC_*` environment and no
//! configuration file, so it can never touch a real deployment's database.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// The bash script target, shipped with the binary.
const CC_TARGET: &str = include_str!("../../../../../examples/scripts/bash/cc-target.sh");
/// The same target with an offline switch (see the script).
const DEMO_TARGET: &str = include_str!("demo-target.sh");

/// Where the demo instance keeps what an operator may want to look at.
pub struct Layout {
    pub dir: PathBuf,
    /// One JSON file per account the demo target holds.
    pub accounts: PathBuf,
    /// While this file exists, the demo target fails every operation.
    pub offline_switch: PathBuf,
    pub database: PathBuf,
    pub config: PathBuf,
}

impl Layout {
    fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            accounts: dir.join("accounts"),
            offline_switch: dir.join("target-offline"),
            database: dir.join("command-center.db"),
            config: dir.join("command-center.toml"),
        }
    }
}

/// A running embedded instance.
pub struct Instance {
    pub layout: Layout,
    pub addr: SocketAddr,
    pub admin_password: String,
    stop: CancellationToken,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Instance {
    /// Writes the configuration and the target into `dir` and starts the instance.
    pub async fn start(dir: &Path) -> anyhow::Result<Self> {
        let layout = Layout::new(dir);
        write_files(&layout)?;
        let mut cfg = Config::load(Some(&layout.config), &|_| None)
            .context("the demo configuration is invalid")?;
        let admin_password = format!("demo-{}", uuid::Uuid::new_v4().simple());
        cfg.bootstrap_admin_password.clone_from(&admin_password);
        let store = super::super::open_store_with(&cfg, &cfg.server_pool()).await?;
        store.migrate_up().await.context("applying migrations")?;
        let state = cc_api::AppState::try_new(store.clone(), cfg.api())
            .context("invalid security settings")?;
        let engine = cfg.lifecycle_engine(store.clone(), state.auth.clone())?;
        let state = state.with_lifecycle(engine.clone(), cfg.lifecycle.policy());
        state
            .auth
            .load_keys()
            .await
            .context("loading the access-token signing keys")?;
        state
            .auth
            .bootstrap_admin(Some(&admin_password))
            .await
            .context("creating the operator `admin`")?;
        let app = cc_console::app(state.clone());
        let server = cc_api::Server::bind_app("127.0.0.1:0", state, app)
            .await
            .context("cannot listen on 127.0.0.1")?;
        let addr = server.local_addr()?;
        let stop = CancellationToken::new();
        let rc = super::super::worker::runtime_config(&cfg, &super::super::worker::Args::default());
        let worker = cc_queue::Worker::new(
            store.clone(),
            super::super::worker::registry(
                &engine,
                None,
                &cc_notify::Notifier::disabled(store.clone()),
                None,
            ),
            rc,
        );
        let workers = tokio::spawn(worker.run(stop.clone()));
        let token = stop.clone();
        let server = tokio::spawn(async move {
            server.run(async move { token.cancelled().await }).await?;
            if let Ok(Err(e)) = workers.await {
                tracing::error!(error = %e, "job workers failed");
            }
            store.close().await;
            Ok(())
        });
        Ok(Self {
            layout,
            addr,
            admin_password,
            stop,
            server,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving, lets the workers finish, and closes the database.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.stop.cancel();
        self.server.await.context("the demo server task failed")?
    }
}

fn write_files(layout: &Layout) -> anyhow::Result<()> {
    let target_dir = layout.dir.join("target");
    std::fs::create_dir_all(&target_dir)
        .with_context(|| format!("cannot create {}", target_dir.display()))?;
    std::fs::create_dir_all(&layout.accounts)?;
    std::fs::write(target_dir.join("cc-target.sh"), CC_TARGET)?;
    std::fs::write(target_dir.join("demo-target.sh"), DEMO_TARGET)?;
    let toml_str = |p: &Path| toml::Value::String(p.display().to_string()).to_string();
    let config = format!(
        "# The demo instance (written by `command-center demo`).\n\
         database_url = {db}\n\
         log = \"warn\"\n\n\
         [[targets]]\n\
         name = \"demo\"\n\
         kind = \"script\"\n\
         command = [\"bash\", \"target/demo-target.sh\"]\n\
         timeout_ms = 30000\n\
         env = {{ CC_SCRIPT_STATE_DIR = {accounts}, CC_DEMO_OFFLINE = {offline} }}\n",
        db = toml_str(&PathBuf::from(format!(
            "sqlite://{}",
            layout.database.display()
        ))),
        accounts = toml_str(&layout.accounts),
        offline = toml_str(&layout.offline_switch),
    );
    std::fs::write(&layout.config, config)?;
    Ok(())
}
