//! [`Grants`]: what an application role needs, granted from a migration.

use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, QueryResult, Statement, Value};
use sea_orm_migration::SchemaManager;

use super::{quote_ident, role_name};
use crate::tenancy::REGISTRY_TABLE;
use crate::{TenantEntity, TenantError};

/// What a role may do with a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// `SELECT`.
    Read,
    /// `SELECT, INSERT, UPDATE, DELETE`, and `USAGE, SELECT` on the
    /// table's own sequences (serial and identity columns).
    ReadWrite,
}

impl Access {
    /// The table privileges, in the order Postgres lists them.
    ///
    /// ```
    /// use sea_orm_tenant::rls::Access;
    /// assert_eq!(Access::Read.privileges(), ["SELECT"]);
    /// assert_eq!(Access::ReadWrite.privileges(), ["SELECT", "INSERT", "UPDATE", "DELETE"]);
    /// ```
    pub fn privileges(self) -> &'static [&'static str] {
        match self {
            Access::Read => &["SELECT"],
            Access::ReadWrite => &["SELECT", "INSERT", "UPDATE", "DELETE"],
        }
    }
}

/// One table to grant on.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Target {
    schema: Option<String>,
    table: String,
    access: Access,
}

/// The grants an application role needs (Postgres), from a
/// sea-orm-migration migration run by the tables' owner.
///
/// Row-level security binds a role only when it is neither the tables'
/// owner nor a superuser, so the application connects as a role of its
/// own, which needs privileges on everything it touches: its tenant
/// tables (read and write, and their sequences), the global tables, the
/// tenant registry ([`REGISTRY_TABLE`], read), and `USAGE` on their
/// schemas.
///
/// * Tables are named in the schema the migration runs in (a tenant's
///   own schema when [`Tenancy::migrations`](crate::Tenancy::migrations)
///   migrates schema per tenant; `public` otherwise), unless the entity or
///   [`schema`](Self::schema) names one.
/// * Idempotent, and only what is missing is granted: a privilege the
///   role already holds (directly, through `PUBLIC` or a role it is a
///   member of) is not granted again, so a rerun writes nothing.
/// * Free of races when many tenants migrate at once: Postgres refuses
///   two concurrent grants on one object (`tuple concurrently updated`).
///   A grant on a tenant's own objects cannot meet another tenant's; the
///   grants on objects outside the migration's schema (`public`, the
///   registry, a global table) take a transaction-scoped advisory lock
///   first, so they run one at a time. Put those in the shared (or
///   [`global`](crate::migration::TenantMigrations::global)) migrator
///   anyway: they belong to no tenant.
/// * Nothing happens on SQLite and MySQL/MariaDB.
///
/// ```no_run
/// use sea_orm_migration::prelude::*;
/// use sea_orm_tenant::doc_entities::{country, post};
/// use sea_orm_tenant::rls::{Access, Grants};
///
/// #[derive(DeriveMigrationName)]
/// pub struct GrantApp;
///
/// #[async_trait::async_trait]
/// impl MigrationTrait for GrantApp {
///     async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
///         Grants::to("app")?
///             .tenant_table::<post::Entity>()
///             .global_table::<country::Entity>(Access::Read)
///             .registry()
///             .up(manager)
///             .await?;
///         Ok(())
///     }
///     async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
///         Grants::to("app")?.tenant_table::<post::Entity>().down(manager).await?;
///         Ok(())
///     }
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grants {
    role: String,
    schema: Option<String>,
    tables: Vec<Target>,
}

/// The advisory lock grants outside the migration's schema take.
fn lock_statement() -> String {
    format!(
        "SELECT pg_catalog.pg_advisory_xact_lock({})",
        crate::migration::lock_key("sea_orm_tenant:grants")
    )
}

const CURRENT_SCHEMA: &str = "SELECT pg_catalog.current_schema()::text AS s";

const SCHEMA_USAGE: &str = "SELECT pg_catalog.has_schema_privilege($1, n.oid, 'USAGE') AS held \
     FROM pg_catalog.pg_namespace n WHERE n.nspname = $2";

