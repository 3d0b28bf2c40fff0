//! Axum extractors: [`CurrentTenant`] and [`TenantDb`].

use axum::extract::{FromRef, FromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use crate::{Tenancy, TenantConnection, TenantId};

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

/// The answer to a request whose tenant has no connection: see
/// [`Rejection`'s `From<&TenantError>`](super::Rejection#impl-From%3C%26TenantError%3E-for-Rejection).
/// Logged as a sentence: an unknown tenant at DEBUG (clients choose the
/// ids they send, so they must not choose the log's volume), a database
/// that could not be read at WARN, a server fault at ERROR.
fn refused(err: &crate::TenantError) -> Response {
    super::error_response::answer(err)
}

/// A [`TenantConnection`] bound to the request's tenant, from
/// [`Tenancy::connection`] on the [`Tenancy`] in the router's state
/// (`Tenancy: FromRef<S>`): any isolation level, hybrid placement
/// included, with the tenancy's limits and its hot-tenant fast path.
///
/// When there is no connection the handler does not run, and the request is
/// answered as [`Rejection`'s `From<&TenantError>`](super::Rejection#impl-From%3C%26TenantError%3E-for-Rejection)
/// says: 404 only when the tenancy answered that the tenant is not
/// provisioned, 503 when the registry or the tenant's database could not be
/// read (a real customer is not told they do not exist because a read
/// failed), 500 with the database's message when the database refused the
/// application's role a privilege (a missing grant is not an outage), 429
/// when the tenant is at its cap.
///
/// ```
/// use axum::{body::Body, http::Request, routing::get, Router};
/// use sea_orm_tenant::{Tenancy, TenantId};
/// use sea_orm_tenant::http::{TenantDb, TenantLayer, TenantResolver};
/// use tower::ServiceExt;
///
/// async fn whoami(TenantDb(conn): TenantDb) -> String {
///     conn.tenant().to_string()
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = std::env::temp_dir().join(format!("tenancy_db_doc_{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let tenancy = Tenancy::sqlite_files(&dir);   // tenant acme is <dir>/tenant_acme.db
/// tenancy.provision(&TenantId::from("acme")).await?;
/// let app: Router = Router::new()
///     .route("/whoami", get(whoami))
///     .layer(TenantLayer::new(TenantResolver::new().header("x-tenant-id")))
///     .with_state(tenancy);
///
/// let get = |t: &str| Request::builder().uri("/whoami").header("x-tenant-id", t).body(Body::empty());
/// assert_eq!(app.clone().oneshot(get("acme")?).await?.status(), 200);
/// assert_eq!(app.oneshot(get("nobody")?).await?.status(), 404);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct TenantDb(pub TenantConnection);

impl<S> FromRequestParts<S> for TenantDb
where
    S: Send + Sync,
    Tenancy: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Some(tenant) = parts.extensions.get::<TenantId>().cloned() else {
            return Err(not_installed());
        };
        Tenancy::from_ref(state)
            .connection(&tenant)
            .await
            .map(TenantDb)
            .map_err(|e| refused(&e))
    }
}
