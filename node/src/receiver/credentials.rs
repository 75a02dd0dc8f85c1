//! OCPI 2.2.1 credentials (OCPI §7) for the receiver: a registration token (A) made by
//! `evfed-node ocpi register` for one party, the handshake in which the operator's platform
//! sends its own credentials (token B, its versions URL, its roles) with token A and receives
//! the node's token (C), rotation (`PUT`) and unregistration (`DELETE`).
//!
//! Tokens are 256-bit random values, shown once and stored only as SHA-256 hashes; the node
//! keeps the client's token B as a hash too (it makes no calls to the client). Each credential
//! is bound to the one party it was registered for.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use evfed_spec::ids::Party;
use evfed_spec::time::DateTime;
use rand::RngCore as _;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::domain::Error;
use crate::domain::records::Policy;
use crate::store::{CredentialRow, Handshake, Store};

/// How long a registration token is valid unless said otherwise.
pub const DEFAULT_TTL: Duration = Duration::from_secs(7 * 86_400);

/// The longest a registration token may be valid.
pub const MAX_TTL: Duration = Duration::from_secs(90 * 86_400);

/// OCPI's limit on a credentials token: string(64).
const MAX_TOKEN_LEN: usize = 64;

/// OCPI's limit on a URL: string(255).
const MAX_URL_LEN: usize = 255;

/// A token in clear: shown once, never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

/// A new registration: token A for `party`, valid until `expires_at`.
#[derive(Debug, Clone)]
pub struct Registration {
    pub party: Party,
    pub token: Token,
    pub expires_at: DateTime,
}

/// How far a credential's presented token has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Token A: good for the credentials handshake (`POST`) only.
    Pending,
    /// Token C: good for the receiver modules and `GET`/`PUT`/`DELETE` of credentials.
    Registered,
}

/// Whose token was presented, and which of its tokens it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub party: Party,
    pub stage: Stage,
}

/// The client's credentials as checked: what the node keeps of them.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    token_hash: [u8; 32],
    url: String,
    roles: String,
}

/// A credential as `ocpi list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialInfo {
    pub party: Party,
    /// An unused registration token, valid until then.
    pub pending_until: Option<DateTime>,
    /// The last completed handshake.
    pub registered_at: Option<DateTime>,
    /// The client's versions URL.
    pub client_url: Option<String>,
}

impl Token {
    /// A new random token: 32 bytes, base64url without padding (43 characters).
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }

    /// A token as presented by a client.
    pub fn presented(s: &str) -> Self {
        Self(s.to_owned())
    }

    /// The token in clear, to hand to its holder.
    pub fn expose(&self) -> &str {
        &self.0
    }

    fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Makes a registration token (A) for `party`, valid for `ttl`. A party that already holds a
/// credential keeps its token C until the handshake with the new token A replaces it.
pub fn register(
    store: &Store,
    policy: &Policy,
    party: &Party,
    ttl: Duration,
    now: DateTime,
) -> Result<Registration, Error> {
    policy.authorize(party, party)?;
    if ttl < Duration::from_secs(60) || ttl > MAX_TTL {
        return Err(Error::InvalidField(format!(
            "a registration token lives between 1 minute and {} days",
            MAX_TTL.as_secs() / 86_400
        )));
    }
    let token = Token::generate();
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    let expires_ms = now.unix_millis().saturating_add(ttl_ms);
    let expires_at = DateTime::from_unix_millis(expires_ms)
        .ok_or_else(|| Error::InvalidField("the expiry is out of range".into()))?;
    let key = party.to_string();
    store
        .write(|tx| tx.put_ocpi_registration(&key, &token.hash(), expires_ms, now.unix_millis()))?;
    Ok(Registration {
        party: party.clone(),
        token,
        expires_at,
    })
}

/// The credential `token` belongs to, if it is a valid token A or C.
pub fn authenticate(
    store: &Store,
    token: &Token,
    now: DateTime,
) -> Result<Option<Credential>, Error> {
    let hash = token.hash();
    let Some(row) = store.read(|r| r.ocpi_credential_by_hash(&hash))? else {
        return Ok(None);
    };
    match stage_of(&row, &hash, &now) {
        Some(stage) => Ok(Some(Credential {
            party: party_of(&row)?,
            stage,
        })),
        None => Ok(None),
    }
}

