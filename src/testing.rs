//! Test helpers (feature `testing`): a fresh database or schema per test on
//! each backend, tenants provisioned in one call, and (with the `axum`
//! feature too) requests that carry a tenant.
//!
//! Enable it for your tests only:
//!
//! ```toml
//! [dev-dependencies]
//! sea-orm-tenant = { version = "0.1", features = ["testing"] }
//! ```
//!
//! ```
//! use sea_orm_tenant::prelude::*;
//! use sea_orm_tenant::testing::TestDb;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), TenantError> {
//! let db = TestDb::sqlite().await?;                 // a fresh file in a temporary directory
//! let tenancy = db.shared_schema();                 // or schema_per_tenant, database_per_tenant
//! let [acme, globex] = db.provision(&tenancy, ["acme", "globex"]).await?;
//! assert_ne!(acme, globex);
//! db.cleanup().await?;                              // or let it drop: removed all the same
//! # Ok(())
//! # }
//! ```
//!
//! Every database, schema, file and directory a [`TestDb`] creates is named
//! `sot_<24 hex digits>` (tenant databases and schemas
//! `sot_<24 hex digits>_<tenant>`), so tests run in parallel and what a
//! killed run left behind is easy to find. See the
//! [guide's chapter](crate::guide::testing) for a service tested end to end.

mod db;
#[cfg(feature = "axum")]
mod request;

pub use db::TestDb;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use request::{BoxError, TestRequest, TestResponse, request};
