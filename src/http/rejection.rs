//! [`Rejection`]: why a request was refused before reaching its handler.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use sea_orm::DbErr;

use crate::TenantError;
use crate::error::denied_message;

/// Why a request was refused before it reached its handler.
///
/// Each variant maps to a status code and a short JSON body
/// `{"error": "...", "detail": "..."}`; the body never echoes the request's
/// input, so a hostile value cannot be reflected back. A `detail` is a
/// reason the crate wrote, or (for [`Misconfigured`](Rejection::Misconfigured))
/// the database's message about the server's own set-up.
///
/// ```
/// use axum::http::StatusCode;
/// use sea_orm_tenant::http::Rejection;
///
/// assert_eq!(Rejection::Missing.status(), StatusCode::BAD_REQUEST);
/// assert_eq!(Rejection::Missing.message(), "tenant not identified");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// No source named a tenant (400).
    Missing,
    /// A source named a tenant that is not a valid id (400).
    InvalidId {
        /// Which source: `header`, `host`, `jwt` or `custom` for the
        /// resolver's sources, `tenant` for an id the tenancy refused
        /// (see `From<&TenantError>`).
        source: &'static str,
        /// Why the id was rejected.
        reason: &'static str,
    },
    /// Two sources named different tenants (400).
    Conflict,
    /// A bearer token failed verification: signature, algorithm, expiry,
    /// not-before or audience (401, `WWW-Authenticate: Bearer error="invalid_token"`).
    InvalidToken,
    /// A verified token is required
    /// ([`TenantResolver::require_verified_token`](super::TenantResolver::require_verified_token))
    /// and the request has no bearer token (401, `WWW-Authenticate: Bearer`).
    MissingToken,
    /// A verified token names no tenant: it lacks the tenant claim (403).
    /// The token is authentic, so it is not a 401; it grants no tenant.
    TokenWithoutTenant,
    /// The tenant does not exist (404).
    UnknownTenant,
    /// The tenant exists but is suspended (403).
    Suspended,
    /// The tenant sent more requests than its quota allows (429).
    RateLimited {
        /// Seconds until the next request can succeed, for `Retry-After`.
        retry_after_secs: u64,
    },
    /// A tenant id in the request body differs from the request's tenant (400).
    BodyMismatch,
    /// The tenant directory could not be asked (503).
    Unavailable,
    /// The database could not be reached to look the tenant up or to
    /// connect to it (503): a [`TenantError::Database`]. Says nothing about
    /// whether the tenant exists, so it is never a 404.
    DatabaseUnavailable,
    /// What the request asked for is not there for its tenant (404): a
    /// handler's answer, with its own message, e.g.
    /// `ApiError::NotFound("no such project")`. Another tenant's row is
    /// "not there" too: the answer never tells the two apart.
    NotFound(&'static str),
    /// The server failed in a way the request did not cause (500), such as
    /// a tenancy operation that is not supported here.
    Internal,
    /// The database refused the application's role (500): a missing
    /// privilege (Postgres SQLSTATE 42501, MySQL/MariaDB errors 1142, 1143,
    /// 1044) or a failed login (Postgres 28000/28P01, MySQL 1045). See
    /// [`TenantError::permission_denied`]. It lasts until the role is
    /// granted what it needs, so it is not a 503 that invites retries.
    ///
    /// `detail` is the database's message, which names the table, schema or
    /// role (`permission denied for table sea_orm_tenant_registry`): server
    /// information, sent so that whoever sees the answer knows which grant is
    /// missing. It is never request input: a message naming the request's
    /// tenant (a schema `tenant_<id>`) is replaced by one that names nothing.
    ///
    /// ```
    /// use axum::http::StatusCode;
    /// use sea_orm_tenant::http::Rejection;
    ///
    /// let r = Rejection::Misconfigured { detail: "permission denied for table post".into() };
    /// assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    /// assert_eq!(r.message(), "database permission denied");
    /// ```
    Misconfigured {
        /// The database's message.
        detail: String,
    },
}

impl Rejection {
    pub(crate) fn invalid(source: &'static str, err: &TenantError) -> Self {
        let reason = match err {
            TenantError::InvalidId { reason, .. } => reason,
            _ => "invalid",
        };
        Rejection::InvalidId { source, reason }
    }

