//! [`TenantDirectory`]: does the tenant exist, and is it active? (cached)

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Rejection;
use crate::TenantId;

/// What a [`TenantDirectory`] lookup says about a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantStatus {
    /// The tenant exists and may be served.
    Active,
    /// The tenant exists but is suspended: 403.
    Suspended,
    /// No such tenant: 404.
    Unknown,
}

type LookupFuture = Pin<Box<dyn Future<Output = Result<TenantStatus, String>> + Send>>;
type Lookup = Arc<dyn Fn(TenantId) -> LookupFuture + Send + Sync>;
type Cache = HashMap<TenantId, (TenantStatus, Instant)>;

/// An async lookup of whether a tenant exists and is active, with a
/// bounded, time-limited cache in front of it.
///
/// Give it to [`TenantLayer::directory`](super::TenantLayer::directory):
/// an unknown tenant is then answered 404 and a suspended one 403 before
/// the handler runs. Negative answers are cached too, so a stream of made-up
/// tenant ids does not reach the database more than once per id and TTL.
/// When the lookup fails, the request is refused with 503 (fail closed) and
/// nothing is cached.
///
/// ```
/// use sea_orm_tenant::TenantId;
/// use sea_orm_tenant::http::{Rejection, TenantDirectory, TenantStatus};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let dir = TenantDirectory::new(|t: TenantId| async move {
///     Ok::<_, std::convert::Infallible>(match t.as_str().as_ref() {
///         "acme" => TenantStatus::Active,
///         "initech" => TenantStatus::Suspended,
///         _ => TenantStatus::Unknown,
///     })
/// });
/// assert_eq!(dir.check(&TenantId::from("acme")).await, Ok(()));
/// assert_eq!(dir.check(&TenantId::from("initech")).await, Err(Rejection::Suspended));
/// assert_eq!(dir.check(&TenantId::from("nobody")).await, Err(Rejection::UnknownTenant));
/// # }
/// ```
#[derive(Clone)]
pub struct TenantDirectory {
    lookup: Lookup,
    cache: Arc<Mutex<Cache>>,
    ttl: Duration,
    capacity: usize,
}

impl fmt::Debug for TenantDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantDirectory")
            .field("ttl", &self.ttl)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl TenantDirectory {
    /// A directory answering with `lookup`, cached for 30 s, for at most
    /// 100 000 tenants.
    ///
    /// ```
    /// use sea_orm_tenant::http::{TenantDirectory, TenantStatus};
    /// let dir = TenantDirectory::new(|_t| async { Ok::<_, String>(TenantStatus::Active) });
    /// # let _ = dir;
    /// ```
    pub fn new<F, Fut, E>(lookup: F) -> Self
    where
        F: Fn(TenantId) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<TenantStatus, E>> + Send + 'static,
        E: fmt::Display,
    {
        let lookup: Lookup = Arc::new(move |tenant| {
            let fut = lookup(tenant);
            Box::pin(async move { fut.await.map_err(|e| e.to_string()) })
        });
        TenantDirectory {
            lookup,
            cache: Arc::new(Mutex::new(HashMap::new())),
            ttl: Duration::from_secs(30),
            capacity: 100_000,
        }
    }

    /// How long an answer is cached (default 30 s); zero disables the cache.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sea_orm_tenant::http::{TenantDirectory, TenantStatus};
    /// let dir = TenantDirectory::new(|_t| async { Ok::<_, String>(TenantStatus::Active) })
    ///     .ttl(Duration::from_secs(5));
    /// # let _ = dir;
    /// ```
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The most tenants cached at once (default 100 000). When full,
    /// expired entries are dropped, and if none were, the cache is emptied.
    ///
    /// ```
    /// use sea_orm_tenant::http::{TenantDirectory, TenantStatus};
    /// let dir = TenantDirectory::new(|_t| async { Ok::<_, String>(TenantStatus::Active) })
    ///     .capacity(10_000);
    /// # let _ = dir;
    /// ```
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    fn cached(&self, tenant: &TenantId) -> Option<TenantStatus> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        match cache.get(tenant) {
            Some((status, at)) if at.elapsed() < self.ttl => Some(*status),
            _ => None,
        }
    }

    fn remember(&self, tenant: &TenantId, status: TenantStatus) {
        if self.ttl.is_zero() {
            return;
        }
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= self.capacity && !cache.contains_key(tenant) {
            let ttl = self.ttl;
            cache.retain(|_, (_, at)| at.elapsed() < ttl);
            if cache.len() >= self.capacity {
                cache.clear();
            }
        }
        cache.insert(tenant.clone(), (status, Instant::now()));
    }

    /// The tenant's status, from the cache or the lookup;
    /// [`Rejection::Unavailable`] when the lookup fails.
    ///
    /// ```
    /// use sea_orm_tenant::TenantId;
    /// use sea_orm_tenant::http::{Rejection, TenantDirectory, TenantStatus};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let down = TenantDirectory::new(|_t| async { Err::<TenantStatus, _>("db down") });
    /// assert_eq!(down.status(&TenantId::from("acme")).await, Err(Rejection::Unavailable));
    /// # }
    /// ```
    pub async fn status(&self, tenant: &TenantId) -> Result<TenantStatus, Rejection> {
        if let Some(status) = self.cached(tenant) {
            return Ok(status);
        }
        match (self.lookup)(tenant.clone()).await {
            Ok(status) => {
                self.remember(tenant, status);
                Ok(status)
            }
            Err(error) => {
                tracing::warn!(tenant = %tenant, %error, "tenant: directory lookup failed");
                Err(Rejection::Unavailable)
            }
        }
    }

    /// `Ok` for an active tenant, else the rejection: 404 unknown, 403
    /// suspended, 503 when the lookup fails.
    ///
    /// ```
    /// use sea_orm_tenant::TenantId;
    /// use sea_orm_tenant::http::{TenantDirectory, TenantStatus};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let dir = TenantDirectory::new(|_t| async { Ok::<_, String>(TenantStatus::Active) });
    /// assert!(dir.check(&TenantId::from("acme")).await.is_ok());
    /// # }
    /// ```
    pub async fn check(&self, tenant: &TenantId) -> Result<(), Rejection> {
        match self.status(tenant).await? {
            TenantStatus::Active => Ok(()),
            TenantStatus::Suspended => Err(Rejection::Suspended),
            TenantStatus::Unknown => Err(Rejection::UnknownTenant),
        }
    }

    /// Forgets the cached answer for `tenant` (after suspending it, say).
    ///
    /// ```
    /// use sea_orm_tenant::TenantId;
    /// use sea_orm_tenant::http::{TenantDirectory, TenantStatus};
    /// let dir = TenantDirectory::new(|_t| async { Ok::<_, String>(TenantStatus::Active) });
    /// dir.invalidate(&TenantId::from("acme"));
    /// ```
    pub fn invalidate(&self, tenant: &TenantId) {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(tenant);
    }
}
