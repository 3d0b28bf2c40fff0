//! Tenant identification and noisy-neighbour protection for web services
//! (feature `axum`, or its alias `http`).
//!
//! - [`TenantResolver`] finds the tenant of a request: a header, the
//!   subdomain of the request's host, a claim of a verified JWT
//!   ([`JwtClaim`]), or a closure of your own, in the order you configure.
//!   Everything it finds goes through [`TenantId::parse`](crate::TenantId::parse);
//!   when two sources disagree the request is refused.
//!
//!   Only the JWT claim is trusted: its signature, algorithm, `exp`, `nbf`
//!   and `aud` were checked. A header, a subdomain and a closure are hints:
//!   the client chose them. A resolver built only from hints identifies the
//!   tenant but authenticates nothing, so something after it (a gateway, an
//!   auth layer) must check that the caller belongs to that tenant.
//!   [`TenantResolver::require_verified_token`] makes the token mandatory
//!   (401 without one, 403 when it names no tenant) and accepts a hint only
//!   when it agrees with the token.
//! - [`TenantLayer`], a tower layer, runs the rest of the request inside
//!   [`with_tenant`](crate::with_tenant), puts the [`TenantId`](crate::TenantId)
//!   in the request extensions, and answers 4xx with a short JSON body when
//!   there is no valid tenant, without calling the handler.
//! - [`TenantDirectory`] optionally checks that the tenant exists and is
//!   active (an async lookup, cached): 404 unknown, 403 suspended.
//! - [`CurrentTenant`] and [`TenantDb`] are axum extractors for the
//!   tenant and for a [`TenantConnection`](crate::TenantConnection) bound
//!   to it (from the [`Tenancy`](crate::Tenancy) in the router's state).
//!   A tenancy that answered "not
//!   provisioned" is a 404; one that could not be asked is a 503
//!   ([`Rejection`]'s `From<&TenantError>`).
//! - [`TenantRateLimitLayer`] limits each tenant's request rate (governor,
//!   keyed by tenant, quotas per plan) and answers 429 with `Retry-After`;
//!   [`TenantConcurrencyLayer`] caps each tenant's requests in flight.
//!
//! - [`ApiError`] is the error type of a handler: `?` on a
//!   [`DbErr`](sea_orm::DbErr) or a [`TenantError`](crate::TenantError)
//!   answers as [`Rejection`] says (a tenant error carried inside a
//!   `DbErr` included), and any other database error is a 500 that is
//!   logged, never shown.
//!
//! The JWT source ([`JwtClaim`], [`TenantResolver::jwt`]) is behind the
//! feature `jwt` (which turns `axum` on), so that a service resolving
//! tenants from a header or a subdomain compiles no JWT or RSA/EC crypto.
//!
//! ```
//! use axum::{routing::get, Router};
//! use sea_orm_tenant::http::{CurrentTenant, TenantLayer, TenantResolver};
//!
//! // The tenant comes from a header set by a gateway that authenticated
//! // the request, or from the subdomain; when both are sent they must agree.
//! let resolver = TenantResolver::new()
//!     .header("x-tenant-id")
//!     .subdomain("app.example.com");
//! let app: Router = Router::new()
//!     .route("/whoami", get(|CurrentTenant(t): CurrentTenant| async move { t.to_string() }))
//!     .layer(TenantLayer::new(resolver));
//! # let _ = app;
//! ```

// The JWT items these docs link to exist only with the feature `jwt`
// (docs.rs builds with every feature).
#![cfg_attr(not(feature = "jwt"), allow(rustdoc::broken_intra_doc_links))]

mod concurrency;
mod directory;
mod error_response;
mod extract;
#[cfg(feature = "jwt")]
mod jwt;
mod layer;
mod quota;
mod rate_limit;
mod rejection;
mod resolve;

pub use concurrency::{ConcurrencyService, TenantConcurrencyLayer};
pub use directory::{TenantDirectory, TenantStatus};
pub use error_response::ApiError;
pub use extract::{CurrentTenant, TenantDb};
#[cfg(feature = "jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
pub use jwt::{JwtClaim, JwtKeyError};
pub use layer::{TenantLayer, TenantService};
pub use rate_limit::{RateLimitService, TenantRateLimit, TenantRateLimitLayer};
pub use rejection::Rejection;
pub use resolve::{RequestHead, TenantResolver};

pub use quota::Quota;
