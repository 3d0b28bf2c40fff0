//! [`TenantLayer`]: the tower layer that scopes each request to its tenant.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::http::Request;
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};
use tracing::Instrument;

use super::{Rejection, TenantDirectory, TenantResolver};
use crate::{TenantId, with_tenant};

type Hook = Arc<dyn Fn(Option<&TenantId>, Option<&Rejection>) + Send + Sync>;

/// A tower [`Layer`] that finds the tenant of each request with a
/// [`TenantResolver`] and runs the rest of the request inside
/// [`with_tenant`], with the [`TenantId`] in the request extensions and a
/// `tenant_request` tracing span carrying a `tenant` field.
///
/// A request without a valid tenant is answered with the [`Rejection`]'s
/// status and short JSON body, and the inner service (the handler) is never
/// called.
///
/// ```
/// use axum::{body::Body, http::Request, routing::get, Router};
/// use sea_orm_tenant::{current_tenant, http::{TenantLayer, TenantResolver}};
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let app = Router::new()
///     .route("/", get(|| async { current_tenant().unwrap().to_string() }))
///     .layer(TenantLayer::new(TenantResolver::new().header("x-tenant-id")));
///
/// let ok = Request::builder().header("x-tenant-id", "acme").body(Body::empty()).unwrap();
/// assert_eq!(app.clone().oneshot(ok).await.unwrap().status(), 200);
/// let none = Request::builder().body(Body::empty()).unwrap();
/// assert_eq!(app.oneshot(none).await.unwrap().status(), 400);
/// # }
/// ```
#[derive(Clone)]
pub struct TenantLayer {
    resolver: Arc<TenantResolver>,
    directory: Option<TenantDirectory>,
    hook: Option<Hook>,
}

impl std::fmt::Debug for TenantLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantLayer")
            .field("resolver", &self.resolver)
            .finish_non_exhaustive()
    }
}

impl TenantLayer {
    /// A layer resolving tenants with `resolver`.
    ///
    /// ```
    /// use sea_orm_tenant::http::{TenantLayer, TenantResolver};
    /// let layer = TenantLayer::new(TenantResolver::new().header("x-tenant-id"));
    /// # let _ = layer;
    /// ```
    pub fn new(resolver: TenantResolver) -> Self {
        TenantLayer {
            resolver: Arc::new(resolver),
            directory: None,
            hook: None,
        }
    }

    /// Checks every resolved tenant against `directory` before the handler
    /// runs: 404 for an unknown tenant, 403 for a suspended one, 503 when
    /// the lookup fails.
    ///
    /// ```
    /// use sea_orm_tenant::http::{TenantDirectory, TenantLayer, TenantResolver, TenantStatus};
    /// let dir = TenantDirectory::new(|_t| async { Ok::<_, String>(TenantStatus::Active) });
    /// let layer = TenantLayer::new(TenantResolver::new().header("x-tenant-id")).directory(dir);
    /// # let _ = layer;
    /// ```
    pub fn directory(mut self, directory: TenantDirectory) -> Self {
        self.directory = Some(directory);
        self
    }

    /// Calls `hook` once per request with its tenant, or with the rejection
    /// that refused it: a counter hook for metrics (requests and rejections
    /// per tenant). Keep it cheap; it runs on the request path.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::Arc;
    /// use sea_orm_tenant::http::{TenantLayer, TenantResolver};
    ///
    /// let rejected = Arc::new(AtomicU64::new(0));
    /// let counter = rejected.clone();
    /// let layer = TenantLayer::new(TenantResolver::new().header("x-tenant-id"))
    ///     .on_request(move |_tenant, rejection| {
    ///         if rejection.is_some() { counter.fetch_add(1, Ordering::Relaxed); }
    ///     });
    /// # let _ = layer;
    /// ```
    pub fn on_request(
        mut self,
        hook: impl Fn(Option<&TenantId>, Option<&Rejection>) + Send + Sync + 'static,
    ) -> Self {
        self.hook = Some(Arc::new(hook));
        self
    }
}

impl<S> Layer<S> for TenantLayer {
    type Service = TenantService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TenantService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`TenantLayer`] wraps around the inner service.
#[derive(Clone, Debug)]
pub struct TenantService<S> {
    inner: S,
    layer: TenantLayer,
}

impl<S, B> Service<Request<B>> for TenantService<S>
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

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        #[cfg(feature = "metrics")]
        let request = crate::metrics::HttpRequest::start(&req);
        let tenant = match self.layer.resolver.resolve(&req) {
            Ok(tenant) => tenant,
            Err(rejection) => {
                tracing::debug!(error = rejection.message(), "tenant: request refused");
                if let Some(hook) = &self.layer.hook {
                    hook(None, Some(&rejection));
                }
                let response = rejection.into_response();
                #[cfg(feature = "metrics")]
                request.finish(None, &response);
                return Box::pin(async move { Ok(response) });
            }
        };
        // The clone was made ready by poll_ready's caller on `self.inner`:
        // take that one and leave the fresh clone behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let hook = self.layer.hook.clone();
        let directory = self.layer.directory.clone();
        let span = tracing::info_span!("tenant_request", tenant = %tenant);
        #[cfg(feature = "metrics")]
        let measured = tenant.clone();
        let work = async move {
            if let Some(directory) = directory
                && let Err(rejection) = directory.check(&tenant).await
            {
                tracing::debug!(error = rejection.message(), "tenant: request refused");
                if let Some(hook) = &hook {
                    hook(Some(&tenant), Some(&rejection));
                }
                return Ok(rejection.into_response());
            }
            if let Some(hook) = &hook {
                hook(Some(&tenant), None);
            }
            req.extensions_mut().insert(tenant.clone());
            with_tenant(tenant, async move { inner.call(req).await }).await
        };
        #[cfg(feature = "metrics")]
        let work = request.around(measured, work);
        Box::pin(work.instrument(span))
    }
}
