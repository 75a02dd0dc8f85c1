//! Log entries: the envelope `{"v":1,"type":…,"party":"CC*PID","recorded_at":…,"data":{…}}`,
//! encoded with RFC 8785. An entry, once signed into a log, can never change, so this shape is
//! fixed for `v: 1`.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::note::VerifierKey;
use crate::ocpi::{Location, Tariff};
use crate::usage::{StatusChange, UsageRecord};
use crate::{CountryCode, DateTime, LocationId, Party, PartyId, TariffId, jcs};

/// The envelope version this code writes and reads.
pub const VERSION: u64 = 1;

/// The longest entry a reader must accept; larger ones are refused before parsing.
pub const MAX_ENTRY_BYTES: usize = 256 * 1024;

/// What an entry records.
#[derive(Debug, Clone, PartialEq)]
pub enum EntryData {
    /// A location was created or changed: the whole object with its `evfed` member and without
    /// `publish_allowed_to`.
    Location(Box<Location>),
    LocationRemoved(RecordRef<LocationId>),
    EvseStatus(StatusChange),
    Tariff(Box<Tariff>),
    TariffRemoved(RecordRef<TariffId>),
    /// A charging session without personal data (restricted log only).
    Session(UsageRecord),
    /// The node's signing key changed; covered by the last checkpoint the old key signs.
    KeyRotation(KeyRotation),
}

/// Names a removed record: `{"country_code","party_id","id"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordRef<Id> {
    pub country_code: CountryCode,
    pub party_id: PartyId,
    pub id: Id,
}

impl<Id> RecordRef<Id> {
    pub fn party(&self) -> Party {
        Party::new(self.country_code.clone(), self.party_id.clone())
    }
}

/// `{"vkey": new verifier key, "previous_vkey": old verifier key}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRotation {
    pub vkey: String,
    pub previous_vkey: String,
}

/// One log entry.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    pub recorded_at: DateTime,
    pub data: EntryData,
}

/// Why bytes are not a valid entry.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    #[error("entry is larger than {MAX_ENTRY_BYTES} bytes")]
    TooLarge,
    #[error("entry bytes are not in RFC 8785 canonical form")]
    NotCanonical,
    #[error("entry is not valid JSON: {0}")]
    Json(#[source] serde_json::Error),
    #[error("entry envelope version {0} is not supported (this reader knows v1)")]
    Version(u64),
    #[error("entry `data` is not a valid {kind}: {source}")]
    Data {
        kind: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("entry `party` {envelope:?} does not match the party of its data {data}")]
    PartyMismatch {
        envelope: Option<String>,
        data: String,
    },
    #[error("a key_rotation entry carries no `party`")]
    UnexpectedParty,
    #[error("a location entry must not carry publish_allowed_to (personal data)")]
    PersonalData,
    #[error("key_rotation carries an invalid verifier key")]
    BadKey,
    #[error("entry could not be encoded: {0}")]
    Encode(#[source] jcs::JcsError),
}

/// A parsed entry, or one of a type this reader does not know: it still counts in the tree
/// (its bytes are hashed) but is not applied.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    Known(Box<LogEntry>),
    Opaque { entry_type: String },
}

#[derive(Serialize, Deserialize)]
struct Envelope<D, T = String> {
    v: u64,
    #[serde(rename = "type")]
    entry_type: T,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    party: Option<Party>,
    recorded_at: DateTime,
    data: D,
}

