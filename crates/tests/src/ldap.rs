//! A real OpenLDAP `slapd` on a loopback port, for the LDAP target's tests.
//!
//! Each [`TestLdap`] generates a `slapd.conf` in a temporary directory (an `mdb` database for
//! `dc=example,dc=org`, the ppolicy overlay with a default policy so `pwdAccountLockedTime`
//! locks accounts, and the Password Modify extended operation slapd always offers), starts
//! slapd in the foreground on a free port, loads the base entries, and kills slapd on drop.
//! `cn=Monitor` is on, so a test can count the operations and connections slapd served.
//! When slapd is not installed the test fails loudly: `scripts/test.sh` installs it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ldap3::{LdapConnAsync, Scope, SearchEntry};

/// Attributes of an entry to add: (name, values).
pub type Attrs<'a> = Vec<(&'a str, Vec<&'a str>)>;

pub const BASE_DN: &str = "dc=example,dc=org";
pub const ADMIN_DN: &str = "cn=admin,dc=example,dc=org";
pub const ADMIN_PASSWORD: &str = "admin-secret-Zq7";

/// A running slapd with an empty `dc=example,dc=org`, `ou=Students`, `ou=Groups`.
pub struct TestLdap {
    pub port: u16,
    /// The `ldaps://` port, when started with [`TestLdap::start_tls`] (StartTLS is then also
    /// offered on [`TestLdap::port`]).
    pub tls_port: Option<u16>,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

/// The `slapd` binary (its tools, `slapadd` and `slappasswd`, live next to it).
///
/// # Panics
/// When slapd is not installed.
#[must_use]
pub fn slapd_binary() -> PathBuf {
    for candidate in [
        "/usr/sbin/slapd",
        "/usr/local/sbin/slapd",
        "/usr/local/libexec/slapd",
    ] {
        if Path::new(candidate).exists() {
            return candidate.into();
        }
    }
    panic!(
        "OpenLDAP slapd is required for this test and is not installed. Run scripts/test.sh, \
         which installs it (Debian packages slapd and ldap-utils)."
    );
}

/// A self-signed certificate and key for `127.0.0.1` in `dir` (`server.crt`, `server.key`).
///
/// # Panics
/// When openssl is missing or fails.
pub fn make_cert(dir: &Path) {
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        // A leaf, not a CA: rustls refuses a CA certificate presented by a server.
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "extendedKeyUsage=serverAuth"])
        .args(["-addext", "keyUsage=digitalSignature,keyEncipherment"])
        .arg("-keyout")
        .arg(dir.join("server.key"))
        .arg("-out")
        .arg(dir.join("server.crt"))
        .output()
        .expect("openssl is required for the LDAP TLS tests (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Where the OpenLDAP modules (`back_mdb`, `ppolicy`) are installed.
#[must_use]
pub fn module_dir() -> &'static str {
    [
        "/usr/lib/ldap",
        "/usr/lib/x86_64-linux-gnu/ldap",
        "/usr/lib/aarch64-linux-gnu/ldap",
    ]
    .into_iter()
    .find(|d| {
        Path::new(d).join("back_mdb.so").exists() || Path::new(d).join("back_mdb.la").exists()
    })
    .unwrap_or("/usr/lib/ldap")
}

