//! A throwaway OpenLDAP `slapd` on a free loopback port, with Debian's default database
//! settings (an `mdb` database of up to 1 GiB, `checkpoint 512 30`, equality indexes on
//! objectClass, cn, uid, uidNumber, gidNumber, member and memberUid) and `cn=Monitor`, whose
//! counters say how many operations of each kind the server completed. Killed, and its files
//! removed, on drop.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use ldap3::{LdapConnAsync, Scope, SearchEntry};

pub const BASE_DN: &str = "dc=example,dc=org";
pub const ADMIN_DN: &str = "cn=admin,dc=example,dc=org";
/// The containers every directory starts with (the accounts' OUs are created below them).
pub const STUDENTS: &str = "ou=Students,dc=example,dc=org";
pub const STAFF: &str = "ou=Staff,dc=example,dc=org";
pub const GROUPS: &str = "ou=Groups,dc=example,dc=org";

/// The OpenLDAP programs the benchmark runs.
#[derive(Debug, Clone)]
pub struct Tools {
    pub slapd: PathBuf,
    pub ldapadd: PathBuf,
    /// Where `back_mdb` is installed.
    pub modules: PathBuf,
}

fn first_existing(candidates: &[&str]) -> Option<PathBuf> {
    candidates.iter().map(PathBuf::from).find(|p| p.exists())
}

impl Tools {
    /// Finds slapd, ldapadd and the module directory (or takes the given paths).
    ///
    /// # Errors
    /// [`crate::exit::NotFound`] naming what is missing and the Debian package it comes in.
    pub fn find(slapd: Option<PathBuf>, ldapadd: Option<PathBuf>) -> anyhow::Result<Self> {
        let missing = |what: &str, package: &str, flag: &str| {
            crate::exit::NotFound(format!(
                "{what} is not installed: this benchmark runs OpenLDAP on this machine. Install \
                 the Debian package {package} (apt-get install slapd ldap-utils), or pass {flag}"
            ))
        };
        let slapd = slapd
            .or_else(|| {
                first_existing(&[
                    "/usr/sbin/slapd",
                    "/usr/local/sbin/slapd",
                    "/usr/local/libexec/slapd",
                ])
            })
            .filter(|p| p.exists())
            .ok_or_else(|| missing("slapd", "slapd", "--slapd PATH"))?;
        let ldapadd = ldapadd
            .or_else(|| first_existing(&["/usr/bin/ldapadd", "/usr/local/bin/ldapadd"]))
            .filter(|p| p.exists())
            .ok_or_else(|| missing("ldapadd", "ldap-utils", "--ldapadd PATH"))?;
        let modules = first_existing(&[
            "/usr/lib/ldap",
            "/usr/lib/x86_64-linux-gnu/ldap",
            "/usr/lib/aarch64-linux-gnu/ldap",
            "/usr/local/libexec/openldap",
        ])
        .filter(|d| d.join("back_mdb.so").exists() || d.join("back_mdb.la").exists())
        .ok_or_else(|| {
            missing(
                "OpenLDAP's mdb backend (back_mdb)",
                "slapd",
                "--slapd PATH (a slapd with back_mdb beside it)",
            )
        })?;
        Ok(Self {
            slapd,
            ldapadd,
            modules,
        })
    }
}

/// Operations the server completed, by kind (`Add`, `Bind`, `Search`, …), and connections
/// it accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub operations: BTreeMap<String, u64>,
    pub connections: u64,
}

impl Counts {
    /// What happened between reading `earlier` and reading `self`, less the search that
    /// read `earlier` (a search is counted once it has completed, so the one reading `self`
    /// is not in it).
    #[must_use]
    pub fn since(&self, earlier: &Counts) -> Counts {
        let operations = self
            .operations
            .iter()
            .map(|(k, v)| {
                let before = earlier.operations.get(k).copied().unwrap_or(0);
                let probe = u64::from(k == "Search");
                (k.clone(), v.saturating_sub(before).saturating_sub(probe))
            })
            .filter(|(_, v)| *v > 0)
            .collect();
        Counts {
            operations,
            connections: self.connections.saturating_sub(earlier.connections),
        }
    }

    #[must_use]
    pub fn total(&self) -> u64 {
        self.operations.values().sum()
    }
}

/// An entry's attributes, as ldap3 adds them.
type Attrs<'a> = Vec<(&'a str, std::collections::HashSet<&'a str>)>;

/// A running slapd with the base entries loaded.
pub struct Slapd {
    pub port: u16,
    pub password: String,
    dir: tempfile::TempDir,
    child: Child,
    /// A bound connection for reading cn=Monitor (opened once, so reading the counters
    /// adds one search and nothing else).
    monitor: Option<ldap3::Ldap>,
}

