//! [`AddTenantColumn`]: a migration step that adds a tenant column to an
//! existing table, fills it in for the rows already there ([`Backfill`]),
//! and makes it mandatory.

use sea_orm::sea_query::{
    Alias, ColumnDef, ColumnType, Expr, ExprTrait, Func, Index, IntoTableRef, Query,
    SelectStatement, StringLen, Table, TableRef,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, IdenStatic, Related, Statement,
    TransactionSession, TransactionTrait,
};
use sea_orm_migration::SchemaManager;

use crate::connection::TENANT_SETTING;
use crate::rls::sql_type;
use crate::{TenantEntity, TenantError, TenantId};

/// Adds a tenant column to an existing table in a migration: nullable,
/// backfilled, then `NOT NULL` and indexed.
///
/// The step, in order:
///
/// 1. counts the rows the backfill could not fill (no parent row, a parent
///    without a tenant, or rows and no backfill at all) and refuses with
///    [`TenantError::Backfill`](crate::TenantError::Backfill) before changing anything;
/// 2. `ADD COLUMN <column> <type> NULL`;
/// 3. the backfill, one `UPDATE` (a constant tenant, or the parent's tenant
///    through a foreign key: `UPDATE … FROM` on Postgres, `UPDATE … JOIN`
///    on MySQL);
/// 4. counts the `NULL`s again (rows inserted meanwhile) and refuses if any
///    remain;
/// 5. `SET NOT NULL`;
/// 6. an index on the tenant column, named `<table>_<column>_tenant_idx`
///    (the name [`RlsPolicy`](crate::rls::RlsPolicy) uses, so its
///    `CREATE INDEX IF NOT EXISTS` finds it);
/// 7. optionally, on Postgres, a column default read from the tenant
///    setting, `NULLIF(current_setting('app.tenant_id', true), '')::<type>`,
///    so a raw `INSERT` through a [`TenantConnection`](crate::TenantConnection)
///    gets the tenant, and one without a tenant fails on `NOT NULL`.
///
/// On Postgres steps 2–7 run in one transaction (a savepoint inside the
/// migration's own), so a refusal leaves the table as it was. MySQL and
/// MariaDB commit each DDL statement: the check of step 1 runs before any
/// change, and a failure after step 2 drops the added column again.
///
/// **SQLite is not supported** ([`TenantError::Unsupported`], nothing
/// changed): it cannot add `NOT NULL` to an existing column, and the one
/// form it has, `ADD COLUMN … NOT NULL DEFAULT <constant>`, would leave that
/// constant tenant as the default of every future row, a silent leak. On
/// SQLite, rebuild the table (create the new table from the entity, copy,
/// drop, rename) in the migration.
///
/// **Large tables**: the backfill is one `UPDATE` over the whole table, and
/// on Postgres `ADD COLUMN` holds an exclusive lock on the table until the
/// migration commits. For tables too large for one transaction, split the
/// work into separate migrations instead (add the column nullable, backfill
/// in batches from a job, then this step to check and constrain).
///
/// ```
/// use sea_orm::DbBackend;
/// use sea_orm_tenant::doc_entities::comment;
/// use sea_orm_tenant::migration::{AddTenantColumn, Backfill};
///
/// let step = AddTenantColumn::for_entity::<comment::Entity>()
///     .backfill(Backfill::from_parent("post", "post_id", "id"))
///     .default_from_setting();
/// let sql = step.up_statements(DbBackend::Postgres)?;
/// assert_eq!(sql[0], r#"ALTER TABLE "comment" ADD COLUMN "tenant_id" varchar NULL"#);
/// assert_eq!(
///     sql[1],
///     r#"UPDATE "comment" SET "tenant_id" = "post"."tenant_id" FROM "post" WHERE "comment"."post_id" = "post"."id" AND "comment"."tenant_id" IS NULL"#
/// );
/// assert_eq!(sql[2], r#"ALTER TABLE "comment" ALTER COLUMN "tenant_id" SET NOT NULL"#);
/// assert_eq!(sql[3], r#"CREATE INDEX "comment_tenant_id_tenant_idx" ON "comment" ("tenant_id")"#);
/// assert_eq!(
///     sql[4],
///     r#"ALTER TABLE "comment" ALTER COLUMN "tenant_id" SET DEFAULT NULLIF(current_setting('app.tenant_id', true), '')::text"#
/// );
/// # Ok::<(), sea_orm_tenant::TenantError>(())
/// ```
///
/// A whole migration history turning a single-tenant schema into a
/// shared-schema multi-tenant one, with row-level security last (the
/// crate's Postgres test runs exactly this through `MigratorTrait`):
///
/// ```no_run
/// use sea_orm_migration::prelude::*;
/// use sea_orm_tenant::doc_entities::{comment, post};
/// use sea_orm_tenant::migration::{AddTenantColumn, Backfill};
/// use sea_orm_tenant::rls::RlsPolicy;
///
/// /// Every post so far belonged to the one customer of the legacy app.
/// fn posts() -> AddTenantColumn {
///     AddTenantColumn::for_entity::<post::Entity>()
///         .backfill(Backfill::constant("acme"))
///         .default_from_setting()
/// }
///
/// /// A comment belongs to the tenant of its post.
/// fn comments() -> Result<AddTenantColumn, DbErr> {
///     Ok(AddTenantColumn::for_entity::<comment::Entity>()
///         .backfill(Backfill::from_related::<comment::Entity, post::Entity>()?))
/// }
///
/// #[derive(DeriveMigrationName)]
/// pub struct AddTenants;
///
/// #[async_trait::async_trait]
/// impl MigrationTrait for AddTenants {
///     async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
///         posts().up(manager).await?; // parents first
///         comments()?.up(manager).await?;
///         RlsPolicy::for_entity::<post::Entity>().grant_to("app").up(manager).await?;
///         RlsPolicy::for_entity::<comment::Entity>().grant_to("app").up(manager).await?;
///         Ok(())
///     }
///     async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
///         RlsPolicy::for_entity::<comment::Entity>().grant_to("app").down(manager).await?;
///         RlsPolicy::for_entity::<post::Entity>().grant_to("app").down(manager).await?;
///         comments()?.down(manager).await?;
///         posts().down(manager).await?;
///         Ok(())
///     }
/// }
///
/// pub struct Migrator;
///
/// impl MigratorTrait for Migrator {
///     fn migrations() -> Vec<Box<dyn MigrationTrait>> {
///         vec![Box::new(AddTenants)]
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), DbErr> {
/// let db = sea_orm::Database::connect("postgres://owner@localhost/app").await?;
/// Migrator::up(&db, None).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct AddTenantColumn {
    schema: Option<String>,
    table: String,
    column: String,
    column_type: ColumnType,
    backfill: Option<Backfill>,
    default_from_setting: bool,
    index: bool,
}

