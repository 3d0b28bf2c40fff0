//! Citus readiness: distributing tenant tables by their tenant column, for
//! applications that outgrow one Postgres server.
//!
//! [Citus](https://docs.citusdata.com/) shards a table across worker nodes
//! by one *distribution column*. For a shared-schema multi-tenant
//! application that column is the tenant column: every row of one tenant,
//! in every tenant table, lands on the same node, so the statements this
//! crate scopes with `tenant = ?` are routed to that one node, joins between
//! tenant tables stay local, and foreign keys keep working. Global tables
//! (no [`TenantEntity`] impl) become *reference tables*, copied to every
//! node.
//!
//! This module
//!
//! * emits `SELECT create_distributed_table('<table>', '<tenant column>')`
//!   for tenant tables ([`create_distributed_table`]) and
//!   `SELECT create_reference_table('<table>')` for global ones
//!   ([`create_reference_table`]), and runs them from a migration
//!   ([`distribute`], [`make_reference`]);
//! * checks the rule Citus enforces when it distributes a table: **every
//!   primary key and every unique key (constraint or index) of a tenant
//!   table includes the tenant column**, statically from an entity
//!   ([`check_entity`]) or against a live schema ([`check_keys`], which
//!   also reports foreign keys to tenant tables that do not pair the two
//!   tenant columns, another Citus refusal).
//!
//! **Citus itself was not run** when this crate was tested (it cannot be
//! installed on the development machine): the emitted SQL is checked as
//! text, and [`check_keys`] against plain Postgres catalogs, which Citus
//! shares. Tables of the same distribution column type are co-located by
//! Citus by default, which is what tenant tables need.
//!
//! ```
//! use sea_orm::sea_query::PostgresQueryBuilder;
//! use sea_orm_tenant::citus;
//! use sea_orm_tenant::doc_entities::{country, post};
//!
//! assert_eq!(
//!     citus::create_distributed_table::<post::Entity>().to_string(PostgresQueryBuilder),
//!     r#"SELECT create_distributed_table('"post"'::regclass, 'tenant_id')"#
//! );
//! assert_eq!(
//!     citus::create_reference_table::<country::Entity>().to_string(PostgresQueryBuilder),
//!     r#"SELECT create_reference_table('"country"'::regclass)"#
//! );
//!
//! // `post` has `id` alone as its primary key: Citus would refuse it.
//! let report = citus::check_entity::<post::Entity>();
//! assert!(!report.is_ok());
//! assert_eq!(
//!     report.to_string(),
//!     "Citus key check: 1 key(s) lack the tenant column `tenant_id` (1 tenant table(s) checked):\n  \
//!      `post`: primary key (id)"
//! );
//! ```

use std::fmt;

use sea_orm::sea_query::{Expr, Query, SelectStatement};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, IdenStatic, Iterable,
    PrimaryKeyToColumn, Schema, Statement, TryGetable,
};
use sea_orm_migration::SchemaManager;

use crate::rls::quote_ident;
use crate::{TenantEntity, TenantError};

/// The table as `regclass` input text: `"schema"."table"` or `"table"`,
/// quoted so that case and odd characters survive.
fn regclass_text(schema: Option<&str>, table: &str) -> String {
    match schema {
        Some(schema) => format!("{}.{}", quote_ident(schema), quote_ident(table)),
        None => quote_ident(table),
    }
}

/// `SELECT create_distributed_table('<table>'::regclass, '<column>')` for a
/// table given by name; the table is quoted as an identifier inside the
/// literal, and both literals are escaped by sea-query (bound as parameters
/// when executed). The column name is passed as is: Citus looks it up by
/// its exact name, without case folding or unquoting.
///
/// ```
/// use sea_orm::sea_query::PostgresQueryBuilder;
/// use sea_orm_tenant::citus;
///
/// let stmt = citus::create_distributed_table_named(Some("App"), "it's", "org_id");
/// assert_eq!(
///     stmt.to_string(PostgresQueryBuilder),
///     r#"SELECT create_distributed_table(E'"App"."it\'s"'::regclass, 'org_id')"#
/// );
/// ```
pub fn create_distributed_table_named(
    schema: Option<&str>,
    table: &str,
    column: &str,
) -> SelectStatement {
    Query::select()
        .expr(Expr::cust_with_values(
            "create_distributed_table($1::regclass, $2)",
            [regclass_text(schema, table), column.to_owned()],
        ))
        .to_owned()
}

