//! The schema version of a data dir and the migrations between versions.

use std::path::Path;

use super::error::{StoreError, StoreResult};

/// The layout this build writes. Bump it with a migration when a record's
/// encoding or an index's key layout changes.
pub const CURRENT: u32 = 8;

const VERSION_KEY: &[u8] = b"schema_version";

/// A step from version `from` to `from + 1`, run inside `open` before use.
pub struct Migration {
    pub from: u32,
    pub describe: &'static str,
    pub run: fn(&sled::Db) -> sled::Result<()>,
}

/// Migrations of this build, in order.
pub const MIGRATIONS: &[Migration] = super::migrations::ALL;

/// Brings the data dir to `target`, or explains why it cannot.
pub fn ensure(
    db: &sled::Db,
    path: &Path,
    target: u32,
    migrations: &[Migration],
) -> StoreResult<u32> {
    let meta = db
        .open_tree("meta")
        .map_err(|e| StoreError::from_sled(path, e))?;
    let found = match meta
        .get(VERSION_KEY)
        .map_err(|e| StoreError::from_sled(path, e))?
    {
        Some(raw) => {
            let bytes: [u8; 4] = raw.as_ref().try_into().map_err(|_| StoreError::Io {
                path: path.to_path_buf(),
                detail: "the schema version record is damaged".into(),
            })?;
            u32::from_be_bytes(bytes)
        }
        None => {
            // A fresh directory starts at the current layout.
            meta.insert(VERSION_KEY, &target.to_be_bytes())
                .map_err(|e| StoreError::from_sled(path, e))?;
            return Ok(target);
        }
    };
    if found > target {
        return Err(StoreError::NewerSchema {
            path: path.to_path_buf(),
            found,
            supported: target,
        });
    }
    let mut version = found;
    while version < target {
        let step = migrations
            .iter()
            .find(|m| m.from == version)
            .ok_or_else(|| StoreError::Io {
                path: path.to_path_buf(),
                detail: format!("no migration from schema {version}; upgrade outpost"),
            })?;
        tracing::info!(from = version, what = step.describe, "migrating data dir");
        (step.run)(db).map_err(|e| StoreError::from_sled(path, e))?;
        version += 1;
        meta.insert(VERSION_KEY, &version.to_be_bytes())
            .map_err(|e| StoreError::from_sled(path, e))?;
    }
    db.flush().map_err(|e| StoreError::from_sled(path, e))?;
    Ok(version)
}

/// Brings a store kept outside sled (Postgres) to `target`: a fresh
/// database starts there. Steps that only drop index trees
/// (`index_drops`) run here too, through `drop_tree`; the record migrations
/// are sled's alone so far, so a database that needs one is refused with
/// the way to move its data over.
pub(crate) fn ensure_in_tree(
    meta: &super::Tree,
    path: &Path,
    target: u32,
    index_drops: &[(u32, &[&'static str])],
    mut drop_tree: impl FnMut(&'static str) -> StoreResult<()>,
) -> StoreResult<u32> {
    let found = match meta.get(VERSION_KEY)? {
        Some(raw) => {
            let bytes: [u8; 4] = raw[..].try_into().map_err(|_| StoreError::Database {
                detail: "the schema version record is damaged".into(),
            })?;
            u32::from_be_bytes(bytes)
        }
        None => {
            meta.insert(VERSION_KEY, &target.to_be_bytes())?;
            return Ok(target);
        }
    };
    if found > target {
        return Err(StoreError::NewerSchema {
            path: path.to_path_buf(),
            found,
            supported: target,
        });
    }
    let mut version = found;
    while version < target {
        let Some((_, trees)) = index_drops.iter().find(|(from, _)| *from == version) else {
            return Err(StoreError::Database {
                detail: format!(
                    "its records are at schema {found} and this build writes {target}; run `outpost export` with the build that made it, then `outpost import` into a new database"
                ),
            });
        };
        for &tree in trees.iter() {
            drop_tree(tree)?;
        }
        version += 1;
        meta.insert(VERSION_KEY, &version.to_be_bytes())?;
    }
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(db: &sled::Db) -> sled::Result<()> {
        db.open_tree("meta")?.insert("migrated", b"yes")?;
        Ok(())
    }

    #[test]
    fn runs_migrations_in_order_and_refuses_newer() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        assert_eq!(ensure(&db, dir.path(), 1, &[]).unwrap(), 1);
        let steps = [Migration {
            from: 1,
            describe: "test step",
            run: mark,
        }];
        assert_eq!(ensure(&db, dir.path(), 2, &steps).unwrap(), 2);
        let meta = db.open_tree("meta").unwrap();
        assert_eq!(meta.get("migrated").unwrap().unwrap().as_ref(), b"yes");
        let err = ensure(&db, dir.path(), 1, &[]).unwrap_err();
        assert!(matches!(err, StoreError::NewerSchema { found: 2, .. }));
        assert!(err.to_string().contains("newer outpost"));
    }

    #[test]
    fn a_store_outside_sled_takes_index_drops_and_refuses_record_steps() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let path = std::path::PathBuf::from("<memory>");
        let meta = super::super::Tree::sled(
            std::sync::Arc::new(path.clone()),
            db.open_tree("meta").unwrap(),
        );
        meta.insert(VERSION_KEY, &7u32.to_be_bytes()).unwrap();
        let drops: &[(u32, &[&'static str])] = &[(7, &["idx_gone"])];
        let mut dropped = Vec::new();
        let reached = ensure_in_tree(&meta, &path, 8, drops, |tree| {
            dropped.push(tree);
            Ok(())
        })
        .unwrap();
        assert_eq!((reached, dropped), (8, vec!["idx_gone"]));
        assert_eq!(
            meta.get(VERSION_KEY).unwrap().as_deref(),
            Some(&8u32.to_be_bytes()[..])
        );
        // A step that rewrites records is refused, and the version stays.
        meta.insert(VERSION_KEY, &6u32.to_be_bytes()).unwrap();
        let err = ensure_in_tree(&meta, &path, 8, drops, |_| Ok(())).unwrap_err();
        assert!(err.to_string().contains("outpost export"), "{err}");
        assert_eq!(
            meta.get(VERSION_KEY).unwrap().as_deref(),
            Some(&6u32.to_be_bytes()[..])
        );
    }
}
