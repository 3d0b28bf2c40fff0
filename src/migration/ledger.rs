//! The version ledger (Postgres, schema per tenant): one row per tenant
//! schema with the versions its version table holds, so that a no-op `up`
//! or `status` over thousands of schemas reads one table instead of
//! opening every schema's version table.
//!
//! Opening a version table costs the server 60–190 µs (the planner loads
//! the table and its index), 1–2 s over 10,000 schemas from a new
//! process. The ledger row is a copy, and a copy can go stale; it is only
//! trusted while nothing can have changed the version table behind it:
//!
//! - it is written by the migration run itself, in the transaction that
//!   applies the migrations, after the version rows, so it commits or
//!   rolls back with them;
//! - every version table that has a ledger row carries a statement
//!   trigger (`AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE`) that deletes
//!   the schema's ledger row: a change made by anything else (a
//!   migration that opted out of transactions, `sea-orm-cli` run on the
//!   schema, a hand-written `DELETE`) sends the next run back to the
//!   version table;
//! - the row names the version table by OID and is used only while that
//!   table exists with the trigger enabled: a dropped and re-created
//!   version table, or a disabled or dropped trigger, does the same.
//!
//! A schema with no valid row (one migrated before the ledger existed, or
//! changed by hand) is read the old way and gets its row at its next
//! migration. Where the ledger cannot be created (a role without `CREATE`
//! on the shared database's schema), runs go without it.

use std::collections::HashMap;
use std::sync::Arc;

use sea_orm::{ConnectionTrait, DbBackend, Statement};

/// The ledger table, in the shared database's current schema (beside the
/// registry). Refused through tenant connections (rule 12).
pub(crate) const LEDGER_TABLE: &str = "sea_orm_tenant_versions";

/// The name of the trigger on each tenant's version table, and of its
/// function beside the ledger.
const TRIGGER: &str = "sea_orm_tenant_versions";
const FUNCTION: &str = "sea_orm_tenant_versions_changed";

/// Where a server's ledger lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ledger {
    /// The schema holding the ledger and the trigger function, quoted (a
    /// plain name).
    schema: String,
    /// The tenants' version table, quoted (a plain name).
    table: String,
}

/// The ledgers a [`Tenancy`](crate::Tenancy) found or made, by server and
/// version table; cheap to clone. A ledger that could not be made is
/// remembered too (the tenancy goes without); one only looked for (by a
/// `status`) and not found is looked for again.
#[derive(Clone, Debug, Default)]
pub(crate) struct Ledgers(Arc<tokio::sync::Mutex<Found>>);

/// By server and version table: the ledger, or `None` when it could not be
/// made.
type Found = HashMap<(String, String), Option<Ledger>>;

impl Ledgers {
    /// The ledger of `server` (whose shared database is `db`) for version
    /// table `table`; made when missing if `create`, else only found. One
    /// caller at a time looks (provisioning runs many at once, and two
    /// `CREATE`s of the same table or function at once fail). A ledger
    /// that could not be made is not tried again by this tenancy.
    pub(crate) async fn get<C: ConnectionTrait>(
        &self,
        server: &str,
        db: &C,
        table: &str,
        create: bool,
    ) -> Option<Ledger> {
        let key = (server.to_owned(), table.to_owned());
        let mut known = self.0.lock().await;
        if let Some(ledger) = known.get(&key) {
            return ledger.clone();
        }
        let ledger = Ledger::ensure(db, table, create).await;
        if ledger.is_some() || create {
            known.insert(key, ledger.clone());
        }
        ledger
    }
}

