//! Row-level security (RLS) for tenant tables on Postgres: the policy DDL
//! for migrations, and a start-up check.
//!
//! [`RlsPolicy`] writes, for one tenant table (leak rule 9):
//!
//! * `ENABLE` and `FORCE ROW LEVEL SECURITY` (so the table owner is not
//!   exempt either);
//! * a policy for all commands, `USING` and `WITH CHECK`
//!   `tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')::<type>)`:
//!   the sub-select makes the planner evaluate the setting once and use the
//!   tenant index; `NULLIF` turns "no tenant" (unset, or reset to `''` after
//!   a transaction) into `NULL`, which matches no row and cannot fail a cast;
//! * the tenant index;
//! * grants for an application role that is not the table owner.
//!
//! and the inverse for a down migration. Global tables get none of it.
//!
//! [`check`] (or [`check_by_column`]) is for start-up: it reports every
//! tenant table lacking forced RLS, and warns when the connected role is a
//! superuser or has `BYPASSRLS`, either of which skips every policy.
//!
//! ```
//! use sea_orm_tenant::doc_entities::post;
//! use sea_orm_tenant::rls::RlsPolicy;
//!
//! let policy = RlsPolicy::for_entity::<post::Entity>().grant_to("app");
//! let up = policy.up_statements()?;
//! assert!(up.contains(&r#"ALTER TABLE "post" FORCE ROW LEVEL SECURITY"#.to_string()));
//! assert!(up.iter().any(|s| s.contains("WITH CHECK")));
//! assert!(policy.down_statements()?.iter().any(|s| s.starts_with("DROP POLICY")));
//! # Ok::<(), sea_orm::DbErr>(())
//! ```

use crate::TenantError;
use sea_orm::sea_query::ColumnType;
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, DbErr, IdenStatic, Statement, TryGetable};
use sea_orm_migration::SchemaManager;

use crate::TenantEntity;
use crate::connection::TENANT_SETTING;

/// The RLS setup of one tenant table.
///
/// Build it from the entity ([`RlsPolicy::for_entity`]) or by name
/// ([`RlsPolicy::new`]), then run [`up`](Self::up) / [`down`](Self::down)
/// from a sea-orm-migration `MigrationTrait`:
///
/// ```no_run
/// use sea_orm_migration::prelude::*;
/// use sea_orm_tenant::doc_entities::post;
/// use sea_orm_tenant::rls::RlsPolicy;
///
/// #[derive(DeriveMigrationName)]
/// pub struct Migration;
///
/// #[async_trait::async_trait]
/// impl MigrationTrait for Migration {
///     async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
///         RlsPolicy::for_entity::<post::Entity>().grant_to("app").up(manager).await?;
///         Ok(())
///     }
///     async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
///         RlsPolicy::for_entity::<post::Entity>().grant_to("app").down(manager).await?;
///         Ok(())
///     }
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RlsPolicy {
    schema: Option<String>,
    table: String,
    column: String,
    cast: String,
    role: Option<String>,
}

impl RlsPolicy {
    /// The policy for `table`, whose tenant column `column` is text.
    /// Use [`cast`](Self::cast) for integer or UUID columns.
    ///
    /// ```
    /// use sea_orm_tenant::rls::RlsPolicy;
    /// let up = RlsPolicy::new("invoice", "org_id").cast("bigint").up_statements()?;
    /// assert!(up.iter().any(|s| s.contains(r#""org_id" = (SELECT NULLIF(current_setting('app.tenant_id', true), '')::bigint)"#)));
    /// # Ok::<(), sea_orm::DbErr>(())
    /// ```
    pub fn new(table: &str, column: &str) -> Self {
        RlsPolicy {
            schema: None,
            table: table.to_owned(),
            column: column.to_owned(),
            cast: "text".to_owned(),
            role: None,
        }
    }