/// `SELECT create_reference_table('<table>'::regclass)` for a table given
/// by name.
///
/// ```
/// use sea_orm::sea_query::PostgresQueryBuilder;
/// use sea_orm_tenant::citus;
///
/// assert_eq!(
///     citus::create_reference_table_named(None, "country").to_string(PostgresQueryBuilder),
///     r#"SELECT create_reference_table('"country"'::regclass)"#
/// );
/// ```
pub fn create_reference_table_named(schema: Option<&str>, table: &str) -> SelectStatement {
    Query::select()
        .expr(Expr::cust_with_values(
            "create_reference_table($1::regclass)",
            [regclass_text(schema, table)],
        ))
        .to_owned()
}

/// [`create_distributed_table_named`] for a tenant entity: its table
/// (schema-qualified when the entity has a schema) distributed by its
/// tenant column.
///
/// Execute it with `manager.get_connection().execute(&stmt)` or use
/// [`distribute`].
pub fn create_distributed_table<E: TenantEntity>() -> SelectStatement {
    let entity = E::default();
    create_distributed_table_named(
        entity.schema_name(),
        entity.table_name(),
        E::tenant_column().as_str(),
    )
}

/// [`create_reference_table_named`] for a global entity (one without a
/// [`TenantEntity`] impl), schema-qualified when it has a schema.
pub fn create_reference_table<E: EntityTrait>() -> SelectStatement {
    let entity = E::default();
    create_reference_table_named(entity.schema_name(), entity.table_name())
}

fn postgres_only(backend: DbBackend, what: &str) -> Result<(), DbErr> {
    if backend == DbBackend::Postgres {
        Ok(())
    } else {
        Err(TenantError::Unsupported(format!("citus: {what} needs Postgres with Citus")).into())
    }
}

/// Runs [`create_distributed_table`] for `E` in a migration. Citus
/// refuses (and the migration fails) if the table has a primary or unique
/// key without the tenant column; [`check_entity`] and [`check_keys`] say
/// so beforehand. [`TenantError::Unsupported`] on SQLite and MySQL; a
/// database error on Postgres without Citus (see [`is_installed`]).
///
/// ```no_run
/// use sea_orm_migration::prelude::*;
/// use sea_orm_tenant::citus;
/// use sea_orm_tenant::doc_entities::{country, post_tag};
///
/// #[derive(DeriveMigrationName)]
/// pub struct Migration;
///
/// #[async_trait::async_trait]
/// impl MigrationTrait for Migration {
///     async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
///         if citus::is_installed(manager.get_connection()).await? {
///             citus::distribute::<post_tag::Entity>(manager).await?;
///             citus::make_reference::<country::Entity>(manager).await?;
///         }
///         Ok(())
///     }
/// }
/// ```
pub async fn distribute<E: TenantEntity>(manager: &SchemaManager<'_>) -> Result<(), TenantError> {
    postgres_only(manager.get_database_backend(), "create_distributed_table")?;
    manager
        .get_connection()
        .execute(&create_distributed_table::<E>())
        .await?;
    Ok(())
}

/// Runs [`create_reference_table`] for the global entity `E` in a
/// migration. Errors as [`distribute`].
pub async fn make_reference<E: EntityTrait>(
    manager: &SchemaManager<'_>,
) -> Result<(), TenantError> {
    postgres_only(manager.get_database_backend(), "create_reference_table")?;
    manager
        .get_connection()
        .execute(&create_reference_table::<E>())
        .await?;
    Ok(())
}

/// Whether the `citus` extension is installed in the connected database.
/// `false` on SQLite and MySQL.
pub async fn is_installed<C: ConnectionTrait>(db: &C) -> Result<bool, TenantError> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(false);
    }
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') AS installed",
        ))
        .await?;
    match row {
        Some(row) => Ok(row.try_get::<bool>("", "installed")?),
        None => Ok(false),
    }
}