/// Where [`AddTenantColumn`] takes the tenant of the rows already in the
/// table from.
///
/// ```
/// use sea_orm::DbBackend;
/// use sea_orm_tenant::doc_entities::{comment, post};
/// use sea_orm_tenant::migration::{AddTenantColumn, Backfill};
///
/// let legacy = Backfill::constant("acme");
/// let by_name = Backfill::from_parent("post", "post_id", "id");
/// let by_relation = Backfill::from_related::<comment::Entity, post::Entity>()?;
///
/// let sql = |b: Backfill| AddTenantColumn::for_entity::<comment::Entity>().backfill(b).up_statements(DbBackend::Postgres);
/// assert_eq!(sql(by_name)?, sql(by_relation)?);
/// assert!(sql(legacy)?[1].starts_with(r#"UPDATE "comment" SET "tenant_id" = 'acme'"#));
/// # Ok::<(), sea_orm_tenant::TenantError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backfill(Source);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Source {
    Constant(TenantId),
    Parent {
        schema: Option<String>,
        table: String,
        foreign_key: String,
        key: String,
        tenant_column: Option<String>,
    },
}

impl Backfill {
    /// Every existing row belongs to `tenant`: the single-tenant legacy
    /// data of an application that becomes multi-tenant. The id must fit
    /// the column type (`42` for an integer column), or the step refuses
    /// with [`TenantError::ColumnType`] before changing anything.
    pub fn constant(tenant: impl Into<TenantId>) -> Self {
        Backfill(Source::Constant(tenant.into()))
    }

