//! [`TenantReference`]: a migration step that makes a foreign key between
//! two tenant tables carry the tenant (rule 11).

use sea_orm::sea_query::{Alias, Expr, ExprTrait, ForeignKey, Func, Index, Query, SelectStatement};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, EntityTrait, IdenStatic, Related};
use sea_orm_migration::SchemaManager;

use super::tenant_column::check_name;
use crate::{TenantEntity, TenantError};

/// The columns of SeaORM's `belongs_to` relation `E -> P` and the keys of
/// `P` they reference, without the pair that references `P`'s tenant
/// column (a relation that already carries the tenant, rule 11).
///
/// [`TenantError::Unsupported`] for a `has_many` direction, a relation
/// through a junction (`via`), or a relation of the tenant pair alone;
/// `what` names the step in the message.
pub(super) fn reference_columns<E, P>(what: &str) -> Result<(Vec<String>, Vec<String>), TenantError>
where
    E: EntityTrait + Related<P>,
    P: TenantEntity,
{
    let unsupported = |why: &str| {
        TenantError::Unsupported(format!(
            "{what} {} -> {}: {why}",
            E::default().table_name(),
            P::default().table_name()
        ))
    };
    if <E as Related<P>>::via().is_some() {
        return Err(unsupported("a relation through a junction table"));
    }
    let rel = <E as Related<P>>::to();
    // SeaORM marks has_one / has_many with `is_owner`; a belongs_to (the
    // child holding the foreign key) has it false.
    if rel.is_owner {
        return Err(unsupported(
            "the child must hold the foreign key (a belongs_to relation)",
        ));
    }
    let parent_tenant = P::tenant_column();
    let (columns, keys): (Vec<String>, Vec<String>) = rel
        .from_col
        .iter()
        .zip(rel.to_col.iter())
        .map(|(from, to)| (from.to_string(), to.to_string()))
        .filter(|(_, to)| to != parent_tenant.as_str())
        .unzip();
    if columns.is_empty() {
        return Err(unsupported(
            "the relation has no columns besides the tenant",
        ));
    }
    Ok((columns, keys))
}

/// Makes a reference between two tenant tables a composite foreign key
/// that includes the tenant: `child (post_id, tenant_id) -> parent (id,
/// tenant_id)`. A row can then never point at another tenant's row,
/// whichever way it is written (scoped builders, plain SeaORM, raw SQL),
/// and a join along the reference cannot leave the tenant.
///
/// New tables get this from SeaORM itself: declare the relation with the
/// tenant in it (`from = "(Column::PostId, Column::TenantId)"`, `to =
/// "(super::post::Column::Id, super::post::Column::TenantId)"`) and a
/// `unique_key` over the parent's `(id, tenant_id)`, and
/// `Schema::create_table_from_entity` writes the composite foreign key (the
/// doc entities do). This step is for tables that exist already:
///
/// 1. counts the child rows whose reference names a parent row of another
///    tenant (or none), and refuses with
///    [`TenantError::CrossTenantReferences`] before changing anything;
/// 2. a unique index over the parent's key and tenant,
///    `<parent>_<column>_tenant_key`, unless it exists;
/// 3. `ALTER TABLE <child> ADD CONSTRAINT <child>_<column>_tenant_fkey
///    FOREIGN KEY (…, tenant) REFERENCES <parent> (…, tenant)`.
///
/// The single-column foreign key the table had stays (drop it in the same
/// migration when you like); the composite one is what keeps tenants apart.
/// Postgres and MySQL/MariaDB. **SQLite cannot add a constraint to an
/// existing table** ([`TenantError::Unsupported`], nothing changed):
/// rebuild the table from the entity there.
///
/// ```
/// use sea_orm::DbBackend;
/// use sea_orm_tenant::doc_entities::{comment, post};
/// use sea_orm_tenant::migration::TenantReference;
///
/// let step = TenantReference::for_relation::<comment::Entity, post::Entity>()?;
/// let sql = step.up_statements(DbBackend::Postgres)?;
/// assert_eq!(sql[0], r#"CREATE UNIQUE INDEX "post_id_tenant_key" ON "post" ("id", "tenant_id")"#);
/// assert_eq!(
///     sql[1],
///     r#"ALTER TABLE "comment" ADD CONSTRAINT "comment_post_id_tenant_fkey" FOREIGN KEY ("post_id", "tenant_id") REFERENCES "post" ("id", "tenant_id")"#
/// );
/// # Ok::<(), sea_orm_tenant::TenantError>(())
/// ```
#[derive(Debug, Clone)]
pub struct TenantReference {
    child: String,
    columns: Vec<String>,
    tenant: String,
    parent: String,
    keys: Vec<String>,
    parent_tenant: String,
}

