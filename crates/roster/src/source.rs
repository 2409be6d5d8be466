//! Where an export comes from: a folder, a zip archive, or one CSV file, on disk or in memory.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Cursor, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::model::RosterError;
use crate::zip_guard::RatioGuard;

/// An export to read.
#[derive(Debug, Clone)]
pub enum Input {
    /// A folder of CSV files, a `.zip`, or a single CSV file (also a pipe such as
    /// `/dev/stdin`, for a single CSV file).
    Path(PathBuf),
    /// A file on disk known by another name: an upload spooled to a temporary file.
    Named { name: String, path: PathBuf },
    /// An upload: a zip archive or a single CSV file.
    Bytes { name: String, data: Arc<Vec<u8>> },
}

impl Input {
    /// The name to show for the export (the file name).
    #[must_use]
    pub fn display_name(&self) -> String {
        match self {
            Input::Path(p) => p.file_name().map_or_else(
                || p.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
            Input::Bytes { name, .. } | Input::Named { name, .. } => name.clone(),
        }
    }
}

/// The files of an export, by lower-case base name (`users.csv`).
pub trait SourceFiles: Send {
    /// Lower-case base names of the files present.
    fn names(&self) -> Vec<String>;
    /// Opens one file by lower-case base name; `None` when absent.
    ///
    /// # Errors
    /// The file cannot be read.
    fn open(&mut self, name: &str) -> Result<Option<Box<dyn Read + '_>>, RosterError>;
    /// Whether the export is a single CSV file (no folder or archive around it).
    fn is_single_file(&self) -> bool {
        false
    }
}

/// Opens an export.
///
/// # Errors
/// The path cannot be read, or a zip archive is damaged.
pub fn open_source(input: &Input) -> Result<Box<dyn SourceFiles>, RosterError> {
    match input {
        Input::Path(path) => open_path(path, &input.display_name()),
        Input::Named { name, path } => open_path(path, name),
        Input::Bytes { name, data } => {
            if data.starts_with(b"PK\x03\x04") {
                Ok(Box::new(ZipSource::new(
                    Cursor::new(SharedBytes(data.clone())),
                    name,
                )?))
            } else {
                Ok(Box::new(SingleFile::Bytes(data.clone())))
            }
        }
    }
}

fn open_path(path: &Path, label: &str) -> Result<Box<dyn SourceFiles>, RosterError> {
    let meta = std::fs::metadata(path).map_err(|e| io_err(path, &e))?;
    if meta.is_dir() {
        return Ok(Box::new(DirSource::new(path)?));
    }
    let mut file = File::open(path).map_err(|e| io_err(path, &e))?;
    let mut magic = [0u8; 4];
    let n = read_up_to(&mut file, &mut magic).map_err(|e| io_err(path, &e))?;
    let is_zip = n == 4 && magic == *b"PK\x03\x04";
    if !meta.is_file() {
        // A pipe or a device cannot be rewound: a single CSV file is read as it streams.
        if is_zip {
            return Err(RosterError::Unrecognized(format!(
                "{label} is a zip archive arriving through a pipe; save it to a file and import the file"
            )));
        }
        let head = Cursor::new(magic[..n].to_vec());
        return Ok(Box::new(SingleFile::Stream(Some(Box::new(
            head.chain(file),
        )))));
    }
    file.rewind().map_err(|e| io_err(path, &e))?;
    if is_zip {
        Ok(Box::new(ZipSource::new(file, label)?))
    } else {
        Ok(Box::new(SingleFile::Path(path.to_path_buf())))
    }
}

/// Reads until `buf` is full or the input ends (a pipe may deliver fewer bytes per read).
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn io_err(path: &Path, e: &std::io::Error) -> RosterError {
    RosterError::Io {
        file: path.display().to_string(),
        detail: e.to_string(),
    }
}

/// A folder of CSV files.
struct DirSource {
    files: BTreeMap<String, PathBuf>,
}

impl DirSource {
    fn new(dir: &Path) -> Result<Self, RosterError> {
        let mut files = BTreeMap::new();
        for entry in std::fs::read_dir(dir).map_err(|e| io_err(dir, &e))? {
            let entry = entry.map_err(|e| io_err(dir, &e))?;
            if entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
                let name = entry.file_name().to_string_lossy().to_ascii_lowercase();
                files.insert(name, entry.path());
            }
        }
        Ok(Self { files })
    }
}

