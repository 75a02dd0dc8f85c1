//! Group commit and savepoints: [`Store::write_grouped`] lets concurrent writers share one
//! transaction and one commit, each in a savepoint of its own, and [`Tx::savepoint`] lets one
//! transaction hold many independent changes, each undone on its own (log heads included).

use super::{Store, StoreError, Tx, Writer};

/// Grouped writes in the order they came.
#[derive(Default)]
pub(super) struct Queue(Vec<GroupedJob>);

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Queue({} waiting)", self.0.len())
    }
}

/// A queued grouped write: runs its closure in a savepoint of the shared transaction (or, given
/// the error that kept the transaction from starting, does not) and returns how to answer its
/// caller once the commit succeeded or failed.
type GroupedJob = Box<dyn FnOnce(Result<&mut Tx<'_>, &StoreError>) -> Answer + Send>;
type Answer = Box<dyn FnOnce(Result<(), &StoreError>) + Send>;

/// The most grouped writes one transaction takes: a few status batches of 1,000 changes each
/// (more would only make the first caller of a group wait longer).
const MAX_GROUP: usize = 8;

impl Store {
    /// Like [`Store::write`], but `f` may run in one transaction with the closures of other
    /// callers waiting for the writer at the same time (group commit): whichever of them gets
    /// the writer first runs up to [`MAX_GROUP`] of them, each in its own savepoint, and
    /// commits once. On `Err` only `f`'s own changes are undone; the commit covers everyone's,
    /// and a caller is answered only after it (durable when `Ok`, as with `write`). Concurrent
    /// writers then share one `fsync` and write each page they all touch to the WAL once.
    /// Blocking: call it off the async executor.
    pub fn write_grouped<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (send, answer) = std::sync::mpsc::sync_channel::<Result<T, E>>(1);
        let job: GroupedJob = Box::new(move |tx| {
            let outcome = match tx {
                Ok(tx) => tx.savepoint(f),
                Err(e) => Err(StoreError::Commit(e.to_string()).into()),
            };
            Box::new(move |commit| {
                let reply = match (outcome, commit) {
                    (Ok(_), Err(e)) => Err(StoreError::Commit(e.to_string()).into()),
                    (outcome, _) => outcome,
                };
                // The caller waits for this answer, so the channel is open.
                let _ = send.send(reply);
            })
        });
        self.queue
            .lock()
            .map_err(|_| StoreError::Poisoned)?
            .0
            .push(job);
        let mut guard = self.writer.lock().map_err(|_| StoreError::Poisoned)?;
        loop {
            // Whoever held the writer before may have run this job already; otherwise it is
            // still queued, behind at most the jobs queued before it.
            match answer.try_recv() {
                Ok(reply) => return reply,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    return Err(StoreError::Poisoned.into());
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => {}
            }
            let jobs: Vec<GroupedJob> = {
                let mut queue = self.queue.lock().map_err(|_| StoreError::Poisoned)?;
                let n = queue.0.len().min(MAX_GROUP);
                queue.0.drain(..n).collect()
            };
            if jobs.is_empty() {
                return Err(StoreError::Poisoned.into());
            }
            self.run_group(&mut guard, jobs);
        }
    }

    /// Runs `jobs` in one transaction, commits, and answers each.
    fn run_group(&self, writer: &mut Writer, jobs: Vec<GroupedJob>) {
        let tx = match writer
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        {
            Ok(tx) => tx,
            Err(e) => {
                let e = StoreError::from(e);
                for job in jobs {
                    job(Err(&e))(Err(&e));
                }
                return;
            }
        };
        let mut tx = Tx {
            tx,
            heads: writer.heads.clone(),
        };
        let answers: Vec<Answer> = jobs.into_iter().map(|job| job(Ok(&mut tx))).collect();
        let Tx { tx, heads } = tx;
        match tx.commit() {
            Ok(()) => {
                self.committed(&mut writer.heads, heads);
                for answer in answers {
                    answer(Ok(()));
                }
            }
            Err(e) => {
                let e = StoreError::from(e);
                for answer in answers {
                    answer(Err(&e));
                }
            }
        }
    }
}

