//! Hostile and broken exports: each is refused with an error naming what is wrong, and no
//! reader buffers more than a row past the row limit.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is how a test fails.

use std::io::Write;
use std::path::{Path, PathBuf};

use cc_roster::{open_source, read_roster, FormatChoice, Input, Limits, Roster, RosterError};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn read_path(p: &Path) -> Result<Roster, RosterError> {
    let mut src = open_source(&Input::Path(p.to_path_buf()))?;
    read_roster(
        src.as_mut(),
        FormatChoice::Auto,
        Limits::default(),
        &mut |_| {},
    )
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// A zip of `(name, content)` entries, deflated.
fn zip_of(path: &Path, entries: &[(&str, Vec<u8>)]) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        z.start_file(*name, opts).unwrap();
        z.write_all(data).unwrap();
    }
    z.finish().unwrap();
}

fn oneroster_files() -> Vec<(String, Vec<u8>)> {
    let dir = fixture("oneroster-1.2/bulk");
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn a_duplicated_column_is_refused_and_named() {
    let tmp = tempfile::tempdir().unwrap();
    let p = write_file(
        tmp.path(),
        "r.csv",
        b"external_id,username,given_name,family_name,role,Email,email\n1,ada,Ada,L,staff,a@x.org,b@x.org\n",
    );
    let e = read_path(&p).unwrap_err();
    assert_eq!(e.code(), "duplicate_column", "{e}");
    assert!(e.to_string().contains("`email`"), "{e}");
}

#[test]
fn a_duplicated_zip_entry_is_refused_and_named() {
    let tmp = tempfile::tempdir().unwrap();
    let mut entries: Vec<(String, Vec<u8>)> = oneroster_files();
    let users = entries
        .iter()
        .find(|(n, _)| n == "users.csv")
        .unwrap()
        .1
        .clone();
    entries.push(("old/users.csv".into(), users));
    let refs: Vec<(&str, Vec<u8>)> = entries
        .iter()
        .map(|(n, d)| (n.as_str(), d.clone()))
        .collect();
    let z = tmp.path().join("export.zip");
    zip_of(&z, &refs);
    let e = read_path(&z).unwrap_err();
    assert_eq!(e.code(), "duplicate_entry", "{e}");
    assert!(e.to_string().contains("old/users.csv"), "{e}");
}

#[test]
fn a_duplicated_manifest_key_is_refused_and_named() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, data) in oneroster_files() {
        let data = if name == "manifest.csv" {
            let mut d = data;
            d.extend_from_slice(b"file.users,delta\n");
            d
        } else {
            data
        };
        write_file(tmp.path(), &name, &data);
    }
    let e = read_path(tmp.path()).unwrap_err();
    assert_eq!(e.code(), "duplicate_key", "{e}");
    assert!(e.to_string().contains("file.users"), "{e}");
}

#[test]
fn an_empty_file_says_it_is_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let p = write_file(tmp.path(), "r.csv", b"");
    let e = read_path(&p).unwrap_err();
    assert_eq!(e.code(), "file_empty", "{e}");
    assert!(e.to_string().contains("is empty"), "{e}");
}

#[test]
fn a_cp1252_file_names_the_line_and_says_to_save_as_utf8() {
    let tmp = tempfile::tempdir().unwrap();
    // "Zoë" in cp1252: 0xEB.
    let p = write_file(
        tmp.path(),
        "r.csv",
        b"external_id,username,given_name,family_name,role\n1,zoe,Zo\xeb,Smith,staff\n",
    );
    let r = read_path(&p).unwrap();
    assert_eq!(r.errors.total(), 1, "{:?}", r.errors);
    assert_eq!(r.errors.kept()[0].line, 2);
    assert_eq!(r.errors.kept()[0].field, "given_name");
    assert!(
        r.errors.kept()[0].message.contains("CSV UTF-8"),
        "{:?}",
        r.errors.kept()[0]
    );
    // In the header itself: the whole file is refused, with the hint.
    let p = write_file(tmp.path(), "h.csv", b"external_id,na\xefve\n1,x\n");
    let e = read_path(&p).unwrap_err();
    assert_eq!(e.code(), "not_utf8", "{e}");
    assert!(e.to_string().contains("line 1"), "{e}");
    assert!(e.to_string().contains("CSV UTF-8"), "{e}");
}