/// Which kind of key a [`KeyProblem`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// The primary key.
    PrimaryKey,
    /// A unique constraint or unique index.
    Unique,
    /// A foreign key to a tenant table that does not pair the two tenant
    /// columns (Citus needs `(tenant_id, post_id) REFERENCES post
    /// (tenant_id, id)` between distributed tables, and refuses foreign
    /// keys from a reference table to a distributed one).
    ForeignKey,
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyKind::PrimaryKey => "primary key",
            KeyKind::Unique => "unique key",
            KeyKind::ForeignKey => "foreign key",
        })
    }
}

/// A primary or unique key of a tenant table without the tenant column, or
/// a foreign key to a tenant table that does not pair the tenant columns:
/// Citus cannot enforce it across nodes and refuses to distribute the
/// table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyProblem {
    /// The table's schema, when known.
    pub schema: Option<String>,
    /// The table.
    pub table: String,
    /// Primary or unique.
    pub kind: KeyKind,
    /// The constraint or index name (from the catalog, or the entity's
    /// `unique_key` name); `None` for an entity's primary key or a
    /// `#[sea_orm(unique)]` column.
    pub name: Option<String>,
    /// The key's columns, in order (`(expression)` for an expression).
    pub columns: Vec<String>,
    /// For a foreign key, the table it references.
    pub references: Option<String>,
}

impl fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "`{schema}`.`{}`: {}", self.table, self.kind)?,
            None => write!(f, "`{}`: {}", self.table, self.kind)?,
        }
        if let Some(name) = &self.name {
            write!(f, " `{name}`")?;
        }
        write!(f, " ({})", self.columns.join(", "))?;
        if let Some(table) = &self.references {
            write!(
                f,
                " references `{table}` without pairing the tenant columns"
            )?;
        }
        Ok(())
    }
}

/// What [`check_entity`] or [`check_keys`] found.
///
/// `Display` prints one line saying all is well, or a header line and one
/// indented line per offending key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyReport {
    /// The tenant (distribution) column.
    pub tenant_column: String,
    /// The tenant tables checked (those having the tenant column).
    pub tables: Vec<String>,
    /// The keys lacking the tenant column.
    pub problems: Vec<KeyProblem>,
}

impl KeyReport {
    /// Every primary and unique key includes the tenant column.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for KeyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_ok() {
            return write!(
                f,
                "Citus key check: no key lacks the tenant column `{}` ({} tenant table(s) checked)",
                self.tenant_column,
                self.tables.len()
            );
        }
        write!(
            f,
            "Citus key check: {} key(s) lack the tenant column `{}` ({} tenant table(s) checked):",
            self.problems.len(),
            self.tenant_column,
            self.tables.len()
        )?;
        for problem in &self.problems {
            write!(f, "\n  {problem}")?;
        }
        Ok(())
    }
}

/// Checks `E`'s keys as its SeaORM definition declares them: the primary
/// key, each `#[sea_orm(unique)]` column and each
/// `#[sea_orm(unique_key = "…")]` group must include the tenant column.
/// Keys created only in migrations are not visible here: use
/// [`check_keys`] on the live schema for those.
///
/// ```
/// use sea_orm_tenant::citus;
/// use sea_orm_tenant::doc_entities::{comment, post_tag};
///
/// let report = citus::check_entity::<comment::Entity>();
/// assert_eq!(report.problems[0].columns, ["id"]);
///
/// // post_tag's key is (post_id, tag_id): still no tenant column.
/// assert!(!citus::check_entity::<post_tag::Entity>().is_ok());
/// ```
pub fn check_entity<E: TenantEntity>() -> KeyReport {
    let entity = E::default();
    let tenant = E::tenant_column().as_str().to_owned();
    let schema = entity.schema_name().map(str::to_owned);
    let table = entity.table_name().to_owned();
    let problem = |kind, name, columns: Vec<String>| KeyProblem {
        schema: schema.clone(),
        table: table.clone(),
        kind,
        name,
        columns,
        references: None,
    };
    let mut problems = Vec::new();

    let primary: Vec<String> = E::PrimaryKey::iter()
        .map(|key| key.into_column().as_str().to_owned())
        .collect();
    if !primary.contains(&tenant) {
        problems.push(problem(KeyKind::PrimaryKey, None, primary));
    }
    for column in E::Column::iter() {
        let name = column.as_str();
        if column.def().is_unique() && name != tenant {
            problems.push(problem(KeyKind::Unique, None, vec![name.to_owned()]));
        }
    }
    for index in Schema::new(DbBackend::Postgres).create_index_from_entity(entity) {
        let columns = index.get_index_spec().get_column_names();
        if index.is_unique_key() && !columns.contains(&tenant) {
            let name = index.get_index_spec().get_name().map(str::to_owned);
            problems.push(problem(KeyKind::Unique, name, columns));
        }
    }
    KeyReport {
        tenant_column: tenant,
        tables: vec![table],
        problems,
    }
}

