//! Errors as answers: `IntoResponse` for [`TenantError`], and
//! [`ApiError`], the error type of a handler that runs SeaORM code.
//!
//! Every answer goes through [`Rejection`] (its status and its short JSON
//! body) and is logged once, as a sentence, at a level that says whose
//! fault it is: ERROR for a server fault (500), WARN for a database that
//! could not be reached (503), DEBUG for what a client caused (4xx, an
//! unknown tenant included), so that clients cannot fill the log.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sea_orm::DbErr;

use super::Rejection;
use crate::TenantError;
use crate::error::denied_message;

/// The answer to a tenant error: [`Rejection`'s `From<&TenantError>`](Rejection#impl-From%3C%26TenantError%3E-for-Rejection)
/// (404 unknown tenant, 429 busy, 400 an id that cannot name a tenant, 503
/// a database that could not be read, 500 a permission the role lacks or a
/// server fault), logged as a sentence.
///
/// ```
/// use axum::http::StatusCode;
/// use axum::response::IntoResponse;
/// use sea_orm_tenant::TenantError;
///
/// let response = TenantError::UnknownTenant("acme".into()).into_response();
/// assert_eq!(response.status(), StatusCode::NOT_FOUND);
/// assert_eq!(TenantError::Missing.into_response().status(), StatusCode::INTERNAL_SERVER_ERROR);
/// ```
impl IntoResponse for TenantError {
    fn into_response(self) -> Response {
        answer(&self)
    }
}

/// Answers `err` as [`Rejection`] maps it, after logging it.
pub(crate) fn answer(err: &TenantError) -> Response {
    let rejection = Rejection::from(err);
    match (err, err.permission_denied()) {
        (TenantError::Database { context, .. }, Some(message)) => {
            log_denied(&format!("while {context}: {message}"));
        }
        _ => log(&rejection, err),
    }
    rejection.into_response()
}

/// The error type of a handler: `?` on a SeaORM call, on a
/// [`TenantError`] or on a [`Rejection`] answers the request right, with no
/// mapping of your own.
///
/// - A [`DbErr`] that carries a [`TenantError`] (SeaORM code that hit a
///   tenant refusal, a tenant at its cap, a deprovisioned tenant) is that
///   `TenantError`, and a `TenantError` is answered as
///   [`Rejection`'s `From<&TenantError>`](Rejection#impl-From%3C%26TenantError%3E-for-Rejection)
///   says: 404, 429, 400, 503 or 500.
/// - Any other `DbErr` is a 500 whose body is `{"error":"internal error"}`:
///   no SQL, no table, no value reaches the client; the error is logged
///   at ERROR. Two exceptions: a database that refused the role a
///   privilege is a 500 whose `detail` says which
///   ([`Rejection::Misconfigured`]), and no connection at all (pool timed
///   out or closed, server unreachable) is a 503.
///
/// Its `Display` is the error's own sentence (a carried `TenantError` in
/// its own words, not SeaORM's "Error converting …").
///
/// ```
/// use axum::{body::Body, http::{Request, StatusCode}, routing::get, Router};
/// use sea_orm::{ActiveValue::Set, DbErr};
/// use sea_orm_tenant::doc_entities::post;
/// use sea_orm_tenant::http::{ApiError, TenantDb, TenantLayer, TenantResolver};
/// use sea_orm_tenant::prelude::*;
/// use tower::ServiceExt;
///
/// // SeaORM code with `?`: the scoped insert refuses a row naming another
/// // tenant, and the refusal travels inside the DbErr to the handler's `?`.
/// async fn create(TenantDb(conn): TenantDb) -> Result<String, ApiError> {
///     let model = post::ActiveModel {
///         tenant_id: Set("globex".into()),
///         title: Set("hello".into()),
///         ..Default::default()
///     };
///     post::Entity::scoped(conn.tenant()).insert(model).exec(&conn).await?;
///     Ok("created".into())
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let db = sea_orm::Database::connect("sqlite::memory:").await?;
/// let tenancy = Tenancy::shared_schema(db);
/// tenancy.provision(&TenantId::from("acme")).await?;
/// let app: Router = Router::new()
///     .route("/posts", get(create))
///     .layer(TenantLayer::new(TenantResolver::new().header("x-tenant-id")))
///     .with_state(tenancy);
/// let req = Request::builder().uri("/posts").header("x-tenant-id", "acme").body(Body::empty())?;
/// let res = app.oneshot(req).await?;
/// assert_eq!(res.status(), StatusCode::BAD_REQUEST);
/// let body = axum::body::to_bytes(res.into_body(), 1024).await?;
/// assert_eq!(&body[..], br#"{"error":"tenant id in body does not match the request's tenant"}"#);
///
/// // The sentence, for a log line.
/// let carried: DbErr = TenantError::UnknownTenant("acme".into()).into();
/// assert_eq!(ApiError::from(carried).to_string(), "tenant: unknown tenant `acme`");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// A tenant error: returned by this crate, or found inside a [`DbErr`]
    /// (see [`TenantError::from_db_err`]).
    #[error(transparent)]
    Tenant(TenantError),
    /// A database error that carries no [`TenantError`].
    #[error(transparent)]
    Database(DbErr),
    /// A refusal decided by the handler or by something it called (a
    /// [`TenantDirectory`](super::TenantDirectory), a body naming another
    /// tenant).
    #[error("{}", .0.message())]
    Rejected(Rejection),
    /// What the handler looked for is not there for this tenant (404,
    /// `{"error": <the message>}`), as a handler answers
    /// `find_by_id(..).one(&db).await?` that found nothing.
    ///
    /// ```
    /// use axum::http::StatusCode;
    /// use axum::response::IntoResponse;
    /// use sea_orm_tenant::http::ApiError;
    ///
    /// let response = ApiError::NotFound("no such project").into_response();
    /// assert_eq!(response.status(), StatusCode::NOT_FOUND);
    /// ```
    #[error("{0}")]
    NotFound(&'static str),
}

