//! One outpost process per data dir. The holder writes who it is into the lock
//! file, so a second process can say who holds it (and a TUI can attach to a
//! daemon instead of failing).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{StoreError, StoreResult};

/// The lock file's name inside the data dir.
pub(crate) const LOCK_FILE: &str = "outpost.lock";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LockInfo {
    pub pid: u32,
    /// "tui", "daemon", "cli", ...
    pub mode: String,
    /// Where a daemon serves its engine API, for attaching.
    pub api_url: Option<String>,
}

#[derive(Debug)]
pub struct DataDirLock {
    file: File,
    path: PathBuf,
}

impl DataDirLock {
    pub fn acquire(dir: &Path, mode: &str) -> StoreResult<DataDirLock> {
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| StoreError::from_io(dir, &e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = read_info(&mut file)
                    .map(|info| {
                        let api = info
                            .api_url
                            .map(|u| format!(", engine API at {u}"))
                            .unwrap_or_default();
                        format!(" ({} pid {}{api})", info.mode, info.pid)
                    })
                    .unwrap_or_default();
                return Err(StoreError::Locked {
                    path: dir.to_path_buf(),
                    holder,
                });
            }
            Err(TryLockError::Error(e)) => return Err(StoreError::from_io(dir, &e)),
        }
        let mut lock = DataDirLock { file, path };
        lock.write_info(&LockInfo {
            pid: std::process::id(),
            mode: mode.to_string(),
            api_url: None,
        })?;
        Ok(lock)
    }

    pub fn write_info(&mut self, info: &LockInfo) -> StoreResult<()> {
        let text = serde_json::to_string(info).map_err(|e| StoreError::Io {
            path: self.path.clone(),
            detail: e.to_string(),
        })?;
        let io = |e: std::io::Error| StoreError::from_io(&self.path, &e);
        self.file.set_len(0).map_err(io)?;
        self.file.seek(SeekFrom::Start(0)).map_err(io)?;
        self.file.write_all(text.as_bytes()).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        Ok(())
    }
}

/// Who holds the data dir right now, if anyone (None when it is free).
pub fn current_holder(dir: &Path) -> Option<LockInfo> {
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new().read(true).write(true).open(path).ok()?;
    match file.try_lock() {
        Ok(()) => {
            let _ = file.unlock();
            None
        }
        Err(_) => read_info(&mut file),
    }
}

fn read_info(file: &mut File) -> Option<LockInfo> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}
