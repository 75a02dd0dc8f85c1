//! OCPI `PATCH` merging and a child's `PUT`: a PATCH body is a JSON object with
//! `last_updated` whose present, non-null members replace the stored ones, and whose ids must
//! match the path; an EVSE or Connector is replaced or appended in its parent, whose
//! `last_updated` then rolls up to the latest of its children's.

use evfed_spec::ocpi::{self, Location};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::Error;

/// Names the EVSE or Connector a path points at: its id member, the id, and words for errors.
pub(super) struct Child<'a> {
    pub(super) field: &'static str,
    pub(super) id: &'a str,
    pub(super) what: &'a str,
}

/// What a write to an EVSE or Connector carries: the whole object (`PUT`), or members to
/// change (`PATCH`).
pub(super) enum ChildWrite<T> {
    Put(T),
    Patch(Map<String, Value>),
}

/// PUT (replace or append) or PATCH (merge into the existing one) of the child `child` in
/// `items`. Returns whether it was created.
pub(super) fn write_child<T: Serialize + DeserializeOwned>(
    items: &mut Vec<T>,
    child: Child<'_>,
    id_of: impl Fn(&T) -> &str,
    write: ChildWrite<T>,
) -> Result<bool, Error> {
    let slot = items.iter().position(|t| id_of(t) == child.id);
    let item: T = match (write, slot) {
        (ChildWrite::Put(item), _) => item,
        (ChildWrite::Patch(p), Some(i)) => {
            check_patch_ids(&p, &[(child.field, child.id)])?;
            merge(&items[i], &p)?
        }
        (ChildWrite::Patch(_), None) => {
            return Err(Error::NotFound(format!("no {}", child.what)));
        }
    };
    if id_of(&item) != child.id {
        return Err(Error::InvalidField(format!(
            "{} {} differs from the path's {}",
            child.field,
            id_of(&item),
            child.id
        )));
    }
    match slot {
        Some(i) => items[i] = item,
        None => items.push(item),
    }
    Ok(slot.is_none())
}

/// A PATCH body: a JSON object with `last_updated`.
pub(super) fn patch_object(body: &[u8]) -> Result<Map<String, Value>, Error> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Error::InvalidJson(format!("body is not valid JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(Error::InvalidField("a PATCH body is a JSON object".into()));
    };
    check_patch(&map)?;
    Ok(map)
}

/// A PATCH carries `last_updated`.
pub(super) fn check_patch(patch: &Map<String, Value>) -> Result<(), Error> {
    if patch.get("last_updated").is_none_or(Value::is_null) {
        return Err(Error::InvalidField(
            "last_updated: a PATCH must carry last_updated".into(),
        ));
    }
    Ok(())
}

pub(super) fn check_patch_ids(
    patch: &Map<String, Value>,
    ids: &[(&str, &str)],
) -> Result<(), Error> {
    for (name, expected) in ids {
        match patch.get(*name) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.eq_ignore_ascii_case(expected) => {}
            Some(other) => {
                return Err(Error::InvalidField(format!(
                    "{name}: {other} differs from the path's {expected}"
                )));
            }
        }
    }
    Ok(())
}

/// Applies PATCH members to `current`: present, non-null members replace the stored ones,
/// and the result is read under the same rules as a `PUT` body, with no text in between.
pub(super) fn merge<T: Serialize + DeserializeOwned>(
    current: &T,
    patch: &Map<String, Value>,
) -> Result<T, Error> {
    let mut value = serde_json::to_value(current).map_err(|e| Error::Corrupt(e.to_string()))?;
    if let Value::Object(obj) = &mut value {
        for (k, v) in patch {
            if !v.is_null() {
                obj.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(ocpi::parse_value(value)?.value)
}

/// The enclosing objects' `last_updated` becomes the latest of their own and their children's.
pub(super) fn roll_up(loc: &mut Location) {
    for evse in &mut loc.evses {
        for c in &evse.connectors {
            if c.last_updated > evse.last_updated {
                evse.last_updated = c.last_updated;
            }
        }
        if evse.last_updated > loc.last_updated {
            loc.last_updated = evse.last_updated;
        }
    }
}
