//! The OAuth 2.0 clients of the aggregator's authorization server (`crate::oauth`): their
//! scopes, party, audiences and credential — a SHA-256 of the secret or an Ed25519 public key,
//! never a secret itself.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, json};
use crate::oauth::{Client, Credential};

impl Store {
    /// Registers `client`; [`StoreError::Duplicate`] when its id is taken. Atomic and durable.
    pub fn add_client(&self, client: &Client) -> Result<(), StoreError> {
        let conn = self.conn()?;
        let (secret, key) = match &client.credential {
            Credential::SecretSha256(h) => (Some(h.to_vec()), None),
            Credential::Ed25519(k) => (None, Some(k.to_vec())),
        };
        let added = conn.execute(
            "INSERT INTO oauth_client (id, scopes, party, audiences, secret_sha256, ed25519,
                                       created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO NOTHING",
            params![
                client.id,
                json(&client.scopes)?,
                client.party,
                json(&client.audiences)?,
                secret,
                key,
                client.created_ms
            ],
        )?;
        if added == 0 {
            return Err(StoreError::Duplicate(format!("client {}", client.id)));
        }
        Ok(())
    }

    /// The client `id`, if registered.
    pub fn client(&self, id: &str) -> Result<Option<Client>, StoreError> {
        let conn = self.conn()?;
        let row = conn
            .prepare_cached(
                "SELECT id, scopes, party, audiences, secret_sha256, ed25519, created_ms
                 FROM oauth_client WHERE id = ?1",
            )?
            .query_row([id], ClientRow::read)
            .optional()?;
        row.map(ClientRow::into_client).transpose()
    }

    /// Every client, by id.
    pub fn clients(&self) -> Result<Vec<Client>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT id, scopes, party, audiences, secret_sha256, ed25519, created_ms
             FROM oauth_client ORDER BY id",
        )?;
        let rows = stmt.query_map([], ClientRow::read)?;
        rows.map(|r| r.map_err(StoreError::from).and_then(ClientRow::into_client))
            .collect()
    }

    /// Removes the client `id`; tokens it already holds stay valid until they expire.
    pub fn remove_client(&self, id: &str) -> Result<bool, StoreError> {
        let conn = self.conn()?;
        Ok(conn.execute("DELETE FROM oauth_client WHERE id = ?1", [id])? > 0)
    }
}

struct ClientRow {
    id: String,
    scopes: String,
    party: Option<String>,
    audiences: String,
    secret: Option<Vec<u8>>,
    key: Option<Vec<u8>>,
    created_ms: i64,
}

impl ClientRow {
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            scopes: r.get(1)?,
            party: r.get(2)?,
            audiences: r.get(3)?,
            secret: r.get(4)?,
            key: r.get(5)?,
            created_ms: r.get(6)?,
        })
    }

    fn into_client(self) -> Result<Client, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("client {}: {what}", self.id));
        let bytes32 = |b: &[u8]| <[u8; 32]>::try_from(b).map_err(|_| corrupt("credential"));
        let credential = match (&self.secret, &self.key) {
            (Some(h), None) => Credential::SecretSha256(bytes32(h)?),
            (None, Some(k)) => Credential::Ed25519(bytes32(k)?),
            _ => return Err(corrupt("credential")),
        };
        Ok(Client {
            scopes: serde_json::from_str(&self.scopes).map_err(|_| corrupt("scopes"))?,
            audiences: serde_json::from_str(&self.audiences).map_err(|_| corrupt("audiences"))?,
            id: self.id,
            party: self.party,
            credential,
            created_ms: self.created_ms,
        })
    }
}