    /// The policy for `E`: its table, schema, tenant column and the
    /// column's type.
    pub fn for_entity<E: TenantEntity>() -> Self {
        let entity = E::default();
        let column = E::tenant_column();
        let mut policy = Self::new(entity.table_name(), column.as_str())
            .cast(sql_type(column.def().get_column_type()));
        policy.schema = entity.schema_name().map(str::to_owned);
        policy
    }

    /// The schema of the table (default: the `search_path`, and `public`
    /// for the schema and sequence grants).
    pub fn schema(mut self, schema: &str) -> Self {
        self.schema = Some(schema.to_owned());
        self
    }

    /// The SQL type the setting is cast to, the tenant column's type:
    /// `text` (the default), `integer`, `bigint`, `uuid`, …
    /// Letters, digits, `_` and spaces only.
    pub fn cast(mut self, sql_type: &str) -> Self {
        sql_type.clone_into(&mut self.cast);
        self
    }

    /// Grants the application role (not the table owner, not a
    /// superuser) `SELECT, INSERT, UPDATE, DELETE` on the table, `USAGE`
    /// on its schema and on the schema's sequences (for serial keys).
    pub fn grant_to(mut self, role: &str) -> Self {
        self.role = Some(role.to_owned());
        self
    }

    /// The policy's name: `<table>_tenant_isolation`.
    pub fn policy_name(&self) -> String {
        format!("{}_tenant_isolation", self.table)
    }

    fn index_name(&self) -> String {
        format!("{}_{}_tenant_idx", self.table, self.column)
    }

    fn qualified(&self, name: &str) -> String {
        match &self.schema {
            Some(schema) => format!("{}.{}", quote_ident(schema), quote_ident(name)),
            None => quote_ident(name),
        }
    }

    fn check_cast(&self) -> Result<(), TenantError> {
        let ok = !self.cast.trim().is_empty()
            && self
                .cast
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b' ');
        if ok {
            Ok(())
        } else {
            Err(TenantError::Unsupported(format!(
                "rls: invalid cast type {:?} (letters, digits, '_' and spaces only)",
                self.cast
            )))
        }
    }

    /// The tenant expression the policy compares with.
    fn setting_expr(&self) -> String {
        format!(
            "(SELECT NULLIF(current_setting('{TENANT_SETTING}', true), '')::{})",
            self.cast.trim()
        )
    }

    /// The statements [`up`](Self::up) runs, in order.
    pub fn up_statements(&self) -> Result<Vec<String>, TenantError> {
        self.check_cast()?;
        let table = self.qualified(&self.table);
        let policy = quote_ident(&self.policy_name());
        let condition = format!("{} = {}", quote_ident(&self.column), self.setting_expr());
        let mut out = vec![
            format!("ALTER TABLE {table} ENABLE ROW LEVEL SECURITY"),
            format!("ALTER TABLE {table} FORCE ROW LEVEL SECURITY"),
            format!("DROP POLICY IF EXISTS {policy} ON {table}"),
            format!(
                "CREATE POLICY {policy} ON {table} AS PERMISSIVE FOR ALL TO PUBLIC \
                 USING ({condition}) WITH CHECK ({condition})"
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {table} ({})",
                quote_ident(&self.index_name()),
                quote_ident(&self.column)
            ),
        ];
        if let Some(role) = &self.role {
            let role = quote_ident(role);
            let schema = quote_ident(self.schema.as_deref().unwrap_or("public"));
            out.push(format!("GRANT USAGE ON SCHEMA {schema} TO {role}"));
            out.push(format!(
                "GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {role}"
            ));
            out.push(format!(
                "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}"
            ));
        }
        Ok(out)
    }

    /// The statements [`down`](Self::down) runs: the inverse of
    /// [`up_statements`](Self::up_statements), in reverse order. The schema
    /// and sequence grants are left (other tables may need them).
    pub fn down_statements(&self) -> Result<Vec<String>, TenantError> {
        self.check_cast()?;
        let table = self.qualified(&self.table);
        let mut out = Vec::new();
        if let Some(role) = &self.role {
            out.push(format!(
                "REVOKE SELECT, INSERT, UPDATE, DELETE ON {table} FROM {}",
                quote_ident(role)
            ));
        }
        out.push(format!(
            "DROP INDEX IF EXISTS {}",
            self.qualified(&self.index_name())
        ));
        out.push(format!(
            "DROP POLICY IF EXISTS {} ON {table}",
            quote_ident(&self.policy_name())
        ));
        out.push(format!("ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY"));
        out.push(format!("ALTER TABLE {table} DISABLE ROW LEVEL SECURITY"));
        Ok(out)
    }

    /// Runs [`up_statements`](Self::up_statements) in a migration. Does
    /// nothing on SQLite and MySQL, which have no RLS.
    pub async fn up(&self, manager: &SchemaManager<'_>) -> Result<(), TenantError> {
        self.apply(manager.get_connection()).await
    }

    /// Runs [`down_statements`](Self::down_statements) in a migration. Does
    /// nothing on SQLite and MySQL.
    pub async fn down(&self, manager: &SchemaManager<'_>) -> Result<(), TenantError> {
        self.revert(manager.get_connection()).await
    }

    /// [`up`](Self::up) on any connection (a migration's, or a plain one).
    pub async fn apply<C: ConnectionTrait>(&self, db: &C) -> Result<(), TenantError> {
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        for sql in self.up_statements()? {
            db.execute_unprepared(&sql).await?;
        }
        Ok(())
    }

    /// [`down`](Self::down) on any connection.
    pub async fn revert<C: ConnectionTrait>(&self, db: &C) -> Result<(), TenantError> {
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        for sql in self.down_statements()? {
            db.execute_unprepared(&sql).await?;
        }
        Ok(())
    }
}

