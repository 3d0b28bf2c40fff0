//! Migrations across every tenant of a [`Tenancy`](crate::Tenancy), and
//! helpers for writing tenant-aware migrations.

mod tenant_column;

pub use tenant_column::*;