impl SourceFiles for DirSource {
    fn names(&self) -> Vec<String> {
        self.files.keys().cloned().collect()
    }

    fn open(&mut self, name: &str) -> Result<Option<Box<dyn Read + '_>>, RosterError> {
        let Some(path) = self.files.get(name) else {
            return Ok(None);
        };
        let f = File::open(path).map_err(|e| io_err(path, &e))?;
        Ok(Some(Box::new(std::io::BufReader::with_capacity(
            256 * 1024,
            f,
        ))))
    }
}

/// Bytes shared with the caller (an upload kept for a later apply).
struct SharedBytes(Arc<Vec<u8>>);

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

/// A zip archive; files may sit in a sub-folder of it.
struct ZipSource<R: Read + Seek> {
    archive: zip::ZipArchive<R>,
    /// Base name → index in the archive.
    entries: BTreeMap<String, usize>,
    label: String,
}

impl<R: Read + Seek + Send> ZipSource<R> {
    fn new(reader: R, label: &str) -> Result<Self, RosterError> {
        let archive = zip::ZipArchive::new(reader).map_err(|e| RosterError::Io {
            file: label.to_owned(),
            detail: format!("not a readable zip archive: {e}"),
        })?;
        let mut entries: BTreeMap<String, usize> = BTreeMap::new();
        for i in 0..archive.len() {
            let Some(name) = archive.name_for_index(i) else {
                continue;
            };
            if name.ends_with('/') || name.contains("__MACOSX") {
                continue;
            }
            let base = name.rsplit('/').next().unwrap_or(name).to_ascii_lowercase();
            if let Some(&first) = entries.get(&base) {
                return Err(RosterError::DuplicateEntry {
                    archive: label.to_owned(),
                    file: base,
                    first: archive.name_for_index(first).unwrap_or_default().to_owned(),
                    second: name.to_owned(),
                });
            }
            entries.insert(base, i);
        }
        Ok(Self {
            archive,
            entries,
            label: label.to_owned(),
        })
    }
}

impl<R: Read + Seek + Send> SourceFiles for ZipSource<R> {
    fn names(&self) -> Vec<String> {
        self.entries.keys().cloned().collect()
    }

    fn open(&mut self, name: &str) -> Result<Option<Box<dyn Read + '_>>, RosterError> {
        let Some(&i) = self.entries.get(name) else {
            return Ok(None);
        };
        let label = &self.label;
        let file = self.archive.by_index(i).map_err(|e| RosterError::Io {
            file: format!("{label}:{name}"),
            detail: e.to_string(),
        })?;
        let compressed = file.compressed_size();
        Ok(Some(Box::new(std::io::BufReader::with_capacity(
            256 * 1024,
            RatioGuard::new(file, format!("{label}:{name}"), compressed),
        ))))
    }
}

/// A single CSV file.
enum SingleFile {
    Path(PathBuf),
    Bytes(Arc<Vec<u8>>),
    /// A pipe, read once as it arrives.
    Stream(Option<Box<dyn Read + Send>>),
}

/// The name a single file is known by, whatever it was called.
pub(crate) const SINGLE: &str = "roster.csv";

impl SourceFiles for SingleFile {
    fn names(&self) -> Vec<String> {
        vec![SINGLE.to_owned()]
    }

    fn open(&mut self, name: &str) -> Result<Option<Box<dyn Read + '_>>, RosterError> {
        if name != SINGLE {
            return Ok(None);
        }
        match self {
            SingleFile::Path(p) => {
                let f = File::open(&*p).map_err(|e| io_err(p, &e))?;
                Ok(Some(Box::new(std::io::BufReader::with_capacity(
                    256 * 1024,
                    f,
                ))))
            }
            SingleFile::Bytes(b) => Ok(Some(Box::new(Cursor::new(SharedBytes(b.clone()))))),
            SingleFile::Stream(s) => match s.take() {
                Some(r) => Ok(Some(Box::new(std::io::BufReader::with_capacity(
                    256 * 1024,
                    r,
                )))),
                None => Err(RosterError::Io {
                    file: SINGLE.into(),
                    detail: "a pipe can be read only once".into(),
                }),
            },
        }
    }

    fn is_single_file(&self) -> bool {
        true
    }
}
