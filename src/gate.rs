//! [`Gate`]: at most `max` permits out per tenant, the one keyed semaphore
//! behind both the connection's per-tenant cap and the HTTP concurrency
//! layer.
//!
//! Only tenants with a permit out or a caller waiting have an entry. A
//! [`Permit`] (and a caller that gives up waiting) removes its tenant's
//! entry when it was the last one using it, in O(1): no operation ever
//! scans the map, so what one tenant's request costs does not depend on how
//! many other tenants are tracked. The map is split into [`SHARDS`] shards
//! by the tenant's hash, each behind its own mutex, so tenants rarely
//! contend for a lock either.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::TenantId;

/// How many independently locked parts the map has.
const SHARDS: usize = 32;

/// One semaphore of `max` permits per tenant in use; cheap to clone, and
/// clones share the permits.
#[derive(Clone)]
pub(crate) struct Gate {
    max: usize,
    wait: Duration,
    map: Arc<Map>,
}

struct Map {
    hasher: RandomState,
    shards: [Shard; SHARDS],
    /// Map entries read or written, for the tests that show a request
    /// touches a constant number of them.
    #[cfg(test)]
    touched: std::sync::atomic::AtomicUsize,
}

/// One part of the map, on a cache line of its own.
#[repr(align(64))]
#[derive(Default)]
struct Shard(Mutex<HashMap<TenantId, Arc<Semaphore>>>);

impl Shard {
    fn lock(&self) -> MutexGuard<'_, HashMap<TenantId, Arc<Semaphore>>> {
        // Every mutation is a single insert or remove: a poisoned map is
        // still consistent.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Map {
    fn shard(&self, tenant: &TenantId) -> &Shard {
        // The remainder is below SHARDS, so it fits a usize.
        let index = (self.hasher.hash_one(tenant) % SHARDS as u64) as usize;
        &self.shards[index]
    }

    #[cfg(test)]
    fn touch(&self) {
        self.touched
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    #[cfg(not(test))]
    fn touch(&self) {}
}

impl Gate {
    /// At most `max` permits out per tenant (clamped to
    /// `1..=Semaphore::MAX_PERMITS`); [`acquire`](Gate::acquire) waits up
    /// to `wait` for one.
    pub(crate) fn new(max: usize, wait: Duration) -> Self {
        Gate {
            max: max.clamp(1, Semaphore::MAX_PERMITS),
            wait,
            map: Arc::new(Map {
                hasher: RandomState::new(),
                shards: Default::default(),
                #[cfg(test)]
                touched: Default::default(),
            }),
        }
    }

    /// The cap per tenant.
    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// How long [`acquire`](Gate::acquire) waits.
    pub(crate) fn wait(&self) -> Duration {
        self.wait
    }

    /// One of `tenant`'s permits, waiting at most [`wait`](Gate::wait) for
    /// it behind the tenant's earlier callers; `None` when the wait ran out.
    ///
    /// Dropping the future while it waits gives up its place and leaves
    /// nothing behind.
    pub(crate) async fn acquire(&self, tenant: &TenantId) -> Option<Permit> {
        let claim = self.claim(tenant);
        let permit = match claim.semaphore.try_acquire() {
            Ok(permit) => permit,
            Err(_) => tokio::time::timeout(self.wait, claim.semaphore.acquire())
                .await
                .ok()?
                // Closed: never, the gate does not close its semaphores.
                .ok()?,
        };
        // Given back by `Permit::drop`.
        permit.forget();
        Some(Permit { claim })
    }

    /// `tenant`'s semaphore, entered in the map if it had none.
    fn claim(&self, tenant: &TenantId) -> Claim {
        let mut shard = self.map.shard(tenant).lock();
        self.map.touch();
        let semaphore = match shard.get(tenant) {
            Some(semaphore) => semaphore.clone(),
            None => {
                let semaphore = Arc::new(Semaphore::new(self.max));
                shard.insert(tenant.clone(), semaphore.clone());
                semaphore
            }
        };
        Claim {
            map: self.map.clone(),
            tenant: tenant.clone(),
            semaphore,
        }
    }

