//! [`RlsPolicy`]: the row-level security DDL of one tenant table.

use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, IdenStatic};
use sea_orm_migration::SchemaManager;

use super::grants::{Access, Grants};
use super::{quote_ident, sql_type};
use crate::connection::TENANT_SETTING;
use crate::{TenantEntity, TenantError};

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

    /// The schema of the table (default: the `search_path`, and for the
    /// grants the current schema, the first of the `search_path`).
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
    /// on its schema and `USAGE, SELECT` on the table's own sequences (for
    /// serial keys), when [`up`](Self::up) runs; [`down`](Self::down)
    /// revokes the table privileges. The grants are [`Grants`]': only what
    /// the role lacks, on the table's schema (the migration's current
    /// schema unless [`schema`](Self::schema) names one, so a tenant's own
    /// schema for schema per tenant), free of races when tenants migrate
    /// at once.
    ///
    /// A role name that cannot be a grantee (empty, `public`, a `pg_`
    /// role, over 63 bytes, control characters) makes `up` and `down`
    /// fail before anything is sent.
    pub fn grant_to(mut self, role: &str) -> Self {
        self.role = Some(role.to_owned());
        self
    }

    /// The [`Grants`] of [`grant_to`](Self::grant_to): `None` without a
    /// role; an invalid role name is the error.
    ///
    /// ```
    /// use sea_orm_tenant::doc_entities::post;
    /// use sea_orm_tenant::rls::RlsPolicy;
    ///
    /// let policy = RlsPolicy::for_entity::<post::Entity>().grant_to("app");
    /// assert_eq!(policy.grants()?.map(|g| g.role().to_owned()), Some("app".to_owned()));
    /// assert!(RlsPolicy::new("post", "tenant_id").grant_to("public").grants().is_err());
    /// # Ok::<(), sea_orm_tenant::TenantError>(())
    /// ```
    pub fn grants(&self) -> Result<Option<Grants>, TenantError> {
        let Some(role) = &self.role else {
            return Ok(None);
        };
        let mut grants = Grants::to(role)?.table(&self.table, Access::ReadWrite);
        if let Some(schema) = &self.schema {
            grants = grants.schema(schema);
        }
        Ok(Some(grants))
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

    /// The statements [`up`](Self::up) runs, in order, before the grants
    /// (which depend on the database: see [`grants`](Self::grants) and
    /// [`Grants::statements`]).
    pub fn up_statements(&self) -> Result<Vec<String>, TenantError> {
        self.check_cast()?;
        self.grants()?;
        let table = self.qualified(&self.table);
        let policy = quote_ident(&self.policy_name());
        let condition = format!("{} = {}", quote_ident(&self.column), self.setting_expr());
        Ok(vec![
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
        ])
    }

    /// The statements [`down`](Self::down) runs after revoking the
    /// grants: the inverse of [`up_statements`](Self::up_statements), in
    /// reverse order. The schema and sequence grants are left (other
    /// tables may need them).
    pub fn down_statements(&self) -> Result<Vec<String>, TenantError> {
        self.check_cast()?;
        self.grants()?;
        let table = self.qualified(&self.table);
        Ok(vec![
            format!(
                "DROP INDEX IF EXISTS {}",
                self.qualified(&self.index_name())
            ),
            format!(
                "DROP POLICY IF EXISTS {} ON {table}",
                quote_ident(&self.policy_name())
            ),
            format!("ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY"),
            format!("ALTER TABLE {table} DISABLE ROW LEVEL SECURITY"),
        ])
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
        if let Some(grants) = self.grants()? {
            grants.apply(db).await?;
        }
        Ok(())
    }

    /// [`down`](Self::down) on any connection.
    pub async fn revert<C: ConnectionTrait>(&self, db: &C) -> Result<(), TenantError> {
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let statements = self.down_statements()?;
        if let Some(grants) = self.grants()? {
            grants.revert(db).await?;
        }
        for sql in statements {
            db.execute_unprepared(&sql).await?;
        }
        Ok(())
    }
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
            ]
        );
        // No grant names a schema of its own: they are planned on the
        // database, in the migration's current schema (issue 23).
        assert!(!up.iter().any(|s| s.contains("public")));
        let down = p.down_statements().unwrap_or_default();
        assert_eq!(
            down.first().map(String::as_str),
            Some(r#"DROP INDEX IF EXISTS "post_tenant_id_tenant_idx""#)
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
        assert!(
            RlsPolicy::new("t", "c")
                .grant_to("pg_x")
                .up_statements()
                .is_err()
        );
        assert!(
            RlsPolicy::new("t", "c")
                .grant_to("")
                .down_statements()
                .is_err()
        );
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
}