impl<'a> Envelope<&'a [u8], Cow<'a, str>> {
    /// The envelope from a canonical object's members; `None` when a member is missing or is
    /// not plainly what it should be (serde's parse then says why).
    fn from_members(members: &jcs::Members<'a>) -> Option<Self> {
        use jcs::plain_str as text;
        let (mut v, mut entry_type, mut party, mut recorded_at, mut data) =
            (None, None, None, None, None);
        for (key, value) in members.iter() {
            match key? {
                "v" => v = Some(std::str::from_utf8(value).ok()?.parse::<u64>().ok()?),
                "type" => entry_type = Some(text(value)?),
                "party" if value == b"null" => party = Some(None),
                "party" => party = Some(Some(text(value)?.parse::<Party>().ok()?)),
                "recorded_at" => recorded_at = Some(text(value)?.parse::<DateTime>().ok()?),
                "data" => data = Some(value),
                // serde ignores unknown members too.
                _ => {}
            }
        }
        Some(Envelope {
            v: v?,
            entry_type: Cow::Borrowed(entry_type?),
            party: party.flatten(),
            recorded_at: recorded_at?,
            data: data?,
        })
    }
}

impl EntryData {
    /// The `type` member.
    pub fn type_name(&self) -> &'static str {
        match self {
            EntryData::Location(_) => "location",
            EntryData::LocationRemoved(_) => "location_removed",
            EntryData::EvseStatus(_) => "evse_status",
            EntryData::Tariff(_) => "tariff",
            EntryData::TariffRemoved(_) => "tariff_removed",
            EntryData::Session(_) => "session",
            EntryData::KeyRotation(_) => "key_rotation",
        }
    }

    /// The party that owns the record; `None` for node-level entries (key rotation).
    pub fn party(&self) -> Option<Party> {
        self.party_parts()
            .map(|(cc, pid)| Party::new(cc.clone(), pid.clone()))
    }

    /// [`Self::party`] without copying it: country code and party id.
    pub fn party_parts(&self) -> Option<(&CountryCode, &PartyId)> {
        match self {
            EntryData::Location(l) => Some((&l.country_code, &l.party_id)),
            EntryData::LocationRemoved(r) => Some((&r.country_code, &r.party_id)),
            EntryData::EvseStatus(s) => Some((&s.country_code, &s.party_id)),
            EntryData::Tariff(t) => Some((&t.country_code, &t.party_id)),
            EntryData::TariffRemoved(r) => Some((&r.country_code, &r.party_id)),
            EntryData::Session(s) => Some((&s.country_code, &s.party_id)),
            EntryData::KeyRotation(_) => None,
        }
    }
}

impl LogEntry {
    /// A location entry; `publish_allowed_to` is dropped, because it never enters a log.
    pub fn location(mut location: Location, recorded_at: DateTime) -> Self {
        location.take_publish_allowed_to();
        Self {
            recorded_at,
            data: EntryData::Location(Box::new(location)),
        }
    }

