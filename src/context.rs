//! The ambient tenant: a tokio task-local, Rust's AsyncLocalStorage.
//!
//! [`with_tenant`] runs a future with a tenant in scope; [`current_tenant`]
//! reads it; [`spawn`] starts a task that keeps it. A task started with
//! plain `tokio::spawn` has no tenant, and a thread has none either: the
//! tenant is never global and never thread-local, so it cannot leak from
//! one request to the next.

use std::future::Future;

use tokio::task::JoinHandle;
use tracing::{Instrument, Span};

use crate::{TenantError, TenantId};

tokio::task_local! {
    static CURRENT: TenantId;
}

/// Runs `future` with `tenant` as the current tenant.
///
/// Inside, [`current_tenant`] returns `tenant` and
/// [`TenantEntity::scoped_current`](crate::TenantEntity::scoped_current)
/// scopes to it. Scopes nest: an inner `with_tenant` wins until it ends.
///
/// ```
/// use sea_orm_tenant::{current_tenant, with_tenant, TenantId};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let seen = with_tenant(TenantId::from("acme"), async { current_tenant() }).await;
/// assert_eq!(seen.unwrap(), TenantId::from("acme"));
/// assert!(current_tenant().is_err()); // outside: no tenant
/// # }
/// ```
pub async fn with_tenant<F>(tenant: TenantId, future: F) -> F::Output
where
    F: Future,
{
    CURRENT.scope(tenant, future).await
}

/// Runs a synchronous closure with `tenant` as the current tenant.
///
/// ```
/// use sea_orm_tenant::{current_tenant, with_tenant_sync, TenantId};
///
/// let seen = with_tenant_sync(TenantId::from("acme"), || current_tenant());
/// assert_eq!(seen.unwrap().to_string(), "acme");
/// ```
pub fn with_tenant_sync<R>(tenant: TenantId, f: impl FnOnce() -> R) -> R {
    CURRENT.sync_scope(tenant, f)
}

/// The current tenant, or [`TenantError::Missing`] outside [`with_tenant`].
///
/// ```
/// use sea_orm_tenant::{current_tenant, TenantError};
/// assert_eq!(current_tenant(), Err(TenantError::Missing));
/// ```
pub fn current_tenant() -> Result<TenantId, TenantError> {
    CURRENT
        .try_with(TenantId::clone)
        .map_err(|_| TenantError::Missing)
}

/// Spawns a task on the tokio runtime that runs with the current tenant,
/// inside the current tracing span.
///
/// The task's logs and spans are children of the span it was spawned in
/// (the request's `tenant_request` span under
/// [`TenantLayer`](crate::http::TenantLayer), with its tenant field), as
/// with `tokio::spawn(future.instrument(Span::current()))`. Outside
/// [`with_tenant`] the task has no tenant, exactly like `tokio::spawn`.
/// Must be called from within a tokio runtime. A job that needs the
/// tenant's connection gets it with
/// [`Tenancy::current_connection`](crate::Tenancy::current_connection).
///
/// ```
/// use sea_orm_tenant::{current_tenant, with_tenant, TenantId};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// with_tenant(TenantId::from("acme"), async {
///     let inherited = sea_orm_tenant::spawn(async { current_tenant() });
///     let plain = tokio::spawn(async { current_tenant() });
///     assert_eq!(inherited.await.unwrap().unwrap().to_string(), "acme");
///     assert!(plain.await.unwrap().is_err());
/// })
/// .await;
/// # }
/// ```
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let future = future.instrument(Span::current());
    match current_tenant() {
        Ok(tenant) => tokio::spawn(CURRENT.scope(tenant, future)),
        Err(_) => tokio::spawn(future),
    }
}
