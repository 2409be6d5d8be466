//! The OpenLDAP guide (docs/ldap.md) works as written: a directory built from the guide's own
//! files (`docs/ldap/slapd.ldif`, `base.ldif`, `command-center.toml`) with only the paths
//! the guide says to adjust changed, a `command-center serve` with the guide's target,
//! `command-center check` passing, a person provisioned, suspended and deprovisioned, and the
//! service account's ACLs refusing writes outside its OUs.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use cc_domain::{JobState, NewUser, Role};
use cc_tests::ldap::{free_port, make_cert, module_dir, slapd_binary};
use cc_tests::wait_for;
use ldap3::{LdapConnAsync, Mod, Scope};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_command-center");
const DEADLINE: Duration = Duration::from_secs(60);
const ADMIN_PASSWORD: &str = "ldap-guide-passphrase-7";
const SERVICE_DN: &str = "cn=command-center,ou=Services,dc=example,dc=org";

fn guide_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/ldap")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `text` with every `(from, to)` replaced; each `from` must occur, so a guide that no longer
/// says what this test adjusts fails here instead of testing something else.
fn adjust(text: &str, replacements: &[(&str, &str)]) -> String {
    let mut out = text.to_owned();
    for (from, to) in replacements {
        assert!(
            out.contains(from),
            "the guide's file no longer contains {from:?}"
        );
        out = out.replace(from, to);
    }
    out
}

