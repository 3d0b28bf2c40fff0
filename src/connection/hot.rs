//! Parked transactions for hot tenants.
//!
//! A parked connection is a pooled connection inside a fresh
//! `BEGIN READ ONLY; SET LOCAL app.tenant_id = '<id>'` transaction: no
//! statement has run in it yet, so it holds no table lock and no snapshot.
//! A read for that tenant runs on it in one round trip; afterwards the
//! connection is recycled off the request's path (a queued `ROLLBACK` and
//! a new `BEGIN …; SET LOCAL …`, one round trip in a background task) and
//! parked again.
//!
//! The tenant setting is still transaction-local: it ends with the
//! `ROLLBACK`, which is queued ahead of anything else whenever a parked
//! connection is evicted, aged out, or dropped. A parked connection is
//! keyed by its tenant and is only ever handed to that tenant.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use sea_orm::sqlx::postgres::PgPool;

use super::HotTenants;
use super::opener::Begin;
use super::pg::Lease;
use crate::TenantId;

struct Parked {
    lease: Lease,
    since: Instant,
    /// The query that opened its transaction: handed only to a connection
    /// with the same opener (same tenant, schema and statement timeout).
    opener: Arc<str>,
}

/// A tenant and the kind of its parked transactions (`true`: read-only).
type Key = (TenantId, bool);

struct Slot {
    last_used: u64,
    parked: Vec<Parked>,
}

#[derive(Default)]
struct State {
    tick: u64,
    total: usize,
    slots: HashMap<Key, Slot>,
    /// Tenants seen once recently without a parked connection: a second
    /// sighting admits them (so a scan over many cold tenants does not
    /// churn the parked set).
    recent: VecDeque<TenantId>,
}

/// The parked connections of one pool.
pub(crate) struct HotSet {
    pool: PgPool,
    max_parked: usize,
    per_tenant: usize,
    max_idle: Duration,
    state: Mutex<State>,
}

impl HotSet {
    pub(crate) fn new(pool: PgPool, config: &HotTenants) -> Arc<Self> {
        let max_parked = config
            .max_parked
            .unwrap_or_else(|| pool.options().get_max_connections() as usize / 2);
        let set = Arc::new(HotSet {
            pool,
            max_parked,
            per_tenant: config.per_tenant,
            max_idle: config.max_idle,
            state: Mutex::new(State::default()),
        });
        if max_parked > 0 && tokio::runtime::Handle::try_current().is_ok() {
            tokio::spawn(sweeper(Arc::downgrade(&set), config.max_idle));
        }
        set
    }