/// The Postgres type name for a tenant column type.
pub(crate) fn sql_type(column_type: &ColumnType) -> &'static str {
    match column_type {
        ColumnType::TinyInteger | ColumnType::SmallInteger | ColumnType::TinyUnsigned => "smallint",
        ColumnType::Integer | ColumnType::SmallUnsigned => "integer",
        ColumnType::BigInteger | ColumnType::Unsigned | ColumnType::BigUnsigned => "bigint",
        ColumnType::Uuid => "uuid",
        _ => "text",
    }
}

/// `"name"`, with inner quotes doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The RLS state of one tenant table, from [`check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableRls {
    /// The table, as given (or found).
    pub table: String,
    /// Whether the table exists (in the `search_path`).
    pub exists: bool,
    /// `ENABLE ROW LEVEL SECURITY`.
    pub enabled: bool,
    /// `FORCE ROW LEVEL SECURITY`: the owner is subject to the policies too.
    pub forced: bool,
    /// How many policies the table has.
    pub policies: i64,
    /// Whether the connected role owns the table.
    pub owned_by_current_role: bool,
}

impl TableRls {
    /// Enabled, forced, and with at least one policy.
    pub fn is_protected(&self) -> bool {
        self.exists && self.enabled && self.forced && self.policies > 0
    }
}

/// What [`check`] found: the connected role and every tenant table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RlsReport {
    /// The connected role (`current_user`).
    pub role: String,
    /// The role is a superuser: every policy is skipped.
    pub superuser: bool,
    /// The role has `BYPASSRLS`: every policy is skipped.
    pub bypass_rls: bool,
    /// The tenant tables checked.
    pub tables: Vec<TableRls>,
}

impl RlsReport {
    /// The tenant tables lacking enabled and forced RLS with a policy.
    pub fn unprotected(&self) -> Vec<&TableRls> {
        self.tables.iter().filter(|t| !t.is_protected()).collect()
    }

    /// Nothing to report: every table protected, the role subject to RLS.
    pub fn is_ok(&self) -> bool {
        !self.superuser && !self.bypass_rls && self.unprotected().is_empty()
    }