/// Checks a client's credentials object (OCPI §7.3.1) for a credential bound to `party`: a
/// token of at most 64 printable characters, an http(s) versions URL, and roles that include
/// `party`. An OCPI 2.1.1 object (party at the top, no `roles`) is taken as one role.
pub fn client_credentials(body: &[u8], party: &Party) -> Result<ClientCredentials, Error> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Error::InvalidJson(format!("body is not valid JSON: {e}")))?;
    let Value::Object(obj) = value else {
        return Err(Error::InvalidField(
            "the body must be a credentials object".into(),
        ));
    };
    let token = match obj.get("token") {
        Some(Value::String(t))
            if !t.is_empty()
                && t.len() <= MAX_TOKEN_LEN
                && t.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Token::presented(t)
        }
        _ => {
            return Err(Error::InvalidField(format!(
                "token: required, 1 to {MAX_TOKEN_LEN} printable ASCII characters"
            )));
        }
    };
    let url = match obj.get("url").and_then(Value::as_str) {
        Some(u)
            if u.len() <= MAX_URL_LEN
                && url::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) =>
        {
            u.to_owned()
        }
        _ => {
            return Err(Error::InvalidField(
                "url: required, the http(s) URL of the client's versions endpoint".into(),
            ));
        }
    };
    let roles = match obj.get("roles") {
        Some(Value::Array(roles)) if !roles.is_empty() => roles.clone(),
        None if obj.contains_key("party_id") => vec![obj.clone().into()],
        _ => {
            return Err(Error::InvalidField(
                "roles: required, at least one role with country_code and party_id".into(),
            ));
        }
    };
    let mut named = Vec::new();
    for (i, role) in roles.iter().enumerate() {
        let cc = role.get("country_code").and_then(Value::as_str);
        let pid = role.get("party_id").and_then(Value::as_str);
        let (Some(cc), Some(pid)) = (cc, pid) else {
            return Err(Error::InvalidField(format!(
                "roles[{i}]: country_code and party_id are required"
            )));
        };
        let p: Party = format!("{cc}*{pid}")
            .parse()
            .map_err(|e| Error::InvalidField(format!("roles[{i}]: {e}")))?;
        named.push(p);
    }
    if !named.contains(party) {
        let named: Vec<String> = named.iter().map(ToString::to_string).collect();
        return Err(Error::PartyMismatch(format!(
            "this credential is for party {party}; the credentials name {}",
            named.join(", ")
        )));
    }
    let roles = serde_json::to_string(&roles).map_err(|e| Error::Corrupt(e.to_string()))?;
    Ok(ClientCredentials {
        token_hash: token.hash(),
        url,
        roles,
    })
}

/// The handshake: `presented` (a token at `stage`, as authenticated) is exchanged for a new
/// token C, returned; the client's credentials are kept. Token A, or the previous token C, no
/// longer works afterwards.
pub fn handshake(
    store: &Store,
    presented: &Token,
    stage: Stage,
    client: &ClientCredentials,
    now: DateTime,
) -> Result<Token, Error> {
    let hash = presented.hash();
    let token = Token::generate();
    store.write(|tx| {
        let row = tx.ocpi_credential_by_hash(&hash)?;
        let Some(row) = row.filter(|r| stage_of(r, &hash, &now) == Some(stage)) else {
            return Err(Error::Conflict(
                "the token was used or revoked meanwhile; nothing was changed".into(),
            ));
        };
        tx.complete_ocpi_handshake(&Handshake {
            party: &row.party,
            token_hash: &token.hash(),
            client_token_hash: &client.token_hash,
            client_url: &client.url,
            client_roles: &client.roles,
            now_ms: now.unix_millis(),
        })?;
        Ok(())
    })?;
    Ok(token)
}

/// Removes `party`'s credential; false when it had none.
pub fn unregister(store: &Store, party: &Party) -> Result<bool, Error> {
    let key = party.to_string();
    Ok(store.write(|tx| tx.delete_ocpi_credential(&key))?)
}

/// Every credential, by party.
pub fn list(store: &Store) -> Result<Vec<CredentialInfo>, Error> {
    let rows = store.read(|r| r.ocpi_credentials())?;
    rows.iter()
        .map(|row| {
            Ok(CredentialInfo {
                party: party_of(row)?,
                pending_until: row
                    .pending_hash
                    .as_ref()
                    .and(row.pending_expires_ms)
                    .and_then(DateTime::from_unix_millis),
                registered_at: row
                    .token_hash
                    .as_ref()
                    .and(row.registered_ms)
                    .and_then(DateTime::from_unix_millis),
                client_url: row.client_url.clone(),
            })
        })
        .collect()
}

