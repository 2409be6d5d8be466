//! Running one script: its own process group, a scrubbed environment, JSON on stdin, output
//! captured up to a cap, and the whole group killed on timeout.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

/// How long to wait for output pipes after the process group is gone (a descendant that left
/// the group may still hold them open).
const PIPE_GRACE: Duration = Duration::from_secs(2);

/// What to run.
pub(crate) struct Invocation<'a> {
    pub argv: &'a [String],
    pub working_dir: Option<&'a PathBuf>,
    pub env: &'a BTreeMap<String, String>,
    pub stdin: Vec<u8>,
    pub timeout: Duration,
    pub output_limit: usize,
}

/// One output stream, capped.
#[derive(Debug, Default)]
pub(crate) struct Captured {
    pub bytes: Vec<u8>,
    /// Everything the stream produced, including what was dropped.
    pub total: usize,
}

impl Captured {
    pub fn truncated(&self) -> bool {
        self.total > self.bytes.len()
    }
}

/// How a run ended.
#[derive(Debug)]
pub(crate) enum Exit {
    Status(ExitStatus),
    TimedOut,
}

#[derive(Debug)]
pub(crate) struct Finished {
    pub exit: Exit,
    pub stdout: Captured,
    pub stderr: Captured,
    pub duration: Duration,
}

/// Why a script could not be started.
#[derive(Debug)]
pub(crate) struct SpawnError {
    pub program: String,
    pub error: std::io::Error,
}

/// Kills the process group when dropped: on timeout, on cancellation (the job's future is
/// dropped), and after a normal exit, so no descendant outlives its script.
struct GroupGuard(Option<Pid>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.0.take() {
            // ESRCH (nothing left in the group) is the usual, fine answer.
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }
}

/// Runs the invocation to completion or timeout.
pub(crate) async fn run(inv: Invocation<'_>) -> Result<Finished, SpawnError> {
    let (program, args) = inv.argv.split_first().ok_or_else(|| SpawnError {
        program: String::new(),
        error: std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command"),
    })?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .envs(inv.env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(dir) = inv.working_dir {
        cmd.current_dir(dir);
    }
    let started = Instant::now();
    let mut child = cmd.spawn().map_err(|error| SpawnError {
        program: program.clone(),
        error,
    })?;
    let guard = GroupGuard(
        child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw),
    );

    let stdin = child.stdin.take();
    let input = inv.stdin;
    let writer = tokio::spawn(async move {
        if let Some(mut stdin) = stdin {
            // A script that exits without reading its input closes the pipe: not an error.
            let _ = stdin.write_all(&input).await;
            let _ = stdin.shutdown().await;
        }
    });
    let out = tokio::spawn(capture(child.stdout.take(), inv.output_limit));
    let err = tokio::spawn(capture(child.stderr.take(), inv.output_limit));

    let exit = match tokio::time::timeout(inv.timeout, child.wait()).await {
        Ok(Ok(status)) => Exit::Status(status),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "waiting for a script failed; killing its process group");
            Exit::TimedOut
        }
        Err(_) => Exit::TimedOut,
    };
    drop(guard);
    if matches!(exit, Exit::TimedOut) {
        let _ = child.wait().await;
    }
    writer.abort();
    let stdout = join_capture(out).await;
    let stderr = join_capture(err).await;
    Ok(Finished {
        exit,
        stdout,
        stderr,
        duration: started.elapsed(),
    })
}

async fn join_capture(handle: tokio::task::JoinHandle<Captured>) -> Captured {
    let abort = handle.abort_handle();
    match tokio::time::timeout(PIPE_GRACE, handle).await {
        Ok(Ok(c)) => c,
        Ok(Err(_)) => Captured::default(),
        Err(_) => {
            abort.abort();
            Captured::default()
        }
    }
}

/// Reads a stream to its end, keeping the first `limit` bytes and counting the rest.
async fn capture<R: AsyncRead + Unpin>(stream: Option<R>, limit: usize) -> Captured {
    let mut captured = Captured::default();
    let Some(mut stream) = stream else {
        return captured;
    };
    let mut buf = vec![0u8; 8192];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = limit.saturating_sub(captured.bytes.len());
                captured.bytes.extend_from_slice(&buf[..n.min(room)]);
                captured.total += n;
            }
        }
    }
    captured
}