impl TenantReference {
    /// The reference `child (columns…) -> parent (keys…)`, to be paired with
    /// the tenant column `tenant` on both sides.
    ///
    /// ```
    /// use sea_orm_tenant::migration::TenantReference;
    /// let step = TenantReference::new("invoice_line", &["invoice_id"], "invoice", &["id"], "tenant_id");
    /// assert_eq!(step.constraint_name(), "invoice_line_invoice_id_tenant_fkey");
    /// ```
    pub fn new(child: &str, columns: &[&str], parent: &str, keys: &[&str], tenant: &str) -> Self {
        TenantReference {
            child: child.to_owned(),
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            tenant: tenant.to_owned(),
            parent: parent.to_owned(),
            keys: keys.iter().map(|c| (*c).to_owned()).collect(),
            parent_tenant: tenant.to_owned(),
        }
    }

    /// The reference of SeaORM's relation `E -> P` (`E` holds the foreign
    /// key), with each side's own tenant column. A relation that already
    /// pairs the tenant columns is taken without that pair.
    pub fn for_relation<E, P>() -> Result<Self, TenantError>
    where
        E: TenantEntity + Related<P>,
        P: TenantEntity,
    {
        let (child, parent) = (E::default(), P::default());
        let (columns, keys) = reference_columns::<E, P>("tenant reference")?;
        let (tenant, parent_tenant) = (E::tenant_column(), P::tenant_column());
        Ok(TenantReference {
            child: child.table_name().to_owned(),
            columns,
            tenant: tenant.as_str().to_owned(),
            parent: parent.table_name().to_owned(),
            keys,
            parent_tenant: parent_tenant.as_str().to_owned(),
        })
    }

    /// The parent's tenant column, when it is named differently from the child's.
    pub fn parent_tenant_column(mut self, column: &str) -> Self {
        self.parent_tenant = column.to_owned();
        self
    }

    /// `<child>_<columns>_tenant_fkey`: the composite foreign key.
    pub fn constraint_name(&self) -> String {
        format!("{}_{}_tenant_fkey", self.child, self.columns.join("_"))
    }

    /// `<parent>_<keys>_tenant_key`: the parent's unique `(key…, tenant)` index.
    pub fn key_name(&self) -> String {
        format!("{}_{}_tenant_key", self.parent, self.keys.join("_"))
    }

    fn check(&self, backend: DbBackend) -> Result<(), TenantError> {
        if backend == DbBackend::Sqlite {
            return Err(TenantError::Unsupported(format!(
                "adding tenant reference `{}` on SQLite: SQLite cannot add a constraint to an \
                 existing table; declare the relation with the tenant column in the entity and \
                 rebuild the table",
                self.constraint_name()
            )));
        }
        for (what, name) in [
            ("table", &self.child),
            ("table", &self.parent),
            ("column", &self.tenant),
            ("column", &self.parent_tenant),
        ]
        .into_iter()
        .chain(self.columns.iter().map(|c| ("column", c)))
        .chain(self.keys.iter().map(|c| ("column", c)))
        {
            check_name(what, name)?;
        }
        check_name("constraint", &self.constraint_name())?;
        check_name("index", &self.key_name())?;
        if self.columns.len() != self.keys.len() {
            return Err(TenantError::Unsupported(format!(
                "tenant reference `{}`: {} column(s) reference {} key(s)",
                self.constraint_name(),
                self.columns.len(),
                self.keys.len()
            )));
        }
        Ok(())
    }

    fn child_columns(&self) -> Vec<Alias> {
        self.columns
            .iter()
            .chain([&self.tenant])
            .map(Alias::new)
            .collect()
    }

    fn parent_columns(&self) -> Vec<Alias> {
        self.keys
            .iter()
            .chain([&self.parent_tenant])
            .map(Alias::new)
            .collect()
    }

    /// `SELECT COUNT(*)` of child rows whose reference names no parent row
    /// of their own tenant (a `NULL` reference names none and counts not).
    fn crossing(&self) -> SelectStatement {
        let child = Alias::new(&self.child);
        let parent = Alias::new(&self.parent);
        let mut own_parent = Query::select();
        own_parent.expr(Expr::val(1)).from(parent.clone());
        for (column, key) in self.child_columns().into_iter().zip(self.parent_columns()) {
            // Exact, as the tenant columns themselves must be (rule 10).
            own_parent.and_where(crate::scope::exact_eq(
                Expr::col((parent.clone(), key)),
                Expr::col((child.clone(), column)),
                true,
            ));
        }
        let mut count = Query::select();
        count
            .expr(Func::count(Expr::col(sea_orm::sea_query::Asterisk)))
            .from(child.clone());
        for column in &self.columns {
            count.and_where(Expr::col((child.clone(), Alias::new(column))).is_not_null());
        }
        count.and_where(Expr::exists(own_parent).not());
        count
    }

