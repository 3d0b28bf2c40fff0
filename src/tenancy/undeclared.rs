//! The start-up check: tables that look like tenant tables but were never
//! declared, so that a global table is a choice, not an accident.

use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};

use super::{REGISTRY_TABLE, Tenancy};
use crate::TenantError;

/// The column name every tenant table is looked for by, besides the
/// declared tenant columns.
const USUAL_COLUMN: &str = "tenant_id";

impl Tenancy {
    /// Every table (or view) of the shared database that has a column
    /// named like a tenant column (`tenant_id`, or the column of any
    /// declared tenant table, in any case) but is not declared, neither
    /// with [`tenant_table`](Self::tenant_table) nor with
    /// [`tenant_entity!`](crate::tenant_entity). A table nobody declared
    /// is global: statements on it pass through a
    /// [`TenantConnection`](crate::TenantConnection) unconfined. Call it at
    /// start-up and fail (or log) when the list is not empty.
    ///
    /// Looks at the schemas on Postgres' `search_path` (`public`), the
    /// current MySQL database, and SQLite's `main`; names are lower case.
    /// [`TenantError::Unsupported`] for database per tenant without a
    /// shared database; [`TenantError::Database`] when the catalog cannot
    /// be read.
    ///
    /// ```
    /// use sea_orm::{ConnectionTrait, Database};
    /// use sea_orm_tenant::doc_entities::post;
    /// use sea_orm_tenant::prelude::*;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let db = Database::connect("sqlite::memory:").await?;
    /// db.execute_unprepared("CREATE TABLE post (id INTEGER PRIMARY KEY, tenant_id TEXT, title TEXT)").await?;
    /// db.execute_unprepared("CREATE TABLE audit_log (id INTEGER PRIMARY KEY, Tenant_Id TEXT)").await?;
    /// db.execute_unprepared("CREATE TABLE country (code TEXT PRIMARY KEY)").await?;
    ///
    /// let tenancy = Tenancy::shared_schema(db).tenant_table::<post::Entity>();
    /// assert_eq!(tenancy.undeclared_tables().await?, ["audit_log"]);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn undeclared_tables(&self) -> Result<Vec<String>, TenantError> {
        let db = self.shared_db()?;
        let catalog = self.confiner.catalog();
        let mut columns: Vec<String> = catalog
            .tables()
            .map(|t| t.column.to_ascii_lowercase())
            .chain([USUAL_COLUMN.to_owned()])
            .collect();
        columns.sort();
        columns.dedup();
        let backend = db.get_database_backend();
        let (sql, values) = query(backend, &columns);
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
            .await
            .map_err(|e| TenantError::db("reading the catalog for undeclared tenant tables", e))?;
        let mut found = Vec::new();
        for row in rows {
            let name: String = row.try_get_by_index(0).map_err(|e| {
                TenantError::db("reading the catalog for undeclared tenant tables", e)
            })?;
            let name = name.to_ascii_lowercase();
            let declared = catalog.tables().any(|t| t.name.eq_ignore_ascii_case(&name))
                || catalog.is_global(&name);
            if !declared && name != REGISTRY_TABLE && !found.contains(&name) {
                found.push(name);
            }
        }
        found.sort();
        Ok(found)
    }
}

/// The catalog query of `backend` for tables having one of `columns`.
fn query(backend: DbBackend, columns: &[String]) -> (String, Vec<Value>) {
    let values: Vec<Value> = columns.iter().map(|c| c.as_str().into()).collect();
    let marks = |first: usize| -> String {
        (0..columns.len())
            .map(|i| match backend {
                DbBackend::Postgres => format!("${}", first + i),
                _ => "?".to_owned(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let sql = match backend {
        DbBackend::Postgres => format!(
            "SELECT DISTINCT table_name::text FROM information_schema.columns \
             WHERE table_schema = ANY (current_schemas(false)) \
             AND lower(column_name) IN ({})",
            marks(1)
        ),
        DbBackend::MySql => format!(
            "SELECT DISTINCT CAST(table_name AS CHAR) FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND lower(column_name) IN ({})",
            marks(1)
        ),
        _ => format!(
            "SELECT DISTINCT m.name FROM sqlite_master AS m, pragma_table_info(m.name) AS p \
             WHERE m.type IN ('table', 'view') AND lower(p.name) IN ({})",
            marks(1)
        ),
    };
    (sql, values)
}