/// Runs an OpenLDAP tool that must succeed; returns its standard output.
fn tool(name: &str, args: &[&str]) -> String {
    let path = slapd_binary().with_file_name(name);
    let out = std::process::Command::new(&path)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        out.status.success(),
        "{name} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn utf8(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// The guide's directory, running: slapd with the guide's cn=config and base entries.
struct GuideDirectory {
    dir: tempfile::TempDir,
    port: u16,
    tls_port: u16,
    child: std::process::Child,
}

impl GuideDirectory {
    async fn build() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        for sub in ["slapd.d", "data", "run", "tls"] {
            std::fs::create_dir(d.join(sub)).expect("mkdir");
        }
        make_cert(&d.join("tls"));
        let run_dir = format!("{}/", utf8(&d.join("run")));
        let (cert, key) = (d.join("tls/server.crt"), d.join("tls/server.key"));
        let config = adjust(
            &guide_file("slapd.ldif"),
            &[
                ("/var/run/slapd/", &run_dir),
                ("/var/lib/ldap", utf8(&d.join("data"))),
                ("/etc/ldap/tls/ldap.crt", utf8(&cert)),
                ("/etc/ldap/tls/ldap.key", utf8(&key)),
                (
                    "olcModulePath: /usr/lib/ldap",
                    &format!("olcModulePath: {}", module_dir()),
                ),
            ],
        );
        std::fs::write(d.join("slapd.ldif"), config).expect("write");
        let slapd_d = utf8(&d.join("slapd.d")).to_owned();
        tool(
            "slapadd",
            &["-n", "0", "-F", &slapd_d, "-l", utf8(&d.join("slapd.ldif"))],
        );

        // The service account's password, as the guide sets it: a file Command Center reads,
        // hashed into base.ldif with slappasswd.
        let password_file = d.join("ldap_bind_password");
        std::fs::write(
            &password_file,
            format!("svc-{}", uuid::Uuid::new_v4().simple()),
        )
        .expect("write password");
        let hash = tool("slappasswd", &["-T", utf8(&password_file)]);
        let base = adjust(
            &guide_file("base.ldif"),
            &[(
                "userPassword: {CRYPT}!",
                &format!("userPassword: {}", hash.trim()),
            )],
        );
        std::fs::write(d.join("base.ldif"), base).expect("write");
        tool(
            "slapadd",
            &["-n", "1", "-F", &slapd_d, "-l", utf8(&d.join("base.ldif"))],
        );

        let (port, tls_port) = (free_port(), free_port());
        let log = std::fs::File::create(d.join("slapd.log")).expect("log");
        let child = std::process::Command::new(slapd_binary())
            .args(["-F", &slapd_d, "-d", "0", "-h"])
            .arg(format!(
                "ldap://127.0.0.1:{port}/ ldaps://127.0.0.1:{tls_port}/"
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start slapd");
        let mut guide = Self {
            dir,
            port,
            tls_port,
            child,
        };
        let started = std::time::Instant::now();
        while guide.service().await.is_none() {
            if let Ok(Some(status)) = guide.child.try_wait() {
                panic!("slapd exited with {status}: {}", guide.log());
            }
            assert!(
                started.elapsed() < DEADLINE,
                "the service account cannot bind: {}",
                guide.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        guide
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("slapd.log")).unwrap_or_default()
    }

    fn password_file(&self) -> PathBuf {
        self.dir.path().join("ldap_bind_password")
    }

    async fn bind(&self, dn: &str, password: &str) -> Option<ldap3::Ldap> {
        let (conn, mut ldap) = LdapConnAsync::new(&format!("ldap://127.0.0.1:{}", self.port))
            .await
            .ok()?;
        ldap3::drive!(conn);
        let ok = ldap
            .simple_bind(dn, password)
            .await
            .is_ok_and(|r| r.rc == 0);
        ok.then_some(ldap)
    }

    /// A connection bound as the Command Center service account.
    async fn service(&self) -> Option<ldap3::Ldap> {
        let password = std::fs::read_to_string(self.password_file()).ok()?;
        self.bind(SERVICE_DN, &password).await
    }

    /// DNs under `base` matching `filter`, as the service account sees them.
    async fn search(&self, base: &str, filter: &str) -> Vec<String> {
        let mut ldap = self.service().await.expect("service bind");
        let (entries, _) = ldap
            .search(base, Scope::Subtree, filter, vec!["1.1"])
            .await
            .and_then(ldap3::SearchResult::success)
            .expect("search");
        entries
            .into_iter()
            .map(|e| ldap3::SearchEntry::construct(e).dn)
            .collect()
    }

    /// One attribute's values of `dn` (operational ones included).
    async fn values(&self, dn: &str, attribute: &str) -> Vec<String> {
        let mut ldap = self.service().await.expect("service bind");
        let (entries, _) = ldap
            .search(dn, Scope::Base, "(objectClass=*)", vec![attribute])
            .await
            .and_then(ldap3::SearchResult::success)
            .expect("read");
        entries
            .into_iter()
            .next()
            .map(|e| {
                ldap3::SearchEntry::construct(e)
                    .attrs
                    .into_iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(attribute))
                    .map(|(_, v)| v)
                    .unwrap_or_default()
            })
            .unwrap_or_default()
    }
}

impl Drop for GuideDirectory {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `command-center serve` with the guide's target configuration.
struct Serve {
    child: Child,
    url: String,
}

impl Serve {
    async fn start(dir: &Path, config: &Path) -> Self {
        let mut child = Command::new(BIN)
            .current_dir(dir)
            .env_clear()
            .env("CC_CONFIG", config)
            .env("CC_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("CC_LOG", "error")
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start serve");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let addr = tokio::time::timeout(DEADLINE, async {
            while let Some(line) = lines.next_line().await.expect("stdout") {
                if let Some((_, rest)) = line.split_once("listening on http://") {
                    return rest.split_whitespace().next().map(str::to_owned);
                }
            }
            None
        })
        .await
        .expect("serve prints its address in time")
        .expect("serve exited without listening");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            child,
            url: format!("http://{addr}"),
        }
    }
}

/// Waits until job `id` is final and returns it.
async fn finished(client: &cc_client::Client, body: &Value) -> cc_domain::JobDetail {
    let id = body["id"].as_i64().expect("a job id");
    wait_for(&format!("job {id}"), DEADLINE, || async move {
        let job = client.get_job(id).await.ok()?;
        job.job.state.is_final().then_some(job)
    })
    .await
}

async fn request(client: &cc_client::Client, id: uuid::Uuid, operation: &str) -> Value {
    let (status, body) = client
        .user_action(id, operation, false)
        .await
        .unwrap_or_else(|e| panic!("{operation}: {e}"));
    assert_eq!(status, 202, "{operation}: {body}");
    let done = finished(client, &body).await;
    assert_eq!(
        done.job.state,
        JobState::Completed,
        "{operation}: {:?}",
        done.job.errors
    );
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openldap_guide_builds_a_directory_command_center_can_manage() {
    let directory = GuideDirectory::build().await;
    let work = tempfile::tempdir().expect("temp dir");
    let config = adjust(
        &guide_file("command-center.toml"),
        &[
            (
                "url = \"ldaps://ldap.example.org\"",
                &format!("url = \"ldaps://127.0.0.1:{}\"", directory.tls_port),
            ),
            (
                "/etc/command-center/ldap-ca.pem",
                utf8(&directory.dir.path().join("tls/server.crt")),
            ),
            (
                "/run/secrets/ldap_bind_password",
                utf8(&directory.password_file()),
            ),
        ],
    );
    let config_file = work.path().join("command-center.toml");
    std::fs::write(&config_file, config).expect("write config");
    let mut serve = Serve::start(work.path(), &config_file).await;
    let token = cc_client::Client::new(&serve.url)
        .expect("client")
        .login("admin", ADMIN_PASSWORD)
        .await
        .expect("login")
        .access_token;
    let client = cc_client::Client::new(&serve.url)
        .expect("client")
        .with_token(&token);

    // `command-center check` passes, with a passing row for the guide's target.
    let check = Command::new(BIN)
        .env_clear()
        .args([
            "check", "--url", &serve.url, "--token", &token, "--output", "json",
        ])
        .output()
        .await
        .expect("run check");
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "check failed: {stdout}");
    let rows: Value = serde_json::from_str(&stdout).expect("check prints JSON");
    assert_eq!(rows["ok"], true, "{rows}");
    let target = rows["checks"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["name"] == "target district-openldap"))
        .unwrap_or_else(|| panic!("no row for the target: {rows}"));
    assert_eq!(target["status"], "pass", "{target}");

    // Provision: the school and grade OUs appear, the account and its group, and the
    // temporary password works.
    client
        .create_group(&cc_domain::NewGroup {
            name: "lincoln-hs".into(),
            kind: cc_domain::GroupKind::School,
            school: Some("lincoln-hs".into()),
            ..cc_domain::NewGroup::default()
        })
        .await
        .expect("create the school");
    let person = client
        .create_user(&NewUser {
            external_id: Some("SIS-900001".into()),
            username: "grace.guide".into(),
            given_name: "Grace".into(),
            family_name: "Guide".into(),
            email: Some("grace.guide@students.example.org".into()),
            role: Role::Student,
            grade: Some(9),
            school: Some("lincoln-hs".into()),
            status: None,
            groups: vec!["lincoln-hs".into()],
        })
        .await
        .expect("create");
    let provisioned = request(&client, person.id, "provision").await;
    let password = provisioned["temporary_password"]
        .as_str()
        .expect("an LDAP target keeps passwords")
        .to_owned();
    let account = "uid=grace.guide,ou=grade-9,ou=lincoln-hs,ou=Students,dc=example,dc=org";
    assert_eq!(
        directory
            .search("dc=example,dc=org", "(uid=grace.guide)")
            .await,
        vec![account.to_owned()]
    );
    assert!(directory.bind(account, &password).await.is_some());
    assert_eq!(
        directory
            .values("cn=lincoln-hs,ou=Groups,dc=example,dc=org", "member")
            .await,
        vec![account.to_owned()]
    );

    // Suspend: ppolicy's lock is set and the password no longer works.
    request(&client, person.id, "suspend").await;
    assert_eq!(
        directory.values(account, "pwdAccountLockedTime").await,
        vec!["000001010000Z".to_owned()]
    );
    assert!(directory.bind(account, &password).await.is_none());

    // Deprovision: the account leaves its group and moves to the graveyard.
    request(&client, person.id, "deprovision").await;
    assert_eq!(
        directory
            .search("dc=example,dc=org", "(uid=grace.guide)")
            .await,
        vec!["uid=grace.guide,ou=Graveyard,dc=example,dc=org".to_owned()]
    );
    assert!(!directory
        .values("cn=lincoln-hs,ou=Groups,dc=example,dc=org", "member")
        .await
        .contains(&account.to_owned()));

    // The service account may write nothing outside its OUs.
    let mut svc = directory.service().await.expect("service bind");
    let denied = |r: ldap3::result::Result<ldap3::LdapResult>, what: &str| {
        let rc = r.expect(what).rc;
        assert_eq!(
            rc, 50,
            "{what}: expected insufficientAccessRights, got {rc}"
        );
    };
    denied(
        svc.add(
            "ou=Elsewhere,dc=example,dc=org",
            vec![
                ("objectClass", ["organizationalUnit"].into()),
                ("ou", ["Elsewhere"].into()),
            ],
        )
        .await,
        "add an OU at the base",
    );
    denied(
        svc.add(
            "cn=intruder,ou=Services,dc=example,dc=org",
            vec![
                ("objectClass", ["organizationalRole"].into()),
                ("cn", ["intruder"].into()),
            ],
        )
        .await,
        "add a service account",
    );
    denied(
        svc.modify(
            "dc=example,dc=org",
            vec![Mod::Replace("o", ["Somebody else"].into())],
        )
        .await,
        "change the base entry",
    );
    denied(
        svc.modify(
            "cn=default,ou=Policies,dc=example,dc=org",
            vec![Mod::Replace("pwdLockout", ["FALSE"].into())],
        )
        .await,
        "weaken the password policy",
    );
    denied(
        svc.modify(
            SERVICE_DN,
            vec![Mod::Replace("description", ["mine now"].into())],
        )
        .await,
        "change its own entry",
    );
    denied(
        svc.delete("ou=Policies,dc=example,dc=org").await,
        "delete the policies OU",
    );

    let _ = serve.child.start_kill();
    let _ = serve.child.wait().await;
}