    /// One line per problem, for logs.
    ///
    /// ```
    /// use sea_orm_tenant::rls::{RlsReport, TableRls};
    /// let report = RlsReport {
    ///     role: "app".into(),
    ///     superuser: true,
    ///     bypass_rls: false,
    ///     tables: vec![TableRls { table: "post".into(), exists: true, enabled: true, forced: false, policies: 1, owned_by_current_role: false }],
    /// };
    /// assert!(!report.is_ok());
    /// assert_eq!(report.problems().len(), 2);
    /// ```
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.superuser {
            out.push(format!(
                "role `{}` is a superuser: row-level security does not apply to it",
                self.role
            ));
        }
        if self.bypass_rls {
            out.push(format!(
                "role `{}` has BYPASSRLS: row-level security does not apply to it",
                self.role
            ));
        }
        for t in self.unprotected() {
            let mut missing = Vec::new();
            if !t.exists {
                missing.push("the table does not exist");
            } else {
                if !t.enabled {
                    missing.push("ENABLE ROW LEVEL SECURITY");
                }
                if !t.forced {
                    missing.push("FORCE ROW LEVEL SECURITY");
                }
                if t.policies == 0 {
                    missing.push("a policy");
                }
            }
            out.push(format!(
                "tenant table `{}` lacks {}",
                t.table,
                missing.join(", ")
            ));
        }
        out
    }
}

const ROLE_SQL: &str = "SELECT current_user::text AS role, r.rolsuper AS superuser, \
     r.rolbypassrls AS bypass_rls FROM pg_roles r WHERE r.rolname = current_user";

const TABLE_SQL: &str = "SELECT c.relrowsecurity AS enabled, c.relforcerowsecurity AS forced, \
     (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies, \
     pg_has_role(current_user, c.relowner, 'USAGE') AS owned \
     FROM pg_class c WHERE c.oid = to_regclass(quote_ident($1))";

const COLUMN_SQL: &str = "SELECT c.relname::text AS name FROM pg_class c \
     JOIN pg_namespace n ON n.oid = c.relnamespace \
     JOIN pg_attribute a ON a.attrelid = c.oid AND NOT a.attisdropped AND a.attnum > 0 \
     WHERE c.relkind IN ('r', 'p') AND a.attname = $1 \
     AND n.nspname = ANY (current_schemas(false)) ORDER BY 1";

fn get<T: TryGetable>(row: &sea_orm::QueryResult, col: &str) -> Result<T, DbErr> {
    row.try_get::<T>("", col)
}

/// Checks the RLS setup of the given tenant tables and of the connected
/// role; logs each problem as a `tracing` warning and returns the report.
/// Postgres only.
///
/// ```no_run
/// use sea_orm::{Database, EntityName};
/// use sea_orm_tenant::doc_entities::{comment, post};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sea_orm::DbErr> {
/// let db = Database::connect("postgres://app@localhost/app").await?;
/// let report = sea_orm_tenant::rls::check(&db, &[post::Entity.table_name(), comment::Entity.table_name()]).await?;
/// if !report.is_ok() {
///     eprintln!("RLS problems: {:?}", report.problems());
/// }
/// # Ok(())
/// # }
/// ```
pub async fn check<C: ConnectionTrait>(db: &C, tables: &[&str]) -> Result<RlsReport, TenantError> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Err(TenantError::Unsupported(
            "rls: the row-level security check needs Postgres".into(),
        ));
    }
    let role = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, ROLE_SQL))
        .await?
        .ok_or_else(|| {
            TenantError::db("reading the connected role", "the role is not in pg_roles")
        })?;
    let mut report = RlsReport {
        role: get(&role, "role")?,
        superuser: get(&role, "superuser")?,
        bypass_rls: get(&role, "bypass_rls")?,
        tables: Vec::new(),
    };
    for table in tables {
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                TABLE_SQL,
                [(*table).into()],
            ))
            .await?;
        report.tables.push(match row {
            Some(row) => TableRls {
                table: (*table).to_owned(),
                exists: true,
                enabled: get(&row, "enabled")?,
                forced: get(&row, "forced")?,
                policies: get(&row, "policies")?,
                owned_by_current_role: get(&row, "owned")?,
            },
            None => TableRls {
                table: (*table).to_owned(),
                exists: false,
                enabled: false,
                forced: false,
                policies: 0,
                owned_by_current_role: false,
            },
        });
    }
    for problem in report.problems() {
        tracing::warn!(target: "sea_orm_tenant::rls", "{problem}");
    }
    Ok(report)
}

