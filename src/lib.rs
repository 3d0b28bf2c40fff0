//! Multi-tenancy for [SeaORM](https://www.sea-ql.org/SeaORM/) 2.0.
//!
//! One running service holds the data of many customers (tenants), and no
//! tenant can read or change another tenant's rows. An entity opts in once
//! with [`TenantEntity`]; from then on [`TenantEntity::scoped`] hands out
//! SeaORM's own builders with the tenant added or checked:
//!
//! ```
//! use sea_orm::{ActiveValue::Set, Database, EntityTrait, Schema};
//! use sea_orm_tenant::doc_entities::post;
//! use sea_orm_tenant::prelude::*;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), sea_orm::DbErr> {
//! let db = Database::connect("sqlite::memory:").await?;
//! # let backend = db.get_database_backend();
//! # use sea_orm::ConnectionTrait;
//! # db.execute(&Schema::new(backend).create_table_from_entity(post::Entity)).await?;
//! let (acme, globex) = (TenantId::from("acme"), TenantId::from("globex"));
//!
//! let hello = post::ActiveModel { title: Set("Hello".into()), ..Default::default() };
//! let row = post::Entity::scoped(&acme).insert(hello).exec_with_returning(&db).await?;
//! assert_eq!(row.tenant_id, "acme");
//!
//! // Another tenant does not see it, by id or otherwise.
//! assert!(post::Entity::scoped(&globex).find_by_id(row.id).one(&db).await?.is_none());
//! assert_eq!(post::Entity::scoped(&globex).find().all(&db).await?.len(), 0);
//!
//! // The ambient tenant, carried in a tokio task-local.
//! let mine = with_tenant(acme.clone(), async {
//!     post::Entity::scoped_current()?.find().all(&db).await
//! })
//! .await?;
//! assert_eq!(mine.len(), 1);
//! # Ok(())
//! # }
//! ```
//!
//! The manual is the [`guide`] module: [getting
//! started](guide::getting_started), the [isolation levels](guide::isolation),
//! [what the walls let through](guide::walls), [migrations](guide::migrations),
//! [web services](guide::web) and the rest, one chapter per topic.

#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// The README's example, compiled by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

#[cfg(not(any(
    feature = "sqlx-postgres",
    feature = "sqlx-mysql",
    feature = "sqlx-sqlite"
)))]
compile_error!(
    "sea-orm-tenant needs a database driver: enable at least one of the features \
     `sqlx-postgres`, `sqlx-mysql` and `sqlx-sqlite` (the default enables all three)"
);

mod allowlist;
pub mod citus;
#[cfg(feature = "cli")]
#[cfg_attr(docsrs, doc(cfg(feature = "cli")))]
pub mod cli;
mod connection;
mod context;
mod error;
mod gate;
pub mod guide;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod http;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
pub mod migration;
pub mod rls;
mod scope;
mod tenancy;
mod tenant;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
pub mod transfer;

#[doc(hidden)]
pub mod doc_entities;

/// What [`tenant_entity!`] expands to; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::connection::{GlobalRegistration, Registration, describe, table_name};
    pub use inventory;
    pub use sea_orm;
}

pub use allowlist::{AllowedFunction, allowed_functions};
pub use connection::{
    HotTenants, TENANT_SETTING, TenantConnection, TenantStream, TenantTransaction,
    UnconfinedTransaction,
};
pub use context::{current_tenant, spawn, with_tenant, with_tenant_sync};
pub use error::{FileError, TenantError};
pub use scope::{
    PrimaryKeyValue, Scoped, ScopedDeleteOne, ScopedInsert, ScopedInsertMany, ScopedOnConflict,
    ScopedUpdateMany, ScopedUpdateOne, TenantEntity, TenantScoped, Unscoped,
};
pub use tenancy::{
    DeprovisionReport, ErasureCheck, ErasureReport, Location, MAIN_SERVER, MAX_NAME_LEN,
    MOVES_TABLE, MoveOptions, MovePhase, MoveReport, MoveStep, Naming, PendingMove, Placement,
    REGISTRY_TABLE, Removed, RemovedRows, SchemaName, Server, TableCheck, Tenancy,
};
pub use tenant::{MAX_TENANT_ID_LEN, TenantId};

/// Everything an application needs, in one `use`.
///
/// ```
/// use sea_orm_tenant::prelude::*;
/// let t = TenantId::from("acme");
/// # let _ = t;
/// ```
pub mod prelude {
    pub use crate::{
        DeprovisionReport, ErasureReport, Location, MoveReport, Naming, Placement, SchemaName,
        Server, Tenancy,
    };
    pub use crate::{HotTenants, TenantConnection, TenantTransaction};
    pub use crate::{
        Scoped, ScopedDeleteOne, ScopedInsert, ScopedInsertMany, ScopedOnConflict,
        ScopedUpdateMany, ScopedUpdateOne, TenantEntity, TenantError, TenantId, TenantScoped,
        Unscoped, current_tenant, spawn, with_tenant, with_tenant_sync,
    };
}