    /// The canonical bytes that are hashed into the log.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EntryError> {
        let recorded_at = self.recorded_at;
        match &self.data {
            EntryData::Location(l) => Self::location_bytes(l, recorded_at),
            EntryData::LocationRemoved(r) => encode(&self.data, recorded_at, r),
            EntryData::EvseStatus(s) => encode(&self.data, recorded_at, s),
            EntryData::Tariff(t) => encode(&self.data, recorded_at, t),
            EntryData::TariffRemoved(r) => encode(&self.data, recorded_at, r),
            EntryData::Session(s) => encode(&self.data, recorded_at, s),
            EntryData::KeyRotation(k) => encode(&self.data, recorded_at, k),
        }
    }

    /// The bytes of a location entry for a borrowed location: what
    /// `LogEntry::location(location.clone(), recorded_at).to_bytes()` gives, without copying the
    /// location. A location that still carries `publish_allowed_to` is refused
    /// ([`EntryError::PersonalData`]) rather than copied to drop it.
    pub fn location_bytes(
        location: &Location,
        recorded_at: DateTime,
    ) -> Result<Vec<u8>, EntryError> {
        if !location.publish_allowed_to.is_empty() {
            return Err(EntryError::PersonalData);
        }
        let env = Envelope {
            v: VERSION,
            entry_type: "location",
            party: Some(location.party()),
            recorded_at,
            data: location,
        };
        jcs::to_canonical_vec(&env).map_err(EntryError::Encode)
    }

    /// Parses entry bytes as stored in a log: bounded, canonical, `v: 1`, and the envelope's
    /// party equal to the data's.
    pub fn parse(bytes: &[u8]) -> Result<Parsed, EntryError> {
        if bytes.len() > MAX_ENTRY_BYTES {
            return Err(EntryError::TooLarge);
        }
        let objects = jcs::canonical_members(bytes, "data").ok_or(EntryError::NotCanonical)?;
        // The members the canonical check found, when they read as an envelope; otherwise
        // serde's parse, which gives the reason. The data stays raw until its type is known,
        // then is read once into that type.
        let env = match objects.and_then(|o| Envelope::from_members(&o.top)) {
            Some(env) => env,
            None => {
                let env: Envelope<&serde_json::value::RawValue> =
                    serde_json::from_slice(bytes).map_err(EntryError::Json)?;
                Envelope {
                    v: env.v,
                    entry_type: Cow::Owned(env.entry_type),
                    party: env.party,
                    recorded_at: env.recorded_at,
                    data: env.data.get().as_bytes(),
                }
            }
        };
        if env.v != VERSION {
            return Err(EntryError::Version(env.v));
        }
        fn data<T: serde::de::DeserializeOwned>(
            kind: &'static str,
            raw: &[u8],
        ) -> Result<T, EntryError> {
            serde_json::from_slice(raw).map_err(|source| EntryError::Data { kind, source })
        }
        let d = match &*env.entry_type {
            "location" => {
                let l: Location = data("location", env.data)?;
                if !l.publish_allowed_to.is_empty() {
                    return Err(EntryError::PersonalData);
                }
                EntryData::Location(Box::new(l))
            }
            "location_removed" => EntryData::LocationRemoved(data("location reference", env.data)?),
            "evse_status" => EntryData::EvseStatus(
                match objects.and_then(|o| StatusChange::from_members(&o.nested?)) {
                    Some(s) => s,
                    None => data("status change", env.data)?,
                },
            ),
            "tariff" => EntryData::Tariff(Box::new(data("tariff", env.data)?)),
            "tariff_removed" => EntryData::TariffRemoved(data("tariff reference", env.data)?),
            "session" => EntryData::Session(data("usage record", env.data)?),
            "key_rotation" => {
                let k: KeyRotation = data("key rotation", env.data)?;
                if k.vkey.parse::<VerifierKey>().is_err()
                    || k.previous_vkey.parse::<VerifierKey>().is_err()
                {
                    return Err(EntryError::BadKey);
                }
                EntryData::KeyRotation(k)
            }
            _ => {
                return Ok(Parsed::Opaque {
                    entry_type: env.entry_type.into_owned(),
                });
            }
        };
        let envelope = env.party.as_ref().map(|p| (&p.country_code, &p.party_id));
        match (d.party_parts(), envelope) {
            (None, Some(_)) => return Err(EntryError::UnexpectedParty),
            (Some(p), e) if e != Some(p) => {
                return Err(EntryError::PartyMismatch {
                    envelope: env.party.as_ref().map(|e| e.to_string()),
                    data: format!("{}*{}", p.0, p.1),
                });
            }
            _ => {}
        }
        Ok(Parsed::Known(Box::new(LogEntry {
            recorded_at: env.recorded_at,
            data: d,
        })))
    }
}