    /// The HTTP status of this rejection.
    ///
    /// ```
    /// use axum::http::StatusCode;
    /// use sea_orm_tenant::http::Rejection;
    /// assert_eq!(Rejection::Conflict.status(), StatusCode::BAD_REQUEST);
    /// assert_eq!(Rejection::InvalidToken.status(), StatusCode::UNAUTHORIZED);
    /// ```
    pub fn status(&self) -> StatusCode {
        match self {
            Rejection::Missing
            | Rejection::InvalidId { .. }
            | Rejection::Conflict
            | Rejection::BodyMismatch => StatusCode::BAD_REQUEST,
            Rejection::InvalidToken | Rejection::MissingToken => StatusCode::UNAUTHORIZED,
            Rejection::TokenWithoutTenant => StatusCode::FORBIDDEN,
            Rejection::UnknownTenant | Rejection::NotFound(_) => StatusCode::NOT_FOUND,
            Rejection::Suspended => StatusCode::FORBIDDEN,
            Rejection::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Rejection::Unavailable | Rejection::DatabaseUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Rejection::Internal | Rejection::Misconfigured { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// The short message in the JSON body's `error` field.
    ///
    /// ```
    /// use sea_orm_tenant::http::Rejection;
    /// let r = Rejection::InvalidId { source: "header", reason: "it is empty" };
    /// assert_eq!(r.message(), "invalid tenant id");
    /// ```
    pub fn message(&self) -> &'static str {
        match self {
            Rejection::Missing => "tenant not identified",
            Rejection::InvalidId { .. } => "invalid tenant id",
            Rejection::Conflict => "conflicting tenant ids",
            Rejection::InvalidToken => "invalid token",
            Rejection::MissingToken => "token required",
            Rejection::TokenWithoutTenant => "token names no tenant",
            Rejection::UnknownTenant => "unknown tenant",
            Rejection::Suspended => "tenant suspended",
            Rejection::RateLimited { .. } => "rate limit exceeded",
            Rejection::BodyMismatch => "tenant id in body does not match the request's tenant",
            Rejection::Unavailable => "tenant directory unavailable",
            Rejection::DatabaseUnavailable => "database unavailable",
            Rejection::Internal => "internal error",
            Rejection::Misconfigured { .. } => "database permission denied",
            Rejection::NotFound(what) => what,
        }
    }

    /// The rejection of a database error that carries no [`TenantError`]:
    /// [`Misconfigured`](Rejection::Misconfigured) when the database refused
    /// the role, [`DatabaseUnavailable`](Rejection::DatabaseUnavailable)
    /// when no connection could be had (the pool timed out or was closed,
    /// the server could not be reached), else [`Internal`](Rejection::Internal).
    pub(crate) fn from_db_err(err: &DbErr) -> Self {
        if let Some(message) = denied_message(err) {
            return Rejection::Misconfigured {
                detail: not_naming_the_tenant(message),
            };
        }
        match err {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => Rejection::DatabaseUnavailable,
            _ => Rejection::Internal,
        }
    }
}

/// `message` for a response body, unless it names the request's tenant
/// (the ambient one): then a message that names nothing, so that the body
/// never carries request input.
fn not_naming_the_tenant(message: &str) -> String {
    let names_tenant = crate::current_tenant().is_ok_and(|tenant| {
        message
            .to_ascii_lowercase()
            .contains(&tenant.as_str().to_ascii_lowercase())
    });
    if names_tenant {
        "the database refused the application's role a privilege on an object of this tenant \
         (the server's log names it)"
            .to_owned()
    } else {
        message.to_owned()
    }
}

/// How a web service answers a [`TenantError`], for example one from
/// [`Tenancy::connection`](crate::Tenancy::connection):
///
/// | error | rejection | status |
/// |---|---|---|
/// | `UnknownTenant` (the registry answered "not there") | [`Rejection::UnknownTenant`] | 404 |
/// | `Database` whose database refused the role a privilege or a login ([`TenantError::permission_denied`]) | [`Rejection::Misconfigured`], with the database's message | 500 |
/// | `Database`, any other (the registry or the tenant's database could not be read) | [`Rejection::DatabaseUnavailable`] | 503 |
/// | `Busy` (the tenant's cap on database work) | [`Rejection::RateLimited`], retry after 1 s | 429 |
/// | `InvalidId`, `ColumnType`, `UnsafeName` (the id cannot name this tenant) | [`Rejection::InvalidId`] (source `tenant`) | 400 |
/// | `Mismatch`, `TenantColumnWrite` (a row names another tenant) | [`Rejection::BodyMismatch`] | 400 |
/// | `Missing`, `Unsupported`, `Backfill`, others (a server-side fault) | [`Rejection::Internal`] | 500 |
///
/// ```
/// use axum::http::StatusCode;
/// use sea_orm_tenant::TenantError;
/// use sea_orm_tenant::http::Rejection;
///
/// let gone = Rejection::from(&TenantError::UnknownTenant("acme".into()));
/// assert_eq!(gone.status(), StatusCode::NOT_FOUND);
/// let down = Rejection::from(&TenantError::Database {
///     context: "reading the tenant registry".into(),
///     source: sea_orm::DbErr::Custom("connection reset".into()),
/// });
/// assert_eq!(down, Rejection::DatabaseUnavailable);
/// assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
/// ```
impl From<&TenantError> for Rejection {
    fn from(err: &TenantError) -> Self {
        let invalid = |reason| Rejection::InvalidId {
            source: "tenant",
            reason,
        };
        match err {
            TenantError::UnknownTenant(_) => Rejection::UnknownTenant,
            // Retry: the next connection goes to where the tenant lives now.
            TenantError::Moved(_) => Rejection::DatabaseUnavailable,
            TenantError::Database { source, .. } => match denied_message(source) {
                Some(message) => Rejection::Misconfigured {
                    detail: not_naming_the_tenant(message),
                },
                None => Rejection::DatabaseUnavailable,
            },
            TenantError::Busy { .. } => Rejection::RateLimited {
                retry_after_secs: 1,
            },
            TenantError::InvalidId { reason, .. } | TenantError::UnsafeName { reason, .. } => {
                invalid(reason)
            }
            TenantError::ColumnType { .. } => invalid("it does not fit the tenant column's type"),
            TenantError::Mismatch { .. } | TenantError::TenantColumnWrite { .. } => {
                Rejection::BodyMismatch
            }
            TenantError::Missing
            | TenantError::Unsupported(_)
            | TenantError::Backfill { .. }
            | TenantError::CrossTenantReferences { .. }
            | TenantError::SessionState { .. }
            | TenantError::RowLevelSecurity { .. }
            | TenantError::Transfer { .. }
            | TenantError::NotErased { .. }
            | TenantError::Refused { .. } => Rejection::Internal,
        }
    }
}

/// [`From<&TenantError>`](#impl-From%3C%26TenantError%3E-for-Rejection), by value.
///
/// ```
/// use sea_orm_tenant::TenantError;
/// use sea_orm_tenant::http::Rejection;
/// assert_eq!(Rejection::from(TenantError::Missing), Rejection::Internal);
/// ```
impl From<TenantError> for Rejection {
    fn from(err: TenantError) -> Self {
        Rejection::from(&err)
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "error": self.message() });
        match &self {
            Rejection::InvalidId { source, reason } => {
                body["source"] = (*source).into();
                body["detail"] = (*reason).into();
            }
            Rejection::Misconfigured { detail } => body["detail"] = detail.as_str().into(),
            _ => {}
        }
        let mut response = (self.status(), axum::Json(body)).into_response();
        #[cfg(feature = "metrics")]
        crate::metrics::rejected(&self, &mut response);
        let headers = response.headers_mut();
        match self {
            Rejection::RateLimited { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            // RFC 6750 §3: a 401 says which scheme would be accepted.
            Rejection::MissingToken => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Rejection::InvalidToken => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_errors_map_to_their_status() {
        let db = TenantError::Database {
            context: "reading the tenant registry".into(),
            source: sea_orm::DbErr::Custom("server closed the connection".into()),
        };
        let cases = [
            (
                TenantError::UnknownTenant("acme".into()),
                StatusCode::NOT_FOUND,
            ),
            (db, StatusCode::SERVICE_UNAVAILABLE),
            (
                TenantError::Busy {
                    tenant: "acme".into(),
                    limit: 4,
                },
                StatusCode::TOO_MANY_REQUESTS,
            ),
            (
                TenantError::invalid("a'b", "only ASCII letters"),
                StatusCode::BAD_REQUEST,
            ),
            (
                TenantError::unsafe_name("a'b", "not a schema name"),
                StatusCode::BAD_REQUEST,
            ),
            (TenantError::Missing, StatusCode::INTERNAL_SERVER_ERROR),
            (
                TenantError::Unsupported("schema per tenant on SQLite".into()),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ];
        for (err, status) in cases {
            assert_eq!(Rejection::from(&err).status(), status, "{err}");
        }
    }

    #[test]
    fn a_permission_message_naming_the_request_tenant_is_not_sent() {
        let message = "permission denied for schema tenant_acme";
        let inside = |t: &str| {
            crate::with_tenant_sync(crate::TenantId::from(t), || not_naming_the_tenant(message))
        };
        assert!(!inside("acme").contains("acme"));
        assert_eq!(inside("globex"), message);
        assert_eq!(not_naming_the_tenant(message), message);
    }

    #[tokio::test]
    async fn a_database_error_is_not_echoed() {
        let response = Rejection::from(TenantError::db("x", "secret detail")).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap_or_default();
        assert_eq!(&body[..], br#"{"error":"database unavailable"}"#);
    }
}