impl Tx<'_> {
    /// Runs `f` inside a savepoint of this transaction. On `Err`, everything `f` did (state
    /// rows, log entries, subtree hashes and the log heads kept in memory) is undone and the
    /// transaction goes on without it; on `Ok` it stays, and commits or rolls back with the
    /// transaction. Lets one transaction hold many independent changes, each all or nothing.
    pub fn savepoint<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        // Cached statements: parsing these three for every item costs more than running them.
        let run = |tx: &rusqlite::Transaction<'_>, sql: &str| -> Result<(), StoreError> {
            tx.prepare_cached(sql)?.execute([])?;
            Ok(())
        };
        run(&self.tx, "SAVEPOINT item")?;
        let heads = self.heads.clone();
        match f(self) {
            Ok(value) => {
                run(&self.tx, "RELEASE item")?;
                Ok(value)
            }
            Err(e) => {
                run(&self.tx, "ROLLBACK TO item")?;
                run(&self.tx, "RELEASE item")?;
                self.heads = heads;
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use evfed_spec::merkle::{MemoryTree, inclusion_proof};

    use super::super::LogId;
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(&dir.path().join("t.db")).unwrap();
        (dir, store)
    }

    #[test]
    fn a_failed_savepoint_undoes_only_itself() {
        let (_dir, store) = store();
        let r: Result<(), StoreError> = store.write(|tx| {
            tx.append(LogId::Public, b"{\"a\":1}")?;
            let inner: Result<(), StoreError> = tx.savepoint(|tx| {
                tx.append(LogId::Public, b"{\"b\":2}")?;
                tx.append(LogId::Restricted, b"{\"c\":3}")?;
                Err(StoreError::Poisoned)
            });
            assert!(inner.is_err());
            assert_eq!(tx.log_size(LogId::Public), 1);
            assert_eq!(tx.log_size(LogId::Restricted), 0);
            tx.savepoint(|tx| tx.append(LogId::Public, b"{\"d\":4}").map(|_| ()))
        });
        r.unwrap();
        let mut reference = MemoryTree::new();
        reference.append(b"{\"a\":1}");
        reference.append(b"{\"d\":4}");
        assert_eq!(store.head(LogId::Public).unwrap(), (2, reference.root()));
        assert_eq!(store.head(LogId::Restricted).unwrap().0, 0);
        let entries = store
            .read(|r| r.entries(LogId::Public, 0, 10, usize::MAX))
            .unwrap();
        assert_eq!(entries, vec![b"{\"a\":1}".to_vec(), b"{\"d\":4}".to_vec()]);
        // The stored tree matches the reference, so later proofs stay right.
        store
            .read(|r| {
                let tree = r.tree(LogId::Public);
                assert_eq!(
                    inclusion_proof(&tree, 0, 2).unwrap(),
                    reference.inclusion_proof(0, 2).unwrap()
                );
                Ok::<_, StoreError>(())
            })
            .unwrap();
    }

    #[test]
    fn grouped_writes_commit_together_and_fail_alone() {
        let (_dir, store) = store();
        let store = std::sync::Arc::new(store);
        // Hold the writer so that every grouped write below queues, and the first to get the
        // writer runs several in one transaction.
        let held = store.writer.lock().unwrap();
        let callers: Vec<_> = (0..12u32)
            .map(|n| {
                let store = store.clone();
                std::thread::spawn(move || {
                    store.write_grouped(move |tx| {
                        tx.append(LogId::Public, format!("{{\"n\":{n}}}").as_bytes())?;
                        if n % 3 == 0 {
                            // Undone alone: its entry must not stay in the log.
                            tx.append(LogId::Restricted, b"{}")?;
                            return Err(StoreError::Poisoned);
                        }
                        Ok(n)
                    })
                })
            })
            .collect();
        while store.queue.lock().unwrap().0.len() < 12 {
            std::thread::yield_now();
        }
        drop(held);
        let mut ok: Vec<u32> = callers
            .into_iter()
            .filter_map(|c| c.join().unwrap().ok())
            .collect();
        ok.sort_unstable();
        assert_eq!(ok, vec![1, 2, 4, 5, 7, 8, 10, 11]);
        assert_eq!(store.head(LogId::Restricted).unwrap().0, 0);
        // The log holds exactly the successful writes' entries, and its stored tree and heads
        // agree with a tree built from them (also after reopening).
        let entries = store
            .read(|r| r.entries(LogId::Public, 0, 100, usize::MAX))
            .unwrap();
        let mut reference = MemoryTree::new();
        let mut seen: Vec<u32> = Vec::new();
        for e in &entries {
            reference.append(e);
            let v: serde_json::Value = serde_json::from_slice(e).unwrap();
            seen.push(v["n"].as_u64().unwrap() as u32);
        }
        seen.sort_unstable();
        assert_eq!(seen, ok);
        assert_eq!(store.head(LogId::Public).unwrap(), (8, reference.root()));
        let path = store.path().to_owned();
        drop(store);
        assert_eq!(
            Store::open(&path).unwrap().head(LogId::Public).unwrap(),
            (8, reference.root())
        );
    }
}
