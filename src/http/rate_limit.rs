//! [`TenantRateLimitLayer`]: per-tenant request rate limits.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use axum::http::Request;
use axum::response::{IntoResponse, Response};
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, RateLimiter};
use tower::{Layer, Service};

use super::{Quota, Rejection};
use crate::TenantId;

type PlanOf = Arc<dyn Fn(&TenantId) -> Option<String> + Send + Sync>;

/// How often (in requests) the limiters forget tenants whose bucket has
/// refilled, which bounds their memory.
const HOUSEKEEPING_EVERY: u64 = 1024;

/// Per-tenant rate limits: a default quota, named plans with their own
/// quotas, and a function that says which plan a tenant is on.
///
/// Each plan is a governor keyed limiter (GCRA, keyed by [`TenantId`]), so
/// one tenant's burst only drains its own bucket. Memory is bounded: every
/// 1024 requests the limiters drop the tenants whose bucket has refilled
/// (`retain_recent`) and shrink, so the state held is about one small
/// entry per tenant active within one refill period.
///
/// ```
/// use std::num::NonZeroU32;
/// use sea_orm_tenant::TenantId;
/// use sea_orm_tenant::http::{Quota, TenantRateLimit};
///
/// let per_sec = |n| Quota::per_second(NonZeroU32::new(n).unwrap());
/// let limits = TenantRateLimit::new(per_sec(2))
///     .plan("pro", per_sec(100))
///     .plan_of(|t: &TenantId| (t.as_str() == "bigco").then(|| "pro".to_string()));
///
/// let small = TenantId::from("acme");
/// assert!(limits.check(&small).is_ok());
/// assert!(limits.check(&small).is_ok());
/// assert!(limits.check(&small).is_err()); // third in the same second
/// assert!(limits.check(&TenantId::from("bigco")).is_ok());
/// ```
#[derive(Clone)]
pub struct TenantRateLimit {
    default: Arc<DefaultKeyedRateLimiter<TenantId>>,
    plans: Arc<HashMap<String, Arc<DefaultKeyedRateLimiter<TenantId>>>>,
    plan_of: Option<PlanOf>,
    seen: Arc<AtomicU64>,
}

impl std::fmt::Debug for TenantRateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantRateLimit")
            .field("plans", &self.plans.keys().collect::<Vec<_>>())
            .field("tenants_tracked", &self.tracked())
            .finish_non_exhaustive()
    }
}

