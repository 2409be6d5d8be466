//! Peak memory of the real server under hostile uploads: each is refused, and the server's
//! peak resident set (`VmHWM` in `/proc/<pid>/status`) stays under 200 MB whatever the
//! upload's size or expansion.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_command-center");
const DEADLINE: Duration = Duration::from_secs(60);
const ADMIN_PASSWORD: &str = "memory-test-passphrase-3";
/// The target: any single hostile upload is handled in less than this.
const PEAK_LIMIT_KB: u64 = 200 * 1024;

struct Server {
    child: Child,
    url: String,
    token: String,
}

async fn start(dir: &Path) -> Server {
    let mut child = Command::new(BIN)
        .current_dir(dir)
        .env_clear()
        .env("CC_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("TMPDIR", dir)
        .env("CC_IMPORT_SYNC_WAIT_MS", "600000")
        .args(["serve", "--listen", "127.0.0.1:0", "--no-workers"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start serve");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let find = async {
        while let Some(line) = lines.next_line().await.expect("read stdout") {
            if let Some(rest) = line.split_once("listening on http://").map(|x| x.1) {
                return rest.split_whitespace().next().map(str::to_owned);
            }
        }
        None
    };
    let addr = tokio::time::timeout(DEADLINE, find)
        .await
        .expect("serve prints its address in time")
        .expect("serve listens");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let url = format!("http://{addr}");
    let token = cc_client::Client::new(&url)
        .expect("client")
        .login("admin", ADMIN_PASSWORD)
        .await
        .expect("log in")
        .access_token;
    Server { child, url, token }
}

/// The peak resident set of a process so far, in KiB.
fn peak_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmHWM in /proc/<pid>/status")
}

async fn upload(s: &Server, name: &str, body: Vec<u8>) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(format!("{}/api/v1/imports?file_name={name}", s.url))
        .bearer_auth(&s.token)
        .header("content-type", "application/octet-stream")
        .body(body)
        .timeout(Duration::from_secs(600))
        .send()
        .await
        .expect("send the upload");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// A OneRoster zip whose users.csv is `bomb_bytes` of one endless line: about a thousand
/// times smaller compressed.
fn zip_bomb(bomb_bytes: usize) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    z.start_file("manifest.csv", opts).expect("zip");
    z.write_all(b"propertyName,value\noneroster.version,1.2\nfile.users,bulk\nfile.orgs,bulk\nfile.roles,bulk\n")
        .expect("zip");
    z.start_file("orgs.csv", opts).expect("zip");
    z.write_all(b"sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\ns1,active,,School,school,sch,\n")
        .expect("zip");
    z.start_file("roles.csv", opts).expect("zip");
    z.write_all(b"sourcedId,status,dateLastModified,userSourcedId,roleType,role,orgSourcedId\n")
        .expect("zip");
    z.start_file("users.csv", opts).expect("zip");
    z.write_all(
        b"sourcedId,status,dateLastModified,enabledUser,username,givenName,familyName,email\n",
    )
    .expect("zip");
    let block = vec![b'x'; 1024 * 1024];
    for _ in 0..bomb_bytes / block.len() {
        z.write_all(&block).expect("zip");
    }
    z.finish().expect("zip").into_inner()
}

#[tokio::test]
async fn hostile_uploads_stay_under_200_mb_of_peak_memory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(dir.path()).await;
    let pid = server.child.id().expect("running");
    let baseline = peak_kb(pid);

    // One endless line, raw: it used to be buffered whole, then stored whole.
    let mut endless = b"external_id,username,given_name,family_name,role\n".to_vec();
    endless.resize(160 * 1024 * 1024, b'x');
    let (status, body) = upload(&server, "endless.csv", endless).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "row_too_long", "{body}");
    let after_endless = peak_kb(pid);
    assert!(
        after_endless < PEAK_LIMIT_KB,
        "a 160 MB endless line took the server to {after_endless} KiB (from {baseline} KiB)"
    );

    // Zip bombs: 512 MiB of one line in a few hundred KB; four at once.
    let bomb = zip_bomb(512 * 1024 * 1024);
    assert!(bomb.len() < 2 * 1024 * 1024, "bomb is {} bytes", bomb.len());
    let sends = (0..4).map(|i| {
        upload(
            &server,
            if i == 0 { "bomb0.zip" } else { "bomb.zip" },
            bomb.clone(),
        )
    });
    for (status, body) in futures::future::join_all(sends).await {
        assert_eq!(status, 422, "{body}");
        assert!(
            matches!(
                body["code"].as_str(),
                Some("row_too_long" | "compression_ratio")
            ),
            "{body}"
        );
    }
    let after_bombs = peak_kb(pid);
    eprintln!("peak RSS: {baseline} KiB at start, {after_endless} KiB after the endless line, {after_bombs} KiB after four zip bombs");
    assert!(
        after_bombs < PEAK_LIMIT_KB,
        "four zip bombs took the server to {after_bombs} KiB (from {baseline} KiB)"
    );
}