const TABLE_PRIVILEGES: &str = "SELECT \
     pg_catalog.has_table_privilege($1, c.oid, 'SELECT') AS \"SELECT\", \
     pg_catalog.has_table_privilege($1, c.oid, 'INSERT') AS \"INSERT\", \
     pg_catalog.has_table_privilege($1, c.oid, 'UPDATE') AS \"UPDATE\", \
     pg_catalog.has_table_privilege($1, c.oid, 'DELETE') AS \"DELETE\", \
     COALESCE((SELECT pg_catalog.string_agg(a.privilege_type, ',') \
       FROM pg_catalog.aclexplode(c.relacl) a JOIN pg_catalog.pg_roles r ON r.oid = a.grantee \
       WHERE r.rolname = $1), '') AS direct \
     FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     WHERE n.nspname = $2 AND c.relname = $3";

const SEQUENCES: &str = "SELECT n.nspname::text AS schema, s.relname::text AS name, \
     pg_catalog.has_sequence_privilege($1, s.oid, 'USAGE') \
     AND pg_catalog.has_sequence_privilege($1, s.oid, 'SELECT') AS held \
     FROM pg_catalog.pg_class t \
     JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace \
     JOIN pg_catalog.pg_depend d ON d.refobjid = t.oid \
       AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass \
       AND d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.deptype IN ('a', 'i') \
     JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S' \
     JOIN pg_catalog.pg_namespace n ON n.oid = s.relnamespace \
     WHERE tn.nspname = $2 AND t.relname = $3 ORDER BY 2";

impl Grants {
    /// Grants to `role`, checked (not empty, at most 63 bytes, no control
    /// characters, not `public` nor a reserved `pg_` role) and quoted.
    ///
    /// ```
    /// use sea_orm_tenant::rls::Grants;
    /// assert!(Grants::to("app").is_ok());
    /// assert!(Grants::to("public").is_err());
    /// assert!(Grants::to("").is_err());
    /// ```
    pub fn to(role: &str) -> Result<Self, TenantError> {
        role_name::check(role)?;
        Ok(Grants {
            role: role.to_owned(),
            schema: None,
            tables: Vec::new(),
        })
    }

    /// The role the grants go to.
    pub fn role(&self) -> &str {
        &self.role
    }

    /// The schema of tables whose entity names none (default: the
    /// migration's current schema, the first of its `search_path`).
    pub fn schema(mut self, schema: &str) -> Self {
        self.schema = Some(schema.to_owned());
        self
    }

    /// `E`'s table, read and write, and its sequences: a tenant table.
    pub fn tenant_table<E: TenantEntity>(self) -> Self {
        let entity = E::default();
        let schema = entity.schema_name().map(str::to_owned);
        self.push(schema, entity.table_name(), Access::ReadWrite)
    }

    /// `E`'s table with `access`: a global table (read-only for most).
    pub fn global_table<E: EntityTrait>(self, access: Access) -> Self {
        let entity = E::default();
        let schema = entity.schema_name().map(str::to_owned);
        self.push(schema, entity.table_name(), access)
    }

    /// The table `name` with `access`.
    pub fn table(self, name: &str, access: Access) -> Self {
        self.push(None, name, access)
    }

    /// `SELECT` on the tenant registry ([`REGISTRY_TABLE`]), which
    /// [`Tenancy::connection`](crate::Tenancy::connection) reads. (A role
    /// that also provisions needs `.table(REGISTRY_TABLE, Access::ReadWrite)`
    /// and the right to create schemas or databases.) Create the registry
    /// first, with [`CreateRegistry`](crate::migration::CreateRegistry).
    pub fn registry(self) -> Self {
        self.push(None, REGISTRY_TABLE, Access::Read)
    }

    /// `SELECT` on a migrator's version table (`seaql_migrations` unless
    /// it says otherwise), for a role that reads the migration status.
    pub fn version_table(self, name: &str) -> Self {
        self.push(None, name, Access::Read)
    }

