//! The student labs run as written. Every ```console block of `docs/labs/README.md` (the lab
//! server's setup) and then of each lab is run in order, one `$ ` command at a time, with the
//! environment the README documents, and each command's output is compared with the lines
//! the lab shows under it. The convention (also in docs/labs/README.md, "For lab authors"):
//!
//! - only ```console blocks run; `$ ` starts a command, a trailing `\` continues it, and a
//!   here-document (`<<'EOF'`) takes the lines up to its end marker;
//! - the lines up to the next `$ ` are the expected output (standard output and error); none
//!   means the command prints nothing;
//! - `...` alone on a line stands for any number of lines, `...` inside a line for any text;
//! - a last line `[exit N]` expects exit status N (otherwise the command must succeed).
//!
//! Variables a command sets and the directory it changes to carry over to the next
//! command of the same lab. `CC_LABS_SHOW=1` prints every command's actual output and goes on
//! past differences.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cc_tests::{queue::command_center_bin, Backend, TestDb};

/// The lab server's administrator password, as docs/labs/README.md sets it.
const ADMIN_PASSWORD: &str = "lab-password-for-class-1";

#[derive(Debug)]
struct Step {
    file: String,
    line: usize,
    command: String,
    expected: Vec<String>,
    exit: i32,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The steps of every ```console block of the file.
fn parse(file: &str, text: &str) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut in_console = false;
    // A block inside a list item is indented; its lines lose the fence's indentation.
    let mut indent = 0;
    let mut lines = text.lines().map(|l| l.trim_end()).enumerate().peekable();
    let dedent = |line: &'_ str, indent: usize| -> String {
        let spaces = line.len() - line.trim_start_matches(' ').len();
        line[spaces.min(indent)..].to_owned()
    };
    while let Some((i, raw)) = lines.next() {
        let trimmed = raw.trim_start();
        if trimmed.starts_with("```") {
            in_console = !in_console && trimmed == "```console";
            indent = raw.len() - trimmed.len();
            continue;
        }
        if !in_console {
            continue;
        }
        let line = dedent(raw, indent);
        if let Some(cmd) = line.strip_prefix("$ ") {
            let mut command = cmd.to_owned();
            while command.ends_with('\\') {
                let (_, next) = lines.next().expect("a continued command goes on");
                command.push('\n');
                command.push_str(&dedent(next, indent));
            }
            if let Some(marker) = heredoc_marker(&command) {
                for (_, next) in lines.by_ref() {
                    let next = dedent(next, indent);
                    command.push('\n');
                    command.push_str(&next);
                    if next.trim() == marker {
                        break;
                    }
                }
            }
            steps.push(Step {
                file: file.to_owned(),
                line: i + 1,
                command,
                expected: Vec::new(),
                exit: 0,
            });
        } else if let Some(step) = steps.last_mut() {
            step.expected.push(line);
        } else {
            panic!("{file}:{}: output before any `$ ` command", i + 1);
        }
    }
    for step in &mut steps {
        while step.expected.last().is_some_and(String::is_empty) {
            step.expected.pop();
        }
        if let Some(code) = step
            .expected
            .last()
            .and_then(|l| l.strip_prefix("[exit ")?.strip_suffix(']')?.parse().ok())
        {
            step.exit = code;
            step.expected.pop();
        }
    }
    steps
}

/// `EOF` for a command holding `<<'EOF'`, `<<"EOF"`, `<<EOF` or `<<-EOF`.
fn heredoc_marker(command: &str) -> Option<String> {
    let at = command.find("<<")?;
    let rest = command[at + 2..].trim_start_matches('-').trim_start();
    let word: String = rest
        .trim_start_matches(['\'', '"'])
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!word.is_empty()).then_some(word)
}

