//! The manual: one chapter per topic, each compiled as doc tests.
//!
//! Start with [getting started](getting_started), which builds a
//! multi-tenant axum service on Postgres end to end; the other chapters go
//! deeper into one topic each, roughly in the order a service meets them:
//!
//! 1. [Getting started](getting_started): an axum service on Postgres, end to end.
//! 2. [Isolation levels](isolation): shared schema, schema per tenant,
//!    database per tenant, hybrid; what each level does on each backend.
//! 3. [The walls](walls): declaring tables, the scoped builders, what a
//!    `TenantConnection` confines and refuses, row-level security, and the
//!    rules that keep data from leaking.
//! 4. [The ambient tenant and admin work](ambient): the task-local tenant and
//!    the audited `unscoped` escape hatch.
//! 5. [Row-level security and the application role](rls_and_roles).
//! 6. [Migrations](migrations): composite foreign keys written by hand,
//!    migrating every tenant, adding a tenant column.
//! 7. [The command line](command_line): a migration command for your binary.
//! 8. [Lifecycle](lifecycle): provision, deprovision, placement and the registry.
//! 9. [Moving tenants, and several servers](moving): a tenant moved online
//!    with its data; tenants spread over several database servers.
//! 10. [Export, import and erasure](export_and_erase): one tenant's data
//!     handed out, restored or copied elsewhere, and erased provably.
//! 11. [Web services](web): the axum layer, resolvers, extractors, rejections.
//! 12. [Limits](limits): rate limits, concurrency caps, statement timeouts.
//! 13. [Behind PgBouncer](pgbouncer): transaction pooling.
//! 14. [Testing your service](testing).
//! 15. [Observability](observability): tracing spans and metrics.
//! 16. [Citus](citus): sharding tenant tables.
//! 17. [Performance](performance): what the benchmarks measured.
//!
//! The numbers behind every performance claim are in `BENCHMARKS.md` in the
//! repository.

#[doc = include_str!("guide/getting_started.md")]
pub mod getting_started {}

#[doc = include_str!("guide/isolation.md")]
pub mod isolation {}

#[doc = include_str!("guide/walls.md")]
pub mod walls {}

#[doc = include_str!("guide/ambient.md")]
pub mod ambient {}

#[doc = include_str!("guide/rls_and_roles.md")]
pub mod rls_and_roles {}

#[doc = include_str!("guide/migrations.md")]
pub mod migrations {}

#[doc = include_str!("guide/command_line.md")]
pub mod command_line {}

#[doc = include_str!("guide/lifecycle.md")]
pub mod lifecycle {}

#[doc = include_str!("guide/moving.md")]
pub mod moving {}
#[doc = include_str!("guide/export_and_erase.md")]
pub mod export_and_erase {}

#[doc = include_str!("guide/web.md")]
pub mod web {}

#[doc = include_str!("guide/limits.md")]
pub mod limits {}

#[doc = include_str!("guide/pgbouncer.md")]
pub mod pgbouncer {}

#[doc = include_str!("guide/testing.md")]
pub mod testing {}

#[doc = include_str!("guide/observability.md")]
pub mod observability {}

#[doc = include_str!("guide/citus.md")]
pub mod citus {}

#[doc = include_str!("guide/performance.md")]
pub mod performance {}
