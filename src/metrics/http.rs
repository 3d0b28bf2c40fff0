//! The tenant layer's metrics: request durations and rejections by reason.

use std::future::Future;
use std::time::Instant;

use ::metrics::{Label, counter, histogram};
use axum::http::{Method, Request};
use axum::response::Response;

use super::{
    HTTP_REJECTIONS, HTTP_REQUEST_DURATION, HTTP_REQUEST_METHOD, HTTP_RESPONSE_STATUS_CODE, REASON,
    with_tenant,
};
use crate::TenantId;
use crate::http::Rejection;

/// The `reason` label of `rejection`: its variant's name in snake case,
/// stable across releases.
///
/// ```
/// use sea_orm_tenant::http::Rejection;
/// use sea_orm_tenant::metrics::reason;
///
/// assert_eq!(reason(&Rejection::UnknownTenant), "unknown_tenant");
/// assert_eq!(reason(&Rejection::RateLimited { retry_after_secs: 1 }), "rate_limited");
/// ```
pub fn reason(rejection: &Rejection) -> &'static str {
    match rejection {
        Rejection::Missing => "missing",
        Rejection::InvalidId { .. } => "invalid_id",
        Rejection::Conflict => "conflict",
        Rejection::InvalidToken => "invalid_token",
        Rejection::MissingToken => "missing_token",
        Rejection::TokenWithoutTenant => "token_without_tenant",
        Rejection::UnknownTenant => "unknown_tenant",
        Rejection::Suspended => "suspended",
        Rejection::RateLimited { .. } => "rate_limited",
        Rejection::BodyMismatch => "body_mismatch",
        Rejection::Unavailable => "unavailable",
        Rejection::DatabaseUnavailable => "database_unavailable",
        Rejection::Internal => "internal",
        Rejection::Misconfigured { .. } => "misconfigured",
        Rejection::NotFound(_) => "not_found",
    }
}

/// What a rejection's response carries in its extensions, so that the
/// tenant layer counts every rejection by reason, whichever layer or
/// extractor made it.
#[derive(Clone, Copy, Debug)]
struct Rejected(&'static str);

/// Marks `response` as made from `rejection`.
pub(crate) fn rejected(rejection: &Rejection, response: &mut Response) {
    response
        .extensions_mut()
        .insert(Rejected(reason(rejection)));
}

/// One request through the tenant layer, timed from its start.
pub(crate) struct HttpRequest {
    start: Instant,
    method: &'static str,
}

impl HttpRequest {
    pub(crate) fn start<B>(req: &Request<B>) -> Self {
        HttpRequest {
            start: Instant::now(),
            method: method(req.method()),
        }
    }

    /// Records the request's duration and status, and its rejection if
    /// the response is one. A tenant found not to exist (or whose id the
    /// tenancy refused) is any string a client sent: it gets no series of
    /// its own.
    pub(crate) fn finish(&self, tenant: Option<&TenantId>, response: &Response) {
        let elapsed = self.start.elapsed();
        let rejected = response.extensions().get::<Rejected>().map(|r| r.0);
        let tenant = tenant.filter(|_| !matches!(rejected, Some("unknown_tenant" | "invalid_id")));
        let status = response.status().as_u16().to_string();
        let labels = [
            Label::new(HTTP_REQUEST_METHOD, self.method),
            Label::new(HTTP_RESPONSE_STATUS_CODE, status),
        ];
        histogram!(HTTP_REQUEST_DURATION, with_tenant(tenant, labels)).record(elapsed);
        if let Some(reason) = rejected {
            counter!(
                HTTP_REJECTIONS,
                with_tenant(tenant, [Label::new(REASON, reason)])
            )
            .increment(1);
        }
    }

    /// Runs `work`, the rest of the request for `tenant`, and records it
    /// when it answers.
    pub(crate) async fn around<E>(
        self,
        tenant: TenantId,
        work: impl Future<Output = Result<Response, E>>,
    ) -> Result<Response, E> {
        let result = work.await;
        if let Ok(response) = &result {
            self.finish(Some(&tenant), response);
        }
        result
    }
}

/// `http.request.method`: the standard methods by name, `_OTHER` for the
/// rest (so that a client cannot make series up).
fn method(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "CONNECT" => "CONNECT",
        "OPTIONS" => "OPTIONS",
        "TRACE" => "TRACE",
        "PATCH" => "PATCH",
        _ => "_OTHER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_methods_and_nothing_else() {
        assert_eq!(method(&Method::GET), "GET");
        assert_eq!(method(&Method::PATCH), "PATCH");
        assert_eq!(method(&Method::from_bytes(b"BREW").unwrap()), "_OTHER");
    }
}
