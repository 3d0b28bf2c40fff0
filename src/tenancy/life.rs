//! [`Life`]: whether a tenant still exists, as the connections of this
//! process see it, and the in-flight work that
//! [`Tenancy::deprovision`](super::Tenancy::deprovision) and a move's
//! pause wait for.
//!
//! Every [`TenantConnection`](crate::TenantConnection) a `Tenancy` hands
//! out holds its tenant's `Life`. Deprovision ends it first: from then on
//! each statement, transaction and stream of those connections is refused
//! with [`TenantError::UnknownTenant`] before anything is sent, and
//! deprovision waits until the work that entered before has left, so
//! nothing of the tenant is written after it returns. A move freezes it
//! for its last step: reads go on, at the source, which holds every row
//! while nothing writes; writes wait for the pause to end. A statement
//! pays one atomic read-lock (taken and released) on the hot path; a
//! statement inside a transaction one atomic load.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use tokio::sync::{Notify, OwnedRwLockReadGuard, RwLock};

use super::Tenancy;
use crate::{TenantError, TenantId};

/// A tenant's life in this process; cheap to clone. The default is a
/// life that never ends (connections made without a `Tenancy`).
#[derive(Clone, Default)]
pub(crate) struct Life(Option<Arc<Inner>>);

/// Where a life stands (see [`Life::stage`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Work of every kind goes on.
    Alive,
    /// A move's last step: reads go on, at the source; writes wait for
    /// the pause to end.
    Frozen,
    /// Moved elsewhere: its connections follow the tenant (single
    /// statements and transactions), or are refused with
    /// [`TenantError::Moved`] (streams, transactions open across the
    /// switch).
    Moved,
    /// Deprovisioned: refused with [`TenantError::UnknownTenant`].
    Ended,
}

const ALIVE: u8 = 0;
const FROZEN: u8 = 1;
const MOVED: u8 = 2;
const ENDED: u8 = 3;

struct Inner {
    stage: AtomicU8,
    /// Read-held by work in flight that may write; deprovision and a
    /// move's pause take it to write.
    work: Arc<RwLock<()>>,
    /// Read-held by reads let through while frozen; a move takes it to
    /// write before it removes the source.
    reads: Arc<RwLock<()>>,
    /// The pause a frozen (or just moved) life waits for.
    fence: Mutex<Option<Arc<Fence>>>,
    /// The tenancy a moved life's connections follow the tenant with.
    follow: OnceLock<Tenancy>,
}

/// Work in flight of a living tenant (a statement, a transaction, a
/// stream); deprovision waits until it is dropped. `frozen`: a read let
/// through during a move's pause, which must run read-only.
#[derive(Debug)]
pub(crate) struct Held {
    _guard: Option<OwnedRwLockReadGuard<()>>,
    frozen: bool,
}

impl Held {
    /// Whether this is a read during a move's pause: it must run where
    /// the database refuses writes (a `READ ONLY` transaction), and never
    /// be retried as a write.
    pub(crate) fn frozen(&self) -> bool {
        self.frozen
    }
}

impl Life {
    fn mortal() -> Self {
        Life(Some(Arc::new(Inner {
            stage: AtomicU8::new(ALIVE),
            work: Arc::new(RwLock::new(())),
            reads: Arc::new(RwLock::new(())),
            fence: Mutex::new(None),
            follow: OnceLock::new(),
        })))
    }

    fn ended() -> Self {
        let life = Self::mortal();
        life.end();
        life
    }

    /// Where this life stands: one atomic load.
    pub(crate) fn stage(&self) -> Stage {
        match self
            .0
            .as_ref()
            .map(|inner| inner.stage.load(Ordering::SeqCst))
        {
            None | Some(ALIVE) => Stage::Alive,
            Some(FROZEN) => Stage::Frozen,
            Some(MOVED) => Stage::Moved,
            Some(_) => Stage::Ended,
        }
    }

    /// Whether the tenant still exists here (always, for a life that
    /// never ends): alive or frozen.
    pub(crate) fn is_alive(&self) -> bool {
        matches!(self.stage(), Stage::Alive | Stage::Frozen)
    }

    /// `UnknownTenant` once the tenant was deprovisioned, `Moved` once it
    /// moved: for a new connection, which a frozen life may still get.
    pub(crate) fn check(&self, tenant: &TenantId) -> Result<(), TenantError> {
        if self.is_alive() {
            Ok(())
        } else {
            Err(self.refusal(tenant))
        }
    }

