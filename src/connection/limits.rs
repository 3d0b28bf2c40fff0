//! Noisy-neighbour limits of a [`Tenancy`](crate::Tenancy): a
//! per-tenant cap on concurrent database work (a [`Gate`]) and a hook that
//! sees the database time of every statement ([`Meter`]).
//!
//! Both are optional. When neither is configured a [`Limits`] is two
//! `None`s: the statement path takes no lock, allocates nothing and reads
//! no clock (unless the `tenant_statement` span is enabled, which records
//! the time too).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::gate::{self, Gate};
use sea_orm::DatabaseConnection;

use super::observe::Observer;
use crate::{TenantError, TenantId};

/// The user's database-time hook: the tenant and the elapsed time of one
/// statement.
pub(crate) type DbTimeHook = Arc<dyn Fn(&TenantId, Duration) + Send + Sync>;

/// A permit of a tenant's [`Gate`], shared by a transaction and its
/// savepoints.
pub(crate) type Permit = Arc<gate::Permit>;

/// The limits a [`TenantConnection`](super::TenantConnection) runs its
/// statements under; cheap to clone (two optional `Arc`s).
#[derive(Clone, Default)]
pub(crate) struct Limits {
    pub(crate) gate: Option<Gate>,
    pub(crate) on_time: Option<DbTimeHook>,
}

impl Limits {
    /// Waits for one of `tenant`'s permits (none needed without a cap), at
    /// most the gate's wait; [`TenantError::Busy`] after that.
    pub(crate) async fn enter(&self, tenant: &TenantId) -> Result<Option<Permit>, TenantError> {
        let Some(gate) = &self.gate else {
            return Ok(None);
        };
        match gate.acquire(tenant).await {
            Some(permit) => Ok(Some(Arc::new(permit))),
            None => {
                #[cfg(feature = "metrics")]
                crate::metrics::busy(tenant);
                Err(TenantError::Busy {
                    tenant: tenant.to_string(),
                    limit: gate.max(),
                })
            }
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
                &self.gate.as_ref().map(Gate::max),
            )
            .field("concurrency_wait", &self.gate.as_ref().map(Gate::wait))
            .field("on_database_time", &self.on_time.is_some())
            .finish()
    }
}

/// The statement timeout of a tenant, or `None` for the server's own.
pub(crate) type TimeoutPolicy = Arc<dyn Fn(&TenantId) -> Option<Duration> + Send + Sync>;

/// How long an operation waits for one of its tenant's permits by default.
pub(crate) const DEFAULT_CONCURRENCY_WAIT: Duration = Duration::from_secs(30);

/// The noisy-neighbour settings of a [`Tenancy`](crate::Tenancy): what
/// each connection it hands out runs under. Clones share the per-tenant
/// permits.
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
            .map(|max| Gate::new(max, self.concurrency_wait));
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn capped(max: usize, wait: Duration) -> Limits {
        Limits {
            gate: Some(Gate::new(max, wait)),
            on_time: None,
        }
    }

    #[tokio::test]
    async fn a_tenant_at_its_cap_waits_then_is_busy_while_another_proceeds() {
        let limits = capped(2, Duration::from_millis(20));
        let (a, b) = (TenantId::from("a"), TenantId::from("b"));
        let first = limits.enter(&a).await.unwrap();
        let _second = limits.enter(&a).await.unwrap();
        assert_eq!(
            limits.enter(&a).await.unwrap_err(),
            TenantError::Busy {
                tenant: "a".into(),
                limit: 2
            }
        );
        let _other = limits.enter(&b).await.unwrap();
        drop(first);
        let _third = limits.enter(&a).await.unwrap();
    }

    #[tokio::test]
    async fn no_cap_takes_no_permit() {
        assert!(
            Limits::default()
                .enter(&TenantId::from("a"))
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_shared_permit_is_returned_with_its_last_clone() {
        let limits = capped(1, Duration::ZERO);
        let a = TenantId::from("a");
        let permit = limits.enter(&a).await.unwrap();
        let savepoint = permit.clone();
        drop(permit);
        assert!(limits.enter(&a).await.is_err());
        drop(savepoint);
        assert!(limits.enter(&a).await.is_ok());
    }

    #[test]
    fn a_policy_caps_only_once_configured() {
        let mut policy = Policy::default();
        assert!(policy.limits.gate.is_none());
        policy.set_max_concurrent(0);
        policy.set_concurrency_wait(Duration::from_millis(5));
        let gate = policy.limits.gate.as_ref().unwrap();
        assert_eq!((gate.max(), gate.wait()), (1, Duration::from_millis(5)));
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
