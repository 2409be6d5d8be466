//! Who may read the database file. It holds password hashes, live session ids and (unless
//! configured elsewhere) the token signing key, so only the account running Command Center may
//! read it: its folder is created 0700 and the file 0600 before SQLite opens it (SQLite gives
//! the `-wal` and `-shm` files it creates the mode of the database file). A file that group or
//! others may already read or write is refused, with the command that fixes it: the leak is
//! already possible and a warning in a log nobody reads would not close it.

use std::path::{Path, PathBuf};

use crate::StoreError;

/// The files SQLite keeps next to the database.
const COMPANIONS: [&str; 3] = ["-wal", "-shm", "-journal"];

/// Creates the folder (0700) and an empty database file (0600) when missing, and refuses a
/// database or companion file that group or others may access.
///
/// # Errors
/// A folder or file that cannot be created, or one with group/other permissions.
pub(super) fn prepare(db: &Path) -> Result<(), StoreError> {
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir)?;
    }
    create_private_file(db)?;
    let mut open_to_others = Vec::new();
    for path in std::iter::once(db.to_path_buf()).chain(companions(db)) {
        if let Some(mode) = mode_of(&path)? {
            if mode & 0o077 != 0 {
                open_to_others.push((path, mode));
            }
        }
    }
    if open_to_others.is_empty() {
        return Ok(());
    }
    let list = open_to_others
        .iter()
        .map(|(p, m)| format!("{} (mode {:o})", p.display(), m & 0o777))
        .collect::<Vec<_>>()
        .join(", ");
    let files = open_to_others
        .iter()
        .map(|(p, _)| shell_quote(p))
        .collect::<Vec<_>>()
        .join(" ");
    Err(StoreError::Config(format!(
        "refusing to open the database: other local users can access {list}. It holds password \
         hashes, session ids and signing keys. Fix with: chmod 600 {files}"
    )))
}

fn companions(db: &Path) -> impl Iterator<Item = PathBuf> + '_ {
    COMPANIONS.iter().map(move |suffix| {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    })
}

fn shell_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.exists() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| StoreError::Config(format!("cannot create {}: {e}", dir.display())))
}

#[cfg(unix)]
fn create_private_file(db: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(db)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Config(format!(
            "cannot create {}: {e}",
            db.display()
        ))),
    }
}

#[cfg(unix)]
fn mode_of(path: &Path) -> Result<Option<u32>, StoreError> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(path) {
        Ok(m) => Ok(Some(m.permissions().mode())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::Config(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| StoreError::Config(format!("cannot create {}: {e}", dir.display())))
}

#[cfg(not(unix))]
fn create_private_file(_db: &Path) -> Result<(), StoreError> {
    Ok(())
}

#[cfg(not(unix))]
fn mode_of(_path: &Path) -> Result<Option<u32>, StoreError> {
    Ok(None)
}
