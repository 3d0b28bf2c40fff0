//! The source's side of a move's pause, for writers in other processes.
//!
//! In this process the pause is the tenant's [`Life`](super::super::Life)
//! (its reads go on at the source, its writes wait). Where the source is a
//! Postgres schema or database of the tenant's own, its tables are also
//! locked `IN EXCLUSIVE MODE` (reads go on, writes of every session wait),
//! and dropped in the same transaction once the registry has switched: a
//! write another process sent meanwhile fails ("relation does not
//! exist") rather than landing in the old place. A shared source cannot
//! be locked for one tenant without stopping the others, and MySQL and
//! SQLite have no such lock that another connection's reads pass: there
//! the pause holds in the moving process, and other processes follow the
//! registry ([`registry_ttl`](super::super::Tenancy::registry_ttl)).

use std::time::Duration;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, Statement,
    TransactionTrait,
};

use super::super::{Location, Placement, Tenancy};
use crate::connection::TenantTable;
use crate::rls::quote_ident;
use crate::{TenantError, TenantId};

/// The locks held on the source's tables (or nothing to hold).
pub(super) struct Fence {
    held: Option<Held>,
}

struct Held {
    txn: DatabaseTransaction,
    /// The tables locked, qualified and quoted.
    tables: Vec<String>,
    /// The schema to drop with them (a schema source).
    schema: Option<String>,
    /// The source database's own pool, closed at the end.
    own: Option<DatabaseConnection>,
}

impl Fence {
    /// Locks the source's tables against writes, waiting at most `wait`.
    pub(super) async fn take(
        tenancy: &Tenancy,
        tenant: &TenantId,
        from: &Location,
        tables: &[&TenantTable],
        wait: Duration,
    ) -> Result<Self, TenantError> {
        let fail = |e| {
            TenantError::db(
                format!("locking tenant `{tenant}`'s tables for its move"),
                e,
            )
        };
        let (db, schema, own) = match from.placement() {
            Placement::SharedSchema => return Ok(Fence { held: None }),
            Placement::SchemaPerTenant => (
                tenancy.server_db(from)?.clone(),
                Some(tenancy.schema_of(tenant)?.as_str().to_owned()),
                None,
            ),
            Placement::DatabasePerTenant => {
                let (url, target) = tenancy.target_on(tenant, from.server())?;
                let db = super::super::database::open_own(tenant, &url, &target).await?;
                (db.clone(), None, Some(db))
            }
        };
        if db.get_database_backend() != DbBackend::Postgres {
            if let Some(own) = own {
                let _ = own.close().await;
            }
            return Ok(Fence { held: None });
        }
        let txn = db.begin().await.map_err(fail)?;
        // The tables there are, of those declared.
        let found = txn
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = COALESCE($1, current_schema()) AND c.relkind IN ('r', 'p') \
                 ORDER BY 1",
                [schema.clone().into()],
            ))
            .await
            .map_err(fail)?;
        let mut locked = Vec::with_capacity(tables.len());
        for row in found {
            let table: String = row.try_get_by_index(0).map_err(fail)?;
            if !tables.iter().any(|t| t.name == table) {
                continue;
            }
            locked.push(match &schema {
                Some(s) => format!("{}.{}", quote_ident(s), quote_ident(&table)),
                None => quote_ident(&table),
            });
        }
        if !locked.is_empty() {
            txn.execute_unprepared(&format!(
                "SET LOCAL lock_timeout = {}",
                wait.as_millis().max(1)
            ))
            .await
            .map_err(fail)?;
            txn.execute_unprepared(&format!(
                "LOCK TABLE {} IN EXCLUSIVE MODE",
                locked.join(", ")
            ))
            .await
            .map_err(fail)?;
        }
        Ok(Fence {
            held: Some(Held {
                txn,
                tables: locked,
                schema,
                own,
            }),
        })
    }

    /// After the switch: drops the source's tables (its schema, for a
    /// schema) under the locks, then lets them go.
    pub(super) async fn finish(self) -> Result<(), DbErr> {
        let Some(held) = self.held else {
            return Ok(());
        };
        match &held.schema {
            Some(schema) => {
                held.txn
                    .execute_unprepared(&format!(
                        "DROP SCHEMA IF EXISTS {} CASCADE",
                        quote_ident(schema)
                    ))
                    .await?;
            }
            None if !held.tables.is_empty() => {
                held.txn
                    .execute_unprepared(&format!(
                        "DROP TABLE IF EXISTS {} CASCADE",
                        held.tables.join(", ")
                    ))
                    .await?;
            }
            None => {}
        }
        held.txn.commit().await?;
        if let Some(own) = held.own {
            let _ = own.close().await;
        }
        Ok(())
    }
}
