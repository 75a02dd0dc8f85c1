//! Every supplier's status, recomputed on each request from what changed only. The costly
//! inputs are kept between requests under the key of what changes them: the register under
//! the bytes of `suppliers.toml`, each member's EVSE history under its cursor (verified size
//! and accepted checkpoint; `evse_state` and `evse_month` are written only with it, in the
//! harvest's transaction), each member's sessions per month under its usage cursor. The
//! cheap inputs (harvest counts, freshness, conformance runs, checkpoint ages, the London
//! view) are read on every request, and every figure is computed at the request's time.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use super::evses::MemberEvses;
use super::{ComplianceError, Facts, Inputs, REGISTER_FILE, Register, SupplierStatus};
use crate::london::London;
use crate::store::{Member, Store};

/// What [`statuses_cached`] keeps between requests; one per aggregator (`Cache::default()`).
#[derive(Debug, Default)]
pub struct Cache {
    /// `suppliers.toml`'s bytes (`None`: no file) and the register they parse to.
    register: Mutex<Option<RegisterEntry>>,
    evses: Mutex<HashMap<String, Arc<MemberEvses>>>,
    usage: Mutex<HashMap<String, (UsageKey, Arc<MonthSessions>)>>,
    /// How many times each input was read rather than reused (tests).
    reads: Mutex<Reads>,
}

type UsageKey = (u64, Option<Vec<u8>>);
/// `suppliers.toml`'s bytes (`None`: no file) and the register they parse to.
type RegisterEntry = (Option<Vec<u8>>, Arc<Register>);
/// Sessions per UTC month (`YYYY-MM`).
type MonthSessions = Vec<(String, u64)>;

/// How often [`statuses_cached`] read an input again instead of reusing it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reads {
    pub register: u64,
    pub evses: u64,
    pub usage: u64,
}

/// Every supplier's status, with what the evidence report also needs.
#[derive(Debug)]
pub struct Statuses {
    /// The register they were computed under (its thresholds go into a report).
    pub register: Arc<Register>,
    /// Every member, as read for this computation.
    pub members: Vec<Member>,
    /// In the register's order; only the one asked for, or none if there is no such supplier.
    pub suppliers: Vec<SupplierStatus>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Every supplier's status at `now_ms` (or only supplier `only`'s), as
/// [`super::Supplier::status`] computes it, reading again only what changed since the last
/// call with this `cache`. Blocking (file and SQLite reads): call it off the async executor.
pub fn statuses_cached(
    cache: &Cache,
    dir: &Path,
    store: &Store,
    london: &London,
    now_ms: i64,
    only: Option<&str>,
) -> Result<Statuses, ComplianceError> {
    let register = cache.register(dir)?;
    let members = store.members()?;
    let inputs = Inputs {
        store,
        london,
        members: &members,
        thresholds: &register.thresholds,
        now_ms,
    };
    let mut suppliers = Vec::new();
    for s in register
        .suppliers
        .iter()
        .filter(|s| only.is_none_or(|id| s.id == id))
    {
        let origins = s.origins(&members);
        let mut evses = Vec::with_capacity(origins.len());
        let mut months: BTreeMap<String, u64> = BTreeMap::new();
        for o in &origins {
            let member = members.iter().find(|m| &m.origin == o);
            evses.push(cache.member_evses(store, o, member, now_ms)?);
            for (m, n) in cache.usage_months(store, o, member)?.iter() {
                *months.entry(m.clone()).or_default() += n;
            }
        }
        let facts = Facts {
            evses: evses.iter().map(|e| &**e).collect(),
            usage_months: months.into_iter().collect(),
        };
        suppliers.push(s.status_with(&inputs, &origins, &facts)?);
    }
    Ok(Statuses {
        register,
        members,
        suppliers,
    })
}

impl Cache {
    /// How many times each input has been read rather than reused.
    pub fn reads(&self) -> Reads {
        *lock(&self.reads)
    }

    /// The register, parsed again only when `suppliers.toml`'s bytes changed.
    fn register(&self, dir: &Path) -> Result<Arc<Register>, ComplianceError> {
        let bytes = Register::read(dir)?;
        if let Some((held, register)) = &*lock(&self.register)
            && *held == bytes
        {
            return Ok(Arc::clone(register));
        }
        let register = Arc::new(match &bytes {
            None => Register::default(),
            Some(text) => Register::parse(text, &dir.join(REGISTER_FILE))?,
        });
        lock(&self.reads).register += 1;
        *lock(&self.register) = Some((bytes, Arc::clone(&register)));
        Ok(register)
    }

    /// A member's EVSE history, brought up to date when its cursor moved.
    fn member_evses(
        &self,
        store: &Store,
        origin: &str,
        member: Option<&Member>,
        now_ms: i64,
    ) -> Result<Arc<MemberEvses>, ComplianceError> {
        let held = lock(&self.evses).get(origin).cloned();
        if let (Some(h), Some(m)) = (&held, member)
            && h.is_current(m, now_ms)
        {
            return Ok(Arc::clone(h));
        }
        let fresh = Arc::new(MemberEvses::load(store, origin, held.as_deref(), now_ms)?);
        lock(&self.reads).evses += 1;
        lock(&self.evses).insert(origin.to_owned(), Arc::clone(&fresh));
        Ok(fresh)
    }

    /// A member's sessions per month, read again when its usage cursor moved.
    fn usage_months(
        &self,
        store: &Store,
        origin: &str,
        member: Option<&Member>,
    ) -> Result<Arc<Vec<(String, u64)>>, ComplianceError> {
        let key: UsageKey = member
            .and_then(|m| m.usage.as_ref())
            .map_or((0, None), |u| (u.verified_size, u.checkpoint.clone()));
        if let Some((k, months)) = lock(&self.usage).get(origin)
            && *k == key
        {
            return Ok(Arc::clone(months));
        }
        let (read_key, months) = store.member_usage_months(origin)?;
        let months = Arc::new(months);
        lock(&self.reads).usage += 1;
        lock(&self.usage).insert(origin.to_owned(), (read_key, Arc::clone(&months)));
        Ok(months)
    }
}
