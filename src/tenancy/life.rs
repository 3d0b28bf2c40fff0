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
use std::time::Duration;

use tokio::sync::{Notify, OwnedRwLockReadGuard, RwLock};

use crate::{TenantError, TenantId};

/// A tenant's life in this process; cheap to clone. The default is a
/// life that never ends (connections made without a `Tenancy`).
#[derive(Clone, Default)]
pub(crate) struct Life(Option<Arc<Inner>>);

struct Inner {
    ended: AtomicBool,
    /// Ended by a move, not a deprovision: its work is refused with
    /// [`TenantError::Moved`].
    moved: AtomicBool,
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
            moved: AtomicBool::new(false),
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
            Err(self.refusal(tenant))
        }
    }

    /// Why work of an ended life is refused: the tenant moved, or it was
    /// deprovisioned.
    fn refusal(&self, tenant: &TenantId) -> TenantError {
        match &self.0 {
            Some(inner) if inner.moved.load(Ordering::SeqCst) => {
                TenantError::Moved(tenant.to_string())
            }
            _ => TenantError::UnknownTenant(tenant.to_string()),
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
            .map_err(|_| self.refusal(tenant))?;
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

/// The current life of every tenant this process connected to, and the
/// tenants being moved right now; shared by the clones of a `Tenancy`.
#[derive(Clone, Default)]
pub(crate) struct Lives(Arc<Mutex<Map>>);

#[derive(Default)]
struct Map {
    lives: HashMap<TenantId, Life>,
    fences: HashMap<TenantId, Arc<Fence>>,
}

/// A tenant's writes paused for a move's last step: new connections wait
/// until it is lifted (at most `wait`).
struct Fence {
    lifted: Notify,
    done: AtomicBool,
    wait: Duration,
}

impl Lives {
    fn lock(&self) -> MutexGuard<'_, Map> {
        // Every change is one insert or remove: a poisoned map is whole.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The life a new connection of `tenant` gets, waiting while a move
    /// pauses the tenant (at most the move's pause and a second; then
    /// [`TenantError::Moved`]); `UnknownTenant` while it is being
    /// deprovisioned.
    pub(crate) async fn current_or_wait(&self, tenant: &TenantId) -> Result<Life, TenantError> {
        loop {
            // One lock on the hot path: no fence, the life as `current`
            // gives it.
            let fence = {
                let mut map = self.lock();
                match map.fences.get(tenant) {
                    Some(fence) => fence.clone(),
                    None => {
                        let life = map
                            .lives
                            .entry(tenant.clone())
                            .or_insert_with(Life::mortal)
                            .clone();
                        drop(map);
                        life.check(tenant)?;
                        return Ok(life);
                    }
                }
            };
            let lifted = fence.lifted.notified();
            tokio::pin!(lifted);
            lifted.as_mut().enable();
            if !fence.done.load(Ordering::SeqCst)
                && tokio::time::timeout(fence.wait + Duration::from_secs(1), lifted)
                    .await
                    .is_err()
            {
                return Err(TenantError::Moved(tenant.to_string()));
            }
        }
    }

    /// Pauses `tenant` for a move's last step: its life ends (the work of
    /// the connections handed out is refused with [`TenantError::Moved`]),
    /// and new connections wait, at most `wait`, until the returned
    /// [`Pause`] is dropped.
    pub(crate) fn pause(&self, tenant: &TenantId, wait: Duration) -> Pause {
        let fence = Arc::new(Fence {
            lifted: Notify::new(),
            done: AtomicBool::new(false),
            wait,
        });
        let old = {
            let mut map = self.lock();
            map.fences.insert(tenant.clone(), fence.clone());
            let old = map.lives.insert(tenant.clone(), Life::ended());
            if let Some(old) = &old
                && let Some(inner) = &old.0
            {
                inner.moved.store(true, Ordering::SeqCst);
                old.end();
            }
            old
        };
        Pause {
            ending: Ending {
                lives: self.clone(),
                tenant: tenant.clone(),
                old: old.unwrap_or_else(Life::ended),
            },
            fence,
        }
    }

    /// The life a new connection of `tenant` gets; `UnknownTenant` while
    /// it is being deprovisioned.
    pub(crate) fn current(&self, tenant: &TenantId) -> Result<Life, TenantError> {
        let life = self
            .lock()
            .lives
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
        let old = self.lock().lives.insert(tenant.clone(), Life::ended());
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
        let mut map = self.lives.lock();
        if map.lives.get(&self.tenant).is_some_and(|l| !l.is_alive()) {
            map.lives.remove(&self.tenant);
        }
    }
}

/// A tenant paused by a move ([`Lives::pause`]); dropped, the pause is
/// lifted and waiting connections go on (to where the registry says).
pub(crate) struct Pause {
    ending: Ending,
    fence: Arc<Fence>,
}

impl Pause {
    /// Waits until the work in flight of the ended life left.
    pub(crate) async fn drained(&self) {
        self.ending.drained().await;
    }
}

impl Drop for Pause {
    fn drop(&mut self) {
        {
            let mut map = self.ending.lives.lock();
            if map
                .fences
                .get(&self.ending.tenant)
                .is_some_and(|f| Arc::ptr_eq(f, &self.fence))
            {
                map.fences.remove(&self.ending.tenant);
            }
            // Before a waiting connection wakes: it gets a new life.
            if map
                .lives
                .get(&self.ending.tenant)
                .is_some_and(|l| !l.is_alive())
            {
                map.lives.remove(&self.ending.tenant);
            }
        }
        self.fence.done.store(true, Ordering::SeqCst);
        self.fence.lifted.notify_waiters();
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

    #[tokio::test]
    async fn a_pause_refuses_old_work_and_holds_new_connections_until_lifted() {
        let lives = Lives::default();
        let acme = TenantId::from("acme");
        let life = lives.current_or_wait(&acme).await.unwrap();
        let pause = lives.pause(&acme, Duration::from_secs(5));
        assert!(matches!(life.enter(&acme), Err(TenantError::Moved(_))));
        pause.drained().await;
        let waiting = tokio::spawn({
            let lives = lives.clone();
            let acme = acme.clone();
            async move { lives.current_or_wait(&acme).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !waiting.is_finished(),
            "a new connection waits while paused"
        );
        drop(pause);
        let after = waiting.await.unwrap().unwrap();
        assert!(after.enter(&acme).is_ok());
        assert!(!after.same(&life));
        // A pause that outlasts its limit: the waiter gives up with `Moved`.
        let _long = lives.pause(&acme, Duration::ZERO);
        let gave_up =
            tokio::time::timeout(Duration::from_secs(3), lives.current_or_wait(&acme)).await;
        assert!(matches!(gave_up, Ok(Err(TenantError::Moved(_)))));
    }

    #[test]
    fn a_life_without_tenancy_never_ends() {
        let life = Life::default();
        assert!(life.enter(&TenantId::from("acme")).is_ok());
        assert!(life.is_alive());
    }
}