    /// [`check`](Self::check), and `Moved` while frozen too: for the
    /// statements of a transaction, whose [`Held`] the transaction keeps
    /// (one opened before a move's pause must not write during it).
    pub(crate) fn check_work(&self, tenant: &TenantId) -> Result<(), TenantError> {
        match self.stage() {
            Stage::Alive => Ok(()),
            _ => Err(self.refusal(tenant)),
        }
    }

    /// Why work of this life is refused: the tenant is moving or moved,
    /// or it was deprovisioned.
    fn refusal(&self, tenant: &TenantId) -> TenantError {
        match self.stage() {
            Stage::Ended => TenantError::UnknownTenant(tenant.to_string()),
            _ => TenantError::Moved(tenant.to_string()),
        }
    }

    /// Enters work of `tenant`: refused with `UnknownTenant` once
    /// deprovision began (`Moved` once it moved), else held until the
    /// returned value is dropped. While a move's pause freezes the life,
    /// a `read` is let through (its [`Held::frozen`] says so) and
    /// anything else is refused with `Moved`.
    pub(crate) fn enter(&self, tenant: &TenantId, read: bool) -> Result<Held, TenantError> {
        let Some(inner) = &self.0 else {
            return Ok(Held {
                _guard: None,
                frozen: false,
            });
        };
        let (lock, frozen) = match self.stage() {
            Stage::Alive => (&inner.work, false),
            Stage::Frozen if read => (&inner.reads, true),
            _ => return Err(self.refusal(tenant)),
        };
        // A deprovision or a pause waiting to write makes the lock refuse
        // at once.
        let guard = lock
            .clone()
            .try_read_owned()
            .map_err(|_| self.refusal(tenant))?;
        // Changed after the load, before the lock was taken: refused too;
        // changed after this load: the change waits for `guard`.
        let now = self.stage();
        if now != Stage::Alive && !(frozen && now == Stage::Frozen) {
            return Err(self.refusal(tenant));
        }
        Ok(Held {
            _guard: Some(guard),
            frozen,
        })
    }

    /// Waits until the pause of a frozen (or just moved) life is lifted:
    /// at most the pause and a second, then `Moved`.
    pub(crate) async fn lifted(&self, tenant: &TenantId) -> Result<(), TenantError> {
        let fence = self.0.as_ref().and_then(|inner| lock(&inner.fence).clone());
        match fence {
            Some(fence) => fence.lifted(tenant).await,
            None => Ok(()),
        }
    }

    /// The pause limit of the move that froze this life, if one did.
    #[cfg_attr(not(feature = "sqlx-postgres"), allow(dead_code))]
    pub(crate) fn pause_limit(&self) -> Option<Duration> {
        let inner = self.0.as_ref()?;
        lock(&inner.fence).as_ref().map(|fence| fence.wait)
    }

    /// The tenancy whose connections a moved life's connections follow.
    pub(crate) fn follow(&self) -> Option<&Tenancy> {
        self.0.as_ref().and_then(|inner| inner.follow.get())
    }

    fn set(&self, stage: u8) {
        if let Some(inner) = &self.0 {
            inner.stage.store(stage, Ordering::SeqCst);
        }
    }

    /// Ends the tenant's life: its work is refused from now on.
    fn end(&self) {
        self.set(ENDED);
    }

    /// Waits until the work that entered before the end (or the pause)
    /// has left.
    async fn drained(&self) {
        if let Some(inner) = &self.0 {
            drop(inner.work.write().await);
        }
    }

