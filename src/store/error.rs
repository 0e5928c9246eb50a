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

    /// A write that was made from a record as read found it changed by
    /// someone else meanwhile; nothing was written. The caller reads again.
    #[error("record {key:?} in {kind:?} changed while it was being updated; nothing was written")]
    Changed { kind: Kind, key: String },

    #[error(
        "data dir {path} is out of space ({detail}): the disk is full or a size limit was reached; free some space (or pass --data-dir to use a roomier disk) and run the command again; what was written before stays intact and nothing was half-written"
    )]
    DiskFull { path: PathBuf, detail: String },

    #[error(
        "data dir {path} is read-only / not writable ({detail}): outpost keeps its cache and lock there; fix the permissions (the directory must be writable by this user), or point data_dir elsewhere with --data-dir, OUTPOST_DATA_DIR or data_dir in config.toml"
    )]
    ReadOnly { path: PathBuf, detail: String },

    #[error("cannot use data dir {path}: {detail}")]
    Io { path: PathBuf, detail: String },

    #[error(
        "the team database failed: {detail}; check [store] in the config (url_env) and that Postgres is running and reachable"
    )]
    Database { detail: String },

    #[error("cannot encode a {kind:?} record: {detail}")]
    Encode { kind: Kind, detail: String },
}

impl StoreError {
    /// Maps a sled or io failure to a message that names the directory and a way out.
    pub(crate) fn from_io(path: &std::path::Path, err: &std::io::Error) -> StoreError {
        use std::io::ErrorKind;
        let path = data_dir_of(path);
        match err.kind() {
            ErrorKind::StorageFull | ErrorKind::QuotaExceeded | ErrorKind::FileTooLarge => {
                StoreError::DiskFull {
                    path,
                    detail: err.kind().to_string(),
                }
            }
            ErrorKind::ReadOnlyFilesystem | ErrorKind::PermissionDenied => StoreError::ReadOnly {
                path,
                detail: err.kind().to_string(),
            },
            _ => StoreError::Io {
                path,
                detail: io_cause(err),
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

/// The directory a rep knows: errors about files inside the data dir (the
/// sled database `cache`, the lock file) name the data dir itself, which is
/// what they pass with --data-dir.
fn data_dir_of(path: &std::path::Path) -> PathBuf {
    match path.file_name() {
        Some(name) if name == super::CACHE_DIR || name == super::lock::LOCK_FILE => {
            path.parent().unwrap_or(path).to_path_buf()
        }
        _ => path.to_path_buf(),
    }
}

/// The OS's words for an i/o failure, on one line.
fn io_cause(err: &std::io::Error) -> String {
    err.to_string().replace(['\r', '\n'], " ")
}

pub type StoreResult<T> = Result<T, StoreError>;

#[cfg(test)]
mod tests {
    use std::io::{Error, ErrorKind};
    use std::path::Path;

    use super::*;

    #[test]
    fn a_full_disk_or_size_limit_names_the_data_dir_and_the_way_out() {
        for kind in [
            ErrorKind::StorageFull,
            ErrorKind::QuotaExceeded,
            ErrorKind::FileTooLarge,
        ] {
            let err = StoreError::from_io(Path::new("/d/outpost/cache"), &Error::from(kind));
            assert!(
                matches!(err, StoreError::DiskFull { .. }),
                "{kind:?}: {err:?}"
            );
            let message = err.to_string();
            assert!(
                message.starts_with("data dir /d/outpost is out of space"),
                "{message}"
            );
            assert!(message.contains("free some space"), "{message}");
        }
        let efbig = Error::from_raw_os_error(27);
        // sled hands back its own copy of the error, formatted with Debug;
        // the message names the kind in plain words instead.
        let wrapped = Error::new(ErrorKind::FileTooLarge, format!("{efbig:?}"));
        let message = StoreError::from_sled(Path::new("/d/x/cache"), sled::Error::Io(wrapped));
        assert!(
            message.to_string().contains("(file too large)"),
            "{message}"
        );
    }

    #[test]
    fn a_read_only_dir_names_the_data_dir_and_the_way_out() {
        for kind in [ErrorKind::PermissionDenied, ErrorKind::ReadOnlyFilesystem] {
            let err = StoreError::from_io(Path::new("/d/outpost/outpost.lock"), &Error::from(kind));
            let message = err.to_string();
            assert!(
                message.starts_with("data dir /d/outpost is read-only"),
                "{message}"
            );
            assert!(message.contains("fix the permissions"), "{message}");
            assert!(message.contains("--data-dir"), "{message}");
        }
    }

    #[test]
    fn other_failures_keep_the_cause() {
        let err = StoreError::from_io(Path::new("/d/o"), &Error::other("bad sector\nretry"));
        assert_eq!(
            err.to_string(),
            "cannot use data dir /d/o: bad sector retry"
        );
    }
}
