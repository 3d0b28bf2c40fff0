//! Whether the tenant tables carry row-level security policies (the
//! second wall, Postgres): declared with
//! [`Tenancy::row_level_security`], or read once from the catalog, and a
//! declaration the catalog contradicts is an error, never a silent
//! downgrade.

use std::sync::Arc;

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use tokio::sync::OnceCell;

use super::Tenancy;
use crate::TenantError;

/// The declaration and what the catalog said, shared by a tenancy's clones.
#[derive(Clone, Default)]
pub(crate) struct SecondWall {
    declared: Option<bool>,
    read: Arc<OnceCell<Reading>>,
}

/// What the catalog says about the declared tenant tables of the shared
/// schema.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reading {
    /// Their statements need the tenant set (row-level security).
    pub(crate) rls: bool,
    /// One of them has a trigger of the application's, which could change
    /// session state on a write (so a write is followed by setting the
    /// session again, or runs where its commit sets it back).
    pub(crate) triggers: bool,
}

impl SecondWall {
    /// What was declared, if anything.
    pub(crate) fn declared(&self) -> Option<bool> {
        self.declared
    }
}

/// The tables of the `search_path`, whether each has row-level security
/// enabled, and whether it has a trigger of its own (not one of the
/// server's, such as a foreign key's).
const TABLES: &str = "SELECT c.relname::text AS name, c.relrowsecurity AS rls, \
     EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid = c.oid \
     AND NOT t.tgisinternal) AS triggers \
     FROM pg_catalog.pg_class c WHERE c.relkind IN ('r', 'p') \
     AND pg_catalog.pg_table_is_visible(c.oid)";

impl Tenancy {
    /// Declares whether the tenant tables of the shared Postgres database
    /// carry row-level security policies (those of [`rls`](crate::rls)).
    ///
    /// With policies, every tenant statement must have the tenant set
    /// first: on the tenancy's tenant-keeping connections (one round trip
    /// when the connection already holds the tenant, two when it switches)
    /// or, behind a pooler, in a transaction of its own. Without them a
    /// tenant statement is sent alone, in autocommit: one round trip, the
    /// cost of a plain statement (the first wall still confines it).
    ///
    /// Undeclared, it is read from the catalog at the first connection
    /// (any declared tenant table with row-level security enabled means
    /// yes). Declared, the catalog is still read once, and a table that
    /// contradicts the declaration makes [`connection`](Self::connection)
    /// fail with [`TenantError::RowLevelSecurity`]; call
    /// [`row_level_security_in_force`](Self::row_level_security_in_force)
    /// at start-up to fail there instead. Ignored on SQLite and MySQL.
    /// For schema and database per tenant nothing is read: the
    /// declaration (default no) is taken as it is (a schema tenant's
    /// session is set on a tenant-keeping connection either way, for its
    /// `search_path`).
    ///
    /// ```
    /// use sea_orm::DatabaseConnection;
    /// use sea_orm_tenant::prelude::*;
    ///
    /// let tenancy = Tenancy::shared_schema(DatabaseConnection::default()).row_level_security(true);
    /// # let _ = tenancy;
    /// ```
    pub fn row_level_security(mut self, on: bool) -> Self {
        self.wall = SecondWall {
            declared: Some(on),
            read: Arc::default(),
        };
        self
    }

    /// Whether this tenancy's statements on the shared Postgres database
    /// set the tenant for row-level security: the declaration of
    /// [`row_level_security`](Self::row_level_security) checked against
    /// the catalog, or the catalog alone. Read once and remembered; a
    /// failure is not remembered, so it is read again next time.
    ///
    /// [`TenantError::RowLevelSecurity`] when a declared tenant table
    /// contradicts the declaration; [`TenantError::Database`] when the
    /// catalog cannot be read. `false` on SQLite and MySQL, and before any
    /// tenant table exists nothing is remembered (the answer is then the
    /// declaration, or yes).
    ///
    /// ```
    /// use sea_orm::Database;
    /// use sea_orm_tenant::prelude::*;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let tenancy = Tenancy::shared_schema(Database::connect("sqlite::memory:").await?);
    /// assert!(!tenancy.row_level_security_in_force().await?);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn row_level_security_in_force(&self) -> Result<bool, TenantError> {
        Ok(self.second_wall().await?.rls)
    }

    /// The catalog's [`Reading`] of the shared schema's tenant tables,
    /// checked against the declaration; see
    /// [`row_level_security_in_force`](Self::row_level_security_in_force).
    pub(crate) async fn second_wall(&self) -> Result<Reading, TenantError> {
        let unread = Reading {
            rls: self.wall.declared.unwrap_or(false),
            triggers: false,
        };
        let Ok(db) = self.shared_db() else {
            return Ok(unread);
        };
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(unread);
        }
        if let Some(known) = self.wall.read.get() {
            return Ok(*known);
        }
        // As the registry is read: unnamed behind a transaction-mode pooler.
        let rows = self
            .registry_db(db)
            .query_all_raw(Statement::from_string(DbBackend::Postgres, TABLES))
            .await
            .map_err(read_err)?;
        let mut found = Vec::new();
        for row in rows {
            let name: String = row.try_get("", "name").map_err(read_err)?;
            let rls: bool = row.try_get("", "rls").map_err(read_err)?;
            let triggers: bool = row.try_get("", "triggers").map_err(read_err)?;
            if self
                .confiner
                .catalog()
                .tables()
                .any(|t| t.name.eq_ignore_ascii_case(&name))
            {
                found.push((name, rls, triggers));
            }
        }
        found.sort();
        if found.is_empty() {
            // No tenant table yet (before the migrations): nothing is
            // remembered, and the answer is the safe one.
            return Ok(Reading {
                rls: self.wall.declared.unwrap_or(true),
                triggers: true,
            });
        }
        let rls = match self.wall.declared {
            Some(declared) => {
                if let Some((table, ..)) = found.iter().find(|(_, rls, _)| *rls != declared) {
                    return Err(TenantError::RowLevelSecurity {
                        table: table.clone(),
                        declared,
                    });
                }
                declared
            }
            None => found.iter().any(|(_, rls, _)| *rls),
        };
        let reading = Reading {
            rls,
            triggers: found.iter().any(|(.., triggers)| *triggers),
        };
        Ok(*self.wall.read.get_or_init(|| async { reading }).await)
    }
}

fn read_err(source: sea_orm::DbErr) -> TenantError {
    TenantError::Database {
        context: "reading which tables have row-level security".into(),
        source,
    }
}