    /// Each row takes the tenant of its parent row: the row of
    /// `parent_table` whose `parent_key` equals the row's `foreign_key`.
    /// The parent's tenant column has the same name as the new column
    /// unless [`parent_tenant_column`](Self::parent_tenant_column) says
    /// otherwise; the parent must already have it filled in (migrate parents
    /// first). For `comment.post_id → post.id`:
    ///
    /// `UPDATE comment SET tenant_id = post.tenant_id FROM post WHERE comment.post_id = post.id`
    pub fn from_parent(parent_table: &str, foreign_key: &str, parent_key: &str) -> Self {
        Backfill(Source::Parent {
            schema: None,
            table: parent_table.to_owned(),
            foreign_key: foreign_key.to_owned(),
            key: parent_key.to_owned(),
            tenant_column: None,
        })
    }

    /// [`from_parent`](Self::from_parent) from SeaORM's relation of `E` to
    /// its parent `P` (a `belongs_to`, single-column): the parent's table,
    /// schema and tenant column come from `P`.
    ///
    /// [`TenantError::Unsupported`] for a `has_many` direction, a relation
    /// through a junction (`via`), or a composite foreign key.
    pub fn from_related<E, P>() -> Result<Self, TenantError>
    where
        E: EntityTrait + Related<P>,
        P: TenantEntity,
    {
        let parent = P::default();
        // A reference that already carries the tenant (rule 11:
        // `(post_id, tenant_id) -> (id, tenant_id)`) is followed by its
        // other column; the tenant pair is what the backfill fills in.
        let (columns, keys) =
            super::tenant_reference::reference_columns::<E, P>("backfill from the relation")?;
        let ([fk], [key]) = (&columns[..], &keys[..]) else {
            return Err(TenantError::Unsupported(format!(
                "backfill from the relation {} -> {}: a composite foreign key",
                E::default().table_name(),
                parent.table_name()
            )));
        };
        Ok(Backfill(Source::Parent {
            schema: parent.schema_name().map(str::to_owned),
            table: parent.table_name().to_owned(),
            foreign_key: fk.to_string(),
            key: key.to_string(),
            tenant_column: Some(P::tenant_column().as_str().to_owned()),
        }))
    }

    /// The parent's tenant column, when it is named differently (parent
    /// backfills only; a constant backfill ignores it).
    pub fn parent_tenant_column(mut self, column: &str) -> Self {
        if let Source::Parent { tenant_column, .. } = &mut self.0 {
            *tenant_column = Some(column.to_owned());
        }
        self
    }

    /// The parent table's schema (Postgres; default: the child's schema,
    /// else the `search_path`). Parent backfills only.
    pub fn parent_schema(mut self, parent_schema: &str) -> Self {
        if let Source::Parent { schema, .. } = &mut self.0 {
            *schema = Some(parent_schema.to_owned());
        }
        self
    }
}

/// A table (schema-qualified on Postgres only: on MySQL the schema is the
/// connection's database).
fn table_ref(schema: Option<&str>, table: &str, backend: DbBackend) -> TableRef {
    match schema {
        Some(schema) if backend == DbBackend::Postgres => {
            (Alias::new(schema), Alias::new(table)).into_table_ref()
        }
        _ => Alias::new(table).into_table_ref(),
    }
}

/// Refuses names sea-query would not quote (index names are written as
/// given) and names no database accepts.
pub(super) fn check_name(what: &str, name: &str) -> Result<(), TenantError> {
    let bad = name.is_empty()
        || name.len() > 63
        || name.chars().any(|c| c == '"' || c == '`' || c.is_control());
    if bad {
        Err(TenantError::Unsupported(format!(
            "{what} name {:?}: 1 to 63 bytes, without quotes or control characters",
            name.chars().take(80).collect::<String>()
        )))
    } else {
        Ok(())
    }
}

/// What [`AddTenantColumn::apply`] runs, built and checked up front.
struct Plan {
    /// `COUNT(*)` of the rows the backfill cannot fill, before any change.
    precheck: Option<Statement>,
    add: Statement,
    backfill: Option<Statement>,
    /// `COUNT(*)` of the rows still `NULL` after the backfill.
    nulls: Statement,
    rest: Vec<Statement>,
    undo: Statement,
}

impl AddTenantColumn {
    /// Adds `column` to `table`, as `varchar(63)` (a [`TenantId`] is at
    /// most 63 bytes); see [`of_type`](Self::of_type). Without a
    /// [`backfill`](Self::backfill) the table must be empty.
    pub fn new(table: &str, column: &str) -> Self {
        AddTenantColumn {
            schema: None,
            table: table.to_owned(),
            column: column.to_owned(),
            column_type: ColumnType::String(StringLen::N(63)),
            backfill: None,
            default_from_setting: false,
            index: true,
        }
    }

