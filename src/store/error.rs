//! Store errors, each saying what went wrong and what the rep can do.

use std::path::PathBuf;

use super::kinds::Kind;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "data dir {path} is in use by another outpost process{holder}; stop it, or pass --data-dir to use another directory"
    )]
    Locked { path: PathBuf, holder: String },

    #[error(
        "data dir {path} was written by a newer outpost (schema {found}, this build reads up to {supported}); upgrade outpost, or move the directory aside and run `outpost sync` to rebuild the cache"
    )]
    NewerSchema {
        path: PathBuf,
        found: u32,
        supported: u32,
    },

    #[error(
        "record {key:?} in {kind:?} cannot be read ({detail}); the cache may be damaged: run `outpost export` to save what is readable, then move the data dir aside and run `outpost sync`"
    )]
    Corrupt {
        kind: Kind,
        key: String,
        detail: String,
    },

    #[error("disk full while writing {path}: free some space and retry; nothing was half-written")]
    DiskFull { path: PathBuf },

    #[error(
        "data dir {path} is read-only: outpost needs to write its cache there; fix the permissions or pass --data-dir"
    )]
    ReadOnly { path: PathBuf },

    #[error("cannot use data dir {path}: {detail}")]
    Io { path: PathBuf, detail: String },

    #[error("cannot encode a {kind:?} record: {detail}")]
    Encode { kind: Kind, detail: String },
}

impl StoreError {
    /// Maps a sled or io failure to a message that names the directory and a way out.
    pub(crate) fn from_io(path: &std::path::Path, err: &std::io::Error) -> StoreError {
        use std::io::ErrorKind;
        let path = path.to_path_buf();
        match err.kind() {
            ErrorKind::StorageFull | ErrorKind::QuotaExceeded => StoreError::DiskFull { path },
            ErrorKind::ReadOnlyFilesystem | ErrorKind::PermissionDenied => {
                StoreError::ReadOnly { path }
            }
            _ => StoreError::Io {
                path,
                detail: err.to_string(),
            },
        }
    }

    pub(crate) fn from_sled(path: &std::path::Path, err: sled::Error) -> StoreError {
        match err {
            sled::Error::Io(io) => StoreError::from_io(path, &io),
            sled::Error::Corruption { at, .. } => StoreError::Io {
                path: path.to_path_buf(),
                detail: format!(
                    "the database file is corrupted{}; move the data dir aside and run `outpost sync` to rebuild it (use `outpost import` to restore an export)",
                    at.map(|p| format!(" at {p:?}")).unwrap_or_default()
                ),
            },
            other => StoreError::Io {
                path: path.to_path_buf(),
                detail: other.to_string(),
            },
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;
