//! Noisy-neighbour limits of a [`TenantPool`](super::TenantPool): a
//! per-tenant cap on concurrent database work ([`Gate`]) and a hook that
//! sees the database time of every statement ([`Meter`]).
//!
//! Both are optional. When neither is configured a [`Limits`] is two
//! `None`s: the statement path takes no lock, allocates nothing and reads
//! no clock (unless the `tenant_statement` span is enabled, which records
//! the time too).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::DatabaseConnection;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::observe::Observer;
use crate::{TenantError, TenantId};

/// The user's database-time hook: the tenant and the elapsed time of one
/// statement.
pub(crate) type DbTimeHook = Arc<dyn Fn(&TenantId, Duration) + Send + Sync>;

/// A permit of a tenant's [`Gate`], shared by a transaction and its
/// savepoints.
pub(crate) type Permit = Arc<OwnedSemaphorePermit>;

/// The limits a [`TenantConnection`](super::TenantConnection) runs its
/// statements under; cheap to clone (two optional `Arc`s).
#[derive(Clone, Default)]
pub(crate) struct Limits {
    pub(crate) gate: Option<Arc<Gate>>,
    pub(crate) on_time: Option<DbTimeHook>,
}

impl Limits {
    /// Waits for one of `tenant`'s permits (none needed without a cap).
    pub(crate) async fn enter(&self, tenant: &TenantId) -> Result<Option<Permit>, TenantError> {
        match &self.gate {
            Some(gate) => gate.enter(tenant).await.map(|p| Some(Arc::new(p))),
            None => Ok(None),
        }
    }

    /// Starts timing one statement of `tenant`: `None` (no clock read)
    /// when there is no hook and `span` is absent or disabled.
    pub(crate) fn meter(&self, tenant: &TenantId, span: Option<&tracing::Span>) -> Option<Meter> {
        Meter::start(self.on_time.as_ref(), tenant, span)
    }
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits")
            .field(
                "max_concurrent_per_tenant",
                &self.gate.as_ref().map(|g| g.max),
            )
            .field("concurrency_wait", &self.gate.as_ref().map(|g| g.wait))
            .field("on_database_time", &self.on_time.is_some())
            .finish()
    }
}

/// The statement timeout of a tenant, or `None` for the server's own.
pub(crate) type TimeoutPolicy = Arc<dyn Fn(&TenantId) -> Option<Duration> + Send + Sync>;

/// How long an operation waits for one of its tenant's permits by default.
pub(crate) const DEFAULT_CONCURRENCY_WAIT: Duration = Duration::from_secs(30);

/// The noisy-neighbour settings of a [`TenantPool`](super::TenantPool) or a
/// [`Tenancy`](crate::Tenancy): what each connection they hand out runs
/// under. Clones share the per-tenant permits.
#[derive(Clone)]
pub(crate) struct Policy {
    pub(crate) timeout: Option<TimeoutPolicy>,
    max_concurrent: Option<usize>,
    concurrency_wait: Duration,
    pub(crate) limits: Limits,
    /// The metric callback of the connections handed out.
    pub(crate) observer: Observer,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            timeout: None,
            max_concurrent: None,
            concurrency_wait: DEFAULT_CONCURRENCY_WAIT,
            limits: Limits::default(),
            observer: Observer::default(),
        }
    }
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("statement_timeout", &self.timeout.is_some())
            .field("limits", &self.limits)
            .finish()
    }
}

impl Policy {
    /// The statement timeout of `tenant`.
    pub(crate) fn timeout_for(&self, tenant: &TenantId) -> Option<Duration> {
        self.timeout.as_ref().and_then(|policy| policy(tenant))
    }

    pub(crate) fn set_max_concurrent(&mut self, max: usize) {
        self.max_concurrent = Some(max);
        self.rebuild_gate();
    }

    pub(crate) fn set_concurrency_wait(&mut self, wait: Duration) {
        self.concurrency_wait = wait;
        self.rebuild_gate();
    }