impl Slapd {
    /// Starts slapd and loads the base entries.
    ///
    /// # Errors
    /// slapd fails to start or to answer within 15 seconds (its log is in the message).
    pub async fn start(tools: &Tools) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        std::fs::create_dir(dir.path().join("data"))?;
        let password = cc_auth::secret::random_b64(18);
        write_config(tools, dir.path(), &password)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let log = std::fs::File::create(dir.path().join("slapd.log"))?;
        let child = Command::new(&tools.slapd)
            .arg("-f")
            .arg(dir.path().join("slapd.conf"))
            .arg("-h")
            .arg(format!("ldap://127.0.0.1:{port}/"))
            .args(["-d", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", tools.slapd.display()))?;
        let mut slapd = Self {
            port,
            password,
            dir,
            child,
            monitor: None,
        };
        slapd.wait_until_up().await?;
        slapd.load_base().await?;
        Ok(slapd)
    }

    #[must_use]
    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// A file holding the admin password (for `ldapadd -y`).
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn password_file(&self) -> anyhow::Result<PathBuf> {
        let path = self.dir.path().join("admin-password");
        std::fs::write(&path, &self.password)?;
        Ok(path)
    }

    fn log(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("slapd.log")).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(20).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    async fn wait_until_up(&mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            if let Ok(ldap) = self.admin().await {
                self.monitor = Some(ldap);
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("slapd exited ({status}) before answering:\n{}", self.log());
            }
            if started.elapsed() > Duration::from_secs(15) {
                bail!(
                    "slapd did not answer on {} within 15 s:\n{}",
                    self.url(),
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A connection bound as the admin.
    ///
    /// # Errors
    /// The connection or the bind fails.
    pub async fn admin(&self) -> anyhow::Result<ldap3::Ldap> {
        let (conn, mut ldap) = LdapConnAsync::new(&self.url()).await?;
        ldap3::drive!(conn);
        ldap.simple_bind(ADMIN_DN, &self.password)
            .await?
            .success()?;
        Ok(ldap)
    }

    async fn load_base(&self) -> anyhow::Result<()> {
        let mut ldap = self.admin().await?;
        let ou = |name: &'static str| {
            vec![
                ("objectClass", ["organizationalUnit"].into()),
                ("ou", [name].into()),
            ]
        };
        let entries: [(&str, Attrs<'_>); 4] = [
            (
                BASE_DN,
                vec![
                    ("objectClass", ["dcObject", "organization"].into()),
                    ("o", ["Generated Unified School District"].into()),
                    ("dc", ["example"].into()),
                ],
            ),
            (STUDENTS, ou("Students")),
            (STAFF, ou("Staff")),
            (GROUPS, ou("Groups")),
        ];
        for (dn, attrs) in entries {
            ldap.add(dn, attrs)
                .await?
                .success()
                .with_context(|| format!("adding {dn}"))?;
        }
        let _ = ldap.unbind().await;
        Ok(())
    }

    /// The server's operation and connection counters now. Reading them is one search on
    /// a connection opened at start-up.
    ///
    /// # Errors
    /// cn=Monitor cannot be read.
    pub async fn counts(&mut self) -> anyhow::Result<Counts> {
        let ldap = self.monitor.as_mut().context("no monitor connection")?;
        let (entries, _) = ldap
            .search(
                "cn=Monitor",
                Scope::Subtree,
                "(|(objectClass=monitorOperation)(cn=Total))",
                vec!["monitorOpCompleted", "monitorCounter"],
            )
            .await?
            .success()
            .context("reading cn=Monitor")?;
        let mut counts = Counts::default();
        for e in entries.into_iter().map(SearchEntry::construct) {
            let first = |a: &str| {
                e.attrs
                    .get(a)
                    .and_then(|v| v.first())
                    .and_then(|v| v.parse::<u64>().ok())
            };
            let rdn = e.dn.split(',').next().unwrap_or_default();
            let name = rdn.trim_start_matches("cn=").to_owned();
            if e.dn
                .to_ascii_lowercase()
                .ends_with(",cn=operations,cn=monitor")
            {
                counts
                    .operations
                    .insert(name, first("monitorOpCompleted").unwrap_or(0));
            } else if e
                .dn
                .eq_ignore_ascii_case("cn=Total,cn=Connections,cn=Monitor")
            {
                counts.connections = first("monitorCounter").unwrap_or(0);
            }
        }
        anyhow::ensure!(
            !counts.operations.is_empty(),
            "cn=Monitor shows no operation counters"
        );
        Ok(counts)
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `slapd.conf`: the schemas an account and a group need, the mdb database with Debian's
/// defaults, and cn=Monitor.
fn write_config(tools: &Tools, dir: &Path, password: &str) -> anyhow::Result<()> {
    let conf = format!(
        "include /etc/ldap/schema/core.schema\n\
         include /etc/ldap/schema/cosine.schema\n\
         include /etc/ldap/schema/inetorgperson.schema\n\
         include /etc/ldap/schema/nis.schema\n\
         modulepath {modules}\n\
         moduleload back_mdb\n\
         pidfile {dir}/slapd.pid\n\
         argsfile {dir}/slapd.args\n\
         database mdb\n\
         maxsize 1073741824\n\
         suffix \"{BASE_DN}\"\n\
         rootdn \"{ADMIN_DN}\"\n\
         rootpw {password}\n\
         directory {dir}/data\n\
         checkpoint 512 30\n\
         index objectClass eq\n\
         index cn,uid eq\n\
         index uidNumber,gidNumber eq\n\
         index member,memberUid eq\n\
         database monitor\n",
        modules = tools.modules.display(),
        dir = dir.display(),
    );
    let path = dir.join("slapd.conf");
    std::fs::write(&path, conf)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}
