//! [`DeprovisionReport`]: what [`Tenancy::deprovision`](super::Tenancy::deprovision)
//! removed, table by table.

use std::fmt;

use super::Placement;
use crate::TenantId;

/// What [`Tenancy::deprovision`](super::Tenancy::deprovision) removed, and
/// whether there was a tenant to remove.
///
/// ```
/// use sea_orm::{ConnectionTrait, Database, Schema};
/// use sea_orm_tenant::doc_entities::post;
/// use sea_orm_tenant::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let db = Database::connect("sqlite::memory:").await?;
/// let schema = Schema::new(db.get_database_backend());
/// db.execute(&schema.create_table_from_entity(post::Entity)).await?;
/// let tenancy = Tenancy::shared_schema(db).tenant_table::<post::Entity>();
///
/// let acme = TenantId::from("acme");
/// tenancy.provision(&acme).await?;
/// let conn = tenancy.connection(&acme).await?;
/// conn.execute_unprepared("INSERT INTO post (title) VALUES ('a'), ('b')").await?;
///
/// let report = tenancy.deprovision(&acme).await?;
/// assert!(report.existed);
/// assert_eq!(report.rows_in("post"), 2);
/// assert_eq!(report.to_string(), "tenant `acme` deprovisioned (shared schema): 2 rows from `post`");
///
/// // A second call finds nothing left.
/// let again = tenancy.deprovision(&acme).await?;
/// assert!(!again.existed);
/// assert_eq!(again.rows(), 0);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeprovisionReport {
    /// The tenant.
    pub tenant: TenantId,
    /// Whether there was a tenant to remove: the registry recorded it, or
    /// (without a registry, or for an unrecorded id) a row, schema,
    /// database or file of it was found.
    pub existed: bool,
    /// Where the registry recorded it, if it did.
    pub recorded: Option<Placement>,
    /// What was removed, place by place. Deprovisioning an unrecorded id
    /// looks everywhere the tenancy could have put it, so this may name
    /// more than one place; where nothing was found it is empty.
    pub removed: Vec<Removed>,
}

/// One place a tenant's data was removed from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Removed {
    /// Rows deleted from the shared tenant tables: each declared tenant
    /// table that lost rows, with how many.
    Rows(Vec<RemovedRows>),
    /// The tenant's Postgres schema, dropped with everything in it.
    Schema {
        /// The schema's name.
        name: String,
        /// The rows the declared tenant tables in it held (those that
        /// held any).
        rows: Vec<RemovedRows>,
    },
    /// The tenant's database dropped (or its SQLite file removed).
    Database {
        /// The database's name or the file's path.
        name: String,
    },
}

/// Rows removed from one table.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RemovedRows {
    /// The table's name.
    pub table: String,
    /// How many rows went.
    pub rows: u64,
}

impl RemovedRows {
    pub(crate) fn new(table: impl Into<String>, rows: u64) -> Self {
        RemovedRows {
            table: table.into(),
            rows,
        }
    }
}

impl DeprovisionReport {
    pub(crate) fn new(tenant: &TenantId, recorded: Option<Placement>) -> Self {
        DeprovisionReport {
            tenant: tenant.clone(),
            existed: recorded.is_some(),
            recorded,
            removed: Vec::new(),
        }
    }

    /// Adds what one place gave up; finding a schema, database or row
    /// means the tenant existed.
    pub(crate) fn push(&mut self, mut removed: Removed) {
        if let Removed::Rows(rows) | Removed::Schema { rows, .. } = &mut removed {
            rows.retain(|r| r.rows > 0);
        }
        if matches!(&removed, Removed::Rows(rows) if rows.is_empty()) {
            return;
        }
        self.existed = true;
        self.removed.push(removed);
    }

    /// Every table's removed rows, over every place.
    fn all_rows(&self) -> impl Iterator<Item = &RemovedRows> {
        self.removed.iter().flat_map(|removed| match removed {
            Removed::Rows(rows) | Removed::Schema { rows, .. } => rows.as_slice(),
            Removed::Database { .. } => &[],
        })
    }

    /// The rows removed from all tables together (rows of a dropped
    /// database are not counted).
    pub fn rows(&self) -> u64 {
        self.all_rows().map(|r| r.rows).sum()
    }

    /// The rows removed from the table `table`.
    pub fn rows_in(&self, table: &str) -> u64 {
        self.all_rows()
            .filter(|r| r.table == table)
            .map(|r| r.rows)
            .sum()
    }
}

impl fmt::Display for DeprovisionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tenant = &self.tenant;
        if !self.existed {
            return write!(
                f,
                "tenant `{tenant}` was not provisioned: nothing of it was found"
            );
        }
        write!(f, "tenant `{tenant}` deprovisioned")?;
        if let Some(placement) = self.recorded {
            write!(f, " ({})", placement.as_str().replace('_', " "))?;
        }
        if self.removed.is_empty() {
            return f.write_str(": it had no rows");
        }
        for (i, removed) in self.removed.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            match removed {
                Removed::Rows(rows) => write_rows(f, rows, "from")?,
                Removed::Schema { name, rows } => {
                    write!(f, "dropped schema `{name}`")?;
                    if !rows.is_empty() {
                        f.write_str(" (")?;
                        write_rows(f, rows, "in")?;
                        f.write_str(")")?;
                    }
                }
                Removed::Database { name } => write!(f, "dropped database `{name}`")?,
            }
        }
        Ok(())
    }
}

fn write_rows(f: &mut fmt::Formatter<'_>, rows: &[RemovedRows], word: &str) -> fmt::Result {
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        let plural = if r.rows == 1 { "row" } else { "rows" };
        write!(f, "{} {plural} {word} `{}`", r.rows, r.table)?;
    }
    Ok(())
}
