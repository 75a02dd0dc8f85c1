//! What the OCPI receiver keeps: credentials (one per party; tokens only as SHA-256 hashes),
//! and the OCPI state of pushed sessions and CDRs (their allow-listed usage records, never
//! what the sender sent).
//!
//! Each call is one statement; like every write, it is atomic with the rest of its
//! [`super::Store::write`] and durable once that returns.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Reader, StoreError, Tx};

/// One party's OCPI credential as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRow {
    /// `CC*PID`.
    pub party: String,
    /// SHA-256 of the unused registration token (A).
    pub pending_hash: Option<Vec<u8>>,
    pub pending_expires_ms: Option<i64>,
    /// SHA-256 of the token the node issued (C); `None` until the first handshake.
    pub token_hash: Option<Vec<u8>>,
    /// The client's versions URL, from its credentials.
    pub client_url: Option<String>,
    /// The client's credentials roles (JSON), as sent.
    pub client_roles: Option<String>,
    pub created_ms: i64,
    pub registered_ms: Option<i64>,
    pub updated_ms: i64,
}

/// What a completed handshake stores.
#[derive(Debug)]
pub struct Handshake<'a> {
    pub party: &'a str,
    /// SHA-256 of the node's new token (C).
    pub token_hash: &'a [u8],
    /// SHA-256 of the client's token (B).
    pub client_token_hash: &'a [u8],
    pub client_url: &'a str,
    pub client_roles: &'a str,
    pub now_ms: i64,
}

/// A pushed session's state: its last OCPI status and currency, and its usage record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcpiSessionRow {
    pub status: String,
    pub currency: Option<String>,
    /// The usage record (JSON), whether or not its status let it be logged.
    pub usage: Vec<u8>,
}

/// A pushed CDR: which usage record it gave, and that record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcpiCdrRow {
    pub session_id: String,
    pub credit: bool,
    pub last_updated: String,
    pub usage: Vec<u8>,
}

const CREDENTIAL_COLUMNS: &str = "party, pending_hash, pending_expires_ms, token_hash, client_url, \
     client_roles, created_ms, registered_ms, updated_ms";

impl Tx<'_> {
    /// Gives `party` a new registration token (its hash), valid until `expires_ms`. An existing
    /// credential of the party keeps its token C until a handshake with the new token A.
    pub fn put_ocpi_registration(
        &mut self,
        party: &str,
        pending_hash: &[u8],
        expires_ms: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT INTO ocpi_credential (party, pending_hash, pending_expires_ms, created_ms, updated_ms)
                 VALUES (?1, ?2, ?3, ?4, ?4)
                 ON CONFLICT (party) DO UPDATE SET pending_hash = ?2, pending_expires_ms = ?3,
                   updated_ms = ?4",
            )?
            .execute(params![party, pending_hash, expires_ms, now_ms])?;
        Ok(())
    }

    /// The credential one of whose tokens (A or C) hashes to `hash`.
    pub fn ocpi_credential_by_hash(
        &self,
        hash: &[u8],
    ) -> Result<Option<CredentialRow>, StoreError> {
        by_hash(&self.tx, hash)
    }

    /// Records a handshake: the new token C, the client's token B and URL; token A is spent.
    pub fn complete_ocpi_handshake(&mut self, h: &Handshake<'_>) -> Result<bool, StoreError> {
        let n = self
            .tx
            .prepare_cached(
                "UPDATE ocpi_credential SET token_hash = ?2, pending_hash = NULL,
                   pending_expires_ms = NULL, client_token_hash = ?3, client_url = ?4,
                   client_roles = ?5, registered_ms = ?6, updated_ms = ?6
                 WHERE party = ?1",
            )?
            .execute(params![
                h.party,
                h.token_hash,
                h.client_token_hash,
                h.client_url,
                h.client_roles,
                h.now_ms
            ])?;
        Ok(n > 0)
    }

    /// Removes a party's credential (both tokens); false when there was none.
    pub fn delete_ocpi_credential(&mut self, party: &str) -> Result<bool, StoreError> {
        let n = self
            .tx
            .prepare_cached("DELETE FROM ocpi_credential WHERE party = ?1")?
            .execute(params![party])?;
        Ok(n > 0)
    }

    pub fn ocpi_session(
        &self,
        party: &str,
        id: &str,
    ) -> Result<Option<OcpiSessionRow>, StoreError> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT status, currency, usage FROM ocpi_session WHERE party = ?1 AND id = ?2",
            )?
            .query_row(params![party, id], |r| {
                Ok(OcpiSessionRow {
                    status: r.get(0)?,
                    currency: r.get(1)?,
                    usage: r.get(2)?,
                })
            })
            .optional()?)
    }

    pub fn put_ocpi_session(
        &mut self,
        party: &str,
        id: &str,
        row: &OcpiSessionRow,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT INTO ocpi_session (party, id, status, currency, usage, updated_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (party, id) DO UPDATE SET status = ?3, currency = ?4, usage = ?5,
                   updated_ms = ?6",
            )?
            .execute(params![
                party,
                id,
                row.status,
                row.currency,
                row.usage,
                now_ms
            ])?;
        Ok(())
    }

    pub fn ocpi_cdr(&self, party: &str, id: &str) -> Result<Option<OcpiCdrRow>, StoreError> {
        cdr(&self.tx, party, id)
    }

    /// Whether a (non-credit) CDR of `party` gave the usage record `session_id`.
    pub fn ocpi_session_has_cdr(&self, party: &str, session_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT 1 FROM ocpi_cdr WHERE party = ?1 AND session_id = ?2 AND credit = 0",
            )?
            .exists(params![party, session_id])?)
    }

    pub fn put_ocpi_cdr(
        &mut self,
        party: &str,
        id: &str,
        row: &OcpiCdrRow,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT INTO ocpi_cdr (party, id, session_id, credit, last_updated, usage, received_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                party,
                id,
                row.session_id,
                row.credit,
                row.last_updated,
                row.usage,
                now_ms
            ])?;
        Ok(())
    }
}

