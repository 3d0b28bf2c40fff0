//! [`TenantConcurrencyLayer`]: a per-tenant cap on requests in flight.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::Request;
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use super::Rejection;
use crate::TenantId;
use crate::gate::Gate;

/// A tower [`Layer`] that lets each tenant have at most `max` requests in
/// flight (and so at most `max` units of database work through
/// [`TenantDb`](super::TenantDb) connections) at once.
///
/// A request over the cap waits up to `max_wait` for a slot of its own
/// tenant, then is answered 429 with `Retry-After: 1`; other tenants'
/// requests never wait for it. Like [`TenantRateLimitLayer`](super::TenantRateLimitLayer)
/// it reads the tenant from the request extensions, so it sits inside
/// [`TenantLayer`](super::TenantLayer). One semaphore per tenant with a
/// request in flight or waiting is kept, and dropped with its last request,
/// so what a request costs does not grow with the number of tenants.
///
/// ```
/// use std::time::Duration;
/// use axum::{routing::get, Router};
/// use sea_orm_tenant::http::{TenantConcurrencyLayer, TenantLayer, TenantResolver};
///
/// let app: Router = Router::new()
///     .route("/", get(|| async { "ok" }))
///     .layer(TenantConcurrencyLayer::new(8, Duration::from_millis(500)))
///     .layer(TenantLayer::new(TenantResolver::new().header("x-tenant-id")));
/// # let _ = app;
/// ```
#[derive(Clone, Debug)]
pub struct TenantConcurrencyLayer {
    /// Shared by clones: one set of slots per layer built with `new`.
    gate: Gate,
}

impl TenantConcurrencyLayer {
    /// At most `max` (at least 1) requests in flight per tenant; a request
    /// waits up to `max_wait` for a slot.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sea_orm_tenant::http::TenantConcurrencyLayer;
    /// let layer = TenantConcurrencyLayer::new(4, Duration::ZERO);
    /// assert_eq!(layer.tracked(), 0);
    /// ```
    pub fn new(max: usize, max_wait: Duration) -> Self {
        TenantConcurrencyLayer {
            gate: Gate::new(max, max_wait),
        }
    }

    /// How many tenants have a semaphore right now: those with a request
    /// in flight or waiting for a slot.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sea_orm_tenant::http::TenantConcurrencyLayer;
    /// assert_eq!(TenantConcurrencyLayer::new(4, Duration::ZERO).tracked(), 0);
    /// ```
    pub fn tracked(&self) -> usize {
        self.gate.tracked()
    }
}

impl<S> Layer<S> for TenantConcurrencyLayer {
    type Service = ConcurrencyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ConcurrencyService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`TenantConcurrencyLayer`] wraps around the inner service.
#[derive(Clone, Debug)]
pub struct ConcurrencyService<S> {
    inner: S,
    layer: TenantConcurrencyLayer,
}

impl<S, B> Service<Request<B>> for ConcurrencyService<S>
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
        let Some(tenant) = req.extensions().get::<TenantId>() else {
            return Box::pin(async { Ok(Rejection::Missing.into_response()) });
        };
        let tenant = tenant.clone();
        let gate = self.layer.gate.clone();
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let Some(_permit) = gate.acquire(&tenant).await else {
                let busy = Rejection::RateLimited {
                    retry_after_secs: 1,
                };
                return Ok(busy.into_response());
            };
            inner.call(req).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use std::sync::Arc;
    use tokio::sync::Semaphore;
    use tokio::sync::mpsc;
    use tower::ServiceExt;

    fn req(tenant: &str) -> Request<Body> {
        let mut req = Request::new(Body::empty());
        req.extensions_mut().insert(TenantId::from(tenant));
        req
    }

    #[tokio::test]
    async fn a_busy_tenant_does_not_block_another() {
        let gate = Arc::new(Semaphore::new(0));
        let (entered_tx, mut entered) = mpsc::unbounded_channel::<()>();
        let handler_gate = gate.clone();
        let app = axum::Router::new()
            .route(
                "/",
                get(move || {
                    let (gate, entered) = (handler_gate.clone(), entered_tx.clone());
                    async move {
                        let _ = entered.send(());
                        if let Ok(permit) = gate.acquire().await {
                            permit.forget();
                        }
                        "done"
                    }
                }),
            )
            .layer(TenantConcurrencyLayer::new(1, Duration::ZERO));

        let first = tokio::spawn(app.clone().oneshot(req("acme")));
        entered.recv().await.unwrap();
        // acme's one slot is taken: refused at once.
        let second = app.clone().oneshot(req("acme")).await.unwrap();
        assert_eq!(second.status(), 429);
        assert_eq!(second.headers()["retry-after"], "1");
        // globex has its own slot.
        let other = tokio::spawn(app.clone().oneshot(req("globex")));
        entered.recv().await.unwrap();
        gate.add_permits(2);
        assert_eq!(first.await.unwrap().unwrap().status(), 200);
        assert_eq!(other.await.unwrap().unwrap().status(), 200);
        // No tenant in the extensions: refused.
        let none = app.oneshot(Request::new(Body::empty())).await.unwrap();
        assert_eq!(none.status(), 400);
    }

    #[tokio::test]
    async fn a_tenant_is_tracked_only_while_it_has_requests() {
        let layer = TenantConcurrencyLayer::new(1, Duration::from_secs(30));
        let (release_tx, release) = tokio::sync::watch::channel(false);
        let (entered_tx, mut entered) = mpsc::unbounded_channel::<()>();
        let app = axum::Router::new()
            .route(
                "/",
                get(move || {
                    let (mut release, entered) = (release.clone(), entered_tx.clone());
                    async move {
                        let _ = entered.send(());
                        let _ = release.wait_for(|go| *go).await;
                        "done"
                    }
                }),
            )
            .layer(layer.clone());
        // Many tenants come and go: none stays tracked.
        release_tx.send_replace(true);
        for i in 0..2_000 {
            let response = app.clone().oneshot(req(&format!("t{i}"))).await.unwrap();
            assert_eq!(response.status(), 200);
            assert_eq!(layer.tracked(), 0);
        }
        release_tx.send_replace(false);
        while entered.try_recv().is_ok() {}
        let first = tokio::spawn(app.clone().oneshot(req("acme")));
        entered.recv().await.unwrap();
        assert_eq!(layer.tracked(), 1);
        // A request waiting for acme's slot whose client goes away (its
        // future dropped) leaves nothing behind.
        let waiting = tokio::spawn(app.clone().oneshot(req("acme")));
        tokio::task::yield_now().await;
        waiting.abort();
        let _ = waiting.await;
        release_tx.send_replace(true);
        assert_eq!(first.await.unwrap().unwrap().status(), 200);
        assert_eq!(layer.tracked(), 0);
    }
}
