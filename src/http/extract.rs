//! Axum extractors: [`CurrentTenant`] and [`TenantDb`].

use axum::extract::{FromRef, FromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use crate::{TenantConnection, TenantId, TenantPool};

fn not_installed() -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(serde_json::json!({ "error": "tenant layer not installed" })),
    )
        .into_response()
}

/// The tenant of the request, as [`TenantLayer`](super::TenantLayer) resolved it.
///
/// Without the layer in front of the route, extraction fails with a 500
/// and the handler does not run.
///
/// ```
/// use axum::{routing::get, Router};
/// use sea_orm_tenant::http::{CurrentTenant, TenantLayer, TenantResolver};
///
/// async fn whoami(CurrentTenant(tenant): CurrentTenant) -> String {
///     tenant.to_string()
/// }
/// let app: Router = Router::new()
///     .route("/whoami", get(whoami))
///     .layer(TenantLayer::new(TenantResolver::new().header("x-tenant-id")));
/// # let _ = app;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentTenant(pub TenantId);

impl<S: Send + Sync> FromRequestParts<S> for CurrentTenant {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<TenantId>()
            .cloned()
            .map(CurrentTenant)
            .ok_or_else(not_installed)
    }
}

/// A [`TenantConnection`] bound to the request's tenant, taken from the
/// [`TenantPool`] in the router's state (`TenantPool: FromRef<S>`).
///
/// ```
/// use axum::{routing::get, Router};
/// use sea_orm::Database;
/// use sea_orm_tenant::TenantPool;
/// use sea_orm_tenant::http::{TenantDb, TenantLayer, TenantResolver};
///
/// async fn count(TenantDb(conn): TenantDb) -> String {
///     conn.tenant().to_string()
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sea_orm::DbErr> {
/// let pool = TenantPool::new(Database::connect("sqlite::memory:").await?);
/// let app: Router = Router::new()
///     .route("/count", get(count))
///     .layer(TenantLayer::new(TenantResolver::new().header("x-tenant-id")))
///     .with_state(pool);
/// # let _ = app;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct TenantDb(pub TenantConnection);

impl<S> FromRequestParts<S> for TenantDb
where
    S: Send + Sync,
    TenantPool: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Some(tenant) = parts.extensions.get::<TenantId>() else {
            return Err(not_installed());
        };
        TenantPool::from_ref(state)
            .connection(tenant)
            .map(TenantDb)
            .map_err(|e| {
                tracing::warn!(error = %e, "tenant: no connection for the request");
                // The id does not fit the tenant column's type.
                super::Rejection::invalid("pool", &e).into_response()
            })
    }
}
