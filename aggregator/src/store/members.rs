//! Members: registration, removal, re-admission under new keys (with their earlier identities
//! kept in `member_history`), and where each member's two harvests stand (state and cursor).

use evfed_spec::ext::GssCode;
use evfed_spec::ids::Party;
use evfed_spec::merkle::{Frontier, Hash};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{Store, StoreError, compliance, json};

/// A member kind.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    serde::Deserialize,
    clap::ValueEnum,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Borough,
    Cpo,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Borough => "borough",
            Kind::Cpo => "cpo",
        }
    }
}

/// A member's harvest state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Registered, never harvested.
    New,
    Ok,
    Unreachable,
    /// Answers, but with an older checkpoint than the one accepted.
    Stale,
    /// Bad signature, unknown key, altered entries, garbage.
    Invalid,
    /// Two validly signed, inconsistent checkpoints: no further entries until an admin acts.
    Forked,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::New => "new",
            State::Ok => "ok",
            State::Unreachable => "unreachable",
            State::Stale => "stale",
            State::Invalid => "invalid",
            State::Forked => "forked",
        }
    }
    fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "new" => State::New,
            "ok" => State::Ok,
            "unreachable" => State::Unreachable,
            "stale" => State::Stale,
            "invalid" => State::Invalid,
            "forked" => State::Forked,
            other => return Err(StoreError::Corrupt(format!("member state {other:?}"))),
        })
    }
}

/// A registered member and where its harvest stands.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Member {
    pub origin: String,
    pub url: String,
    pub kind: Kind,
    pub parties: Vec<Party>,
    pub borough: Option<GssCode>,
    pub supplier: Option<String>,
    #[serde(skip)]
    #[schema(ignore)]
    pub usage_token: Option<String>,
    pub vkeys: Vec<String>,
    pub state: State,
    pub reason: Option<String>,
    /// Entries of the member's public log verified and applied.
    pub verified_size: u64,
    #[serde(skip)]
    #[schema(ignore)]
    pub frontier: Frontier,
    #[serde(skip)]
    #[schema(ignore)]
    pub checkpoint: Option<Vec<u8>>,
    pub checked_ms: Option<i64>,
    pub ok_ms: Option<i64>,
    /// The harvest of the member's restricted (usage) log: `None` until it first ran.
    pub usage: Option<UsageCursor>,
}

/// Where the harvest of a member's restricted log stands.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UsageCursor {
    pub state: State,
    pub reason: Option<String>,
    pub verified_size: u64,
    #[serde(skip)]
    #[schema(ignore)]
    pub frontier: Frontier,
    #[serde(skip)]
    #[schema(ignore)]
    pub checkpoint: Option<Vec<u8>>,
}

impl Member {
    /// Whether the member may publish records of `party` ([] = any party).
    pub fn may_publish(&self, party: &Party) -> bool {
        self.parties.is_empty() || self.parties.contains(party)
    }
}

/// What to register.
#[derive(Debug, Clone)]
pub struct NewMember {
    pub origin: String,
    pub url: String,
    pub kind: Kind,
    pub parties: Vec<Party>,
    pub borough: Option<GssCode>,
    pub supplier: Option<String>,
    pub usage_token: Option<String>,
    pub vkeys: Vec<String>,
}

/// An administrator's re-admission of a member under new keys.
#[derive(Debug, Clone)]
pub struct Readmission {
    /// The member's new origin, when it changed.
    pub origin: Option<String>,
    pub url: Option<String>,
    /// The new pinned verifier keys.
    pub vkeys: Vec<String>,
    /// Why, in the administrator's words (kept in the history).
    pub reason: String,
}

/// One earlier identity of a member.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    pub old_origin: String,
    pub old_vkeys: Vec<String>,
    pub old_verified_size: u64,
    /// The last checkpoint verified under the old identity, as received.
    pub checkpoint: Option<String>,
    pub reason: String,
    pub at_ms: i64,
}

