//! Backups: a consistent snapshot of a database that may be serving at full write load.
//!
//! SQLite's online backup API copies a few pages at a time and starts again whenever another
//! connection writes, so under a steady write load it never finishes. `VACUUM INTO` instead
//! copies the whole database inside one read transaction: the copy is the snapshot at the
//! moment it began, and writers go on meanwhile (the WAL holds their pages until it ends).
//!
//! Architecture Invariant: a backup never appears under its final name until it is complete and
//! durable: it is written to `.NAME.partial-PID` beside the destination, synced, and only then
//! linked to `NAME` (which fails rather than overwrite a file that appeared meanwhile).

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::{StoreError, check_application};

/// Copies the database at `src` to the new file `dst` as one consistent snapshot, safe while a
/// node is serving from `src` at any write rate. Never overwrites `dst`; on failure (or if the
/// process dies) nothing is left under `dst`.
pub fn backup(src: &Path, dst: &Path) -> Result<(), StoreError> {
    if dst.symlink_metadata().is_ok() {
        return Err(StoreError::Exists(dst.display().to_string()));
    }
    let from = Connection::open_with_flags(
        src,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    from.busy_timeout(std::time::Duration::from_secs(5))?;
    check_application(&from, src)?;
    let partial = partial_path(dst);
    let done = copy_into(&from, &partial).and_then(|()| publish(&partial, dst));
    if done.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    done
}

/// Where the copy is written before it is complete: hidden, beside `dst` (so the final step is
/// a link within one file system), and unique to this process.
fn partial_path(dst: &Path) -> PathBuf {
    let name = dst
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "backup".to_owned());
    dst.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}

/// Writes the snapshot to `partial`, in rollback-journal mode (a backup is one file, with no
/// `-wal` beside it), and syncs it.
fn copy_into(from: &Connection, partial: &Path) -> Result<(), StoreError> {
    let target = partial
        .to_str()
        .ok_or_else(|| StoreError::NotEvfed(format!("{}: not a UTF-8 path", partial.display())))?;
    from.execute("VACUUM INTO ?1", [target])?;
    let to = Connection::open_with_flags(partial, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    to.pragma_update(None, "journal_mode", "DELETE")?;
    to.close().map_err(|(_, e)| e)?;
    sync(partial, std::fs::File::open(partial))
}

/// Gives the complete copy its final name without ever replacing a file there.
fn publish(partial: &Path, dst: &Path) -> Result<(), StoreError> {
    match std::fs::hard_link(partial, dst) {
        Ok(()) => {
            std::fs::remove_file(partial).map_err(|e| io(partial, e))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(StoreError::Exists(dst.display().to_string()));
        }
        // A file system without hard links: check, then rename (a narrow race, not a partial
        // file: the copy is already complete).
        Err(_) => {
            if dst.symlink_metadata().is_ok() {
                return Err(StoreError::Exists(dst.display().to_string()));
            }
            std::fs::rename(partial, dst).map_err(|e| io(dst, e))?;
        }
    }
    // The new name is durable once its directory is.
    let dir = match dst.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    sync(dir, std::fs::File::open(dir))
}

fn sync(path: &Path, file: std::io::Result<std::fs::File>) -> Result<(), StoreError> {
    file.and_then(|f| f.sync_all()).map_err(|e| io(path, e))
}

fn io(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{LogId, Store, heads_of};

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".partial-"))
            .collect()
    }

    #[test]
    fn a_backup_is_one_file_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(&dir.path().join("t.db")).unwrap();
        store
            .write(|tx| tx.append(LogId::Public, b"{}").map(|_| ()))
            .unwrap();
        let out = dir.path().join("b.db");
        backup(store.path(), &out).unwrap();
        assert_eq!(
            heads_of(&out).unwrap()[0],
            store.head(LogId::Public).unwrap()
        );
        let mode: String = Connection::open(&out)
            .unwrap()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "delete");
        let err = backup(store.path(), &out).unwrap_err().to_string();
        assert!(
            err.contains("already exists; backups never overwrite"),
            "{err}"
        );
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn a_failed_copy_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(&dir.path().join("t.db")).unwrap();
        // The destination's directory does not exist: the copy fails.
        let out = dir.path().join("missing").join("b.db");
        assert!(backup(store.path(), &out).is_err());
        assert!(!out.exists());
        // A foreign file is refused before anything is written.
        let foreign = dir.path().join("foreign.db");
        Connection::open(&foreign)
            .unwrap()
            .execute_batch("CREATE TABLE t (x); PRAGMA application_id = 7;")
            .unwrap();
        let out = dir.path().join("c.db");
        assert!(matches!(
            backup(&foreign, &out),
            Err(StoreError::NotEvfed(_))
        ));
        assert!(!out.exists());
        assert!(leftovers(dir.path()).is_empty());
    }
}