    /// The statements [`up`](Self::up) runs after its check, as SQL text.
    pub fn up_statements(&self, backend: DbBackend) -> Result<Vec<String>, TenantError> {
        self.check(backend)?;
        Ok(vec![
            backend.build(&self.key_index()).to_string(),
            backend.build(&self.foreign_key()).to_string(),
        ])
    }

    fn key_index(&self) -> sea_orm::sea_query::IndexCreateStatement {
        let mut index = Index::create();
        index
            .name(self.key_name())
            .table(Alias::new(&self.parent))
            .unique();
        for column in self.parent_columns() {
            index.col(column);
        }
        index.to_owned()
    }

    fn foreign_key(&self) -> sea_orm::sea_query::ForeignKeyCreateStatement {
        let mut fk = ForeignKey::create();
        fk.name(self.constraint_name())
            .from_tbl(Alias::new(&self.child))
            .to_tbl(Alias::new(&self.parent));
        for (column, key) in self.child_columns().into_iter().zip(self.parent_columns()) {
            fk.from_col(column).to_col(key);
        }
        fk.to_owned()
    }

    /// On MySQL/MariaDB, the text tenant columns that compare without
    /// regard to case (or trailing spaces), where the foreign key would let
    /// `ACME`'s row point at `acme`'s.
    async fn inexact_tenant_columns<C: ConnectionTrait>(
        &self,
        db: &C,
    ) -> Result<Vec<String>, DbErr> {
        if db.get_database_backend() != DbBackend::MySql {
            return Ok(Vec::new());
        }
        let mut inexact = Vec::new();
        for (table, column) in [
            (&self.child, &self.tenant),
            (&self.parent, &self.parent_tenant),
        ] {
            let collation = Query::select()
                .column(Alias::new("COLLATION_NAME"))
                .from((Alias::new("information_schema"), Alias::new("COLUMNS")))
                .and_where(Expr::col(Alias::new("TABLE_SCHEMA")).eq(Expr::cust("DATABASE()")))
                .and_where(Expr::col(Alias::new("TABLE_NAME")).eq(table.as_str()))
                .and_where(Expr::col(Alias::new("COLUMN_NAME")).eq(column.as_str()))
                .to_owned();
            let name: Option<String> = match db.query_one(&collation).await? {
                Some(row) => row.try_get_by_index(0)?,
                None => None,
            };
            if let Some(name) = name.filter(|n| !n.ends_with("_bin")) {
                inexact.push(format!("`{table}`.`{column}` ({name})"));
            }
        }
        Ok(inexact)
    }

    /// Runs the step in a migration's `up`. See [`TenantReference`].
    ///
    /// On MySQL/MariaDB a text tenant column must compare exactly
    /// (`utf8mb4_bin`), or the foreign key would match `ACME` to `acme`:
    /// the step refuses ([`TenantError::Unsupported`], nothing changed) and
    /// says which column to convert
    /// (`ALTER TABLE … MODIFY tenant_id VARCHAR(…) NOT NULL COLLATE utf8mb4_bin`).
    pub async fn up(&self, manager: &SchemaManager<'_>) -> Result<(), TenantError> {
        let db = manager.get_connection();
        self.check(db.get_database_backend())?;
        let inexact = self.inexact_tenant_columns(db).await?;
        if !inexact.is_empty() {
            return Err(TenantError::Unsupported(format!(
                "adding tenant reference `{}`: the tenant column(s) {} compare without regard \
                 to case on MySQL; convert them to COLLATE utf8mb4_bin first",
                self.constraint_name(),
                inexact.join(", ")
            )));
        }
        let rows: i64 = match db.query_one(&self.crossing()).await? {
            Some(row) => row.try_get_by_index(0)?,
            None => 0,
        };
        if rows > 0 {
            return Err(TenantError::CrossTenantReferences {
                table: self.child.clone(),
                constraint: self.constraint_name(),
                rows,
            });
        }
        if !manager.has_index(&self.parent, &self.key_name()).await? {
            manager.create_index(self.key_index()).await?;
        }
        Ok(manager.create_foreign_key(self.foreign_key()).await?)
    }

    /// Runs the inverse in a migration's `down`: drops the composite
    /// foreign key and the parent's `(key…, tenant)` index.
    pub async fn down(&self, manager: &SchemaManager<'_>) -> Result<(), TenantError> {
        self.check(manager.get_database_backend())?;
        manager
            .drop_foreign_key(
                ForeignKey::drop()
                    .name(self.constraint_name())
                    .table(Alias::new(&self.child))
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name(self.key_name())
                    .table(Alias::new(&self.parent))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