impl Store {
    /// Registers a member, new and never harvested. `Duplicate` when its origin is taken.
    pub fn add_member(&self, m: &NewMember) -> Result<(), StoreError> {
        let conn = self.conn()?;
        let exists = conn
            .prepare_cached("SELECT 1 FROM member WHERE origin = ?1")?
            .exists([&m.origin])?;
        if exists {
            return Err(StoreError::Duplicate(m.origin.clone()));
        }
        conn.execute(
            "INSERT INTO member (origin, url, kind, parties, borough, supplier, usage_token, vkeys,
                                 state, size, frontier)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'new', 0, x'')",
            params![
                m.origin,
                m.url,
                m.kind.as_str(),
                json(&m.parties)?,
                m.borough.as_ref().map(GssCode::as_str),
                m.supplier,
                m.usage_token,
                json(&m.vkeys)?,
            ],
        )?;
        Ok(())
    }

    /// Removes a member and every copy it published.
    pub fn remove_member(&self, origin: &str) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        let n = tx.execute("DELETE FROM member WHERE origin = ?1", [origin])?;
        if n == 0 {
            return Err(StoreError::NoMember(origin.into()));
        }
        tx.execute("DELETE FROM location_copy WHERE origin = ?1", [origin])?;
        tx.execute("DELETE FROM tariff_copy WHERE origin = ?1", [origin])?;
        tx.execute("DELETE FROM member_leaves WHERE origin = ?1", [origin])?;
        tx.commit()?;
        Ok(())
    }

    /// Re-admits a member that moved to a new key (and possibly origin and URL) after a
    /// disaster, in one transaction: what it was is kept in `member_history` and as evidence,
    /// its copies are dropped, and its harvest starts again from an empty log under the new
    /// keys. Only an administrator calls this; the harvest never does.
    pub fn readmit(&self, origin: &str, r: &Readmission, now_ms: i64) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        let old: Option<(String, i64, Option<Vec<u8>>)> = tx
            .query_row(
                "SELECT vkeys, size, checkpoint FROM member WHERE origin = ?1",
                [origin],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()?;
        let Some((old_vkeys, old_size, checkpoint)) = old else {
            return Err(StoreError::NoMember(origin.into()));
        };
        let new_origin = r.origin.as_deref().unwrap_or(origin);
        if new_origin != origin
            && tx
                .prepare_cached("SELECT 1 FROM member WHERE origin = ?1")?
                .exists([new_origin])?
        {
            return Err(StoreError::Duplicate(new_origin.into()));
        }
        tx.execute(
            "INSERT INTO member_history (origin, old_origin, old_vkeys, old_size, checkpoint,
                                         reason, at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                new_origin, origin, old_vkeys, old_size, checkpoint, r.reason, now_ms
            ],
        )?;
        tx.execute(
            "INSERT INTO evidence (origin, kind, detail, note, at_ms)
             VALUES (?1, 'readmitted', ?2, ?3, ?4)",
            params![
                origin,
                format!(
                    "re-admitted by an administrator as {new_origin} with new keys after \
                     {old_size} verified entries under {old_vkeys}: {}",
                    r.reason
                ),
                checkpoint,
                now_ms
            ],
        )?;
        tx.execute("DELETE FROM location_copy WHERE origin = ?1", [origin])?;
        tx.execute("DELETE FROM tariff_copy WHERE origin = ?1", [origin])?;
        // The harvest starts again from an empty log, and so do its leaves.
        tx.execute("DELETE FROM member_leaves WHERE origin = ?1", [origin])?;
        tx.execute(
            "UPDATE evidence SET origin = ?2 WHERE origin = ?1",
            [origin, new_origin],
        )?;
        tx.execute(
            "UPDATE member SET origin = ?2, url = COALESCE(?3, url), vkeys = ?4, state = 'new',
                    reason = NULL, size = 0, frontier = x'', checkpoint = NULL,
                    usage_state = NULL, usage_reason = NULL, usage_size = 0,
                    usage_frontier = x'', usage_checkpoint = NULL
             WHERE origin = ?1",
            params![origin, new_origin, r.url, json(&r.vkeys)?],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// A member's earlier identities, newest first.
    pub fn history(&self, origin: &str) -> Result<Vec<HistoryEntry>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT old_origin, old_vkeys, old_size, checkpoint, reason, at_ms
             FROM member_history WHERE origin = ?1 ORDER BY id DESC",
        )?;
        let rows = stmt.query_map([origin], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<Vec<u8>>>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (old_origin, vkeys, size, checkpoint, reason, at_ms) = row?;
            out.push(HistoryEntry {
                old_origin,
                old_vkeys: serde_json::from_str(&vkeys)
                    .map_err(|_| StoreError::Corrupt(format!("history of {origin}: vkeys")))?,
                old_verified_size: size as u64,
                checkpoint: checkpoint.map(|b| String::from_utf8_lossy(&b).into_owned()),
                reason,
                at_ms,
            });
        }
        Ok(out)
    }

    pub fn members(&self) -> Result<Vec<Member>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT origin, url, kind, parties, borough, supplier, usage_token, vkeys, state,
                    reason, size, frontier, checkpoint, checked_ms, ok_ms,
                    usage_state, usage_reason, usage_size, usage_frontier, usage_checkpoint
             FROM member ORDER BY origin",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                (
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ),
                (
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, String>(7)?,
                    r.get::<_, String>(8)?,
                    r.get::<_, Option<String>>(9)?,
                ),
                (
                    r.get::<_, i64>(10)?,
                    r.get::<_, Vec<u8>>(11)?,
                    r.get::<_, Option<Vec<u8>>>(12)?,
                    r.get::<_, Option<i64>>(13)?,
                    r.get::<_, Option<i64>>(14)?,
                ),
                (
                    r.get::<_, Option<String>>(15)?,
                    r.get::<_, Option<String>>(16)?,
                    r.get::<_, i64>(17)?,
                    r.get::<_, Vec<u8>>(18)?,
                    r.get::<_, Option<Vec<u8>>>(19)?,
                ),
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (
                (origin, url, kind, parties, borough),
                (supplier, usage_token, vkeys, state, reason),
                (size, frontier, checkpoint, checked_ms, ok_ms),
                (u_state, u_reason, u_size, u_frontier, u_checkpoint),
            ) = row?;
            let size = size as u64;
            let corrupt = |what: &str| StoreError::Corrupt(format!("member {origin}: {what}"));
            let frontier_of = |size: u64, bytes: &[u8]| {
                let hashes = bytes
                    .chunks(32)
                    .map(Hash::from_slice)
                    .collect::<Option<Vec<_>>>()?;
                Frontier::from_parts(size, hashes)
            };
            let usage = match u_state {
                None => None,
                Some(state) => Some(UsageCursor {
                    state: State::parse(&state)?,
                    reason: u_reason,
                    verified_size: u_size as u64,
                    frontier: frontier_of(u_size as u64, &u_frontier)
                        .ok_or_else(|| corrupt("usage frontier"))?,
                    checkpoint: u_checkpoint,
                }),
            };
            out.push(Member {
                kind: match kind.as_str() {
                    "borough" => Kind::Borough,
                    "cpo" => Kind::Cpo,
                    _ => return Err(corrupt("kind")),
                },
                parties: serde_json::from_str(&parties).map_err(|_| corrupt("parties"))?,
                borough: borough
                    .map(|b| b.parse())
                    .transpose()
                    .map_err(|_| corrupt("borough"))?,
                supplier,
                usage_token,
                vkeys: serde_json::from_str(&vkeys).map_err(|_| corrupt("vkeys"))?,
                state: State::parse(&state)?,
                reason,
                verified_size: size,
                frontier: frontier_of(size, &frontier).ok_or_else(|| corrupt("frontier"))?,
                checkpoint,
                checked_ms,
                ok_ms,
                usage,
                url,
                origin,
            });
        }
        Ok(out)
    }

    pub fn member(&self, origin: &str) -> Result<Member, StoreError> {
        self.members()?
            .into_iter()
            .find(|m| m.origin == origin)
            .ok_or_else(|| StoreError::NoMember(origin.into()))
    }

    /// Records a harvest outcome that applied nothing.
    pub fn set_state(
        &self,
        origin: &str,
        state: State,
        reason: Option<&str>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        tx.prepare_cached(
            "UPDATE member SET state = ?2, reason = ?3, checked_ms = ?4,
                    ok_ms = CASE WHEN ?2 = 'ok' THEN ?4 ELSE ok_ms END
             WHERE origin = ?1",
        )?
        .execute(params![origin, state.as_str(), reason, now_ms])?;
        compliance::count_harvest(&tx, origin, now_ms, state == State::Ok)?;
        tx.commit()?;
        Ok(())
    }

    /// Records the outcome of a usage harvest that applied nothing more.
    pub fn set_usage_state(
        &self,
        origin: &str,
        state: State,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        let conn = self.conn()?;
        conn.prepare_cached(
            "UPDATE member SET usage_state = ?2, usage_reason = ?3 WHERE origin = ?1",
        )?
        .execute(params![origin, state.as_str(), reason])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::fixtures::{member, store};

    /// What is registered reads back field by field; a second registration of the origin, and
    /// anything about an origin never registered, is an error naming it.
    #[test]
    fn a_member_reads_back_as_registered_and_errors_name_the_origin() {
        let (_dir, store) = store();
        let mut m = member("b.example");
        m.kind = Kind::Borough;
        m.borough = Some("E09000007".parse().unwrap());
        m.usage_token = Some("secret".into());
        store.add_member(&m).unwrap();
        store.add_member(&member("a.example")).unwrap();
        let all = store.members().unwrap();
        assert_eq!(
            all.iter().map(|m| m.origin.as_str()).collect::<Vec<_>>(),
            ["a.example", "b.example"],
            "ordered by origin"
        );
        let b = store.member("b.example").unwrap();
        assert_eq!(b.url, "https://b.example");
        assert_eq!(b.kind, Kind::Borough);
        assert_eq!(b.borough.as_ref().map(GssCode::as_str), Some("E09000007"));
        assert_eq!(b.parties, m.parties);
        assert_eq!(b.supplier.as_deref(), Some("acme"));
        assert_eq!(b.usage_token.as_deref(), Some("secret"));
        assert_eq!(b.vkeys, m.vkeys);
        assert_eq!((b.state, b.verified_size), (State::New, 0));
        assert_eq!(b.frontier.size(), 0);
        assert!(b.checkpoint.is_none() && b.usage.is_none() && b.checked_ms.is_none());
        assert!(b.may_publish(&"GB*AAA".parse().unwrap()));
        assert!(!b.may_publish(&"GB*BBB".parse().unwrap()));

        match store.add_member(&member("b.example")) {
            Err(StoreError::Duplicate(o)) => assert_eq!(o, "b.example"),
            other => panic!("registered twice: {other:?}"),
        }
        for err in [
            store.member("c.example").unwrap_err(),
            store.remove_member("c.example").unwrap_err(),
            store
                .readmit("c.example", &readmission(None), 1)
                .unwrap_err(),
        ] {
            assert!(
                matches!(&err, StoreError::NoMember(o) if o == "c.example"),
                "{err:?}"
            );
        }
        store.remove_member("a.example").unwrap();
        assert_eq!(store.members().unwrap().len(), 1);
        assert!(matches!(
            store.remove_member("a.example"),
            Err(StoreError::NoMember(_))
        ));
    }

    /// A harvest outcome moves the state, and `ok_ms` only when it is ok; each attempt is
    /// counted for the availability indicator. The usage cursor has its own state.
    #[test]
    fn states_record_outcomes_and_count_attempts() {
        let (_dir, store) = store();
        store.add_member(&member("a.example")).unwrap();
        store
            .set_state("a.example", State::Ok, None, 1_000)
            .unwrap();
        store
            .set_state("a.example", State::Unreachable, Some("refused"), 2_000)
            .unwrap();
        let a = store.member("a.example").unwrap();
        assert_eq!(a.state, State::Unreachable);
        assert_eq!(a.reason.as_deref(), Some("refused"));
        assert_eq!((a.checked_ms, a.ok_ms), (Some(2_000), Some(1_000)));
        let counted = store.availability(&["a.example".into()], 0).unwrap();
        assert_eq!((counted.attempts, counted.ok), (2, 1));

        store
            .set_usage_state("a.example", State::Invalid, Some("bad token"))
            .unwrap();
        let usage = store.member("a.example").unwrap().usage.unwrap();
        assert_eq!(usage.state, State::Invalid);
        assert_eq!(usage.reason.as_deref(), Some("bad token"));
        assert_eq!(usage.verified_size, 0);
        assert_eq!(store.member("a.example").unwrap().state, State::Unreachable);
    }

    fn readmission(origin: Option<&str>) -> Readmission {
        Readmission {
            origin: origin.map(Into::into),
            url: Some("https://new.example".into()),
            vkeys: vec!["new-key".into()],
            reason: "lost its key".into(),
        }
    }

    /// Re-admission keeps the old identity in the history and as evidence (which moves with
    /// the member), drops its copies and starts it again from nothing; it cannot take an
    /// origin another member holds.
    #[test]
    fn readmission_keeps_the_old_identity_and_starts_again() {
        let (_dir, store) = store();
        store.add_member(&member("old.example")).unwrap();
        store.add_member(&member("taken.example")).unwrap();
        store
            .set_state("old.example", State::Forked, Some("fork"), 5)
            .unwrap();
        match store.readmit("old.example", &readmission(Some("taken.example")), 9) {
            Err(StoreError::Duplicate(o)) => assert_eq!(o, "taken.example"),
            other => panic!("took another member's origin: {other:?}"),
        }
        store.conn().unwrap().execute(
            "INSERT INTO location_copy (origin, party, id, body) VALUES ('old.example', 'GB*AAA', 'L1', x'7b7d')",
            [],
        )
        .unwrap();
        store
            .readmit("old.example", &readmission(Some("new.example")), 10)
            .unwrap();
        assert!(matches!(
            store.member("old.example"),
            Err(StoreError::NoMember(_))
        ));
        let m = store.member("new.example").unwrap();
        assert_eq!((m.state, m.reason.as_deref()), (State::New, None));
        assert_eq!(m.url, "https://new.example");
        assert_eq!(m.vkeys, ["new-key"]);
        let history = store.history("new.example").unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].old_origin, "old.example");
        assert_eq!(history[0].old_vkeys, member("old.example").vkeys);
        assert_eq!(
            (history[0].reason.as_str(), history[0].at_ms),
            ("lost its key", 10)
        );
        let evidence = store.evidence("new.example", 10).unwrap();
        assert_eq!(evidence[0].kind, "readmitted");
        assert!(store.evidence("old.example", 10).unwrap().is_empty());
        assert_eq!(
            store.location_copy("old.example", "GB*AAA", "L1").unwrap(),
            None
        );
        assert!(store.location_copies().unwrap().is_empty());
    }

    /// A row this binary would never write is `Corrupt`, naming the member and the field,
    /// not a panic or a silent default.
    #[test]
    fn a_corrupt_row_is_an_error() {
        let (_dir, store) = store();
        store.add_member(&member("a.example")).unwrap();
        for (set, what) in [
            ("kind = 'plane'", "kind"),
            ("kind = 'cpo', state = 'sleepy'", "state"),
            ("state = 'ok', parties = 'not json'", "parties"),
            ("parties = '[]', frontier = x'0102'", "frontier"),
        ] {
            store
                .conn()
                .unwrap()
                .execute(&format!("UPDATE member SET {set}"), [])
                .unwrap();
            match store.members() {
                Err(StoreError::Corrupt(why)) => assert!(why.contains(what), "{why}"),
                other => panic!("{set}: {other:?}"),
            }
        }
    }
}
