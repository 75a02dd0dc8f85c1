//! The node's life: clean shutdown with a final checkpoint, backup while writing, restore,
//! refusing to sign after an old backup, and key rotation.

use std::process::Command;

use evfed_spec::checkpoint::Checkpoint;
use evfed_spec::note::{self, VerifierKey};
use evfed_spec::trust::Unverified;
use reqwest::Method;
use serde_json::{Value, json};

use evfed_spec::merkle::MemoryTree;

use crate::support::{BIN, NodeDir, Running, run as cli};

/// Puts `n` small published locations for GB*LPC, numbered from `from`.
fn put_locations(node: &NodeDir, run: &Running, from: u32, n: u32) {
    let token = node.writer("GB*LPC");
    for i in from..from + n {
        let body = location(i);
        let res = run.send(
            Method::PUT,
            &format!("/v1/locations/GB/LPC/L{i}"),
            Some(&token),
            body.to_string().as_bytes(),
        );
        assert!(res.status().is_success(), "{}", res.text().unwrap());
    }
}

pub fn location(i: u32) -> Value {
    json!({
        "country_code": "GB", "party_id": "LPC", "id": format!("L{i}"), "publish": true,
        "address": format!("{i} Camden High Street"), "city": "London", "postal_code": "NW1 7JR",
        "country": "GBR", "coordinates": {"latitude": "51.539200", "longitude": "-0.142600"},
        "time_zone": "Europe/London", "last_updated": "2026-10-01T12:00:00Z",
        "evses": [{"uid": format!("L{i}-1"), "status": "AVAILABLE", "last_updated": "2026-10-01T12:00:00Z",
            "connectors": [{"id": "1", "standard": "IEC_62196_T2", "format": "SOCKET",
                "power_type": "AC_1_PHASE", "max_voltage": 230, "max_amperage": 32,
                "last_updated": "2026-10-01T12:00:00Z"}]}]
    })
}