const TABLES_SQL: &str = "SELECT c.relname::text AS table_name \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition \
     AND EXISTS (SELECT 1 FROM pg_attribute t WHERE t.attrelid = c.oid \
                 AND t.attname = $2 AND t.attnum > 0 AND NOT t.attisdropped) \
     ORDER BY c.relname::text COLLATE \"C\"";

const KEYS_SQL: &str = "SELECT c.relname::text AS table_name, i.relname::text AS key_name, \
     x.indisprimary AS is_primary, \
     array_to_string(ARRAY( \
         SELECT COALESCE(a.attname::text, '(expression)') \
         FROM generate_series(0, x.indnkeyatts - 1) AS k(n) \
         LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = x.indkey[k.n] \
                                  AND x.indkey[k.n] <> 0 \
         ORDER BY k.n), E'\\x1f') AS key_columns \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     JOIN pg_index x ON x.indrelid = c.oid \
     JOIN pg_class i ON i.oid = x.indexrelid \
     WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition \
     AND x.indisunique \
     AND EXISTS (SELECT 1 FROM pg_attribute t WHERE t.attrelid = c.oid \
                 AND t.attname = $2 AND t.attnum > 0 AND NOT t.attisdropped) \
     AND NOT EXISTS (SELECT 1 FROM generate_series(0, x.indnkeyatts - 1) AS k(n) \
                     JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = x.indkey[k.n] \
                     WHERE a.attname = $2) \
     ORDER BY c.relname::text COLLATE \"C\", i.relname::text COLLATE \"C\"";

/// Foreign keys from tables of the schema to tenant tables (in any schema)
/// in which no pair of columns is (tenant column, tenant column).
const FOREIGN_KEYS_SQL: &str = "SELECT c.relname::text AS table_name, con.conname::text AS key_name, \
     array_to_string(ARRAY( \
         SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord) \
         JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum \
         ORDER BY k.ord), E'\\x1f') AS key_columns, \
     CASE WHEN rn.nspname = $1 THEN rc.relname::text \
          ELSE rn.nspname::text || '.' || rc.relname::text END AS ref_table \
     FROM pg_constraint con \
     JOIN pg_class c ON c.oid = con.conrelid \
     JOIN pg_namespace n ON n.oid = c.relnamespace \
     JOIN pg_class rc ON rc.oid = con.confrelid \
     JOIN pg_namespace rn ON rn.oid = rc.relnamespace \
     WHERE con.contype = 'f' AND n.nspname = $1 \
     AND EXISTS (SELECT 1 FROM pg_attribute t WHERE t.attrelid = con.confrelid \
                 AND t.attname = $2 AND t.attnum > 0 AND NOT t.attisdropped) \
     AND NOT EXISTS (SELECT 1 FROM unnest(con.conkey, con.confkey) AS p(k, fk) \
                     JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = p.k \
                     JOIN pg_attribute fa ON fa.attrelid = con.confrelid AND fa.attnum = p.fk \
                     WHERE a.attname = $2 AND fa.attname = $2) \
     ORDER BY c.relname::text COLLATE \"C\", con.conname::text COLLATE \"C\"";

fn get<T: TryGetable>(row: &sea_orm::QueryResult, col: &str) -> Result<T, DbErr> {
    row.try_get::<T>("", col)
}