    /// The step for `E`'s tenant column: its table, schema, column name and
    /// column type, as the entity (already carrying the column) describes
    /// them.
    ///
    /// ```
    /// use sea_orm::DbBackend;
    /// use sea_orm_tenant::doc_entities::post;
    /// use sea_orm_tenant::migration::AddTenantColumn;
    ///
    /// let sql = AddTenantColumn::for_entity::<post::Entity>().up_statements(DbBackend::MySql)?;
    /// // Text tenants compare byte for byte on MySQL (`ACME` is not `acme`).
    /// assert_eq!(sql[0], "ALTER TABLE `post` ADD COLUMN `tenant_id` varchar(255) NULL COLLATE utf8mb4_bin");
    /// assert_eq!(sql[1], "ALTER TABLE `post` MODIFY COLUMN `tenant_id` varchar(255) NOT NULL COLLATE utf8mb4_bin");
    /// # Ok::<(), sea_orm_tenant::TenantError>(())
    /// ```
    pub fn for_entity<E: TenantEntity>() -> Self {
        let entity = E::default();
        let column = E::tenant_column();
        let mut step = Self::new(entity.table_name(), column.as_str())
            .of_type(column.def().get_column_type().clone());
        step.schema = entity.schema_name().map(str::to_owned);
        step
    }

    /// The table's schema (Postgres; default: the `search_path`).
    pub fn schema(mut self, schema: &str) -> Self {
        self.schema = Some(schema.to_owned());
        self
    }

    /// The column's type, for example
    /// `ColumnType::BigInteger` or `ColumnType::Uuid`.
    pub fn of_type(mut self, column_type: ColumnType) -> Self {
        self.column_type = column_type;
        self
    }

    /// Where the existing rows take their tenant from.
    pub fn backfill(mut self, backfill: Backfill) -> Self {
        self.backfill = Some(backfill);
        self
    }

    /// On Postgres, makes the column default to the tenant of the
    /// transaction, `NULLIF(current_setting('app.tenant_id', true), '')::<type>`:
    /// raw inserts through a [`TenantConnection`](crate::TenantConnection)
    /// fill the column in, and inserts without a tenant fail on `NOT NULL`.
    /// Ignored on MySQL and MariaDB, which have no such setting.
    pub fn default_from_setting(mut self) -> Self {
        self.default_from_setting = true;
        self
    }

    /// Skips the index on the tenant column (when a composite index led by
    /// the tenant column is created next).
    pub fn without_index(mut self) -> Self {
        self.index = false;
        self
    }

    /// The index's name: `<table>_<column>_tenant_idx`. A name longer than
    /// 63 bytes is refused ([`TenantError::Unsupported`]); use
    /// [`without_index`](Self::without_index) and create the index yourself.
    pub fn index_name(&self) -> String {
        format!("{}_{}_tenant_idx", self.table, self.column)
    }

    fn table_ref(&self, backend: DbBackend) -> TableRef {
        table_ref(self.schema.as_deref(), &self.table, backend)
    }

    /// `(table, column)`, for qualified column references.
    fn col(&self, column: &str) -> Expr {
        Expr::col((Alias::new(&self.table), Alias::new(column)))
    }

    fn refuse(&self, rows: i64) -> TenantError {
        TenantError::Backfill {
            table: self.table.clone(),
            column: self.column.clone(),
            rows,
        }
    }

    /// A text tenant column compares byte for byte on MySQL/MariaDB
    /// (`utf8mb4_bin`), where the table's default collation would make
    /// `ACME` equal `acme` in foreign keys and joins (rule 10).
    fn exact(&self, def: &mut ColumnDef, backend: DbBackend) -> ColumnDef {
        let text = matches!(
            self.column_type,
            ColumnType::String(_) | ColumnType::Text | ColumnType::Char(_)
        );
        if backend == DbBackend::MySql && text {
            def.extra("COLLATE utf8mb4_bin");
        }
        def.to_owned()
    }

    fn check_backend(&self, backend: DbBackend) -> Result<(), TenantError> {
        if backend == DbBackend::Sqlite {
            return Err(TenantError::Unsupported(format!(
                "adding tenant column `{}`.`{}` on SQLite: SQLite cannot make an existing \
                 column NOT NULL; rebuild the table in the migration instead",
                self.table, self.column
            )));
        }
        Ok(())
    }

