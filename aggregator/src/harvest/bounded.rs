//! Running a harvest round's members on a bounded number of workers.

/// Runs `f` on every item, at most `concurrency` at a time, and returns the results in item
/// order. A worker takes the next item as soon as it finishes one, so one slow member holds up
/// no other (a harvest round waits only for its slowest member, not for the slowest of each
/// group).
pub fn bounded<T: Sync, R: Send>(
    items: &[T],
    concurrency: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let workers = concurrency.clamp(1, items.len().max(1));
    let mut done: Vec<(usize, R)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(i) else {
                            return out;
                        };
                        out.push((i, f(item)));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    done.sort_unstable_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::time::Duration;

    use super::bounded;

    /// One member that does not finish until every other has: the others go on without it.
    #[test]
    fn a_slow_item_holds_up_no_other() {
        let items: Vec<usize> = (0..12).collect();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let done_rx = Mutex::new(done_rx);
        let (running, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let finished = AtomicUsize::new(0);
        let out = bounded(&items, 3, |&i| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            let waited = if i == 0 {
                // Waits for the eleven others, which two workers must get through.
                let rx = done_rx.lock().unwrap();
                rx.recv_timeout(Duration::from_secs(10)).is_ok()
            } else {
                std::thread::sleep(Duration::from_millis(5));
                if finished.fetch_add(1, Ordering::SeqCst) + 1 == items.len() - 1 {
                    done_tx.send(()).unwrap();
                }
                true
            };
            running.fetch_sub(1, Ordering::SeqCst);
            (i * 10, waited)
        });
        assert_eq!(
            out,
            items.iter().map(|i| (i * 10, true)).collect::<Vec<_>>()
        );
        assert!(most.load(Ordering::SeqCst) <= 3);
        assert!(bounded(&[] as &[u8], 4, |_| ()).is_empty());
    }
}
