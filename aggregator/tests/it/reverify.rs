//! Re-verification after a scenario, as Sunlight's test log checks its whole tree after every
//! test: what the aggregator says it applied for a fake member (its member status, the London
//! view, its evidence, its own signed log) is held against what that member really signed.
//!
//! - The verified size is the size of a checkpoint the member signed over exactly those
//!   entries (an honest note), and the member's copies in the London view are the replay
//!   (STANDARD.md §6.4, with §6.3's refusals and the registered parties) of that prefix, and
//!   of nothing else: no entry the member did not sign into a verified tree was applied.
//! - The keys the aggregator holds are the pinned one and those §3.3 rotations in that
//!   prefix adopt, newest first.
//! - Every entry refused has its evidence, and no entry that should apply was refused.
//! - A fork's evidence is two notes the member signed, both verifying with its keys, that no
//!   honest log could both have signed (§9.4); an older checkpoint's are two consistent ones.
//! - The aggregator's own log, verified with its key, publishes exactly those copies.

use std::collections::BTreeMap;

use evfed_spec::checkpoint::Checkpoint;
use evfed_spec::entry::{EntryData, LogEntry, Parsed};
use evfed_spec::merkle::MemoryTree;
use evfed_spec::note::VerifierKey;
use evfed_spec::ocpi::Location;
use evfed_spec::trust::Unverified;
use serde_json::Value;

use crate::fake_member::{FakeMember, Signed};
use crate::support::{Server, WITHIN, wait_until};

/// A member's copies by `(party, id)`, as JSON.
type Copies = BTreeMap<(String, String), Value>;

/// What the aggregator holds of a fake member, re-verified.
#[derive(Debug)]
pub struct Reverified {
    /// The member as `/v1/members` lists it.
    pub member: Value,
    /// Its evidence, newest first.
    pub evidence: Vec<Value>,
    /// The entries its copies replay: the first `verified_size` of a history it signed.
    pub accepted: Vec<Vec<u8>>,
    /// Indices of the accepted entries a reader refuses.
    pub refused: Vec<u64>,
}

impl Reverified {
    pub fn state(&self) -> &str {
        self.member["state"].as_str().unwrap()
    }

    /// The evidence rows of `kind`.
    pub fn evidence_of(&self, kind: &str) -> Vec<&Value> {
        self.evidence.iter().filter(|e| e["kind"] == kind).collect()
    }
}

