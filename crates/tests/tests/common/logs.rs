//! Captures the test process's logs (JSON, at `trace` for our crates) so a test can search
//! them for secrets. Shared by the `*_secrets` suites through `#[path]`.

use std::io::Write;
use std::sync::{Mutex, OnceLock};

static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the capturing subscriber (once per test process).
pub fn capture() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let filter = tracing_subscriber::EnvFilter::new(
            "trace,sqlx=debug,hyper=info,h2=info,reqwest=info,tokio=info,runtime=info",
        );
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .json()
            .with_current_span(true)
            .with_writer(|| Capture)
            .init();
    });
}

/// Everything logged so far.
pub fn captured() -> String {
    let logs = LOGS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    String::from_utf8_lossy(&logs).into_owned()
}