    /// How many tenants have an entry now: those with a permit out or a
    /// caller waiting.
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) fn tracked(&self) -> usize {
        self.map.shards.iter().map(|s| s.lock().len()).sum()
    }
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("max", &self.max)
            .field("wait", &self.wait)
            .field("tracked", &self.tracked())
            .finish()
    }
}

/// A hold on a tenant's entry: while any exists the entry stays, and the
/// last one dropped removes it.
///
/// Clones of a tenant's `Arc<Semaphore>` are made only under its shard's
/// lock, from the map's own, and live only in claims; so under the lock a
/// strong count of 1 means nobody holds a permit or waits for one.
struct Claim {
    map: Arc<Map>,
    tenant: TenantId,
    semaphore: Arc<Semaphore>,
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut shard = self.map.shard(&self.tenant).lock();
        self.map.touch();
        // Ours and the map's: nobody else uses it. Once it is out of the map
        // nobody can clone ours, which is freed when this claim is.
        let idle = shard.get(&self.tenant).is_some_and(|entry| {
            Arc::ptr_eq(entry, &self.semaphore) && Arc::strong_count(entry) == 2
        });
        if idle {
            shard.remove(&self.tenant);
        }
    }
}

/// One permit of a tenant's [`Gate`]; given back when dropped, and the
/// tenant's entry removed if nobody else uses it.
pub(crate) struct Permit {
    claim: Claim,
}

impl Drop for Permit {
    fn drop(&mut self) {
        // The one taken (and forgotten) in `Gate::acquire`, so the count
        // stays at most `max`.
        self.claim.semaphore.add_permits(1);
        // Then `claim` drops, and removes the entry if it was the last.
    }
}

