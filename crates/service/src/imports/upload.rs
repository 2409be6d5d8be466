//! Uploads on disk: an uploaded export is spooled to a temporary file as it arrives (hashed
//! on the way, never held in memory whole), stored in the database a chunk at a time, and
//! restored from there to a temporary file for a later apply.

use std::path::Path;

use cc_domain::ImportRun;
use cc_roster::Input;
use cc_store::Store;
use serde_json::json;
use sha2::{Digest, Sha256};
use tempfile::TempPath;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

use super::import_store;
use crate::{Result, ServiceError};

/// Bytes per stored chunk of an uploaded file.
pub const CHUNK_BYTES: usize = 1024 * 1024;

/// An uploaded export in a temporary file (deleted when this is dropped).
#[derive(Debug)]
pub struct Upload {
    pub name: String,
    pub sha256: String,
    pub size: u64,
    path: TempPath,
}

impl Upload {
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The upload as the readers take it.
    #[must_use]
    pub fn input(&self) -> Input {
        Input::Named {
            name: self.name.clone(),
            path: self.path.to_path_buf(),
        }
    }
}

/// Why an upload was not spooled.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("the upload is larger than the limit of {limit} bytes (import.max_upload_bytes)")]
    TooLarge { limit: u64 },
    #[error("cannot write the upload to a temporary file: {0}")]
    Io(#[from] std::io::Error),
}

/// Writes an upload to a temporary file as its chunks arrive.
pub struct Spool {
    name: String,
    file: tokio::fs::File,
    path: TempPath,
    hasher: Sha256,
    size: u64,
    limit: u64,
}

impl Spool {
    /// Starts a temporary file (in `TMPDIR`) for an upload of at most `limit` bytes.
    ///
    /// # Errors
    /// The temporary file cannot be created.
    pub fn new(name: &str, limit: u64) -> std::result::Result<Self, SpoolError> {
        let (file, path) = tempfile::Builder::new()
            .prefix("cc-upload-")
            .tempfile()?
            .into_parts();
        Ok(Self {
            name: name.to_owned(),
            file: tokio::fs::File::from_std(file),
            path,
            hasher: Sha256::new(),
            size: 0,
            limit,
        })
    }

    /// Appends a chunk.
    ///
    /// # Errors
    /// The upload passes the limit, or the disk write fails.
    pub async fn write(&mut self, chunk: &[u8]) -> std::result::Result<(), SpoolError> {
        self.size += chunk.len() as u64;
        if self.size > self.limit {
            return Err(SpoolError::TooLarge { limit: self.limit });
        }
        self.hasher.update(chunk);
        self.file.write_all(chunk).await?;
        Ok(())
    }

    /// Bytes written so far.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Flushes the file and hands it over.
    ///
    /// # Errors
    /// The disk write fails.
    pub async fn finish(mut self) -> std::result::Result<Upload, SpoolError> {
        self.file.flush().await?;
        self.file.sync_data().await?;
        Ok(Upload {
            name: self.name,
            sha256: hex::encode(self.hasher.finalize()),
            size: self.size,
            path: self.path,
        })
    }
}

/// Stores a new run with its uploaded file, a chunk at a time, in one transaction.
///
/// # Errors
/// The store fails, or the temporary file cannot be read.
pub async fn insert_upload(store: &dyn Store, run: &ImportRun, upload: &Upload) -> Result<()> {
    let mut file = tokio::fs::File::open(upload.path())
        .await
        .map_err(|e| ServiceError::Internal(format!("reading the spooled upload: {e}")))?;
    let mut tx = import_store(store)?.begin_upload().await?;
    tx.insert_import_run(run, &[], &json!([])).await?;
    let mut buf = vec![0u8; CHUNK_BYTES];
    let mut seq = 0u32;
    loop {
        let n = read_full(&mut file, &mut buf)
            .await
            .map_err(|e| ServiceError::Internal(format!("reading the spooled upload: {e}")))?;
        if n == 0 {
            break;
        }
        tx.insert_import_file_chunk(run.id, seq, &buf[..n]).await?;
        seq += 1;
    }
    tx.commit().await?;
    Ok(())
}

async fn read_full(file: &mut tokio::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let k = file.read(&mut buf[n..]).await?;
        if k == 0 {
            break;
        }
        n += k;
    }
    Ok(n)
}

/// Restores a run's stored file to a temporary file; `None` when it is not stored (never,
/// or pruned by retention).
///
/// # Errors
/// The store fails, or the temporary file cannot be written.
pub async fn restore_upload(store: &dyn Store, id: Uuid, name: &str) -> Result<Option<Upload>> {
    let imports = import_store(store)?;
    let io = |e: SpoolError| ServiceError::Internal(e.to_string());
    let mut spool = Spool::new(name, u64::MAX).map_err(io)?;
    let mut seq = 0u32;
    while let Some(chunk) = imports.import_file_chunk(id, seq).await? {
        spool.write(&chunk).await.map_err(io)?;
        seq += 1;
    }
    if seq == 0 {
        return Ok(None);
    }
    Ok(Some(spool.finish().await.map_err(io)?))
}
