//! [`Life`]: whether a tenant still exists, as the connections of this
//! process see it, and the in-flight work that
//! [`Tenancy::deprovision`](super::Tenancy::deprovision) waits for.
//!
//! Every [`TenantConnection`](crate::TenantConnection) a `Tenancy` hands
//! out holds its tenant's `Life`. Deprovision ends it first: from then on
//! each statement, transaction and stream of those connections is refused
//! with [`TenantError::UnknownTenant`] before anything is sent, and
//! deprovision waits until the work that entered before has left, so
//! nothing of the tenant is written after it returns. A statement pays
//! one atomic read-lock (taken and released) on the hot path; a
//! statement inside a transaction one atomic load.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{OwnedRwLockReadGuard, RwLock};

use crate::{TenantError, TenantId};

/// A tenant's life in this process; cheap to clone. The default is a
/// life that never ends (connections made without a `Tenancy`).
#[derive(Clone, Default)]
pub(crate) struct Life(Option<Arc<Inner>>);

struct Inner {
    ended: AtomicBool,
    /// Read-held by work in flight; deprovision takes it to write.
    work: Arc<RwLock<()>>,
}

/// Work in flight of a living tenant (a statement, a transaction, a
/// stream); deprovision waits until it is dropped.
#[derive(Debug)]
pub(crate) struct Held(#[allow(dead_code)] Option<OwnedRwLockReadGuard<()>>);

impl Life {
    fn mortal() -> Self {
        Life(Some(Arc::new(Inner {
            ended: AtomicBool::new(false),
            work: Arc::new(RwLock::new(())),
        })))
    }

    fn ended() -> Self {
        let life = Self::mortal();
        life.end();
        life
    }

    /// Whether the tenant still exists (always, for a life that never
    /// ends).
    pub(crate) fn is_alive(&self) -> bool {
        self.0
            .as_ref()
            .is_none_or(|inner| !inner.ended.load(Ordering::SeqCst))
    }

    /// `UnknownTenant` once the tenant was deprovisioned: for statements
    /// inside a transaction, whose [`Held`] the transaction keeps.
    pub(crate) fn check(&self, tenant: &TenantId) -> Result<(), TenantError> {
        if self.is_alive() {
            Ok(())
        } else {
            Err(TenantError::UnknownTenant(tenant.to_string()))
        }
    }

    /// Enters work of `tenant`: refused with `UnknownTenant` once
    /// deprovision began, else held until the returned value is dropped.
    pub(crate) fn enter(&self, tenant: &TenantId) -> Result<Held, TenantError> {
        let Some(inner) = &self.0 else {
            return Ok(Held(None));
        };
        // A deprovision waiting to write makes the lock refuse at once.
        let guard = inner
            .work
            .clone()
            .try_read_owned()
            .map_err(|_| TenantError::UnknownTenant(tenant.to_string()))?;
        // Ended after the check of the lock, before it was taken: refused
        // too; ended after this load: deprovision waits for `guard`.
        self.check(tenant)?;
        Ok(Held(Some(guard)))
    }

    /// Ends the tenant's life: its work is refused from now on.
    fn end(&self) {
        if let Some(inner) = &self.0 {
            inner.ended.store(true, Ordering::SeqCst);
        }
    }

    /// Waits until the work that entered before the end has left.
    async fn drained(&self) {
        if let Some(inner) = &self.0 {
            drop(inner.work.write().await);
        }
    }

    /// Whether both are the same life (of the same tenant).
    pub(crate) fn same(&self, other: &Life) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }
}

/// The current life of every tenant this process connected to; shared by
/// the clones of a `Tenancy`.
#[derive(Clone, Default)]
pub(crate) struct Lives(Arc<Mutex<HashMap<TenantId, Life>>>);

impl Lives {
    fn map(&self) -> MutexGuard<'_, HashMap<TenantId, Life>> {
        // Every change is one insert or remove: a poisoned map is whole.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The life a new connection of `tenant` gets; `UnknownTenant` while
    /// it is being deprovisioned.
    pub(crate) fn current(&self, tenant: &TenantId) -> Result<Life, TenantError> {
        let life = self
            .map()
            .entry(tenant.clone())
            .or_insert_with(Life::mortal)
            .clone();
        life.check(tenant)?;
        Ok(life)
    }

    /// Ends `tenant`'s life: no new connection (`UnknownTenant`) until
    /// the returned [`Ending`] is dropped, and every statement of the
    /// connections handed out is refused.
    pub(crate) fn end(&self, tenant: &TenantId) -> Ending {
        let old = self.map().insert(tenant.clone(), Life::ended());
        if let Some(old) = &old {
            old.end();
        }
        Ending {
            lives: self.clone(),
            tenant: tenant.clone(),
            old: old.unwrap_or_else(Life::ended),
        }
    }
}

/// A tenant being deprovisioned: new connections are refused while it
/// lives; dropped, the tenant may be provisioned and connected again.
pub(crate) struct Ending {
    lives: Lives,
    tenant: TenantId,
    old: Life,
}

impl Ending {
    /// Waits until the work in flight of the ended life left.
    pub(crate) async fn drained(&self) {
        self.old.drained().await;
    }
}

impl Drop for Ending {
    fn drop(&mut self) {
        let mut map = self.lives.map();
        if map.get(&self.tenant).is_some_and(|l| !l.is_alive()) {
            map.remove(&self.tenant);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn ending_refuses_new_work_and_waits_for_work_in_flight() {
        let lives = Lives::default();
        let acme = TenantId::from("acme");
        let life = lives.current(&acme).unwrap();
        let held = life.enter(&acme).unwrap();
        let ending = lives.end(&acme);
        assert!(matches!(
            life.enter(&acme),
            Err(TenantError::UnknownTenant(_))
        ));
        assert!(life.check(&acme).is_err());
        assert!(lives.current(&acme).is_err());
        {
            let drained = ending.drained();
            tokio::pin!(drained);
            assert!(
                tokio::time::timeout(Duration::from_millis(50), &mut drained)
                    .await
                    .is_err()
            );
            drop(held);
            drained.await;
        }
        drop(ending);
        // A new life afterwards, not the ended one.
        let again = lives.current(&acme).unwrap();
        assert!(again.enter(&acme).is_ok());
        assert!(!again.same(&life));
        assert!(again.same(&lives.current(&acme).unwrap()));
    }

    #[test]
    fn a_life_without_tenancy_never_ends() {
        let life = Life::default();
        assert!(life.enter(&TenantId::from("acme")).is_ok());
        assert!(life.is_alive());
    }
}