fn line_matches(expected: &str, actual: &str) -> bool {
    let parts: Vec<&str> = expected.split("...").collect();
    if parts.len() == 1 {
        return expected == actual;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !actual.starts_with(first)
        || actual.len() < first.len() + last.len()
        || !actual.ends_with(last)
    {
        return false;
    }
    let mut rest = &actual[first.len()..actual.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

fn output_matches(expected: &[String], actual: &[&str]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((e, rest)) if e == "..." => {
            (0..=actual.len()).any(|k| output_matches(rest, &actual[k..]))
        }
        Some((e, rest)) => actual
            .split_first()
            .is_some_and(|(a, more)| line_matches(e, a) && output_matches(rest, more)),
    }
}

/// One lab's shell session: a scratch folder, the documented environment, and the state
/// (exported variables, working directory) carried from command to command.
struct Session {
    _scratch: tempfile::TempDir,
    work: PathBuf,
    state: PathBuf,
    env: Vec<(String, String)>,
}

impl Session {
    fn new(pg_url: &str) -> Self {
        let scratch = tempfile::tempdir().unwrap();
        let work = scratch.path().join("home");
        std::fs::create_dir(&work).unwrap();
        let state = scratch.path().join("state");
        std::fs::write(&state, "").unwrap();
        std::fs::write(state.with_extension("cwd"), work.display().to_string()).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let bin_dir = command_center_bin().parent().unwrap().to_owned();
        let path = format!(
            "{}:{}",
            bin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let env = vec![
            ("PATH".into(), path),
            ("HOME".into(), work.display().to_string()),
            ("REPO".into(), repo().display().to_string()),
            ("CC_URL".into(), format!("http://127.0.0.1:{port}")),
            ("CC_LISTEN".into(), format!("127.0.0.1:{port}")),
            ("CC_BOOTSTRAP_ADMIN_PASSWORD".into(), ADMIN_PASSWORD.into()),
            ("LAB_PG_URL".into(), pg_url.to_owned()),
            ("NO_COLOR".into(), "1".into()),
            ("LANG".into(), "C.UTF-8".into()),
        ];
        Self {
            _scratch: scratch,
            work,
            state,
            env,
        }
    }

    fn run(&self, step: &Step) -> (i32, String) {
        let script = format!(
            "set -a\nsource {state}\ncd \"$(cat {state}.cwd)\"\n{{\n{cmd}\n}}\n__rc=$?\nexport -p > {state}\npwd > {state}.cwd\nexit $__rc\n",
            state = self.state.display(),
            cmd = step.command
        );
        let out = Command::new("timeout")
            .args(["300", "bash", "-c", &format!("exec 2>&1\n{script}")])
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(&self.work)
            .stdin(Stdio::null())
            .output()
            .expect("run bash");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }
}

impl Drop for Session {
    /// Stops the lab server the setup started (its pid is in `lab/serve.pid`).
    fn drop(&mut self) {
        for pid_file in ["lab/serve.pid"] {
            if let Ok(pid) = std::fs::read_to_string(self.work.join(pid_file)) {
                let _ = Command::new("kill").arg(pid.trim()).status();
            }
        }
    }
}

async fn run_lab(name: &str) {
    let pg = TestDb::new(Backend::Postgres).await;
    let labs = repo().join("docs/labs");
    let readme = std::fs::read_to_string(labs.join("README.md")).unwrap();
    let lab = std::fs::read_to_string(labs.join(name)).unwrap();
    let mut steps = parse("docs/labs/README.md", &readme);
    let own = parse(&format!("docs/labs/{name}"), &lab);
    assert!(own.len() >= 5, "{name} has only {} commands", own.len());
    steps.extend(own);
    let session = Session::new(&pg.url);
    let show = std::env::var_os("CC_LABS_SHOW").is_some();
    let mut failures = Vec::new();
    for step in &steps {
        let (code, output) = tokio::task::block_in_place(|| session.run(step));
        let actual: Vec<&str> = output.lines().map(str::trim_end).collect();
        let mut actual = actual;
        while actual.last().is_some_and(|l| l.is_empty()) {
            actual.pop();
        }
        if show {
            eprintln!(
                "--- {}:{} $ {}\n{}[exit {code}]",
                step.file, step.line, step.command, output
            );
        }
        if code != step.exit || !output_matches(&step.expected, &actual) {
            failures.push(format!(
                "{}:{}: $ {}\n  expected (exit {}):\n{}\n  actual (exit {code}):\n{}",
                step.file,
                step.line,
                step.command,
                step.exit,
                indent(&step.expected.join("\n")),
                indent(&output)
            ));
            // Later steps build on this one: stop at the first difference (unless showing
            // everything, for a lab author fixing several at once).
            if !show {
                break;
            }
        }
    }
    assert!(
        failures.is_empty(),
        "the lab differs from the product:\n{}",
        failures.join("\n")
    );
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("    | {l}\n")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_01_rest_api() {
    run_lab("01-rest-api.md").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_02_monitoring() {
    run_lab("02-monitoring.md").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_03_database() {
    run_lab("03-database.md").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_04_automation() {
    run_lab("04-automation.md").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_05_troubleshooting() {
    run_lab("05-troubleshooting.md").await;
}

#[test]
fn the_convention_matches_as_documented() {
    let steps = parse(
        "t.md",
        "text\n```console\n$ echo a \\\n  b\na b\n$ cat <<'EOF'\nx\nEOF\nx\n$ false\n[exit 1]\n```\n```sh\n$ not run\n```\n\
         1. In a list:\n\n   ```console\n   $ cat <<'EOF'\n     indented\n   EOF\n     indented\n   ```\n",
    );
    assert_eq!(steps.len(), 4);
    assert_eq!(steps[3].command, "cat <<'EOF'\n  indented\nEOF");
    assert_eq!(steps[3].expected, ["  indented"]);
    assert_eq!(steps[0].command, "echo a \\\n  b");
    assert_eq!(steps[1].command, "cat <<'EOF'\nx\nEOF");
    assert_eq!(steps[1].expected, ["x"]);
    assert_eq!(steps[2].exit, 1);
    assert!(line_matches(
        "id ... at ...Z",
        "id 42 at 2026-12-01T00:00:00Z"
    ));
    assert!(!line_matches("id ...!", "id 42"));
    let e = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert!(output_matches(
        &e(&["a", "...", "z"]),
        &["a", "b", "c", "z"]
    ));
    assert!(output_matches(&e(&["a", "...", "z"]), &["a", "z"]));
    assert!(!output_matches(&e(&["a", "z"]), &["a", "b", "z"]));
    assert!(!output_matches(&e(&[]), &["unexpected"]));
}