/// Every entry's bytes but a location's: `data` (whose `type` and party are taken from `what`) in
/// the envelope.
fn encode<D: Serialize>(
    what: &EntryData,
    recorded_at: DateTime,
    data: D,
) -> Result<Vec<u8>, EntryError> {
    let env = Envelope {
        v: VERSION,
        entry_type: what.type_name(),
        party: what.party(),
        recorded_at,
        data,
    };
    jcs::to_canonical_vec(&env).map_err(EntryError::Encode)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = r#"{"data":{"country_code":"GB","event_time":"2026-11-22T08:14:03Z","evse_uid":"E1","location_id":"L1","party_id":"ABC","status":"CHARGING"},"party":"GB*ABC","recorded_at":"2026-11-22T08:14:04Z","type":"evse_status","v":1}"#;

    #[test]
    fn parses_and_reencodes_exactly() {
        let Parsed::Known(e) = LogEntry::parse(STATUS.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(e.to_bytes().unwrap(), STATUS.as_bytes());
    }

    #[test]
    fn refuses_what_a_log_must_not_hold() {
        let cases = [
            (STATUS.replace("\"v\":1", "\"v\":2"), "Version"),
            (STATUS.replace("GB*ABC", "GB*XYZ"), "PartyMismatch"),
            (STATUS.replace(",\"party\":\"GB*ABC\"", ""), "PartyMismatch"),
            (STATUS.replace("{\"data\"", "{ \"data\""), "NotCanonical"),
            (STATUS.replace("CHARGING", "WORKING"), "Data"),
        ];
        for (bytes, want) in cases {
            let err = LogEntry::parse(bytes.as_bytes()).unwrap_err();
            assert!(format!("{err:?}").starts_with(want), "{want}: {err:?}");
        }
        assert!(matches!(
            LogEntry::parse(&vec![b' '; MAX_ENTRY_BYTES + 1]),
            Err(EntryError::TooLarge)
        ));
    }

    /// Whenever the envelope is read from the canonical check's members, serde reads the same
    /// envelope from the bytes; where serde would refuse, the members are not read.
    #[test]
    fn envelope_members_read_as_serde_reads_them() {
        let variants = [
            STATUS.to_owned(),
            STATUS.replace(",\"party\":\"GB*ABC\"", ""),
            STATUS.replace("\"GB*ABC\"", "null"),
            STATUS.replace("\"GB*ABC\"", "\"GBABC\""),
            STATUS.replace("\"GB*ABC\"", "\"G\\nB*ABC\""),
            STATUS.replace("\"v\":1", "\"v\":\"1\""),
            STATUS.replace("\"v\":1", "\"v\":-1"),
            STATUS.replace("\"v\":1", "\"v\":1.5"),
            STATUS.replace("\"v\":1", "\"v\":1,\"zz\":[1,{}]"),
            STATUS.replace(",\"v\":1", ""),
            STATUS.replace("2026-11-22T08:14:04Z", "2026-11-22"),
            STATUS.replace("\"evse_status\"", "7"),
            STATUS.replace("\"evse_status\"", "\"evse_\\\"status\""),
            STATUS.replace("{\"data\":", "{\"a\\tb\":0,\"data\":"),
            STATUS.replace("{\"data\"", "{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"data\""),
            "[1,2]".to_owned(),
            "{}".to_owned(),
        ];
        for v in &variants {
            let bytes = v.as_bytes();
            let objects = jcs::canonical_members(bytes, "data").expect(v);
            let fast = objects.and_then(|o| Envelope::from_members(&o.top));
            let slow = serde_json::from_slice::<Envelope<&serde_json::value::RawValue>>(bytes);
            match (fast, slow) {
                (Some(f), Ok(s)) => {
                    assert_eq!(f.v, s.v, "{v}");
                    assert_eq!(f.entry_type, s.entry_type, "{v}");
                    assert_eq!(f.party, s.party, "{v}");
                    assert_eq!(f.recorded_at, s.recorded_at, "{v}");
                    assert_eq!(f.data, s.data.get().as_bytes(), "{v}");
                }
                (Some(_), Err(e)) => panic!("read what serde refuses ({e}): {v}"),
                (None, _) => {}
            }
        }
        // The common case takes the members.
        let o = jcs::canonical_members(STATUS.as_bytes(), "data")
            .unwrap()
            .unwrap();
        assert!(Envelope::from_members(&o.top).is_some());
        assert!(StatusChange::from_members(&o.nested.unwrap()).is_some());
        // More members than are recorded: not read from the members.
        let wide = STATUS.replace(
            "{\"data\"",
            "{\"a\":1,\"b\":2,\"c\":3,\"c1\":4,\"c2\":5,\"data\"",
        );
        assert!(
            jcs::canonical_members(wide.as_bytes(), "data")
                .unwrap()
                .is_none()
        );
        assert!(matches!(
            LogEntry::parse(wide.as_bytes()),
            Ok(Parsed::Known(_))
        ));
    }

    /// Whenever a status change is read from the data's members, serde reads the same one.
    #[test]
    fn status_members_read_as_serde_reads_them() {
        let data = r#"{"country_code":"GB","event_time":"2026-11-22T08:14:03Z","evse_uid":"E1","location_id":"L1","party_id":"ABC","status":"CHARGING"}"#;
        let variants = [
            data.to_owned(),
            data.replace("CHARGING", "WORKING"),
            data.replace("CHARGING", "charging"),
            data.replace("\"GB\"", "\"GBR\""),
            data.replace("\"ABC\"", "\"abc\""),
            data.replace("\"ABC\"", "\"A\\tC\""),
            data.replace("\"E1\"", "\"\""),
            data.replace("\"E1\"", "1"),
            data.replace("\"L1\"", "null"),
            data.replace("2026-11-22T08:14:03Z", "2026-11-22T08:14:03"),
            data.replace("2026-11-22T08:14:03Z", "yesterday"),
            data.replace(",\"status\":\"CHARGING\"", ""),
            data.replace("\"status\"", "\"status\":\"CHARGING\",\"zz\""),
            data.replace("{\"country_code\"", "{\"a\":[{}],\"country_code\""),
        ];
        for d in &variants {
            let entry = format!(r#"{{"data":{d},"v":1}}"#);
            let Some(Some(o)) = jcs::canonical_members(entry.as_bytes(), "data") else {
                panic!("{entry}")
            };
            let fast = StatusChange::from_members(&o.nested.unwrap());
            let slow = serde_json::from_str::<StatusChange>(d);
            match (fast, slow) {
                (Some(f), Ok(s)) => assert_eq!(f, s, "{d}"),
                (Some(_), Err(e)) => panic!("read what serde refuses ({e}): {d}"),
                (None, _) => {}
            }
        }
    }

    #[test]
    fn unknown_types_are_opaque() {
        let future = STATUS.replace("evse_status", "evse_tariff_hint");
        assert_eq!(
            LogEntry::parse(future.as_bytes()).unwrap(),
            Parsed::Opaque {
                entry_type: "evse_tariff_hint".into()
            }
        );
    }

    #[test]
    fn personal_data_never_enters_a_log() {
        let loc = r#"{"data":{"address":"1 A St","city":"London","coordinates":{"latitude":"51.500000","longitude":"-0.100000"},"country":"GBR","country_code":"GB","id":"L1","last_updated":"2026-11-01T09:00:00Z","party_id":"ABC","publish":false,"publish_allowed_to":[{"issuer":"X","visual_number":"123"}],"time_zone":"Europe/London"},"party":"GB*ABC","recorded_at":"2026-11-01T09:00:01Z","type":"location","v":1}"#;
        assert!(matches!(
            LogEntry::parse(loc.as_bytes()),
            Err(EntryError::PersonalData)
        ));
        let clean = loc.replace(
            r#""publish_allowed_to":[{"issuer":"X","visual_number":"123"}],"#,
            "",
        );
        let Parsed::Known(e) = LogEntry::parse(clean.as_bytes()).unwrap() else {
            panic!()
        };
        let EntryData::Location(mut l) = e.data else {
            panic!()
        };
        assert_eq!(
            LogEntry::location_bytes(&l, e.recorded_at).unwrap(),
            clean.as_bytes()
        );
        l.publish_allowed_to =
            vec![serde_json::from_str(r#"{"issuer":"X","visual_number":"123"}"#).unwrap()];
        assert!(matches!(
            LogEntry::location_bytes(&l, e.recorded_at),
            Err(EntryError::PersonalData)
        ));
        let entry = LogEntry::location(*l, e.recorded_at);
        assert_eq!(
            entry.to_bytes().unwrap(),
            clean.as_bytes(),
            "the constructor drops publish_allowed_to"
        );
    }
}