    fn push(mut self, schema: Option<String>, table: &str, access: Access) -> Self {
        self.tables.push(Target {
            schema,
            table: table.to_owned(),
            access,
        });
        self
    }

    /// The `GRANT` statements [`up`](Self::up) would run on `db` now: only
    /// what the role lacks, preceded by the advisory lock when one of them
    /// is on an object outside the current schema. Empty on SQLite and
    /// MySQL/MariaDB, and when the role holds everything.
    pub async fn statements<C: ConnectionTrait>(&self, db: &C) -> Result<Vec<String>, TenantError> {
        self.plan(db, true).await
    }

    /// The `REVOKE` statements [`down`](Self::down) would run on `db` now:
    /// the table privileges granted to the role itself, on tables that
    /// exist. Schema and sequence grants are left (other tables may need
    /// them; a dropped table's sequences go with it).
    pub async fn revoke_statements<C: ConnectionTrait>(
        &self,
        db: &C,
    ) -> Result<Vec<String>, TenantError> {
        self.plan(db, false).await
    }

    /// Grants what is missing, in a migration's `up`.
    pub async fn up(&self, manager: &SchemaManager<'_>) -> Result<(), TenantError> {
        self.apply(manager.get_connection()).await
    }

    /// Revokes the table privileges, in a migration's `down`.
    pub async fn down(&self, manager: &SchemaManager<'_>) -> Result<(), TenantError> {
        self.revert(manager.get_connection()).await
    }

    /// [`up`](Self::up) on any connection. The statements go in one round
    /// trip (one implicit transaction outside a migration's), so the
    /// advisory lock is held until they are committed.
    pub async fn apply<C: ConnectionTrait>(&self, db: &C) -> Result<(), TenantError> {
        let statements = self.statements(db).await?;
        self.run(db, &statements, "granting").await
    }

    /// [`down`](Self::down) on any connection.
    pub async fn revert<C: ConnectionTrait>(&self, db: &C) -> Result<(), TenantError> {
        let statements = self.revoke_statements(db).await?;
        self.run(db, &statements, "revoking").await
    }

    async fn run<C: ConnectionTrait>(
        &self,
        db: &C,
        statements: &[String],
        verb: &str,
    ) -> Result<(), TenantError> {
        if statements.is_empty() {
            return Ok(());
        }
        db.execute_unprepared(&statements.join("; "))
            .await
            .map_err(|e| {
                TenantError::db(format!("{verb} privileges of role `{}`", self.role), e)
            })?;
        Ok(())
    }