#[test]
fn garbage_bytes_are_not_shown_as_a_parser_error() {
    let tmp = tempfile::tempdir().unwrap();
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let p = write_file(tmp.path(), "g.csv", &garbage);
    let e = read_path(&p).unwrap_err();
    let text = e.to_string();
    assert!(
        matches!(e.code(), "not_utf8" | "not_csv" | "row_too_long"),
        "{}: {text}",
        e.code()
    );
    assert!(!text.contains("CSV parse error"), "{text}");
    let p = write_file(tmp.path(), "n.csv", b"\0\0\0\0,\0\n1,2\n");
    let e = read_path(&p).unwrap_err();
    assert_eq!(e.code(), "not_csv", "{e}");
}

#[test]
fn a_zip_bomb_is_stopped_by_its_ratio() {
    let tmp = tempfile::tempdir().unwrap();
    let mut users =
        b"sourcedId,status,dateLastModified,enabledUser,username,givenName,familyName,email\n"
            .to_vec();
    // Identical lines: far more than 100 to 1, and past the free allowance.
    let line = format!("x,active,,true,x,x,{},\n", "x".repeat(400));
    while users.len() < 40 * 1024 * 1024 {
        users.extend_from_slice(line.as_bytes());
    }
    let mut entries: Vec<(String, Vec<u8>)> = oneroster_files()
        .into_iter()
        .filter(|(n, _)| n != "users.csv")
        .collect();
    entries.push(("users.csv".into(), users));
    let refs: Vec<(&str, Vec<u8>)> = entries
        .iter()
        .map(|(n, d)| (n.as_str(), d.clone()))
        .collect();
    let z = tmp.path().join("bomb.zip");
    zip_of(&z, &refs);
    let size = std::fs::metadata(&z).unwrap().len();
    assert!(size < 1024 * 1024, "the bomb is {size} bytes");
    let e = read_path(&z).map(|r| r.user_rows).unwrap_err();
    assert_eq!(e.code(), "compression_ratio", "{e}");
    assert!(e.to_string().contains("users.csv"), "{e}");
}

#[test]
fn a_pipe_is_read_as_it_streams() {
    let roster = std::fs::read(fixture("csv/roster.csv")).unwrap();
    let mut child = std::process::Command::new("cat")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&roster));
    let fd = {
        use std::os::fd::AsRawFd;
        child.stdout.as_ref().unwrap().as_raw_fd()
    };
    let path = PathBuf::from(format!("/proc/self/fd/{fd}"));
    let r = read_path(&path).unwrap();
    writer.join().unwrap().unwrap();
    assert_eq!(
        r.people.len(),
        read_path(&fixture("csv/roster.csv")).unwrap().people.len()
    );
    child.wait().unwrap();
}

/// A file where every row is wrong keeps only the first row errors in memory, and counts
/// every one: the plan's count, the kept list and the preview document agree on the total.
#[test]
fn row_errors_are_all_counted_but_only_the_first_are_kept() {
    const ROWS: u64 = 200_000;
    let tmp = tempfile::tempdir().unwrap();
    let mut data = b"external_id,username,given_name,family_name,role\n".to_vec();
    for i in 0..ROWS {
        // Half with a missing field, half with an unknown role: reading and validating.
        if i % 2 == 0 {
            writeln!(data, "{i},u{i},Ada,L").unwrap();
        } else {
            writeln!(data, "{i},u{i},Ada,L,pirate").unwrap();
        }
    }
    let p = write_file(tmp.path(), "people.csv", &data);
    let r = read_path(&p).unwrap();
    assert!(r.people.is_empty());
    assert_eq!(r.errors.total(), ROWS);
    let kept = r.errors.iter().count();
    assert_eq!(kept, cc_roster::KEPT_ROW_ERRORS);
    assert!(kept <= 10_000, "{kept} row errors held in memory");
    assert_eq!(r.errors.omitted(), ROWS - kept as u64);
    // The first ones, in file order.
    assert_eq!(r.errors.iter().next().unwrap().line, 2);
    let plan = cc_roster::plan(
        &r,
        &cc_roster::DirectoryView::default(),
        cc_roster::PlanOptions::default(),
    );
    assert_eq!(plan.counts.errors, ROWS);
    assert_eq!(plan.counts.rows, ROWS);
}
