//! The manual: one chapter per topic, each compiled as doc tests.
//!
//! Start with [getting started](getting_started), which builds a
//! multi-tenant axum service on Postgres end to end; the other chapters go
//! deeper into one topic each. The numbers behind every performance claim
//! are in `BENCHMARKS.md` in the repository.

#[doc = include_str!("guide/getting_started.md")]
pub mod getting_started {}

#[doc = include_str!("guide/rls_and_roles.md")]
pub mod rls_and_roles {}

#[doc = include_str!("guide/testing.md")]
pub mod testing {}

#[doc = include_str!("guide/command_line.md")]
pub mod command_line {}