    fn plan(&self, backend: DbBackend) -> Result<Plan, TenantError> {
        self.check_backend(backend)?;
        check_name("table", &self.table)?;
        check_name("column", &self.column)?;
        if let Some(schema) = &self.schema {
            check_name("schema", schema)?;
        }
        if self.index {
            check_name("index", &self.index_name())?;
        }
        let table = self.table_ref(backend);
        let column = Alias::new(&self.column);

        let add = Table::alter()
            .table(table.clone())
            .add_column(self.exact(
                ColumnDef::new_with_type(column.clone(), self.column_type.clone()).null(),
                backend,
            ))
            .to_owned();
        let count = |select: &mut SelectStatement| {
            select.expr(Func::count(Expr::col(sea_orm::sea_query::Asterisk)));
            backend.build(select)
        };

        let (precheck, backfill) = match self.backfill.as_ref().map(|b| &b.0) {
            None => (Some(count(Query::select().from(table.clone()))), None),
            Some(Source::Constant(tenant)) => {
                let value = tenant.to_value_for(&self.column_type, &self.table, &self.column)?;
                let update = Query::update()
                    .table(table.clone())
                    .value(column.clone(), value)
                    .and_where(Expr::col(column.clone()).is_null())
                    .to_owned();
                (None, Some(backend.build(&update)))
            }
            Some(Source::Parent {
                schema,
                table: parent,
                foreign_key,
                key,
                tenant_column,
            }) => {
                check_name("parent table", parent)?;
                check_name("foreign key", foreign_key)?;
                check_name("parent key", key)?;
                let parent_tenant = tenant_column.as_deref().unwrap_or(&self.column);
                check_name("parent tenant column", parent_tenant)?;
                let parent_schema = schema.as_deref().or(self.schema.as_deref());
                if let Some(s) = parent_schema {
                    check_name("parent schema", s)?;
                }
                if *parent == self.table {
                    return Err(TenantError::Unsupported(format!(
                        "backfill of `{}` from itself: a self-referencing table cannot take \
                         its tenant from its parent in one statement",
                        self.table
                    )));
                }
                let parent_ref = table_ref(parent_schema, parent, backend);
                let pcol = |c: &str| Expr::col((Alias::new(parent), Alias::new(c)));
                let joined = self
                    .col(foreign_key)
                    .equals((Alias::new(parent), Alias::new(key)));
                let precheck = count(
                    Query::select()
                        .from(table.clone())
                        .left_join(parent_ref.clone(), joined.clone())
                        .and_where(pcol(parent_tenant).is_null()),
                );
                let update = Query::update()
                    .table(table.clone())
                    .value(column.clone(), pcol(parent_tenant))
                    .from(parent_ref)
                    .and_where(joined)
                    .and_where(self.col(&self.column).is_null())
                    .to_owned();
                (Some(precheck), Some(backend.build(&update)))
            }
        };

        let nulls = count(
            Query::select()
                .from(table.clone())
                .and_where(Expr::col(column.clone()).is_null()),
        );

        let mut rest = Vec::new();
        let not_null = match backend {
            DbBackend::Postgres => ColumnDef::new(column.clone()).not_null().to_owned(),
            _ => self.exact(
                ColumnDef::new_with_type(column.clone(), self.column_type.clone()).not_null(),
                backend,
            ),
        };
        rest.push(
            backend.build(
                &Table::alter()
                    .table(table.clone())
                    .modify_column(not_null)
                    .to_owned(),
            ),
        );
        if self.index {
            let index_table = match backend {
                DbBackend::Postgres => table.clone(),
                _ => Alias::new(&self.table).into_table_ref(),
            };
            let index = Index::create()
                .name(self.index_name())
                .table(index_table)
                .col(column.clone())
                .to_owned();
            rest.push(backend.build(&index));
        }
        if self.default_from_setting && backend == DbBackend::Postgres {
            let default = Expr::cust(format!(
                "NULLIF(current_setting('{TENANT_SETTING}', true), '')::{}",
                sql_type(&self.column_type)
            ));
            let def = ColumnDef::new(column.clone()).default(default).to_owned();
            rest.push(
                backend.build(
                    &Table::alter()
                        .table(table.clone())
                        .modify_column(def)
                        .to_owned(),
                ),
            );
        }

        let undo = backend.build(&Table::alter().table(table).drop_column(column).to_owned());
        Ok(Plan {
            precheck,
            add: backend.build(&add),
            backfill,
            nulls,
            rest,
            undo,
        })
    }