impl Reader<'_> {
    /// The credential one of whose tokens (A or C) hashes to `hash`.
    pub fn ocpi_credential_by_hash(
        &self,
        hash: &[u8],
    ) -> Result<Option<CredentialRow>, StoreError> {
        by_hash(self.conn, hash)
    }

    /// Every credential, by party.
    pub fn ocpi_credentials(&self) -> Result<Vec<CredentialRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM ocpi_credential ORDER BY party"
        ))?;
        let rows = stmt.query_map([], credential)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn ocpi_cdr(&self, party: &str, id: &str) -> Result<Option<OcpiCdrRow>, StoreError> {
        cdr(self.conn, party, id)
    }
}

fn by_hash(conn: &Connection, hash: &[u8]) -> Result<Option<CredentialRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM ocpi_credential
             WHERE pending_hash = ?1 OR token_hash = ?1"
        ))?
        .query_row(params![hash], credential)
        .optional()?)
}

fn credential(r: &Row<'_>) -> rusqlite::Result<CredentialRow> {
    Ok(CredentialRow {
        party: r.get(0)?,
        pending_hash: r.get(1)?,
        pending_expires_ms: r.get(2)?,
        token_hash: r.get(3)?,
        client_url: r.get(4)?,
        client_roles: r.get(5)?,
        created_ms: r.get(6)?,
        registered_ms: r.get(7)?,
        updated_ms: r.get(8)?,
    })
}

fn cdr(conn: &Connection, party: &str, id: &str) -> Result<Option<OcpiCdrRow>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT session_id, credit, last_updated, usage FROM ocpi_cdr
             WHERE party = ?1 AND id = ?2",
        )?
        .query_row(params![party, id], |r| {
            Ok(OcpiCdrRow {
                session_id: r.get(0)?,
                credit: r.get(1)?,
                last_updated: r.get(2)?,
                usage: r.get(3)?,
            })
        })
        .optional()?)
}

#[cfg(test)]
mod tests {
    use crate::store::Store;

    use super::*;

    #[test]
    fn credentials_are_found_by_either_token_hash_and_replaced_per_party() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(&dir.path().join("evfed.db")).unwrap();
        let find = |h: &[u8]| store.read(|r| r.ocpi_credential_by_hash(h)).unwrap();
        store
            .write(|tx| tx.put_ocpi_registration("GB*ABC", b"a1", 100, 1))
            .unwrap();
        assert_eq!(find(b"a1").unwrap().party, "GB*ABC");
        let done = store
            .write(|tx| {
                tx.complete_ocpi_handshake(&Handshake {
                    party: "GB*ABC",
                    token_hash: b"c1",
                    client_token_hash: b"b1",
                    client_url: "https://cpo.example/ocpi/versions",
                    client_roles: "[]",
                    now_ms: 2,
                })
            })
            .unwrap();
        assert!(done);
        assert!(find(b"a1").is_none(), "token A is spent");
        let row = find(b"c1").unwrap();
        assert_eq!((row.registered_ms, row.pending_hash), (Some(2), None));
        // A new registration keeps C working until its own handshake.
        store
            .write(|tx| tx.put_ocpi_registration("GB*ABC", b"a2", 100, 3))
            .unwrap();
        assert_eq!(
            find(b"c1").unwrap().pending_hash.as_deref(),
            Some(&b"a2"[..])
        );
        assert!(find(b"b1").is_none(), "the client's token is not ours");
        assert!(
            store
                .write(|tx| tx.delete_ocpi_credential("GB*ABC"))
                .unwrap()
        );
        assert!(find(b"c1").is_none() && find(b"a2").is_none());
        assert!(store.read(|r| r.ocpi_credentials()).unwrap().is_empty());
    }
}