/// Which of `row`'s tokens hashes to `hash`; an expired token A is none.
fn stage_of(row: &CredentialRow, hash: &[u8], now: &DateTime) -> Option<Stage> {
    if row.token_hash.as_deref() == Some(hash) {
        return Some(Stage::Registered);
    }
    let live = row
        .pending_expires_ms
        .is_some_and(|t| now.unix_millis() < t);
    (row.pending_hash.as_deref() == Some(hash) && live).then_some(Stage::Pending)
}

fn party_of(row: &CredentialRow) -> Result<Party, Error> {
    row.party
        .parse()
        .map_err(|_| Error::Corrupt(format!("stored credential party {:?}", row.party)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Kind;

    fn setup() -> (tempfile::TempDir, Store, Policy) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(&dir.path().join("evfed.db")).unwrap();
        let policy = Policy {
            kind: Kind::Cpo,
            area: None,
            parties: vec!["GB*ABC".parse().unwrap(), "GB*XYZ".parse().unwrap()],
            areas: crate::domain::areas::NodeAreas::london(),
        };
        (dir, store, policy)
    }

    fn client(party: &str, token: &str) -> Vec<u8> {
        let (cc, pid) = party.split_once('*').unwrap();
        serde_json::to_vec(&serde_json::json!({
            "token": token, "url": "https://cpo.example/ocpi/versions",
            "roles": [{"role": "CPO", "country_code": cc, "party_id": pid,
                       "business_details": {"name": "Example"}}]
        }))
        .unwrap()
    }

    #[test]
    fn a_registration_token_is_exchanged_once_and_bound_to_its_party() {
        let (_dir, store, policy) = setup();
        let now: DateTime = "2026-11-22T06:00:00Z".parse().unwrap();
        let party: Party = "GB*ABC".parse().unwrap();
        assert!(matches!(
            register(
                &store,
                &policy,
                &"GB*NOP".parse().unwrap(),
                DEFAULT_TTL,
                now
            ),
            Err(Error::PartyMismatch(_))
        ));
        let reg = register(&store, &policy, &party, DEFAULT_TTL, now).unwrap();
        assert_eq!(reg.token.expose().len(), 43);
        assert!(!format!("{reg:?}").contains(reg.token.expose()));
        let a = reg.token;
        let pending = authenticate(&store, &a, now).unwrap().unwrap();
        assert_eq!(
            pending,
            Credential {
                party: party.clone(),
                stage: Stage::Pending
            }
        );

        // Roles that do not include the party are refused.
        assert!(matches!(
            client_credentials(&client("GB*XYZ", "b"), &party),
            Err(Error::PartyMismatch(_))
        ));
        let b = client_credentials(&client("gb*abc", "token-b"), &party).unwrap();
        let c = handshake(&store, &a, Stage::Pending, &b, now).unwrap();
        assert!(
            authenticate(&store, &a, now).unwrap().is_none(),
            "A is spent"
        );
        assert!(matches!(
            handshake(&store, &a, Stage::Pending, &b, now),
            Err(Error::Conflict(_))
        ));
        let registered = authenticate(&store, &c, now).unwrap().unwrap();
        assert_eq!(registered.stage, Stage::Registered);
        assert!(
            authenticate(&store, &Token::presented("token-b"), now)
                .unwrap()
                .is_none(),
            "the client's own token is not a key to the node"
        );

        // PUT rotates C.
        let c2 = handshake(&store, &c, Stage::Registered, &b, now).unwrap();
        assert!(authenticate(&store, &c, now).unwrap().is_none());
        assert!(authenticate(&store, &c2, now).unwrap().is_some());
        let listed = list(&store).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].registered_at, Some(now));
        assert!(unregister(&store, &party).unwrap());
        assert!(authenticate(&store, &c2, now).unwrap().is_none());
    }

    #[test]
    fn an_expired_registration_token_is_refused() {
        let (_dir, store, policy) = setup();
        let now: DateTime = "2026-11-22T06:00:00Z".parse().unwrap();
        let party: Party = "GB*ABC".parse().unwrap();
        let reg = register(&store, &policy, &party, Duration::from_secs(60), now).unwrap();
        let later = DateTime::from_unix_millis(now.unix_millis() + 60_000).unwrap();
        assert!(authenticate(&store, &reg.token, later).unwrap().is_none());
        assert!(register(&store, &policy, &party, Duration::from_secs(1), now).is_err());
    }
}
