//! The `worker`, `serve` and `bench` command lines (this test also makes Cargo build the
//! binary that the queue process tests in `crates/tests` start).

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_command-center"))
}

#[test]
fn worker_serve_and_bench_document_their_flags() {
    let help = |args: &[&str]| {
        let out = bin().args(args).output().expect("run command-center");
        assert!(out.status.success());
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let worker = help(&["worker", "--help"]);
    for flag in ["--queues", "--concurrency", "--id"] {
        assert!(
            worker.contains(flag),
            "worker --help lacks {flag}:\n{worker}"
        );
    }
    assert!(help(&["serve", "--help"]).contains("--no-workers"));
    let bench = help(&["bench", "queue", "--help"]);
    for flag in ["--jobs", "--worker-processes"] {
        assert!(
            bench.contains(flag),
            "bench queue --help lacks {flag}:\n{bench}"
        );
    }
}

#[test]
fn config_prints_the_queue_section() {
    let out = bin()
        .args(["config", "--output", "json"])
        .env_remove("CC_CONFIG")
        .output()
        .expect("run command-center");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["queue"]["queues"]["default"]["concurrency"], 20);
    assert_eq!(v["queue"]["lease_ttl_ms"], 30000);
}