/// Re-verifies everything the aggregator `agg` holds of `fake` (module doc); panics on the
/// first thing that was not signed as it is held.
pub fn reverify(agg: &Server, fake: &FakeMember) -> Reverified {
    let members = agg.json("/v1/members");
    let member = members
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["origin"] == fake.origin.as_str())
        .unwrap_or_else(|| panic!("{} is not a member: {members}", fake.origin))
        .clone();
    let size = member["verified_size"].as_u64().unwrap();
    let parties: Vec<String> = member["parties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect();
    let signed = fake.signed();
    let view = view_of(agg, &fake.origin);

    // The prefix the copies are the replay of, among the histories signed at that size.
    let mut prefixes: Vec<&Signed> = signed
        .iter()
        .filter(|s| s.checkpoint.tree_size == size && s.honest())
        .collect();
    prefixes.dedup_by(|a, b| a.checkpoint.root == b.checkpoint.root);
    let candidates: Vec<Vec<Vec<u8>>> = if size == 0 {
        vec![Vec::new()]
    } else {
        prefixes.iter().map(|s| s.entries.clone()).collect()
    };
    assert!(
        !candidates.is_empty(),
        "{}: verified_size {size} is the size of no checkpoint it signed over those entries",
        fake.origin
    );
    let replays: Vec<Replay> = candidates
        .iter()
        .map(|entries| replay(entries, &parties, &fake.vkey()))
        .collect();
    let Some(i) = replays.iter().position(|r| r.copies == view) else {
        panic!(
            "{}: the London view holds copies that are the replay of no signed history of \
             {size} entries\n view: {view:#?}\n signed: {:#?}",
            fake.origin, replays[0].copies
        );
    };
    let (accepted, replayed) = (candidates[i].clone(), &replays[i]);

    // Keys: the pinned one and those the accepted rotations adopt.
    let vkeys: Vec<String> = member["vkeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(vkeys, replayed.keys, "{}: keys held", fake.origin);

    // Refusals, each with evidence, and none of an entry that applies.
    let evidence = agg.json(&format!("/v1/members/{}/evidence", fake.origin));
    let evidence = evidence.as_array().unwrap().clone();
    let mut refused_rows: Vec<u64> = evidence
        .iter()
        .filter(|e| e["kind"] == "rejected-entry")
        .map(|e| entry_index(e["detail"].as_str().unwrap()))
        .collect();
    refused_rows.sort_unstable();
    refused_rows.dedup();
    assert_eq!(
        refused_rows, replayed.refused,
        "{}: entries refused with evidence, and entries a reader refuses",
        fake.origin
    );

    // Findings that cite two notes.
    let trusted = fake.vkeys();
    for row in &evidence {
        let kind = row["kind"].as_str().unwrap();
        if kind != "fork" && kind != "older-checkpoint" {
            continue;
        }
        let note = |field: &str| {
            let text = row[field]
                .as_str()
                .unwrap_or_else(|| panic!("{kind} evidence without {field}: {row}"));
            let found = signed
                .iter()
                .find(|s| s.note == text.as_bytes())
                .unwrap_or_else(|| {
                    panic!("{kind} evidence cites a note the member never signed: {text}")
                });
            assert!(verifies(text, &trusted), "{kind} evidence: {text}");
            found
        };
        let (a, b) = (note("note"), note("other_note"));
        let (small, large) = if a.checkpoint.tree_size <= b.checkpoint.tree_size {
            (a, b)
        } else {
            (b, a)
        };
        let consistent = consistent(small, large);
        match kind {
            "fork" => assert!(!consistent, "fork evidence of two consistent notes: {row}"),
            _ => {
                assert!(consistent, "an older checkpoint that is no prefix: {row}");
                assert!(
                    a.checkpoint.tree_size < b.checkpoint.tree_size,
                    "the older note first: {row}"
                );
            }
        }
    }

    // Every party the member ever wrote for, in any history it signed.
    let mut written: Vec<String> = signed
        .iter()
        .flat_map(|s| &s.entries)
        .filter_map(|e| match LogEntry::parse(e) {
            Ok(Parsed::Known(e)) => e.data.party().map(|p| p.to_string()),
            _ => None,
        })
        .collect();
    written.sort();
    written.dedup();
    own_log_publishes(agg, &fake.origin, &written, &view);
    Reverified {
        member,
        evidence,
        accepted,
        refused: replayed.refused.clone(),
    }
}

/// Whether an honest log could have signed both: the larger's entries begin with a tree whose
/// root is the smaller's.
fn consistent(small: &Signed, large: &Signed) -> bool {
    if !large.honest() {
        return false;
    }
    let n = usize::try_from(small.checkpoint.tree_size).unwrap();
    MemoryTree::from_entries(&large.entries[..n]).root() == small.checkpoint.root
}

fn verifies(note: &str, vkeys: &[String]) -> bool {
    let keys: Vec<VerifierKey> = vkeys.iter().map(|k| k.parse().unwrap()).collect();
    Unverified::new(note.as_bytes().to_vec())
        .verify_checkpoint(&keys)
        .is_ok()
}

/// `entry N: …` → N.
fn entry_index(detail: &str) -> u64 {
    detail
        .strip_prefix("entry ")
        .and_then(|d| d.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a refusal that names no entry: {detail}"))
}

/// The London view's copies served from `origin` (without the view's own `evfed_london`).
fn view_of(agg: &Server, origin: &str) -> Copies {
    let listed = agg.json("/v1/london/locations?limit=1000");
    listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["evfed_london"]["sources"][0] == origin)
        .map(|l| {
            let mut copy = l.clone();
            copy.as_object_mut().unwrap().remove("evfed_london");
            (key_of(&copy), copy)
        })
        .collect()
}

fn key_of(location: &Value) -> (String, String) {
    (
        format!(
            "{}*{}",
            location["country_code"].as_str().unwrap(),
            location["party_id"].as_str().unwrap()
        ),
        location["id"].as_str().unwrap().to_owned(),
    )
}

/// A member's log replayed as an aggregator must (§6.3, §6.4, §3.3).
#[derive(Debug)]
struct Replay {
    copies: Copies,
    refused: Vec<u64>,
    /// Keys trusted at the end: adopted ones newest first, then the pinned one.
    keys: Vec<String>,
}

fn replay(entries: &[Vec<u8>], parties: &[String], pinned: &str) -> Replay {
    let mut locations: BTreeMap<(String, String), Location> = BTreeMap::new();
    let mut refused = Vec::new();
    let mut keys: Vec<VerifierKey> = vec![pinned.parse().unwrap()];
    let origin = keys[0].name().to_owned();
    for (index, bytes) in entries.iter().enumerate() {
        let index = index as u64;
        let entry = match LogEntry::parse(bytes) {
            Ok(Parsed::Known(e)) => e,
            Ok(Parsed::Opaque { .. }) => continue,
            Err(_) => {
                refused.push(index);
                continue;
            }
        };
        if let Some(party) = entry.data.party()
            && !parties.is_empty()
            && !parties.contains(&party.to_string())
        {
            refused.push(index);
            continue;
        }
        match entry.data {
            EntryData::Location(l) => {
                locations.insert((l.party().to_string(), l.id.as_str().to_owned()), *l);
            }
            EntryData::LocationRemoved(r) => {
                locations.remove(&(r.party().to_string(), r.id.as_str().to_owned()));
            }
            EntryData::EvseStatus(s) => {
                let party = evfed_spec::ids::Party::new(s.country_code, s.party_id);
                let key = (party.to_string(), s.location_id.as_str().to_owned());
                let Some(loc) = locations.get_mut(&key) else {
                    refused.push(index);
                    continue;
                };
                let Some(evse) = loc.evses.iter_mut().find(|e| e.uid == s.evse_uid) else {
                    refused.push(index);
                    continue;
                };
                // §6.4: each `last_updated` raised to the event time when later.
                evse.status = s.status;
                evse.last_updated = evse.last_updated.max(s.event_time);
                loc.last_updated = loc.last_updated.max(s.event_time);
            }
            EntryData::KeyRotation(k) => {
                let previous: Option<VerifierKey> = k.previous_vkey.parse().ok();
                let trusted = previous.is_some_and(|p| {
                    keys.iter()
                        .any(|t| t.id() == p.id() && t.public_key() == p.public_key())
                });
                match k.vkey.parse::<VerifierKey>() {
                    Ok(new) if trusted && new.name() == origin => keys.insert(0, new),
                    _ => refused.push(index),
                }
            }
            EntryData::Tariff(_) | EntryData::TariffRemoved(_) | EntryData::Session(_) => {}
        }
    }
    Replay {
        copies: locations
            .into_iter()
            .map(|(k, l)| (k, serde_json::to_value(&l).unwrap()))
            .collect(),
        refused,
        keys: keys.iter().map(ToString::to_string).collect(),
    }
}

/// Waits until the aggregator's own log, verified with its key, publishes the copies `view`
/// holds (place, address and statuses) and no other location of `parties`.
fn own_log_publishes(agg: &Server, origin: &str, parties: &[String], view: &Copies) {
    let vkey: VerifierKey = agg.json("/.well-known/evfed")["vkeys"][0]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let want: BTreeMap<_, _> = view.iter().map(|(k, v)| (k.clone(), gist(v))).collect();
    wait_until(
        &format!("the aggregator's own log publishes what it holds of {origin}"),
        WITHIN,
        || {
            let published = own_log(agg, &vkey);
            let got: BTreeMap<_, _> = published
                .iter()
                .filter(|((p, _), _)| parties.contains(p))
                .map(|(k, v)| (k.clone(), gist(v)))
                .collect();
            if got == want {
                Ok(())
            } else {
                Err(format!("{got:?}, not {want:?}"))
            }
        },
    );
}

/// What must agree between a member's copy and the aggregator's republished one.
fn gist(location: &Value) -> Value {
    serde_json::json!({
        "coordinates": location["coordinates"],
        "address": location["address"],
        "evses": location["evses"].as_array().unwrap().iter()
            .map(|e| serde_json::json!([e["uid"], e["status"]])).collect::<Vec<_>>(),
    })
}

/// The aggregator's own public log, verified (checkpoint with `vkey`, entries against its
/// root), replayed into its published locations.
fn own_log(agg: &Server, vkey: &VerifierKey) -> Copies {
    let note = reqwest::blocking::get(format!("{}/v1/log/checkpoint", agg.url))
        .unwrap()
        .bytes()
        .unwrap()
        .to_vec();
    let cp = Unverified::new(note)
        .verify_checkpoint(std::slice::from_ref(vkey))
        .unwrap();
    let Checkpoint {
        tree_size, root, ..
    } = cp.checkpoint().clone();
    let mut entries: Vec<Vec<u8>> = Vec::new();
    while (entries.len() as u64) < tree_size {
        let body = reqwest::blocking::get(format!(
            "{}/v1/log/entries?start={}&end={tree_size}",
            agg.url,
            entries.len()
        ))
        .unwrap()
        .bytes()
        .unwrap();
        entries.extend(
            body.split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .map(<[u8]>::to_vec),
        );
    }
    entries.truncate(usize::try_from(tree_size).unwrap());
    assert_eq!(
        MemoryTree::from_entries(&entries).root(),
        root,
        "the aggregator's entries reproduce its signed root"
    );
    replay(&entries, &[], &vkey.to_string()).copies
}