/// [`check`] on every table of the `search_path` that has a column named
/// `column` (for example `tenant_id`).
pub async fn check_by_column<C: ConnectionTrait>(
    db: &C,
    column: &str,
) -> Result<RlsReport, TenantError> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Err(TenantError::Unsupported(
            "rls: the row-level security check needs Postgres".into(),
        ));
    }
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            COLUMN_SQL,
            [column.into()],
        ))
        .await?;
    let names = rows
        .iter()
        .map(|row| get::<String>(row, "name"))
        .collect::<Result<Vec<_>, _>>()?;
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    check(db, &refs).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc_entities::post;

    #[test]
    fn up_and_down_for_an_entity() {
        let p = RlsPolicy::for_entity::<post::Entity>().grant_to("app");
        let up = p.up_statements().unwrap_or_default();
        assert_eq!(
            up,
            vec![
                r#"ALTER TABLE "post" ENABLE ROW LEVEL SECURITY"#,
                r#"ALTER TABLE "post" FORCE ROW LEVEL SECURITY"#,
                r#"DROP POLICY IF EXISTS "post_tenant_isolation" ON "post""#,
                r#"CREATE POLICY "post_tenant_isolation" ON "post" AS PERMISSIVE FOR ALL TO PUBLIC USING ("tenant_id" = (SELECT NULLIF(current_setting('app.tenant_id', true), '')::text)) WITH CHECK ("tenant_id" = (SELECT NULLIF(current_setting('app.tenant_id', true), '')::text))"#,
                r#"CREATE INDEX IF NOT EXISTS "post_tenant_id_tenant_idx" ON "post" ("tenant_id")"#,
                r#"GRANT USAGE ON SCHEMA "public" TO "app""#,
                r#"GRANT SELECT, INSERT, UPDATE, DELETE ON "post" TO "app""#,
                r#"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "public" TO "app""#,
            ]
        );
        let down = p.down_statements().unwrap_or_default();
        assert_eq!(
            down.first().map(String::as_str),
            Some(r#"REVOKE SELECT, INSERT, UPDATE, DELETE ON "post" FROM "app""#)
        );
        assert_eq!(
            down.last().map(String::as_str),
            Some(r#"ALTER TABLE "post" DISABLE ROW LEVEL SECURITY"#)
        );
    }

    #[test]
    fn identifiers_are_quoted_and_casts_checked() {
        let p = RlsPolicy::new("we\"ird", "t").schema("s").grant_to("r\"x");
        let up = p.up_statements().unwrap_or_default();
        assert!(up[0].contains(r#""s"."we""ird""#));
        assert!(up.iter().any(|s| s.ends_with(r#"TO "r""x""#)));
        assert!(
            RlsPolicy::new("t", "c")
                .cast("int); DROP TABLE t; --")
                .up_statements()
                .is_err()
        );
        assert!(RlsPolicy::new("t", "c").cast("").down_statements().is_err());
        assert!(
            RlsPolicy::new("t", "c")
                .cast("double precision")
                .up_statements()
                .is_ok()
        );
    }

    #[test]
    fn column_types_map_to_casts() {
        assert_eq!(sql_type(&ColumnType::Integer), "integer");
        assert_eq!(sql_type(&ColumnType::BigInteger), "bigint");
        assert_eq!(sql_type(&ColumnType::Uuid), "uuid");
        assert_eq!(sql_type(&ColumnType::Text), "text");
    }
}