    /// The statements [`up`](Self::up) runs to change the table, in order
    /// (not the `COUNT` checks before and after the backfill).
    /// [`TenantError::Unsupported`] on SQLite and for names with quotes or
    /// control characters; [`TenantError::ColumnType`] for a constant
    /// tenant that does not fit the column.
    ///
    /// ```
    /// use sea_orm::DbBackend;
    /// use sea_orm::sea_query::ColumnType;
    /// use sea_orm_tenant::migration::{AddTenantColumn, Backfill};
    ///
    /// let step = AddTenantColumn::new("ledger", "org_id")
    ///     .schema("billing")
    ///     .of_type(ColumnType::BigInteger)
    ///     .backfill(Backfill::constant(7_i64))
    ///     .without_index()
    ///     .default_from_setting();
    /// let sql = step.up_statements(DbBackend::Postgres)?;
    /// assert_eq!(sql[1], r#"UPDATE "billing"."ledger" SET "org_id" = 7 WHERE "org_id" IS NULL"#);
    /// assert!(sql[3].ends_with("::bigint"));
    ///
    /// let unfit = step.clone().backfill(Backfill::constant("acme"));
    /// assert!(unfit.up_statements(DbBackend::Postgres).is_err());
    /// assert!(step.up_statements(DbBackend::Sqlite).is_err());
    /// # Ok::<(), sea_orm_tenant::TenantError>(())
    /// ```
    pub fn up_statements(&self, backend: DbBackend) -> Result<Vec<String>, TenantError> {
        let plan = self.plan(backend)?;
        let mut out = vec![plan.add.to_string()];
        out.extend(plan.backfill.iter().map(Statement::to_string));
        out.extend(plan.rest.iter().map(Statement::to_string));
        Ok(out)
    }

    /// The statement [`down`](Self::down) runs: `ALTER TABLE … DROP COLUMN`
    /// (the index and the default go with the column).
    ///
    /// ```
    /// use sea_orm::DbBackend;
    /// use sea_orm_tenant::migration::AddTenantColumn;
    /// let down = AddTenantColumn::new("invoice", "tenant_id").down_statements(DbBackend::Postgres)?;
    /// assert_eq!(down, [r#"ALTER TABLE "invoice" DROP COLUMN "tenant_id""#]);
    /// # Ok::<(), sea_orm_tenant::TenantError>(())
    /// ```
    pub fn down_statements(&self, backend: DbBackend) -> Result<Vec<String>, TenantError> {
        Ok(vec![self.plan(backend)?.undo.to_string()])
    }

    /// Runs the step in a migration's `up`. See [`AddTenantColumn`].
    pub async fn up(&self, manager: &SchemaManager<'_>) -> Result<(), TenantError> {
        self.apply(manager.get_connection()).await
    }

    /// Runs the inverse in a migration's `down`: drops the column, and with
    /// it the tenant of every row.
    pub async fn down(&self, manager: &SchemaManager<'_>) -> Result<(), TenantError> {
        self.revert(manager.get_connection()).await
    }

    /// [`up`](Self::up) on any connection.
    pub async fn apply<C>(&self, db: &C) -> Result<(), TenantError>
    where
        C: ConnectionTrait + TransactionTrait,
    {
        let backend = db.get_database_backend();
        let plan = self.plan(backend)?;
        if let Some(check) = &plan.precheck {
            let rows = count(db, check).await?;
            if rows > 0 {
                return Err(self.refuse(rows));
            }
        }
        if backend == DbBackend::Postgres {
            let txn = db.begin().await?;
            let outcome = async {
                txn.execute_raw(plan.add.clone()).await?;
                self.finish(&txn, &plan).await
            }
            .await;
            return match outcome {
                Ok(()) => Ok(txn.commit().await?),
                Err(err) => {
                    let _ = txn.rollback().await;
                    Err(err.into())
                }
            };
        }
        // MySQL/MariaDB: DDL commits at once; undo by hand.
        db.execute_raw(plan.add.clone()).await?;
        if let Err(err) = self.finish(db, &plan).await {
            if let Err(undo) = db.execute_raw(plan.undo.clone()).await {
                tracing::error!(
                    target: "sea_orm_tenant::migration",
                    "could not drop `{}`.`{}` again after a failed backfill: {undo}",
                    self.table, self.column
                );
            }
            return Err(err.into());
        }
        Ok(())
    }