    /// Waits until the reads let through while frozen have left.
    async fn reads_drained(&self) {
        if let Some(inner) = &self.0 {
            drop(inner.reads.write().await);
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

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every change is one store: a poisoned mutex is whole.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// The current life of every tenant this process connected to, and the
/// tenants being moved right now; shared by the clones of a `Tenancy`.
#[derive(Clone, Default)]
pub(crate) struct Lives(Arc<Mutex<HashMap<TenantId, Life>>>);

/// A move's pause: lifted when its [`Pause`] is dropped.
struct Fence {
    lifted: Notify,
    done: AtomicBool,
    wait: Duration,
}

impl Fence {
    /// Waits until the pause is lifted: at most the pause and a second,
    /// then `Moved`.
    async fn lifted(&self, tenant: &TenantId) -> Result<(), TenantError> {
        let lifted = self.lifted.notified();
        tokio::pin!(lifted);
        lifted.as_mut().enable();
        if !self.done.load(Ordering::SeqCst)
            && tokio::time::timeout(self.wait.saturating_add(Duration::from_secs(1)), lifted)
                .await
                .is_err()
        {
            return Err(TenantError::Moved(tenant.to_string()));
        }
        Ok(())
    }
}

impl Lives {
    fn lock(&self) -> MutexGuard<'_, HashMap<TenantId, Life>> {
        lock(&self.0)
    }

    fn life_of(&self, tenant: &TenantId) -> Life {
        self.lock()
            .entry(tenant.clone())
            .or_insert_with(Life::mortal)
            .clone()
    }

    /// The life a new connection of `tenant` gets, at once while a move
    /// pauses the tenant (frozen: it reads at the source, its writes wait);
    /// between a move's switch and the end of its pause it waits (at most
    /// the pause and a second; then [`TenantError::Moved`]);
    /// `UnknownTenant` while the tenant is being deprovisioned.
    pub(crate) async fn current_or_wait(&self, tenant: &TenantId) -> Result<Life, TenantError> {
        loop {
            // One lock on the hot path.
            let life = self.life_of(tenant);
            if life.stage() != Stage::Moved {
                life.check(tenant)?;
                return Ok(life);
            }
            life.lifted(tenant).await?;
            // Lifted: the pause took the moved life out of the map.
            if self.life_of(tenant).same(&life) {
                return Err(TenantError::Moved(tenant.to_string()));
            }
        }
    }

    /// Pauses `tenant` for a move's last step: its life freezes (reads go
    /// on, work that may write is refused with [`TenantError::Moved`] or
    /// waits for the pause to end, at most `wait` and a second) until the
    /// returned [`Pause`] is dropped.
    pub(crate) fn pause(&self, tenant: &TenantId, wait: Duration) -> Pause {
        let fence = Arc::new(Fence {
            lifted: Notify::new(),
            done: AtomicBool::new(false),
            wait,
        });
        let life = self.life_of(tenant);
        if let Some(inner) = &life.0 {
            *lock(&inner.fence) = Some(fence.clone());
            // Only a living tenant freezes (the move holds its lifecycle
            // lock: it is not being deprovisioned).
            let _ = inner
                .stage
                .compare_exchange(ALIVE, FROZEN, Ordering::SeqCst, Ordering::SeqCst);
        }
        Pause {
            lives: self.clone(),
            tenant: tenant.clone(),
            life,
            fence,
            switching: false,
        }
    }

    /// The life a new connection of `tenant` gets; `UnknownTenant` while
    /// it is being deprovisioned.
    pub(crate) fn current(&self, tenant: &TenantId) -> Result<Life, TenantError> {
        let life = self.life_of(tenant);
        life.check(tenant)?;
        Ok(life)
    }

    /// Ends `tenant`'s life: no new connection (`UnknownTenant`) until
    /// the returned [`Ending`] is dropped, and every statement of the
    /// connections handed out is refused.
    pub(crate) fn end(&self, tenant: &TenantId) -> Ending {
        let old = self.lock().insert(tenant.clone(), Life::ended());
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
        if map.get(&self.tenant).is_some_and(|l| !l.is_alive()) {
            map.remove(&self.tenant);
        }
    }
}

/// A tenant paused by a move ([`Lives::pause`]); dropped, the pause is
/// lifted: a frozen life thaws (the move gave up), a moved one is let go
/// and new connections go to where the registry says.
pub(crate) struct Pause {
    lives: Lives,
    tenant: TenantId,
    life: Life,
    fence: Arc<Fence>,
    /// The registry's switch was sent: dropped before
    /// [`switched`](Self::switched), whether it took is not known.
    switching: bool,
}

impl Pause {
    /// Waits until the work that may write, in flight when the pause
    /// began, has left.
    pub(crate) async fn drained(&self) {
        self.life.drained().await;
    }

    /// The registry's switch is about to be sent. From now on, a pause
    /// dropped before [`switched`](Self::switched) (the move's future
    /// dropped, or an error that may have come after the commit reached
    /// the server) does not let the tenant's connections go on where they
    /// were: their work is refused with `Moved`, and new connections read
    /// the registry again.
    pub(crate) fn switching(&mut self) {
        self.switching = true;
    }

    /// The registry names the tenant's new place: its connections follow
    /// it through `tenancy` once the pause is lifted (their transactions
    /// and streams are refused with `Moved`), and this waits, at most
    /// `wait`, for the reads let through at the old place to end, so the
    /// old place can be removed under none (on Postgres they run with a
    /// statement timeout of at most the pause, so they have ended; a read
    /// that had not begun when the life moved refuses itself, see
    /// [`Stage::Moved`]).
    pub(crate) async fn switched(&self, tenancy: &Tenancy, wait: Duration) {
        if let Some(inner) = &self.life.0 {
            let _ = inner.follow.set(tenancy.clone());
            inner.stage.store(MOVED, Ordering::SeqCst);
        }
        // A second more than the pause: a read that checked the stage
        // just before the switch still ends within its statement timeout.
        let wait = wait.saturating_add(Duration::from_secs(1));
        let _ = tokio::time::timeout(wait, self.life.reads_drained()).await;
    }
}

impl Drop for Pause {
    fn drop(&mut self) {
        {
            let mut map = self.lives.lock();
            if self.switching
                && self.life.stage() == Stage::Frozen
                && let Some(inner) = &self.life.0
            {
                // Switched or not, nobody knows: fail safe.
                inner.stage.store(MOVED, Ordering::SeqCst);
            }
            match self.life.stage() {
                // Before a waiting connection wakes: it gets a new life
                // (and reads the registry again).
                Stage::Moved => {
                    if map.get(&self.tenant).is_some_and(|l| l.same(&self.life)) {
                        map.remove(&self.tenant);
                    }
                }
                // The move gave up: the tenant stays where it was, and its
                // connections go on.
                _ => {
                    if let Some(inner) = &self.life.0 {
                        let _ = inner.stage.compare_exchange(
                            FROZEN,
                            ALIVE,
                            Ordering::SeqCst,
                            Ordering::SeqCst,
                        );
                    }
                }
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
        let held = life.enter(&acme, false).unwrap();
        let ending = lives.end(&acme);
        assert!(matches!(
            life.enter(&acme, false),
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
        assert!(again.enter(&acme, false).is_ok());
        assert!(!again.same(&life));
        assert!(again.same(&lives.current(&acme).unwrap()));
    }

    #[tokio::test]
    async fn a_pause_lets_reads_through_and_holds_writes_until_lifted() {
        let lives = Lives::default();
        let acme = TenantId::from("acme");
        let life = lives.current_or_wait(&acme).await.unwrap();
        let pause = lives.pause(&acme, Duration::from_secs(5));
        pause.drained().await;
        assert_eq!(life.stage(), Stage::Frozen);
        assert!(matches!(
            life.enter(&acme, false),
            Err(TenantError::Moved(_))
        ));
        assert!(life.enter(&acme, true).unwrap().frozen());
        assert!(matches!(life.check_work(&acme), Err(TenantError::Moved(_))));
        // A new connection gets the frozen life at once, for its reads.
        let new = lives.current_or_wait(&acme).await.unwrap();
        assert!(new.same(&life));
        let writer = tokio::spawn({
            let life = life.clone();
            let acme = acme.clone();
            async move { life.lifted(&acme).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!writer.is_finished(), "a write waits while paused");
        // The move gave up: the same life goes on.
        drop(pause);
        assert!(writer.await.unwrap().is_ok());
        assert!(!life.enter(&acme, false).unwrap().frozen());
        assert!(lives.current(&acme).unwrap().same(&life));
    }

    #[tokio::test]
    async fn a_switch_moves_the_life_and_new_connections_wait_for_the_lift() {
        let lives = Lives::default();
        let acme = TenantId::from("acme");
        let life = lives.current_or_wait(&acme).await.unwrap();
        let pause = lives.pause(&acme, Duration::from_secs(5));
        let read = life.enter(&acme, true).unwrap();
        let tenancy = Tenancy::shared_schema(sea_orm::DatabaseConnection::default());
        {
            // The switch waits for the reads let through to end.
            let switched = pause.switched(&tenancy, Duration::from_secs(5));
            tokio::pin!(switched);
            assert!(
                tokio::time::timeout(Duration::from_millis(50), &mut switched)
                    .await
                    .is_err()
            );
            drop(read);
            switched.await;
        }
        assert_eq!(life.stage(), Stage::Moved);
        assert!(life.follow().is_some());
        assert!(matches!(
            life.enter(&acme, true),
            Err(TenantError::Moved(_))
        ));
        let waiting = tokio::spawn({
            let lives = lives.clone();
            let acme = acme.clone();
            async move { lives.current_or_wait(&acme).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !waiting.is_finished(),
            "a new connection waits for the lift"
        );
        drop(pause);
        let after = waiting.await.unwrap().unwrap();
        assert!(after.enter(&acme, false).is_ok());
        assert!(!after.same(&life));
        // A pause that outlasts its limit: a write gives up with `Moved`.
        let _long = lives.pause(&acme, Duration::ZERO);
        let gave_up = tokio::time::timeout(Duration::from_secs(3), after.lifted(&acme)).await;
        assert!(matches!(gave_up, Ok(Err(TenantError::Moved(_)))));
    }

    #[test]
    fn a_life_without_tenancy_never_ends() {
        let life = Life::default();
        assert!(life.enter(&TenantId::from("acme"), false).is_ok());
        assert!(life.is_alive());
    }
}
