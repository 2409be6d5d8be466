//! A cap on how far a zip entry may expand: past [`FREE_BYTES`], an entry that has produced
//! more than [`MAX_RATIO`] times its compressed size stops with
//! [`RosterError::CompressionRatio`](crate::RosterError::CompressionRatio). Exports compress
//! about ten to one; a zip bomb, thousands to one. (Each file's size is also capped, by
//! `import.max_file_bytes`, as it is read.)

use std::io::Read;

/// Decompressed bytes an entry may always produce, whatever its ratio.
pub const FREE_BYTES: u64 = 16 * 1024 * 1024;
/// The largest expansion allowed past [`FREE_BYTES`].
pub const MAX_RATIO: u64 = 100;

/// The error a [`RatioGuard`] stops with (inside an `std::io::Error`).
#[derive(Debug, thiserror::Error)]
#[error("{file} expands more than {MAX_RATIO} times")]
pub(crate) struct RatioExceeded {
    pub file: String,
}

/// Wraps a zip entry's decompressing reader.
pub(crate) struct RatioGuard<R> {
    inner: R,
    label: String,
    allowed: u64,
    read: u64,
}

impl<R: Read> RatioGuard<R> {
    pub fn new(inner: R, label: String, compressed: u64) -> Self {
        Self {
            inner,
            label,
            allowed: compressed.saturating_mul(MAX_RATIO).max(FREE_BYTES),
            read: 0,
        }
    }
}

impl<R: Read> Read for RatioGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.allowed {
            return Err(std::io::Error::other(RatioExceeded {
                file: self.label.clone(),
            }));
        }
        Ok(n)
    }
}

/// The ratio error inside an IO error, if that is what it is.
pub(crate) fn ratio_exceeded(e: &std::io::Error) -> Option<&RatioExceeded> {
    e.get_ref().and_then(|i| i.downcast_ref::<RatioExceeded>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_past_the_ratio() {
        let data = vec![b'a'; 40 * 1024 * 1024];
        let mut g = RatioGuard::new(&data[..], "x".into(), 1000);
        let mut sink = Vec::new();
        let e = std::io::copy(&mut g, &mut sink).unwrap_err();
        assert!(ratio_exceeded(&e).is_some());
    }
}
