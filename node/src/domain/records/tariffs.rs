//! Tariffs: `PUT` (the no-churn rule: a tariff equal to the stored one, `last_updated`
//! aside, appends nothing) and `DELETE`, each with its entry in the public log.

use evfed_spec::entry::{EntryData, LogEntry, RecordRef};
use evfed_spec::ids::Party;
use evfed_spec::ocpi::Tariff;
use evfed_spec::time::DateTime;

use super::{Error, Policy, TariffKey, Written, clock, decode, encode, entry_bytes, parse};
use crate::store::{LogId, Store};

/// `PUT` of a Tariff.
pub fn put_tariff(
    store: &Store,
    policy: &Policy,
    caller: &Party,
    key: &TariffKey,
    body: &[u8],
    now: DateTime,
) -> Result<Written, Error> {
    policy.authorize(caller, &key.party)?;
    put_parsed_tariff(store, policy, caller, key, parse(body)?, now)
}

/// [`put_tariff`] with the body already parsed (a pushed or pulled Tariff, repaired).
pub fn put_parsed_tariff(
    store: &Store,
    policy: &Policy,
    caller: &Party,
    key: &TariffKey,
    mut tariff: Tariff,
    now: DateTime,
) -> Result<Written, Error> {
    policy.authorize(caller, &key.party)?;
    if tariff.party() != key.party || tariff.id != key.id {
        return Err(Error::InvalidField(format!(
            "country_code, party_id and id ({}/{}) differ from the path ({}/{})",
            tariff.party(),
            tariff.id,
            key.party,
            key.id
        )));
    }
    clock(&mut tariff.last_updated, &now, "last_updated")?;
    let party = key.party.to_string();
    store.write(|tx| {
        let current = tx
            .tariff(&party, key.id.as_str())?
            .map(|b| decode::<Tariff>(&b))
            .transpose()?;
        if let Some(cur) = &current {
            let mut a = cur.clone();
            a.last_updated = tariff.last_updated;
            if a == tariff {
                return Ok(Written {
                    created: false,
                    appended: 0,
                    body: encode(cur)?,
                });
            }
        }
        let entry = LogEntry {
            recorded_at: now,
            data: EntryData::Tariff(Box::new(tariff.clone())),
        };
        tx.append(LogId::Public, &entry_bytes(&entry)?)?;
        let body = encode(&tariff)?;
        tx.put_tariff(
            &party,
            key.id.as_str(),
            tariff.last_updated.unix_millis(),
            &body,
        )?;
        Ok(Written {
            created: current.is_none(),
            appended: 1,
            body,
        })
    })
}

/// `DELETE` of a Tariff.
pub fn delete_tariff(
    store: &Store,
    policy: &Policy,
    caller: &Party,
    key: &TariffKey,
    now: DateTime,
) -> Result<(), Error> {
    policy.authorize(caller, &key.party)?;
    let party = key.party.to_string();
    store.write(|tx| {
        if !tx.delete_tariff(&party, key.id.as_str())? {
            return Err(Error::NotFound(format!("no tariff {party}/{}", key.id)));
        }
        let data = EntryData::TariffRemoved(RecordRef {
            country_code: key.party.country_code.clone(),
            party_id: key.party.party_id.clone(),
            id: key.id.clone(),
        });
        tx.append(
            LogId::Public,
            &entry_bytes(&LogEntry {
                recorded_at: now,
                data,
            })?,
        )?;
        Ok(())
    })
}