impl std::fmt::Debug for Permit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Permit")
            .field("tenant", &self.claim.tenant)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    fn t(id: impl Into<TenantId>) -> TenantId {
        id.into()
    }

    impl Gate {
        fn touched(&self) -> usize {
            self.map.touched.load(Ordering::Relaxed)
        }
    }

    #[tokio::test]
    async fn the_cap_holds_per_tenant() {
        let gate = Gate::new(2, Duration::from_millis(10));
        let first = gate.acquire(&t("a")).await.unwrap();
        let _second = gate.acquire(&t("a")).await.unwrap();
        assert!(gate.acquire(&t("a")).await.is_none());
        // Another tenant has permits of its own.
        let _other = gate.acquire(&t("b")).await.unwrap();
        drop(first);
        let _third = gate.acquire(&t("a")).await.unwrap();
        assert!(gate.acquire(&t("a")).await.is_none());
    }

    #[test]
    fn the_cap_is_at_least_one() {
        assert_eq!(Gate::new(0, Duration::ZERO).max(), 1);
        assert_eq!(
            Gate::new(usize::MAX, Duration::ZERO).max(),
            Semaphore::MAX_PERMITS
        );
    }

    #[tokio::test]
    async fn a_waiter_gets_the_permit_that_is_returned() {
        let gate = Gate::new(1, Duration::from_secs(30));
        let held = gate.acquire(&t("a")).await.unwrap();
        let waiter = tokio::spawn({
            let gate = gate.clone();
            async move { gate.acquire(&t("a")).await }
        });
        // The waiter is queued: it holds the entry too.
        while !waiting(&gate, &t("a")) {
            tokio::task::yield_now().await;
        }
        drop(held);
        let permit = waiter.await.unwrap().unwrap();
        assert_eq!(gate.tracked(), 1);
        drop(permit);
        assert_eq!(gate.tracked(), 0);
    }

    /// Whether someone besides the holders of `tenant`'s permits uses its
    /// entry (map + one permit + one waiter = 3).
    fn waiting(gate: &Gate, tenant: &TenantId) -> bool {
        let shard = gate.map.shard(tenant).lock();
        shard.get(tenant).is_some_and(|s| Arc::strong_count(s) >= 3)
    }

    #[tokio::test]
    async fn an_entry_is_removed_when_its_last_permit_is_returned() {
        let gate = Gate::new(3, Duration::ZERO);
        let a = gate.acquire(&t("a")).await.unwrap();
        let b = gate.acquire(&t("a")).await.unwrap();
        assert_eq!(gate.tracked(), 1);
        drop(a);
        assert_eq!(gate.tracked(), 1);
        drop(b);
        assert_eq!(gate.tracked(), 0);
        // A tenant that timed out waiting leaves nothing either.
        let gate = Gate::new(1, Duration::from_millis(5));
        let held = gate.acquire(&t("a")).await.unwrap();
        assert!(gate.acquire(&t("a")).await.is_none());
        assert_eq!(gate.tracked(), 1);
        drop(held);
        assert_eq!(gate.tracked(), 0);
        // It starts again with all its permits.
        let _x = gate.acquire(&t("a")).await.unwrap();
    }

    #[tokio::test]
    async fn entries_are_bounded_by_busy_tenants() {
        let gate = Gate::new(1, Duration::ZERO);
        let busy: Vec<Permit> = futures_util::future::join_all((0..100i64).map(|i| {
            let gate = gate.clone();
            async move { gate.acquire(&t(i)).await.unwrap() }
        }))
        .await;
        for i in 1_000..11_000i64 {
            let permit = gate.acquire(&t(i)).await.unwrap();
            assert_eq!(gate.tracked(), 101);
            drop(permit);
            assert_eq!(gate.tracked(), 100);
        }
        // The busy tenants kept their entries: still capped.
        assert!(gate.acquire(&t(7)).await.is_none());
        drop(busy);
        assert_eq!(gate.tracked(), 0);
        assert!(gate.acquire(&t(7)).await.is_some());
    }

    #[tokio::test]
    async fn a_cancelled_waiter_leaks_neither_a_permit_nor_an_entry() {
        let gate = Gate::new(1, Duration::from_secs(30));
        let held = gate.acquire(&t("a")).await.unwrap();
        let waiter = tokio::spawn({
            let gate = gate.clone();
            async move { gate.acquire(&t("a")).await }
        });
        while !waiting(&gate, &t("a")) {
            tokio::task::yield_now().await;
        }
        waiter.abort();
        assert!(waiter.await.unwrap_err().is_cancelled());
        // Only the holder's claim is left on the entry.
        assert!(!waiting(&gate, &t("a")));
        drop(held);
        assert_eq!(gate.tracked(), 0);
        // The one permit is back: a new holder gets it, and only it.
        let again = gate.acquire(&t("a")).await.unwrap();
        // Cancelled by an outer timeout while queued: the same.
        assert!(
            tokio::time::timeout(Duration::from_millis(5), gate.acquire(&t("a")))
                .await
                .is_err()
        );
        assert_eq!(gate.tracked(), 1);
        drop(again);
        assert_eq!(gate.tracked(), 0);
    }

    /// What an idle tenant's request costs is a fixed number of map entries
    /// read or written, however many tenants are busy: no sweep, no scan.
    #[tokio::test]
    async fn an_idle_tenants_request_touches_the_same_entries_whatever_the_load() {
        let gate = Gate::new(1, Duration::ZERO);
        let mut busy = Vec::new();
        let mut cost = Vec::new();
        for load in [0usize, 1_000, 20_000] {
            while busy.len() < load {
                let tenant = t(busy.len() as i64);
                busy.push(gate.acquire(&tenant).await.unwrap());
            }
            assert_eq!(gate.tracked(), load);
            let before = gate.touched();
            let permit = gate.acquire(&t("idle")).await.unwrap();
            assert_eq!(gate.tracked(), load + 1);
            drop(permit);
            cost.push(gate.touched() - before);
            // Only the busy tenants are held.
            assert_eq!(gate.tracked(), load);
        }
        // One lookup-or-insert and one lookup-and-remove.
        assert_eq!(cost, [2, 2, 2]);
    }
}
