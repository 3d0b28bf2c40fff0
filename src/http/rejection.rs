//! [`Rejection`]: why a request was refused before reaching its handler.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::TenantError;

/// Why a request was refused before it reached its handler.
///
/// Each variant maps to a status code and a short JSON body
/// `{"error": "...", "detail": "..."}`; the body never echoes the request's
/// input, so a hostile value cannot be reflected back.
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
        /// Which source: `header`, `host`, `jwt` or `custom`.
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
            Rejection::UnknownTenant => StatusCode::NOT_FOUND,
            Rejection::Suspended => StatusCode::FORBIDDEN,
            Rejection::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Rejection::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
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
        }
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "error": self.message() });
        if let Rejection::InvalidId { source, reason } = &self {
            body["source"] = (*source).into();
            body["detail"] = (*reason).into();
        }
        let mut response = (self.status(), axum::Json(body)).into_response();
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
