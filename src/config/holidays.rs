//! `holidays = "F.ics"`: the files a config includes, read beside it, and their part of the
//! config's digest.
//!
//! The config stays one truth: the image bakes the holiday file in beside the config, and the
//! config's SHA-256 (which the stack pins and `bootstrap` checks) covers the file's bytes too, so
//! a changed holiday file is a changed config.

use crate::calendar::{Holidays, MAX_HOLIDAYS_BYTES};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A scenario's holiday file, read and parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolidayFile {
    /// The path as the config writes it (relative to the config).
    pub path: String,
    /// SHA-256 (hex) of its bytes.
    pub digest: String,
    pub holidays: Holidays,
}

/// Why an included file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("{0} does not exist")]
    NotFound(String),
    #[error("{0} is not readable: permission denied")]
    Denied(String),
    #[error("{path} has {bytes} bytes, over the limit of {limit} bytes")]
    TooLarge {
        path: String,
        bytes: u64,
        limit: usize,
    },
    #[error("cannot read {0}")]
    Other(String),
}

/// Where a config's included files are read from.
pub trait Files {
    /// The bytes of `relative` (a path relative to the config), at most `limit` of them.
    fn read(&self, relative: &str, limit: usize) -> Result<Vec<u8>, FileError>;
}

/// The directory of a config file on disk.
pub struct Dir(pub PathBuf);

impl Files for Dir {
    fn read(&self, relative: &str, limit: usize) -> Result<Vec<u8>, FileError> {
        let path = self.0.join(relative);
        let shown = path.display().to_string();
        let map = |e: std::io::Error| match e.kind() {
            std::io::ErrorKind::NotFound => FileError::NotFound(shown.clone()),
            std::io::ErrorKind::PermissionDenied => FileError::Denied(shown.clone()),
            _ => FileError::Other(format!("{shown}: {e}")),
        };
        let file = std::fs::File::open(&path).map_err(map)?;
        // Read one byte past the limit rather than trusting the size a special file reports.
        let mut bytes = Vec::new();
        file.take(limit as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(map)?;
        if bytes.len() > limit {
            let size = std::fs::metadata(&path)
                .map(|m| m.len())
                .unwrap_or(bytes.len() as u64);
            return Err(FileError::TooLarge {
                path: shown,
                bytes: size,
                limit,
            });
        }
        Ok(bytes)
    }
}

impl Dir {
    /// The directory of the config at `config`.
    pub fn of(config: &Path) -> Dir {
        Dir(config
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(".")))
    }
}

/// Files held in memory (tests, and configs given as text with their files).
#[derive(Debug, Clone, Default)]
pub struct InMemory(pub BTreeMap<String, Vec<u8>>);

impl Files for InMemory {
    fn read(&self, relative: &str, limit: usize) -> Result<Vec<u8>, FileError> {
        let bytes = self
            .0
            .get(relative)
            .ok_or_else(|| FileError::NotFound(relative.to_string()))?;
        if bytes.len() > limit {
            return Err(FileError::TooLarge {
                path: relative.to_string(),
                bytes: bytes.len() as u64,
                limit,
            });
        }
        Ok(bytes.clone())
    }
}

/// The size limit of a holiday file.
pub const HOLIDAYS_LIMIT: usize = MAX_HOLIDAYS_BYTES;

/// The config's digest: the SHA-256 of its text, or, when it includes holiday files, of its
/// text followed by each file's path and SHA-256 in scenario order.
pub fn config_digest(text: &str, files: &[&HolidayFile]) -> String {
    if files.is_empty() {
        return super::digest(text.as_bytes());
    }
    let mut all = text.as_bytes().to_vec();
    for f in files {
        all.extend_from_slice(format!("\n#include {} sha256:{}", f.path, f.digest).as_bytes());
    }
    super::digest(&all)
}