impl ApiError {
    /// How this error is answered.
    ///
    /// ```
    /// use sea_orm::DbErr;
    /// use sea_orm_tenant::TenantError;
    /// use sea_orm_tenant::http::{ApiError, Rejection};
    ///
    /// let busy: DbErr = TenantError::Busy { tenant: "acme".into(), limit: 4 }.into();
    /// assert_eq!(ApiError::from(busy).rejection(), Rejection::RateLimited { retry_after_secs: 1 });
    /// let plain = DbErr::Custom("duplicate key value violates unique constraint".into());
    /// assert_eq!(ApiError::from(plain).rejection(), Rejection::Internal);
    /// ```
    pub fn rejection(&self) -> Rejection {
        match self {
            ApiError::Tenant(err) => Rejection::from(err),
            ApiError::Database(err) => Rejection::from_db_err(err),
            ApiError::Rejected(rejection) => rejection.clone(),
            ApiError::NotFound(what) => Rejection::NotFound(what),
        }
    }
}

/// The `TenantError` the `DbErr` carries, or the `DbErr` itself.
///
/// ```
/// use sea_orm::DbErr;
/// use sea_orm_tenant::TenantError;
/// use sea_orm_tenant::http::ApiError;
///
/// let carried: DbErr = TenantError::Missing.into();
/// assert!(matches!(ApiError::from(carried), ApiError::Tenant(TenantError::Missing)));
/// assert!(matches!(ApiError::from(DbErr::RecordNotFound("x".into())), ApiError::Database(_)));
/// ```
impl From<DbErr> for ApiError {
    fn from(err: DbErr) -> Self {
        match TenantError::from_db_err(&err) {
            Some(tenant) => ApiError::Tenant(tenant.clone()),
            None => ApiError::Database(err),
        }
    }
}

/// A tenant error, answered as [`Rejection`] maps it.
///
/// ```
/// use sea_orm_tenant::TenantError;
/// use sea_orm_tenant::http::{ApiError, Rejection};
/// let err = ApiError::from(TenantError::UnknownTenant("acme".into()));
/// assert_eq!(err.rejection(), Rejection::UnknownTenant);
/// ```
impl From<TenantError> for ApiError {
    fn from(err: TenantError) -> Self {
        ApiError::Tenant(err)
    }
}

/// A refusal, answered as it is.
///
/// ```
/// use sea_orm_tenant::http::{ApiError, Rejection};
/// assert_eq!(ApiError::from(Rejection::BodyMismatch).rejection(), Rejection::BodyMismatch);
/// ```
impl From<Rejection> for ApiError {
    fn from(rejection: Rejection) -> Self {
        ApiError::Rejected(rejection)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Tenant(err) => answer(&err),
            ApiError::Database(err) => {
                let rejection = Rejection::from_db_err(&err);
                match denied_message(&err) {
                    Some(message) => log_denied(message),
                    None => log(&rejection, &err),
                }
                rejection.into_response()
            }
            ApiError::Rejected(rejection) => {
                log(&rejection, &rejection.message());
                rejection.into_response()
            }
            ApiError::NotFound(what) => Rejection::NotFound(what).into_response(),
        }
    }
}

/// Logs an answered error as a sentence, at the level its status deserves.
fn log(rejection: &Rejection, err: &dyn std::fmt::Display) {
    let status = rejection.status();
    if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
        tracing::error!(status = status.as_u16(), "{err} (answered {status})");
    } else if status.is_server_error() {
        tracing::warn!(status = status.as_u16(), "{err} (answered {status})");
    } else {
        tracing::debug!(status = status.as_u16(), "{err} (answered {status})");
    }
}

/// Logs a privilege the database refused: a fault of the server's set-up.
fn log_denied(what: &str) {
    tracing::error!(
        status = 500,
        "tenant: the database refused the application's role {what}; \
         grant the role what it needs (answered 500 Internal Server Error)"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_plain_database_error_is_a_500_that_shows_nothing() {
        let err = ApiError::from(DbErr::Custom(
            "SELECT secret FROM post WHERE tenant_id = 'acme'".into(),
        ));
        let response = err.into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap_or_default();
        assert_eq!(&body[..], br#"{"error":"internal error"}"#);
    }

    #[tokio::test]
    async fn a_carried_tenant_error_is_answered_as_itself() {
        let cases = [
            (
                TenantError::UnknownTenant("acme".into()),
                StatusCode::NOT_FOUND,
            ),
            (
                TenantError::Busy {
                    tenant: "acme".into(),
                    limit: 2,
                },
                StatusCode::TOO_MANY_REQUESTS,
            ),
            (
                TenantError::invalid("007", "not canonical"),
                StatusCode::BAD_REQUEST,
            ),
            (TenantError::Missing, StatusCode::INTERNAL_SERVER_ERROR),
        ];
        for (err, status) in cases {
            let carried: DbErr = err.clone().into();
            let api = ApiError::from(carried);
            assert_eq!(api.to_string(), err.to_string());
            assert_eq!(api.into_response().status(), status, "{err}");
            assert_eq!(err.into_response().status(), status);
        }
    }

    #[test]
    fn no_connection_is_a_503() {
        let err = ApiError::from(DbErr::ConnectionAcquire(
            sea_orm::error::ConnAcquireErr::Timeout,
        ));
        assert_eq!(err.rejection(), Rejection::DatabaseUnavailable);
    }
}