/// A free loopback port.
///
/// # Panics
/// When none can be bound.
#[must_use]
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl TestLdap {
    /// Starts slapd and loads the base entries.
    ///
    /// # Panics
    /// When slapd is missing or does not come up.
    pub async fn start() -> Self {
        Self::start_with(false, true).await
    }

    /// Starts slapd without the ppolicy overlay (and without its default policy entry): a
    /// directory whose schema has no `pwdAccountLockedTime`.
    ///
    /// # Panics
    /// When slapd is missing or does not come up.
    pub async fn start_without_ppolicy() -> Self {
        Self::start_with(false, false).await
    }

    /// Starts slapd with a self-signed certificate for `127.0.0.1`: StartTLS on
    /// [`TestLdap::port`] and LDAPS on [`TestLdap::tls_port`]; [`TestLdap::ca_file`] trusts it.
    ///
    /// # Panics
    /// When slapd or openssl is missing or slapd does not come up.
    pub async fn start_tls() -> Self {
        Self::start_with(true, true).await
    }

    /// The PEM certificate slapd serves (self-signed: it is its own trust anchor).
    #[must_use]
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("server.crt")
    }

    /// `ldaps://127.0.0.1:<tls_port>`.
    ///
    /// # Panics
    /// When not started with [`TestLdap::start_tls`].
    #[must_use]
    pub fn ldaps_url(&self) -> String {
        format!(
            "ldaps://127.0.0.1:{}",
            self.tls_port.expect("started with TLS")
        )
    }

    async fn start_with(tls: bool, ppolicy: bool) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("data")).expect("data dir");
        let conf = format!(
            "include /etc/ldap/schema/core.schema\n\
             include /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\n\
             include /etc/ldap/schema/nis.schema\n\
             modulepath {modules}\n\
             moduleload back_mdb\n\
             {load_ppolicy}\
             pidfile {dir}/slapd.pid\n\
             argsfile {dir}/slapd.args\n\
             database mdb\n\
             maxsize 67108864\n\
             suffix \"{BASE_DN}\"\n\
             rootdn \"{ADMIN_DN}\"\n\
             rootpw {ADMIN_PASSWORD}\n\
             directory {dir}/data\n\
             {overlay}\
             database monitor\n",
            modules = module_dir(),
            load_ppolicy = if ppolicy { "moduleload ppolicy\n" } else { "" },
            overlay = if ppolicy {
                format!("overlay ppolicy\nppolicy_default \"cn=default,ou=Policies,{BASE_DN}\"\n")
            } else {
                String::new()
            },
            dir = dir.path().display(),
        );
        let conf = if tls {
            make_cert(dir.path());
            format!(
                "TLSCertificateFile {d}/server.crt\nTLSCertificateKeyFile {d}/server.key\n{conf}",
                d = dir.path().display()
            )
        } else {
            conf
        };
        std::fs::write(dir.path().join("slapd.conf"), conf).expect("write slapd.conf");
        let mut ldap = Self {
            port: free_port(),
            tls_port: tls.then(free_port),
            dir,
            child: None,
        };
        ldap.spawn().await;
        ldap.load_base(ppolicy).await;
        ldap
    }

    async fn spawn(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("slapd.log")).expect("log file");
        let child = Command::new(slapd_binary())
            .arg("-f")
            .arg(self.dir.path().join("slapd.conf"))
            .arg("-h")
            .arg(match self.tls_port {
                Some(tls) => format!("ldap://127.0.0.1:{}/ ldaps://127.0.0.1:{tls}/", self.port),
                None => format!("ldap://127.0.0.1:{}/", self.port),
            })
            .args(["-d", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start slapd");
        self.child = Some(child);
        let url = self.url();
        let deadline = Duration::from_secs(15);
        let started = std::time::Instant::now();
        loop {
            if let Ok((conn, mut ldap)) = LdapConnAsync::new(&url).await {
                ldap3::drive!(conn);
                if ldap
                    .simple_bind(ADMIN_DN, ADMIN_PASSWORD)
                    .await
                    .is_ok_and(|r| r.rc == 0)
                {
                    let _ = ldap.unbind().await;
                    return;
                }
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("slapd exited with {status}: {}", self.log());
            }
            assert!(
                started.elapsed() < deadline,
                "slapd did not answer on {url} within {deadline:?}: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("slapd.log")).unwrap_or_default()
    }

    async fn load_base(&self, ppolicy: bool) {
        let entries: [(&str, Attrs<'_>); 5] = [
            (
                BASE_DN,
                vec![
                    ("objectClass", vec!["dcObject", "organization"]),
                    ("o", vec!["Example School District"]),
                    ("dc", vec!["example"]),
                ],
            ),
            (
                "ou=Policies,dc=example,dc=org",
                vec![
                    ("objectClass", vec!["organizationalUnit"]),
                    ("ou", vec!["Policies"]),
                ],
            ),
            (
                "cn=default,ou=Policies,dc=example,dc=org",
                vec![
                    ("objectClass", vec!["pwdPolicy", "device"]),
                    ("cn", vec!["default"]),
                    ("pwdAttribute", vec!["userPassword"]),
                    ("pwdLockout", vec!["TRUE"]),
                ],
            ),
            (
                "ou=Students,dc=example,dc=org",
                vec![
                    ("objectClass", vec!["organizationalUnit"]),
                    ("ou", vec!["Students"]),
                ],
            ),
            (
                "ou=Groups,dc=example,dc=org",
                vec![
                    ("objectClass", vec!["organizationalUnit"]),
                    ("ou", vec!["Groups"]),
                ],
            ),
        ];
        for (dn, attrs) in entries {
            if !ppolicy && dn.starts_with("cn=default,") {
                continue;
            }
            self.add(dn, &attrs).await;
        }
    }

    /// Adds an entry as the admin.
    ///
    /// # Panics
    /// When the add fails.
    pub async fn add(&self, dn: &str, attrs: &[(&str, Vec<&str>)]) {
        let mut ldap = self.admin().await;
        let attrs = attrs
            .iter()
            .map(|(k, v)| (*k, v.iter().copied().collect()))
            .collect();
        ldap.add(dn, attrs)
            .await
            .and_then(ldap3::LdapResult::success)
            .unwrap_or_else(|e| panic!("add {dn}: {e}"));
        let _ = ldap.unbind().await;
    }

    async fn admin(&self) -> ldap3::Ldap {
        let (conn, mut ldap) = LdapConnAsync::new(&self.url()).await.expect("connect");
        ldap3::drive!(conn);
        ldap.simple_bind(ADMIN_DN, ADMIN_PASSWORD)
            .await
            .and_then(ldap3::LdapResult::success)
            .expect("admin bind");
        ldap
    }

    #[must_use]
    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// An entry's attributes (lower-cased names, operational ones included), or `None`.
    pub async fn entry(&self, dn: &str) -> Option<HashMap<String, Vec<String>>> {
        let mut ldap = self.admin().await;
        let res = ldap
            .search(dn, Scope::Base, "(objectClass=*)", vec!["*", "+"])
            .await
            .expect("search");
        let _ = ldap.unbind().await;
        if res.1.rc == 32 {
            return None;
        }
        let (entries, _) = res.success().expect("search result");
        entries.into_iter().next().map(|e| {
            SearchEntry::construct(e)
                .attrs
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect()
        })
    }

    /// DNs of the entries under `base` matching `filter`.
    pub async fn search(&self, base: &str, filter: &str) -> Vec<String> {
        let mut ldap = self.admin().await;
        let (entries, _) = ldap
            .search(base, Scope::Subtree, filter, vec!["1.1"])
            .await
            .and_then(ldap3::SearchResult::success)
            .expect("search");
        let _ = ldap.unbind().await;
        entries
            .into_iter()
            .map(|e| SearchEntry::construct(e).dn)
            .collect()
    }

    /// Operations of one kind (`Add`, `Modify`, `Search`, `Bind`, …) slapd has completed.
    pub async fn operations(&self, kind: &str) -> u64 {
        self.monitor_counter(
            &format!("cn={kind},cn=Operations,cn=Monitor"),
            "monitorOpCompleted",
        )
        .await
    }

    /// Connections slapd has accepted since it started.
    pub async fn connections_accepted(&self) -> u64 {
        self.monitor_counter("cn=Total,cn=Connections,cn=Monitor", "monitorCounter")
            .await
    }

    async fn monitor_counter(&self, dn: &str, attr: &str) -> u64 {
        self.entry(dn)
            .await
            .and_then(|e| e.get(&attr.to_ascii_lowercase())?.first()?.parse().ok())
            .unwrap_or_else(|| panic!("{dn} has no {attr} (is cn=Monitor on?)"))
    }

    /// Whether `dn` can bind with `password`.
    pub async fn can_bind(&self, dn: &str, password: &str) -> bool {
        let (conn, mut ldap) = LdapConnAsync::new(&self.url()).await.expect("connect");
        ldap3::drive!(conn);
        let ok = ldap
            .simple_bind(dn, password)
            .await
            .is_ok_and(|r| r.rc == 0);
        let _ = ldap.unbind().await;
        ok
    }

    /// Stops slapd (the data stays), as a directory outage.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts slapd again on the same port with the same data.
    pub async fn restart(&mut self) {
        self.stop();
        self.spawn().await;
    }
}

impl Drop for TestLdap {
    fn drop(&mut self) {
        self.stop();
    }
}