/// Checks a live Postgres schema: every table of `schema` that has a
/// column named `tenant_column` is a tenant table, and each of its primary
/// keys, unique constraints and unique indexes (partial ones too; `INCLUDE`
/// columns do not count) must have the tenant column among its key
/// columns. Tables without the column are global (reference tables) and
/// their keys are not checked.
///
/// Foreign keys are checked too: a foreign key of a table of `schema` that
/// references a tenant table must map the tenant column to the tenant
/// column (`FOREIGN KEY (tenant_id, post_id) REFERENCES post (tenant_id,
/// id)`); one that does not, or one from a global table, is reported as
/// [`KeyKind::ForeignKey`]. Exclusion constraints are not checked.
///
/// Postgres only ([`TenantError::Unsupported`] otherwise).
///
/// ```no_run
/// use sea_orm::Database;
/// use sea_orm_tenant::citus;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sea_orm::DbErr> {
/// let db = Database::connect("postgres://postgres@localhost/app").await?;
/// let report = citus::check_keys(&db, "public", "tenant_id").await?;
/// if !report.is_ok() {
///     eprintln!("{report}");
/// }
/// # Ok(())
/// # }
/// ```
pub async fn check_keys<C: ConnectionTrait>(
    db: &C,
    schema: &str,
    tenant_column: &str,
) -> Result<KeyReport, DbErr> {
    postgres_only(db.get_database_backend(), "the catalog key check")?;
    let args = || [schema.into(), tenant_column.into()];
    let tables = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            TABLES_SQL,
            args(),
        ))
        .await?
        .iter()
        .map(|row| get::<String>(row, "table_name"))
        .collect::<Result<Vec<_>, _>>()?;
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            KEYS_SQL,
            args(),
        ))
        .await?;
    let mut problems = Vec::with_capacity(rows.len());
    for row in rows {
        let columns: String = get(&row, "key_columns")?;
        problems.push(KeyProblem {
            schema: Some(schema.to_owned()),
            table: get(&row, "table_name")?,
            kind: if get(&row, "is_primary")? {
                KeyKind::PrimaryKey
            } else {
                KeyKind::Unique
            },
            name: Some(get(&row, "key_name")?),
            columns: columns.split('\u{1f}').map(str::to_owned).collect(),
            references: None,
        });
    }
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            FOREIGN_KEYS_SQL,
            args(),
        ))
        .await?;
    for row in rows {
        let columns: String = get(&row, "key_columns")?;
        problems.push(KeyProblem {
            schema: Some(schema.to_owned()),
            table: get(&row, "table_name")?,
            kind: KeyKind::ForeignKey,
            name: Some(get(&row, "key_name")?),
            columns: columns.split('\u{1f}').map(str::to_owned).collect(),
            references: Some(get(&row, "ref_table")?),
        });
    }
    Ok(KeyReport {
        tenant_column: tenant_column.to_owned(),
        tables,
        problems,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::sea_query::PostgresQueryBuilder;

    mod account {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(schema_name = "crm", table_name = "account")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub tenant_id: i64,
            #[sea_orm(primary_key, auto_increment = false)]
            pub id: i64,
            #[sea_orm(unique)]
            pub email: String,
            #[sea_orm(unique_key = "slug")]
            pub slug: String,
            #[sea_orm(unique_key = "handle")]
            pub handle: String,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}

        impl crate::TenantEntity for Entity {
            fn tenant_column() -> Column {
                Column::TenantId
            }
        }
    }

    #[test]
    fn schema_qualified_and_built_with_parameters() {
        let stmt = create_distributed_table::<account::Entity>();
        assert_eq!(
            stmt.to_string(PostgresQueryBuilder),
            r#"SELECT create_distributed_table('"crm"."account"'::regclass, 'tenant_id')"#
        );
        let built = DbBackend::Postgres.build(&stmt);
        assert_eq!(
            built.sql,
            "SELECT create_distributed_table($1::regclass, $2)"
        );
        let injected = create_reference_table_named(None, "x'); DROP TABLE y; --");
        assert_eq!(
            injected.to_string(PostgresQueryBuilder),
            r#"SELECT create_reference_table(E'"x\'); DROP TABLE y; --"'::regclass)"#
        );
    }

    #[test]
    fn entity_check_sees_primary_unique_columns_and_unique_keys() {
        let report = check_entity::<account::Entity>();
        let lines: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "`crm`.`account`: unique key (email)",
                "`crm`.`account`: unique key `idx-account-handle` (handle)",
                "`crm`.`account`: unique key `idx-account-slug` (slug)",
            ]
        );
    }
}