    async fn plan<C: ConnectionTrait>(
        &self,
        db: &C,
        grant: bool,
    ) -> Result<Vec<String>, TenantError> {
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(Vec::new());
        }
        let fail =
            |e| TenantError::db(format!("reading the privileges of role `{}`", self.role), e);
        let current: Option<String> =
            match one(db, CURRENT_SCHEMA, Vec::new()).await.map_err(fail)? {
                Some(row) => row.try_get("", "s").map_err(fail)?,
                None => None,
            };
        let role = quote_ident(&self.role);
        let (to, verb) = if grant {
            ("TO", "GRANT")
        } else {
            ("FROM", "REVOKE")
        };
        let mut out = Vec::new();
        let mut outside = false;
        let mut schemas: Vec<String> = Vec::new();
        for target in &self.tables {
            let schema = target
                .schema
                .clone()
                .or_else(|| self.schema.clone())
                .or_else(|| current.clone())
                .ok_or_else(|| {
                    TenantError::db(
                        format!("granting to role `{}`", self.role),
                        "no schema in the search_path: name one with Grants::schema",
                    )
                })?;
            let foreign = current.as_deref() != Some(schema.as_str());
            let qualified = format!("{}.{}", quote_ident(&schema), quote_ident(&target.table));
            if grant && !schemas.contains(&schema) {
                schemas.push(schema.clone());
                let held = one(
                    db,
                    SCHEMA_USAGE,
                    vec![self.role.clone().into(), schema.clone().into()],
                )
                .await
                .map_err(fail)?
                .ok_or_else(|| {
                    TenantError::db(
                        format!("granting to role `{}`", self.role),
                        format!("schema {} does not exist", quote_ident(&schema)),
                    )
                })?;
                if !held.try_get::<bool>("", "held").map_err(fail)? {
                    out.push(format!(
                        "GRANT USAGE ON SCHEMA {} TO {role}",
                        quote_ident(&schema)
                    ));
                    outside |= foreign;
                }
            }
            let values: Vec<Value> = vec![
                self.role.clone().into(),
                schema.clone().into(),
                target.table.clone().into(),
            ];
            let Some(row) = one(db, TABLE_PRIVILEGES, values.clone())
                .await
                .map_err(fail)?
            else {
                if grant {
                    return Err(TenantError::db(
                        format!("granting to role `{}`", self.role),
                        format!("table {qualified} does not exist"),
                    ));
                }
                continue;
            };
            let direct: String = row.try_get("", "direct").map_err(fail)?;
            let mut change = Vec::new();
            for privilege in target.access.privileges() {
                let wanted = if grant {
                    !row.try_get::<bool>("", privilege).map_err(fail)?
                } else {
                    direct.split(',').any(|p| p == *privilege)
                };
                if wanted {
                    change.push(*privilege);
                }
            }
            if !change.is_empty() {
                out.push(format!(
                    "{verb} {} ON TABLE {qualified} {to} {role}",
                    change.join(", ")
                ));
                outside |= foreign;
            }
            if grant && target.access == Access::ReadWrite {
                let rows = db
                    .query_all_raw(Statement::from_sql_and_values(
                        DbBackend::Postgres,
                        SEQUENCES,
                        values,
                    ))
                    .await
                    .map_err(fail)?;
                for seq in rows {
                    if seq.try_get::<bool>("", "held").map_err(fail)? {
                        continue;
                    }
                    let seq_schema: String = seq.try_get("", "schema").map_err(fail)?;
                    let name: String = seq.try_get("", "name").map_err(fail)?;
                    out.push(format!(
                        "GRANT USAGE, SELECT ON SEQUENCE {}.{} TO {role}",
                        quote_ident(&seq_schema),
                        quote_ident(&name)
                    ));
                    outside |= current.as_deref() != Some(seq_schema.as_str());
                }
            }
        }
        if outside {
            out.insert(0, lock_statement());
        }
        Ok(out)
    }
}

async fn one<C: ConnectionTrait>(
    db: &C,
    sql: &str,
    values: Vec<Value>,
) -> Result<Option<QueryResult>, sea_orm::DbErr> {
    db.query_one_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        values,
    ))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc_entities::{country, post};

    #[test]
    fn targets_come_from_entities_and_names() {
        let grants = Grants::to("app")
            .map(|g| {
                g.tenant_table::<post::Entity>()
                    .global_table::<country::Entity>(Access::Read)
                    .registry()
            })
            .ok();
        let tables: Vec<(String, Access)> = grants
            .map(|g| g.tables.into_iter().map(|t| (t.table, t.access)).collect())
            .unwrap_or_default();
        assert_eq!(
            tables,
            [
                ("post".to_owned(), Access::ReadWrite),
                ("country".to_owned(), Access::Read),
                (REGISTRY_TABLE.to_owned(), Access::Read),
            ]
        );
    }

    #[tokio::test]
    async fn nothing_to_do_off_postgres() -> Result<(), TenantError> {
        let db = sea_orm::Database::connect("sqlite::memory:").await?;
        let grants = Grants::to("app")?.tenant_table::<post::Entity>();
        assert!(grants.statements(&db).await?.is_empty());
        grants.apply(&db).await?;
        Ok(())
    }

    #[test]
    fn the_lock_is_a_fixed_key() {
        assert_eq!(lock_statement(), lock_statement());
        assert!(lock_statement().starts_with("SELECT pg_catalog.pg_advisory_xact_lock("));
    }
}
