//! [`Placement`]: where one tenant's data lives, the value the registry
//! stores and tracing spans record.

use std::fmt;

/// Where one tenant's data lives.
///
/// ```
/// use sea_orm_tenant::Placement;
///
/// assert_eq!(Placement::SchemaPerTenant.as_str(), "schema_per_tenant");
/// assert_eq!(Placement::parse("database_per_tenant"), Some(Placement::DatabasePerTenant));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Placement {
    /// Rows in the shared tables, told apart by the tenant column.
    SharedSchema,
    /// A Postgres schema of its own (`tenant_<id>`), chosen per
    /// transaction with `SET LOCAL search_path`.
    SchemaPerTenant,
    /// A database (or SQLite file) of its own.
    DatabasePerTenant,
}

impl Placement {
    /// The name stored in the registry and recorded in tracing spans.
    pub fn as_str(self) -> &'static str {
        match self {
            Placement::SharedSchema => "shared_schema",
            Placement::SchemaPerTenant => "schema_per_tenant",
            Placement::DatabasePerTenant => "database_per_tenant",
        }
    }

    /// The inverse of [`as_str`](Self::as_str).
    pub fn parse(s: &str) -> Option<Self> {
        [
            Placement::SharedSchema,
            Placement::SchemaPerTenant,
            Placement::DatabasePerTenant,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