    async fn finish<C: ConnectionTrait>(&self, db: &C, plan: &Plan) -> Result<(), DbErr> {
        if let Some(backfill) = &plan.backfill {
            db.execute_raw(backfill.clone()).await?;
        }
        let rows = count(db, &plan.nulls).await?;
        if rows > 0 {
            return Err(self.refuse(rows).into());
        }
        for stmt in &plan.rest {
            db.execute_raw(stmt.clone()).await?;
        }
        Ok(())
    }

    /// [`down`](Self::down) on any connection.
    pub async fn revert<C: ConnectionTrait>(&self, db: &C) -> Result<(), TenantError> {
        let plan = self.plan(db.get_database_backend())?;
        db.execute_raw(plan.undo).await?;
        Ok(())
    }
}

async fn count<C: ConnectionTrait>(db: &C, stmt: &Statement) -> Result<i64, DbErr> {
    match db.query_one_raw(stmt.clone()).await? {
        Some(row) => row.try_get_by_index::<i64>(0),
        None => Ok(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc_entities::{comment, post};

    #[test]
    fn parent_backfill_on_mysql_is_an_update_join() {
        let step = AddTenantColumn::for_entity::<comment::Entity>()
            .backfill(Backfill::from_related::<comment::Entity, post::Entity>().unwrap());
        let sql = step.up_statements(DbBackend::MySql).unwrap();
        assert_eq!(
            sql[1],
            "UPDATE `comment` JOIN `post` ON `comment`.`post_id` = `post`.`id` AND `comment`.`tenant_id` IS NULL SET `comment`.`tenant_id` = `post`.`tenant_id`"
        );
        assert_eq!(
            sql[3],
            "CREATE INDEX `comment_tenant_id_tenant_idx` ON `comment` (`tenant_id`)"
        );
        assert_eq!(sql.len(), 4, "no default from the setting on MySQL");
    }

    #[test]
    fn the_checks_count_what_the_backfill_cannot_fill() {
        let step = AddTenantColumn::new("comment", "tenant_id")
            .schema("app")
            .backfill(Backfill::from_parent("post", "post_id", "id").parent_tenant_column("org"));
        let plan = step.plan(DbBackend::Postgres).unwrap();
        assert_eq!(
            plan.precheck.unwrap().to_string(),
            r#"SELECT COUNT(*) FROM "app"."comment" LEFT JOIN "app"."post" ON "comment"."post_id" = "post"."id" WHERE "post"."org" IS NULL"#
        );
        assert_eq!(
            plan.nulls.to_string(),
            r#"SELECT COUNT(*) FROM "app"."comment" WHERE "tenant_id" IS NULL"#
        );
        let empty = AddTenantColumn::new("t", "tenant_id")
            .plan(DbBackend::MySql)
            .unwrap();
        assert_eq!(
            empty.precheck.unwrap().to_string(),
            "SELECT COUNT(*) FROM `t`"
        );
    }

    #[test]
    fn names_are_quoted_or_refused() {
        let weird = AddTenantColumn::new("we ird", "ten ant")
            .up_statements(DbBackend::Postgres)
            .unwrap();
        assert!(weird[0].starts_with(r#"ALTER TABLE "we ird" ADD COLUMN "ten ant""#));
        for (table, column) in [("a\"b", "t"), ("t", "c`d"), ("", "t"), ("t", "x\ny")] {
            let err = AddTenantColumn::new(table, column)
                .up_statements(DbBackend::Postgres)
                .unwrap_err();
            assert!(matches!(err, TenantError::Unsupported(_)), "{err}");
        }
        let err = AddTenantColumn::new("t", "c")
            .backfill(Backfill::from_parent("p\"; DROP TABLE t; --", "p_id", "id"))
            .up_statements(DbBackend::Postgres)
            .unwrap_err();
        assert!(err.to_string().contains("parent table name"), "{err}");
        let err = AddTenantColumn::new("node", "tenant_id")
            .backfill(Backfill::from_parent("node", "parent_id", "id"))
            .up_statements(DbBackend::Postgres)
            .unwrap_err();
        assert!(err.to_string().contains("self-referencing"), "{err}");
    }

    #[test]
    fn relations_in_the_wrong_direction_are_refused() {
        let err = Backfill::from_related::<post::Entity, comment::Entity>().unwrap_err();
        assert!(err.to_string().contains("belongs_to"), "{err}");
    }
}