    /// Sets the metric callback of the connections handed out, and on
    /// `db`.
    pub(crate) fn set_metric_callback<F>(
        &mut self,
        callback: F,
        db: Option<&mut DatabaseConnection>,
    ) where
        F: Fn(&sea_orm::metric::Info<'_>) + Send + Sync + 'static,
    {
        self.observer = Observer::new(callback);
        if let Some(db) = db {
            self.observer.install(db);
        }
    }

    /// `db` with the metric callback set on it (when there is one).
    pub(crate) fn observed(&self, mut db: DatabaseConnection) -> DatabaseConnection {
        self.observer.install(&mut db);
        db
    }

    fn rebuild_gate(&mut self) {
        self.limits.gate = self
            .max_concurrent
            .map(|max| Arc::new(Gate::new(max, self.concurrency_wait)));
    }
}

/// Measures one statement; reports when dropped (finished, failed or
/// cancelled alike): the hook is called and the span's `db_time_us` set.
pub(crate) struct Meter {
    start: Instant,
    tenant: TenantId,
    hook: Option<DbTimeHook>,
    span: Option<tracing::Span>,
}

impl Meter {
    /// Starts timing one statement of `tenant`: `None` (no clock read)
    /// when there is no hook and `span` is absent or disabled.
    pub(crate) fn start(
        hook: Option<&DbTimeHook>,
        tenant: &TenantId,
        span: Option<&tracing::Span>,
    ) -> Option<Meter> {
        let span = span.filter(|s| !s.is_disabled()).cloned();
        if hook.is_none() && span.is_none() {
            return None;
        }
        Some(Meter {
            start: Instant::now(),
            tenant: tenant.clone(),
            hook: hook.cloned(),
            span,
        })
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        let elapsed = self.start.elapsed();
        if let Some(span) = &self.span {
            let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
            span.record("db_time_us", micros);
        }
        if let Some(hook) = &self.hook {
            hook(&self.tenant, elapsed);
        }
    }
}

/// Above this many tracked tenants (or twice the number found busy at the
/// last pruning, if more), tenants with no permit out and nobody waiting
/// are forgotten when a new tenant arrives.
const PRUNE_FLOOR: usize = 1024;

/// One semaphore of `max` permits per tenant with work in flight.
///
/// An entry is dropped only when nothing else holds its semaphore (no
/// permit out, no waiter): a forgotten tenant starts again with all
/// `max` permits, which is exactly what it had. Memory is bounded by the
/// number of tenants with work in flight, amortized.
pub(crate) struct Gate {
    max: usize,
    wait: Duration,
    slots: Mutex<Slots>,
}

struct Slots {
    map: HashMap<TenantId, Arc<Semaphore>>,
    prune_at: usize,
}

impl Gate {
    /// `max` is clamped to `1..=Semaphore::MAX_PERMITS`.
    pub(crate) fn new(max: usize, wait: Duration) -> Self {
        Gate {
            max: max.clamp(1, Semaphore::MAX_PERMITS),
            wait,
            slots: Mutex::new(Slots {
                map: HashMap::new(),
                prune_at: PRUNE_FLOOR,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slots> {
        // Every mutation is a single insert or retain: a poisoned map is
        // still consistent.
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn semaphore(&self, tenant: &TenantId) -> Arc<Semaphore> {
        let mut slots = self.lock();
        if let Some(semaphore) = slots.map.get(tenant) {
            return semaphore.clone();
        }
        if slots.map.len() >= slots.prune_at {
            // Only the map holds the semaphore of an idle tenant.
            slots.map.retain(|_, s| Arc::strong_count(s) > 1);
            slots.prune_at = (slots.map.len() * 2).max(PRUNE_FLOOR);
        }
        let semaphore = Arc::new(Semaphore::new(self.max));
        slots.map.insert(tenant.clone(), semaphore.clone());
        semaphore
    }

    /// One of `tenant`'s permits, waiting at most `wait` for it;
    /// [`TenantError::Busy`] after that.
    pub(crate) async fn enter(
        &self,
        tenant: &TenantId,
    ) -> Result<OwnedSemaphorePermit, TenantError> {
        let semaphore = self.semaphore(tenant);
        if let Ok(permit) = semaphore.clone().try_acquire_owned() {
            return Ok(permit);
        }
        match tokio::time::timeout(self.wait, semaphore.acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            // Timed out (the semaphore is never closed).
            _ => Err(TenantError::Busy {
                tenant: tenant.to_string(),
                limit: self.max,
            }),
        }
    }

    /// How many tenants have a semaphore now.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.lock().map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn a_tenant_at_its_cap_waits_then_is_busy_while_another_proceeds() {
        let gate = Gate::new(2, Duration::from_millis(20));
        let (a, b) = (TenantId::from("a"), TenantId::from("b"));
        let first = gate.enter(&a).await.unwrap();
        let _second = gate.enter(&a).await.unwrap();
        assert_eq!(
            gate.enter(&a).await.unwrap_err(),
            TenantError::Busy {
                tenant: "a".into(),
                limit: 2
            }
        );
        let _other = gate.enter(&b).await.unwrap();
        drop(first);
        let _third = gate.enter(&a).await.unwrap();
    }

    #[tokio::test]
    async fn a_waiter_gets_the_permit_that_is_returned() {
        let gate = Arc::new(Gate::new(1, Duration::from_secs(30)));
        let a = TenantId::from("a");
        let held = gate.enter(&a).await.unwrap();
        let waiter = tokio::spawn({
            let (gate, a) = (gate.clone(), a.clone());
            async move { gate.enter(&a).await.map(drop) }
        });
        tokio::task::yield_now().await;
        drop(held);
        assert_eq!(waiter.await.unwrap(), Ok(()));
    }

    #[tokio::test]
    async fn idle_tenants_are_forgotten_and_busy_ones_kept() {
        let gate = Gate::new(1, Duration::ZERO);
        let busy = gate.enter(&TenantId::from("busy")).await.unwrap();
        for i in 0..10 * PRUNE_FLOOR as i64 {
            drop(gate.enter(&TenantId::from(i)).await.unwrap());
            assert!(gate.tracked() <= PRUNE_FLOOR + 1);
        }
        // The busy tenant's semaphore survived every pruning: still capped.
        assert!(gate.enter(&TenantId::from("busy")).await.is_err());
        drop(busy);
        assert!(gate.enter(&TenantId::from("busy")).await.is_ok());
    }

    #[test]
    fn the_cap_is_at_least_one() {
        assert_eq!(Gate::new(0, Duration::ZERO).max, 1);
    }

    #[test]
    fn a_meter_reports_its_tenant_when_dropped() {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = calls.clone();
        let limits = Limits {
            gate: None,
            on_time: Some(Arc::new(move |t: &TenantId, _elapsed: Duration| {
                assert_eq!(t.as_str(), "acme");
                seen.fetch_add(1, Ordering::SeqCst);
            })),
        };
        drop(limits.meter(&TenantId::from("acme"), None));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Nothing configured, no span: nothing measured.
        assert!(
            Limits::default()
                .meter(&TenantId::from("acme"), Some(&tracing::Span::none()))
                .is_none()
        );
    }
}