/// Whether a name can be written into the ledger's SQL as it is, in
/// double quotes or in a literal (`seaql_migrations` and `public` can).
/// A version table or shared schema with another name goes without the
/// ledger.
fn plain(table: &str) -> bool {
    !table.is_empty()
        && table.len() <= 63
        && table
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `"name"`, for a name that passed [`plain`].
fn quote(name: &str) -> String {
    format!("\"{name}\"")
}

impl Ledger {
    /// The ledger of `db`'s shared database for version table `table`:
    /// created when missing and `create` (the table, then the trigger
    /// function), or `None` when it is missing or cannot be made (no right
    /// to create, not Postgres, a name with other characters than
    /// `[A-Za-z0-9_]`).
    async fn ensure<C: ConnectionTrait>(db: &C, table: &str, create: bool) -> Option<Ledger> {
        if db.get_database_backend() != DbBackend::Postgres || !plain(table) {
            return None;
        }
        match Self::create(db, quote(table), create).await {
            Ok(ledger) => Some(ledger),
            Err(e) => {
                tracing::debug!(
                    target: "sea_orm_tenant",
                    error = %e,
                    "no migration version ledger: every version table is read"
                );
                None
            }
        }
    }

    async fn create<C: ConnectionTrait>(
        db: &C,
        table: String,
        create: bool,
    ) -> Result<Ledger, sea_orm::DbErr> {
        let current = db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT pg_catalog.current_schema() AS schema",
            ))
            .await?
            .and_then(|row| row.try_get::<Option<String>>("", "schema").ok().flatten())
            .ok_or_else(|| sea_orm::DbErr::Custom("no current schema".into()))?;
        if !plain(&current) {
            return Err(sea_orm::DbErr::Custom(format!(
                "the shared database's current schema `{current}` is not a plain name"
            )));
        }
        let schema = quote(&current);
        let row = db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                format!(
                    "SELECT pg_catalog.to_regclass('{schema}.{LEDGER_TABLE}') IS NOT NULL AS has_table, \
                     pg_catalog.to_regproc('{schema}.{FUNCTION}') IS NOT NULL AS has_function"
                ),
            ))
            .await?
            .ok_or_else(|| sea_orm::DbErr::Custom("the catalog returned no row".into()))?;
        let has_table: bool = row.try_get("", "has_table")?;
        let has_function: bool = row.try_get("", "has_function")?;
        let found = has_table && has_function;
        if !create && !found {
            return Err(sea_orm::DbErr::Custom("there is no ledger yet".into()));
        }
        if !has_table {
            db.execute_unprepared(&format!(
                "CREATE TABLE IF NOT EXISTS {schema}.{LEDGER_TABLE} (\
                 schema_name text NOT NULL PRIMARY KEY, \
                 version_table oid NOT NULL, \
                 versions text[] NOT NULL)"
            ))
            .await?;
        }
        if !has_function {
            // A trigger function cannot be called directly; it only
            // forgets rows, so at worst a run reads a version table again.
            db.execute_unprepared(&format!(
                "CREATE OR REPLACE FUNCTION {schema}.{FUNCTION}() RETURNS trigger \
                 LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $f$ \
                 BEGIN \
                   IF pg_catalog.to_regclass('{schema}.{LEDGER_TABLE}') IS NOT NULL THEN \
                     DELETE FROM {schema}.{LEDGER_TABLE} WHERE schema_name = TG_TABLE_SCHEMA; \
                   END IF; \
                   RETURN NULL; \
                 END $f$"
            ))
            .await?;
        }
        Ok(Ledger { schema, table })
    }

    /// SQL run in a tenant schema's migration transaction after its
    /// migrations (`search_path` is the tenant's schema alone): puts the
    /// trigger on the version table when it has none, and records the
    /// versions now in it.
    pub(crate) fn record(&self) -> String {
        let Ledger { schema, table } = self;
        // The ledger or its function gone since (dropped by hand): nothing
        // recorded, and the schema is read the old way; the migration
        // itself goes on.
        format!(
            "DO $d$ BEGIN \
               IF pg_catalog.to_regclass('{schema}.{LEDGER_TABLE}') IS NULL \
                 OR pg_catalog.to_regproc('{schema}.{FUNCTION}') IS NULL THEN RETURN; END IF; \
               IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger \
                 WHERE tgrelid = '{table}'::pg_catalog.regclass AND tgname = '{TRIGGER}') THEN \
                 CREATE TRIGGER {TRIGGER} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} \
                 FOR EACH STATEMENT EXECUTE FUNCTION {schema}.{FUNCTION}(); \
               END IF; \
               INSERT INTO {schema}.{LEDGER_TABLE} (schema_name, version_table, versions) \
               SELECT pg_catalog.current_schema(), '{table}'::pg_catalog.regclass::pg_catalog.oid, \
                      COALESCE(pg_catalog.array_agg(version ORDER BY version), '{{}}') FROM {table} \
               ON CONFLICT (schema_name) DO UPDATE \
               SET version_table = excluded.version_table, versions = excluded.versions; \
             END $d$"
        )
    }

    /// For the catalog query (`w.name` the schema's name, `v.oid` its
    /// version table): the column of the schema's recorded versions as a
    /// JSON array, and the joins it needs. NULL unless the row names that
    /// very version table, and the table still carries the trigger,
    /// enabled.
    pub(crate) fn catalog_join(&self) -> (String, String) {
        let schema = &self.schema;
        (
            "CASE WHEN l.version_table = v.oid AND t.tgrelid IS NOT NULL \
             THEN pg_catalog.array_to_json(l.versions)::pg_catalog.text END"
                .to_owned(),
            format!(
                " LEFT JOIN {schema}.{LEDGER_TABLE} l ON l.schema_name = w.name \
                 LEFT JOIN pg_catalog.pg_trigger t ON t.tgrelid = v.oid \
                   AND t.tgname = '{TRIGGER}' AND t.tgenabled IN ('O', 'A')"
            ),
        )
    }

    /// Whether the ledger holds a row of schema `schema_name` (one row,
    /// or none): for [`Tenancy::erase`](crate::Tenancy::erase). `None`
    /// for a name that is not [`plain`].
    pub(crate) fn holds(&self, schema_name: &str) -> Option<Statement> {
        plain(schema_name).then(|| {
            Statement::from_string(
                DbBackend::Postgres,
                format!(
                    "SELECT 1 AS found FROM {}.{LEDGER_TABLE} WHERE schema_name = '{schema_name}'",
                    self.schema
                ),
            )
        })
    }

    /// Forgets a schema's row (when the schema is dropped), unless the
    /// ledger is gone. The row would not be trusted anyway (its version
    /// table is gone), but it names the tenant. `None` for a name that is
    /// not [`plain`] (a schema name of this crate always is).
    pub(crate) fn forget(&self, schema_name: &str) -> Option<String> {
        let schema = &self.schema;
        plain(schema_name).then(|| {
            format!(
                "DO $d$ BEGIN \
                   IF pg_catalog.to_regclass('{schema}.{LEDGER_TABLE}') IS NOT NULL THEN \
                     DELETE FROM {schema}.{LEDGER_TABLE} WHERE schema_name = '{schema_name}'; \
                   END IF; \
                 END $d$"
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_version_table_names_get_a_ledger() {
        assert!(plain("seaql_migrations"));
        assert!(plain("Versions2"));
        assert!(!plain("v'; DROP TABLE x; --"));
        assert!(!plain("a\"b"));
        assert!(!plain(""));
        assert!(!plain(&"x".repeat(64)));
    }
}