fn vkeys(run: &Running) -> Vec<VerifierKey> {
    run.json("/.well-known/evfed")["vkeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn writes_are_signed_at_once_sigterm_is_clean_and_restart_continues() {
    let node = NodeDir::camden();
    std::fs::write(node.path().join("config.toml"), {
        let text = std::fs::read_to_string(node.path().join("config.toml")).unwrap();
        // A long interval: only the signer's wake-up on each write can cover them in time.
        text.replace(
            "# checkpoint_interval = \"1s\"",
            "checkpoint_interval = \"1h\"",
        )
    })
    .unwrap();
    // SIGTERM right after the ready file appears is already a clean shutdown.
    for _ in 0..3 {
        assert!(node.serve().stop().success());
    }
    let run = node.serve();
    assert_eq!(run.get("/readyz").status(), 200);
    put_locations(&node, &run, 0, 3);
    // Covered within the 20 ms signing window (allowing for a slow machine), not the hour.
    let started = std::time::Instant::now();
    loop {
        let note = run.get("/v1/log/checkpoint").text().unwrap();
        if note.lines().nth(1) == Some("3") {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "the writes were not signed at once: {note}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let status = run.stop();
    assert!(status.success(), "clean exit on SIGTERM: {status}");
    let run = node.serve();
    let note = run.get("/v1/log/checkpoint").text().unwrap();
    assert_eq!(
        note.lines().nth(1),
        Some("3"),
        "the checkpoint after a restart covers every write"
    );
    let cp = Unverified::new(note.into_bytes())
        .verify_checkpoint(&vkeys(&run))
        .unwrap();
    assert_eq!(cp.checkpoint().origin, node.origin);
    // Only one process may own the directory.
    let out = Command::new(BIN)
        .args(["serve", "--dir", &node.dir_arg(), "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("another evfed-node process"));
}

#[test]
fn a_graceful_stop_answers_waiting_checkpoint_readers_at_once() {
    use std::io::{Read as _, Write as _};
    use std::time::{Duration, Instant};
    let node = NodeDir::camden();
    // A stop that begins before the server has read the wait closes the connection unanswered:
    // then nothing was tested, and the node is started again.
    for _ in 0..5 {
        let run = node.serve();
        let size = run.tree_size();
        let addr = run.url.trim_start_matches("http://").to_owned();
        let mut conn = std::net::TcpStream::connect(&addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        // Nothing is written meanwhile: without the stop this waits the whole minute.
        conn.write_all(
            format!(
                "GET /v1/log/checkpoint?newer_than={size}&wait=60 HTTP/1.1\r\nHost: {addr}\r\n\
                 Connection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
        // Usually read by now; when not, the answer below is empty and the round is repeated.
        assert_eq!(run.get("/healthz").status(), 200);
        let stopping = Instant::now();
        let status = run.stop();
        let stopped = stopping.elapsed();
        assert!(status.success(), "clean exit on SIGTERM: {status}");
        // The shutdown timeout is 10 s: a stop that waited for the reader takes that long.
        assert!(
            stopped < Duration::from_secs(5),
            "the stop waited {stopped:?} for a checkpoint reader"
        );
        let mut answer = String::new();
        let _ = conn.read_to_string(&mut answer);
        if answer.is_empty() {
            continue;
        }
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(
            answer.contains(&node.origin),
            "the latest checkpoint: {answer}"
        );
        return;
    }
    panic!("the wait was never open when the stop began");
}

#[test]
fn backup_while_writing_restore_and_an_old_backup_refuses_to_sign() {
    let node = NodeDir::camden();
    let run = node.serve();
    put_locations(&node, &run, 0, 5);
    run.wait_for_checkpoint(5);
    let old = node.tmp.path().join("old.db");
    assert!(
        cli(&["backup", "--dir", &node.dir_arg(), old.to_str().unwrap()])
            .status
            .success()
    );

    // A backup taken while another thread keeps writing is a consistent snapshot: its tree is a
    // prefix of the final one.
    let during = node.tmp.path().join("during.db");
    std::thread::scope(|s| {
        let writer = s.spawn(|| put_locations(&node, &run, 5, 40));
        let out = cli(&["backup", "--dir", &node.dir_arg(), during.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        writer.join().unwrap();
    });
    run.wait_for_checkpoint(45);
    let entries = run.get("/v1/log/entries?start=0&end=45").text().unwrap();
    let lines: Vec<&str> = entries.lines().collect();
    assert_eq!(lines.len(), 45);
    let tree = MemoryTree::from_entries(&lines);
    let [(size, root), _] = evfed_node::cli::heads_of(&during).unwrap();
    assert!((5..=45).contains(&size), "backup of size {size}");
    assert_eq!(
        tree.root_at(size).unwrap(),
        root,
        "the backup is a prefix of the log"
    );
    assert!(run.stop().success());
    let after = node.tmp.path().join("after.db");
    assert!(
        cli(&["backup", "--dir", &node.dir_arg(), after.to_str().unwrap()])
            .status
            .success()
    );

    // Restoring the old backup is refused: the node signed a longer history since.
    let out = cli(&["restore", "--dir", &node.dir_arg(), old.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("older than the last checkpoint"), "{err}");

    // Forced, the node then refuses to sign, says why and how to recover, and does not start.
    let out = cli(&[
        "restore",
        "--force",
        "--dir",
        &node.dir_arg(),
        old.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let refused = match node.try_serve() {
        Ok(_) => panic!("a node restored from an old backup must not serve"),
        Err(log) => log,
    };
    assert!(refused.contains("exit status: 3"), "{refused}");
    assert!(refused.contains("refusing to sign"), "{refused}");
    assert!(
        refused.contains("restore a backup taken after that checkpoint"),
        "{refused}"
    );

    // The backup taken after the last checkpoint restores, and the node serves every write.
    let out = cli(&["restore", "--dir", &node.dir_arg(), after.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = node.serve();
    assert_eq!(run.tree_size(), 45);
    assert_eq!(run.get("/readyz").status(), 200);
}

#[test]
fn a_newer_backup_restores_and_serves() {
    let node = NodeDir::camden();
    let run = node.serve();
    put_locations(&node, &run, 0, 4);
    run.wait_for_checkpoint(4);
    let status = run.stop();
    assert!(status.success());
    let snap = node.tmp.path().join("snap.db");
    assert!(
        cli(&["backup", "--dir", &node.dir_arg(), snap.to_str().unwrap()])
            .status
            .success()
    );
    // Lose the database; restore the snapshot; the node serves the same signed history.
    std::fs::remove_file(node.path().join("evfed.db")).unwrap();
    let out = cli(&["restore", "--dir", &node.dir_arg(), snap.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = node.serve();
    assert_eq!(run.tree_size(), 4);
    assert_eq!(run.json("/v1/locations").as_array().unwrap().len(), 4);
    assert_eq!(run.get("/readyz").status(), 200);
}

#[test]
fn key_rotation_is_announced_in_the_log_and_signed_by_the_old_key() {
    let node = NodeDir::camden();
    let run = node.serve();
    put_locations(&node, &run, 0, 2);
    let old_keys = vkeys(&run);
    assert_eq!(old_keys.len(), 1);
    // Rotation needs the directory: a serving node holds it.
    assert!(
        !cli(&["key", "rotate", "--dir", &node.dir_arg()])
            .status
            .success()
    );
    assert!(run.stop().success());
    let out = cli(&["key", "rotate", "--dir", &node.dir_arg()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new_vkey = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_owned();

    let run = node.serve();
    let keys = vkeys(&run);
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0].to_string(), new_vkey, "current key first");
    assert_eq!(keys[1], old_keys[0]);
    // The rotation entry is the last one, signed by the old key's checkpoint.
    let entries = run.get("/v1/log/entries?start=0&end=100").text().unwrap();
    let last: Value = serde_json::from_str(entries.lines().last().unwrap()).unwrap();
    assert_eq!(last["type"], "key_rotation");
    assert_eq!(last["data"]["vkey"], new_vkey.as_str());
    assert_eq!(
        last["data"]["previous_vkey"],
        old_keys[0].to_string().as_str()
    );
    // New checkpoints carry both signatures for the co-signing period.
    put_locations(&node, &run, 2, 1);
    let note = run.wait_for_checkpoint(4);
    let opened = note::open(note.as_bytes(), &old_keys).unwrap();
    assert_eq!(opened.verified_by.len(), 1, "the previous key co-signs");
    let by_new = note::open(note.as_bytes(), &keys[..1]).unwrap();
    assert_eq!(by_new.verified_by.len(), 1);
    let cp = Checkpoint::parse_text(&opened.text).unwrap();
    assert_eq!(cp.tree_size, 4);
}

/// Changes one entry's bytes in the database of a stopped node, as a hand edit would.
fn tamper_entry(db: &std::path::Path, index: i64) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let changed = conn
        .execute(
            "UPDATE log_entry SET bytes = CAST(replace(CAST(bytes AS TEXT), 'Camden High', \
             'Camden Low') AS BLOB) WHERE key = ?1",
            [index],
        )
        .unwrap();
    assert_eq!(changed, 1);
}

#[test]
fn a_tampered_entry_is_named_by_verify_and_the_node_refuses_to_serve() {
    let node = NodeDir::camden();
    let run = node.serve();
    put_locations(&node, &run, 0, 6);
    run.wait_for_checkpoint(6);
    assert!(run.stop().success());
    let out = cli(&["verify", "--dir", &node.dir_arg()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("public log: 6 entries re-hashed"),
        "{stdout}"
    );
    assert!(stdout.contains("\nok: "), "{stdout}");
    let good = node.tmp.path().join("good.db");
    assert!(
        cli(&["backup", "--dir", &node.dir_arg(), good.to_str().unwrap()])
            .status
            .success()
    );

    // Entry 5 is the newest: the start-up check re-hashes it.
    tamper_entry(&node.path().join("evfed.db"), 5);
    let out = cli(&["verify", "--dir", &node.dir_arg()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("public log, entry 5: its bytes do not hash"),
        "{stdout}"
    );
    assert!(stdout.contains("DAMAGED"), "{stdout}");
    let refused = match node.try_serve() {
        Ok(_) => panic!("a node with a tampered log must not serve"),
        Err(log) => log,
    };
    assert!(refused.contains("exit status: 3"), "{refused}");
    assert!(refused.contains("refusing to serve"), "{refused}");
    assert!(refused.contains("entry 5: its bytes"), "{refused}");
    assert!(refused.contains("evfed-node restore"), "{refused}");

    // A damaged backup is not restored.
    let bad = node.tmp.path().join("bad.db");
    std::fs::copy(&good, &bad).unwrap();
    tamper_entry(&bad, 2);
    let out = cli(&["restore", "--dir", &node.dir_arg(), bad.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("does not verify with this node's keys"),
        "{err}"
    );
    assert!(err.contains("entry 2: its bytes"), "{err}");

    // The backup verifies with the node's keys, restores, and the node serves again.
    let out = cli(&[
        "verify",
        "--dir",
        &node.dir_arg(),
        "--database",
        good.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = cli(&["restore", "--dir", &node.dir_arg(), good.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = node.serve();
    assert_eq!(run.tree_size(), 6);
    assert_eq!(
        run.json("/v1/locations/GB/LPC/L5")["address"],
        "5 Camden High Street"
    );
}

/// A location with `evses` EVSEs (`L{i}-1`…), to make a database of some size quickly.
fn wide_location(i: u32, evses: usize) -> Value {
    let mut body = location(i);
    let first = body["evses"][0].clone();
    body["evses"] = (1..=evses)
        .map(|n| {
            let mut e = first.clone();
            e["uid"] = json!(format!("L{i}-{n}"));
            e
        })
        .collect();
    body
}

#[test]
fn backup_completes_under_a_steady_write_load() {
    let node = NodeDir::camden();
    let run = node.serve();
    // Tens of megabytes, so that a page-by-page copy needs many steps between writes.
    let admin = node.token(None, &["admin"]);
    const SEED: u32 = 4000;
    for batch in 0..SEED / 200 {
        let items: Vec<Value> = (batch * 200..(batch + 1) * 200)
            .map(|i| wide_location(i, 8))
            .collect();
        let res = run.send(
            Method::POST,
            "/v1/admin/locations",
            Some(&admin),
            serde_json::to_vec(&items).unwrap().as_slice(),
        );
        assert_eq!(res.status(), 200, "{}", res.text().unwrap());
    }
    run.wait_for_checkpoint(u64::from(SEED));
    let db_bytes = std::fs::metadata(node.path().join("evfed.db"))
        .unwrap()
        .len();

    // Status changes from three clients, each on its own EVSEs, as fast as the node answers;
    // every change flips an EVSE's status, so every one appends an entry.
    const WRITERS: u64 = 3;
    /// Status changes per request: the load stays above 100 changes a second (and tens of
    /// commits a second) even on a machine busy with other work.
    const PER_REQUEST: u64 = 10;
    let token = node.writer("GB*LPC");
    let out_dir = node.tmp.path().join("backups");
    std::fs::create_dir(&out_dir).unwrap();
    let backup = out_dir.join("under-load.db");
    let writes = std::sync::atomic::AtomicU64::new(0);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let load_started = std::time::Instant::now();
    let (took, during) = std::thread::scope(|s| {
        for t in 0..WRITERS {
            let (run, token, writes, stop) = (&run, &token, &writes, &stop);
            s.spawn(move || {
                let mut k = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    k += 1;
                    // Request k changes EVSEs `(k % 10) * 10 ..+10` of this writer's 100; each
                    // visit flips their status.
                    let status = if (k / 10).is_multiple_of(2) {
                        "CHARGING"
                    } else {
                        "AVAILABLE"
                    };
                    let at =
                        evfed_spec::time::DateTime::from_unix_seconds(1_793_491_200 + k as i64)
                            .unwrap();
                    let batch: Vec<Value> = (0..PER_REQUEST)
                        .map(|j| {
                            let loc = t * 100 + (k % 10) * 10 + j;
                            json!({"country_code": "GB", "party_id": "LPC",
                                "location_id": format!("L{loc}"), "evse_uid": format!("L{loc}-1"),
                                "status": status, "event_time": at.to_string()})
                        })
                        .collect();
                    let res = run.send(
                        Method::POST,
                        "/v1/status",
                        Some(token),
                        serde_json::to_vec(&batch).unwrap().as_slice(),
                    );
                    assert_eq!(res.status(), 200);
                    writes.fetch_add(PER_REQUEST, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
        // The load is running before the backup starts.
        while writes.load(std::sync::atomic::Ordering::Relaxed) < 100 {
            std::thread::yield_now();
        }
        let before = writes.load(std::sync::atomic::Ordering::Relaxed);
        let started = std::time::Instant::now();
        let mut child = Command::new(BIN)
            .args(["backup", "--dir", &node.dir_arg(), backup.to_str().unwrap()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // A backup that cannot finish under load fails here rather than hanging.
        let deadline = started + std::time::Duration::from_secs(30);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
                panic!("the backup did not finish within 30 s under load");
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        let took = started.elapsed();
        let during = writes.load(std::sync::atomic::Ordering::Relaxed) - before;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let out = child.wait_with_output().unwrap();
        assert!(status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        (took, during)
    });
    let rate = writes.into_inner() as f64 / load_started.elapsed().as_secs_f64();
    eprintln!(
        "backup of {:.1} MB took {} ms while {during} status changes were acknowledged ({rate:.0}/s)",
        db_bytes as f64 / 1e6,
        took.as_millis()
    );
    assert!(
        rate >= 100.0,
        "the write load was only {rate:.0} status changes/s"
    );
    assert!(during > 0, "writes went on while the backup ran");

    // The backup is a snapshot that verifies with the node's keys: every entry hashes into the
    // tree its stored checkpoints sign, at least the one covering the seeded locations.
    let out = cli(&[
        "verify",
        "--dir",
        &node.dir_arg(),
        "--database",
        backup.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let [(size, _), _] = evfed_node::cli::heads_of(&backup).unwrap();
    assert!(
        size > u64::from(SEED),
        "the load appended before the copy: size {size}"
    );
    assert!(
        run.tree_size() > size,
        "the load went on appending after the snapshot"
    );
    // Only the backup is left in its directory: no partial copy.
    let names: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["under-load.db"]);
    // A second backup to the same name is refused, and says why.
    let out = cli(&["backup", "--dir", &node.dir_arg(), backup.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("already exists; backups never overwrite"),
        "{err}"
    );
}