impl TenantRateLimit {
    /// Limits every tenant to `default`, unless its plan says otherwise.
    ///
    /// ```
    /// use std::num::NonZeroU32;
    /// use sea_orm_tenant::http::{Quota, TenantRateLimit};
    /// let limits = TenantRateLimit::new(Quota::per_minute(NonZeroU32::MIN));
    /// # let _ = limits;
    /// ```
    pub fn new(default: Quota) -> Self {
        TenantRateLimit {
            default: Arc::new(RateLimiter::keyed(default.to_governor())),
            plans: Arc::new(HashMap::new()),
            plan_of: None,
            seen: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Adds a plan named `name` with its own quota. A tenant-specific quota
    /// is a plan with one tenant on it.
    ///
    /// ```
    /// use std::num::NonZeroU32;
    /// use sea_orm_tenant::http::{Quota, TenantRateLimit};
    /// let q = Quota::per_second(NonZeroU32::new(50).unwrap());
    /// let limits = TenantRateLimit::new(q).plan("enterprise", q.allow_burst(NonZeroU32::new(500).unwrap()));
    /// # let _ = limits;
    /// ```
    pub fn plan(mut self, name: &str, quota: Quota) -> Self {
        Arc::make_mut(&mut self.plans).insert(
            name.to_owned(),
            Arc::new(RateLimiter::keyed(quota.to_governor())),
        );
        self
    }

    /// Says which plan a tenant is on; `None` or an unknown plan name means
    /// the default quota. Called on every request: keep it a lookup in
    /// memory.
    ///
    /// ```
    /// use std::num::NonZeroU32;
    /// use sea_orm_tenant::http::{Quota, TenantRateLimit};
    /// let q = Quota::per_second(NonZeroU32::new(5).unwrap());
    /// let limits = TenantRateLimit::new(q).plan("pro", q).plan_of(|_t| Some("pro".into()));
    /// # let _ = limits;
    /// ```
    pub fn plan_of(
        mut self,
        f: impl Fn(&TenantId) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.plan_of = Some(Arc::new(f));
        self
    }

    fn limiter(&self, tenant: &TenantId) -> &DefaultKeyedRateLimiter<TenantId> {
        self.plan_of
            .as_ref()
            .and_then(|f| f(tenant))
            .and_then(|plan| self.plans.get(&plan))
            .unwrap_or(&self.default)
            .as_ref()
    }

    /// Takes one request from `tenant`'s quota, or says how long to wait.
    ///
    /// ```
    /// use std::num::NonZeroU32;
    /// use sea_orm_tenant::{TenantId, http::{Quota, Rejection, TenantRateLimit}};
    /// let limits = TenantRateLimit::new(Quota::per_minute(NonZeroU32::MIN));
    /// let t = TenantId::from("acme");
    /// assert!(limits.check(&t).is_ok());
    /// assert!(matches!(limits.check(&t), Err(Rejection::RateLimited { retry_after_secs: 60 })));
    /// ```
    pub fn check(&self, tenant: &TenantId) -> Result<(), Rejection> {
        if self.seen.fetch_add(1, Ordering::Relaxed) % HOUSEKEEPING_EVERY == HOUSEKEEPING_EVERY - 1
        {
            self.housekeeping();
        }
        let limiter = self.limiter(tenant);
        limiter.check_key(tenant).map_err(|not_until| {
            let wait = not_until.wait_time_from(limiter.clock().now());
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            Rejection::RateLimited {
                retry_after_secs: secs.max(1),
            }
        })
    }

    /// Forgets the tenants whose bucket has refilled and returns the memory.
    /// [`check`](Self::check) does this every 1024 requests.
    ///
    /// ```
    /// use std::num::NonZeroU32;
    /// use sea_orm_tenant::{TenantId, http::{Quota, TenantRateLimit}};
    /// let limits = TenantRateLimit::new(Quota::per_second(NonZeroU32::MIN));
    /// let _ = limits.check(&TenantId::from("acme"));
    /// limits.housekeeping();
    /// assert!(limits.tracked() <= 1);
    /// ```
    pub fn housekeeping(&self) {
        for limiter in std::iter::once(&self.default).chain(self.plans.values()) {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// How many tenants the limiters hold state for.
    ///
    /// ```
    /// use std::num::NonZeroU32;
    /// use sea_orm_tenant::{TenantId, http::{Quota, TenantRateLimit}};
    /// let limits = TenantRateLimit::new(Quota::per_minute(NonZeroU32::MIN));
    /// let _ = limits.check(&TenantId::from("acme"));
    /// assert_eq!(limits.tracked(), 1);
    /// ```
    pub fn tracked(&self) -> usize {
        self.default.len() + self.plans.values().map(|l| l.len()).sum::<usize>()
    }
}

/// A tower [`Layer`] that applies a [`TenantRateLimit`] to each request's
/// tenant and answers 429 with `Retry-After` (and the JSON body
/// `{"error": "rate limit exceeded"}`) when the tenant is over its quota,
/// without calling the inner service.
///
/// It reads the tenant that [`TenantLayer`](super::TenantLayer) put in the
/// request extensions, so it must sit inside that layer (in axum, call
/// `.layer(rate_limit)` before `.layer(tenant_layer)`). A request without a
/// tenant is refused with 400.
///
/// ```
/// use std::num::NonZeroU32;
/// use axum::{routing::get, Router};
/// use sea_orm_tenant::http::{Quota, TenantLayer, TenantRateLimit, TenantRateLimitLayer, TenantResolver};
///
/// let limits = TenantRateLimit::new(Quota::per_second(NonZeroU32::new(10).unwrap()));
/// let app: Router = Router::new()
///     .route("/", get(|| async { "ok" }))
///     .layer(TenantRateLimitLayer::new(limits))
///     .layer(TenantLayer::new(TenantResolver::new().header("x-tenant-id")));
/// # let _ = app;
/// ```
#[derive(Clone, Debug)]
pub struct TenantRateLimitLayer {
    limits: TenantRateLimit,
}

impl TenantRateLimitLayer {
    /// A layer enforcing `limits`.
    ///
    /// ```
    /// use std::num::NonZeroU32;
    /// use sea_orm_tenant::http::{Quota, TenantRateLimit, TenantRateLimitLayer};
    /// let layer = TenantRateLimitLayer::new(TenantRateLimit::new(Quota::per_second(NonZeroU32::MIN)));
    /// # let _ = layer;
    /// ```
    pub fn new(limits: TenantRateLimit) -> Self {
        TenantRateLimitLayer { limits }
    }
}

impl<S> Layer<S> for TenantRateLimitLayer {
    type Service = RateLimitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService {
            inner,
            limits: self.limits.clone(),
        }
    }
}

/// The service [`TenantRateLimitLayer`] wraps around the inner service.
#[derive(Clone, Debug)]
pub struct RateLimitService<S> {
    inner: S,
    limits: TenantRateLimit,
}

impl<S, B> Service<Request<B>> for RateLimitService<S>
where
    S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let verdict = match req.extensions().get::<TenantId>() {
            Some(tenant) => self.limits.check(tenant).inspect_err(|_| {
                tracing::debug!(tenant = %tenant, "tenant: rate limited");
            }),
            None => Err(Rejection::Missing),
        };
        if let Err(rejection) = verdict {
            return Box::pin(async move { Ok(rejection.into_response()) });
        }
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(inner.call(req))
    }
}