    pub(crate) fn enabled(&self) -> bool {
        self.max_parked > 0 && self.per_tenant > 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves the map consistent (every
        // mutation is a single push/pop/remove), so poisoning is ignored.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A parked connection for `tenant`, if one is ready: inside a
    /// `READ ONLY` transaction when `read_only`, a read-write one otherwise,
    /// opened by `begin`. One opened otherwise (the tenant's statement
    /// timeout changed) is rolled back and released.
    pub(crate) fn checkout(
        &self,
        tenant: &TenantId,
        begin: &Begin,
        read_only: bool,
    ) -> Option<Lease> {
        let opener = begin.folded_sql(read_only)?;
        let key = (tenant.clone(), read_only);
        let mut stale = Vec::new();
        let found = {
            let mut state = self.lock();
            state.tick += 1;
            let tick = state.tick;
            let mut found = None;
            if let Some(slot) = state.slots.get_mut(&key) {
                slot.last_used = tick;
                while let Some(parked) = slot.parked.pop() {
                    if parked.since.elapsed() > self.max_idle || *parked.opener != **opener {
                        stale.push(parked);
                    } else {
                        found = Some(parked.lease);
                        break;
                    }
                }
            }
            let taken = stale.len() + usize::from(found.is_some());
            state.total -= taken;
            found
        };
        drop(stale); // rolled back and returned to the pool, outside the lock
        found
    }

    /// Parks `lease` (in a transaction opened by `opener`) for `tenant`, or
    /// lets it go (rolled back) when full.
    pub(crate) fn park(&self, tenant: TenantId, read_only: bool, opener: Arc<str>, lease: Lease) {
        let key = (tenant, read_only);
        if !lease.is_in_txn() {
            return;
        }
        let mut released = Vec::new();
        {
            let mut state = self.lock();
            state.tick += 1;
            let tick = state.tick;
            self.sweep(&mut state, &mut released);
            let slot_len = state.slots.get(&key).map_or(0, |s| s.parked.len());
            if slot_len >= self.per_tenant {
                released.push(Parked {
                    lease,
                    since: Instant::now(),
                    opener: opener.clone(),
                });
            } else {
                while state.total >= self.max_parked {
                    match evict_lru(&mut state, Some(&key)) {
                        Some(parked) => released.push(parked),
                        None => break,
                    }
                }
                if state.total < self.max_parked {
                    state.total += 1;
                    let slot = state.slots.entry(key).or_insert(Slot {
                        last_used: tick,
                        parked: Vec::new(),
                    });
                    slot.last_used = tick;
                    slot.parked.push(Parked {
                        lease,
                        since: Instant::now(),
                        opener: opener.clone(),
                    });
                } else {
                    released.push(Parked {
                        lease,
                        since: Instant::now(),
                        opener: opener.clone(),
                    });
                }
            }
        }
        drop(released);
    }

    /// Whether a connection just used by `tenant` should be parked: yes
    /// when the tenant already has parked connections or was seen recently.
    pub(crate) fn admit(&self, tenant: &TenantId) -> bool {
        let mut state = self.lock();
        if state.slots.contains_key(&(tenant.clone(), true))
            || state.slots.contains_key(&(tenant.clone(), false))
        {
            return true;
        }
        if let Some(i) = state.recent.iter().position(|t| t == tenant) {
            state.recent.remove(i);
            return true;
        }
        state.recent.push_back(tenant.clone());
        if state.recent.len() > 4 * self.max_parked.max(1) {
            state.recent.pop_front();
        }
        false
    }

    /// Lets one parked connection go when the pool has no idle connection
    /// left, so that parked transactions never starve a cold tenant.
    pub(crate) fn relieve_pressure(&self) {
        let max = self.pool.options().get_max_connections();
        if self.pool.num_idle() > 0 || self.pool.size() < max {
            return;
        }
        let parked = {
            let mut state = self.lock();
            evict_lru(&mut state, None)
        };
        drop(parked);
    }

    /// Rolls back and returns every parked connection.
    pub(crate) fn clear(&self) {
        let slots = {
            let mut state = self.lock();
            state.total = 0;
            std::mem::take(&mut state.slots)
        };
        drop(slots);
    }

    /// Rolls back and returns every parked connection of `tenant` (a
    /// deprovisioned tenant).
    pub(crate) fn forget(&self, tenant: &TenantId) {
        let released = {
            let mut state = self.lock();
            let mut released = Vec::new();
            for read_only in [true, false] {
                if let Some(slot) = state.slots.remove(&(tenant.clone(), read_only)) {
                    released.extend(slot.parked);
                }
            }
            state.total -= released.len();
            state.recent.retain(|t| t != tenant);
            released
        };
        drop(released);
    }

    /// How many connections are parked now.
    pub(crate) fn parked(&self) -> usize {
        self.lock().total
    }

    fn sweep(&self, state: &mut State, released: &mut Vec<Parked>) {
        let max_idle = self.max_idle;
        let mut removed = 0;
        state.slots.retain(|_, slot| {
            let before = slot.parked.len();
            let (keep, old): (Vec<_>, Vec<_>) = std::mem::take(&mut slot.parked)
                .into_iter()
                .partition(|p| p.since.elapsed() <= max_idle);
            removed += before - keep.len();
            released.extend(old);
            slot.parked = keep;
            !slot.parked.is_empty()
        });
        state.total -= removed;
    }
}

/// Takes the oldest parked connection of the least recently used slot
/// other than `keep`.
fn evict_lru(state: &mut State, keep: Option<&Key>) -> Option<Parked> {
    let victim = state
        .slots
        .iter()
        .filter(|(k, s)| Some(*k) != keep && !s.parked.is_empty())
        .min_by_key(|(_, s)| s.last_used)
        .map(|(t, _)| t.clone())?;
    let slot = state.slots.get_mut(&victim)?;
    let parked = if slot.parked.is_empty() {
        None
    } else {
        Some(slot.parked.remove(0))
    };
    if slot.parked.is_empty() {
        state.slots.remove(&victim);
    }
    if parked.is_some() {
        state.total -= 1;
    }
    parked
}

/// Re-parks `lease` after its statement: queues the `ROLLBACK` of the
/// finished transaction (after a read or an error; a committed write has
/// none) and opens the next one, in one round trip, off the request's path.
pub(crate) fn recycle(
    set: Arc<HotSet>,
    tenant: TenantId,
    begin: Begin,
    read_only: bool,
    mut lease: Lease,
) {
    if !lease.is_reusable() {
        return;
    }
    tokio::spawn(async move {
        lease.queue_rollback();
        if let Some(opener) = begin.folded_sql(read_only).cloned()
            && lease.begin(&begin, read_only).await.is_ok()
        {
            set.park(tenant, read_only, opener, lease);
        }
    });
}

/// Ages parked connections out even when no request comes.
async fn sweeper(set: Weak<HotSet>, max_idle: Duration) {
    let period = (max_idle / 2).max(Duration::from_millis(100));
    loop {
        tokio::time::sleep(period).await;
        let Some(set) = set.upgrade() else { return };
        let mut released = Vec::new();
        {
            let mut state = set.lock();
            set.sweep(&mut state, &mut released);
        }
        drop(released);
    }
}
