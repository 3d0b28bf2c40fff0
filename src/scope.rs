//! [`TenantEntity`] and the [`TenantScoped`] builders: the statement rewrite.
//!
//! An entity opts in once with [`TenantEntity`]. From then on
//! `Entity::scoped(&tenant)` hands out SeaORM builders that carry the
//! tenant: selects and deletes get `tenant = ?` in their `WHERE`, updates
//! match on primary key *and* tenant and refuse to touch the tenant column,
//! inserts fill the tenant column in and refuse a different one, joins put
//! the tenant on every tenant table in the join's `ON`.

mod compare;
mod delete;
mod insert;
mod on_conflict;
mod related;
mod unscoped;
mod update;

use std::marker::PhantomData;

use sea_orm::sea_query::{Condition, Expr, IntoCondition, Value};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, DeleteMany, EntityName, EntityTrait, IdenStatic,
    PrimaryKeyTrait, QueryFilter, Related, Select, SelectTwo, SelectTwoMany, ValidatedDeleteOne,
};

pub use delete::ScopedDeleteOne;
pub use insert::{ScopedInsert, ScopedInsertMany};
pub use on_conflict::ScopedOnConflict;
pub use unscoped::Unscoped;
pub use update::{ScopedUpdateMany, ScopedUpdateOne};

pub(crate) use compare::exact_eq;

use crate::{TenantError, TenantId, current_tenant};

/// An entity whose rows belong to tenants.
///
/// Implement it once per tenant-owned entity, naming the tenant column.
/// Entities without it are global tables (a country list) and keep working
/// unchanged. The provided methods hand out scoped builders.
///
/// ```
/// use sea_orm::entity::prelude::*;
/// use sea_orm::{DbBackend, QueryTrait};
/// use sea_orm_tenant::prelude::*;
///
/// #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
/// #[sea_orm(table_name = "post")]
/// pub struct Model {
///     #[sea_orm(primary_key)]
///     pub id: i32,
///     pub tenant_id: String,
///     pub title: String,
/// }
/// #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
/// pub enum Relation {}
/// impl ActiveModelBehavior for ActiveModel {}
///
/// impl TenantEntity for Entity {
///     fn tenant_column() -> Column {
///         Column::TenantId
///     }
/// }
///
/// let sql = Entity::scoped(&TenantId::from("acme"))
///     .find()
///     .build(DbBackend::Postgres)
///     .to_string();
/// assert!(sql.ends_with(r#"WHERE "post"."tenant_id" = /*!BINARY*/('acme')"#));
///
/// // MySQL and MariaDB run `/*! … */`, the others skip it: text tenants are
/// // compared exactly even under a case-insensitive collation (`ACME` is
/// // not `acme`), and the tenant index is still used.
/// let sql = Entity::scoped(&TenantId::from("acme")).find().build(DbBackend::MySql).to_string();
/// assert!(sql.ends_with("WHERE `post`.`tenant_id` = /*!BINARY*/('acme')"));
/// ```
pub trait TenantEntity: EntityTrait {
    /// The column that holds the tenant id.
    fn tenant_column() -> Self::Column;

    /// The tenant id as a value of the tenant column's type.
    ///
    /// The default reads the column's type from its definition, so string,
    /// integer and UUID columns work without more code.
    fn tenant_value(tenant: &TenantId) -> Result<Value, TenantError> {
        let column = Self::tenant_column();
        tenant.to_value_for(
            column.def().get_column_type(),
            Self::default().table_name(),
            column.as_str(),
        )
    }

    /// Builders scoped to `tenant`.
    ///
    /// ```
    /// # use sea_orm_tenant::doc_entities::post;
    /// use sea_orm::{DbBackend, QueryTrait};
    /// use sea_orm_tenant::prelude::*;
    ///
    /// let acme = TenantId::from("acme");
    /// let sql = post::Entity::scoped(&acme).find_by_id(7).build(DbBackend::Sqlite).to_string();
    /// assert!(sql.contains(r#""post"."id" = 7"#));
    /// assert!(sql.contains(r#""post"."tenant_id" = /*!BINARY*/('acme')"#));
    /// ```
    fn scoped(tenant: &TenantId) -> Scoped<Self> {
        Scoped::new(tenant.clone())
    }

    /// Builders scoped to the current tenant (see [`with_tenant`](crate::with_tenant)),
    /// or [`TenantError::Missing`] when there is none.
    ///
    /// ```
    /// # use sea_orm_tenant::doc_entities::post;
    /// use sea_orm_tenant::prelude::*;
    ///
    /// assert!(matches!(post::Entity::scoped_current(), Err(TenantError::Missing)));
    /// let s = with_tenant_sync(TenantId::from("acme"), || post::Entity::scoped_current());
    /// assert_eq!(s.unwrap().tenant().to_string(), "acme");
    /// ```
    fn scoped_current() -> Result<Scoped<Self>, TenantError> {
        Ok(Self::scoped(&current_tenant()?))
    }

    /// The audited escape hatch: SeaORM's own builders with no tenant filter,
    /// each use logged as a `tracing` warning with `reason`.
    ///
    /// ```
    /// # use sea_orm_tenant::doc_entities::post;
    /// use sea_orm::{DbBackend, QueryTrait};
    /// use sea_orm_tenant::prelude::*;
    ///
    /// let all = post::Entity::unscoped("nightly billing report").find();
    /// assert_eq!(all.build(DbBackend::Sqlite).to_string(), r#"SELECT "post"."id", "post"."tenant_id", "post"."title" FROM "post""#);
    /// ```
    fn unscoped(reason: &str) -> Unscoped<Self> {
        Unscoped::new(reason)
    }
}

/// The primary key value type of an entity.
pub type PrimaryKeyValue<E> = <<E as EntityTrait>::PrimaryKey as PrimaryKeyTrait>::ValueType;

/// The scoped builders: every method adds or checks the tenant.
///
/// Implemented by [`Scoped`] (from [`TenantEntity::scoped`]); implementors
/// only say which tenant they stand for. Reads return SeaORM's own
/// [`Select`], [`SelectTwo`] and [`SelectTwoMany`], so `.filter()`,
/// `.order_by_asc()`, `.paginate()`, `.count()`, `.stream()` keep working.
pub trait TenantScoped<E: TenantEntity> {
    /// The tenant these builders are scoped to.
    fn tenant(&self) -> &TenantId;

    /// The tenant as a value of `E`'s tenant column, or why it does not fit.
    fn tenant_value(&self) -> Result<Value, TenantError> {
        E::tenant_value(self.tenant())
    }

    /// The condition `E.tenant_column = tenant`, exact on every backend (a
    /// text tenant is compared byte for byte on MySQL too, rule 10), for
    /// filters of your own: `.filter(scoped.tenant_condition())`.
    ///
    /// When the tenant does not fit the column type the condition is
    /// always false, so a read finds nothing (fail closed); writes report
    /// the [`TenantError`] instead.
    fn tenant_condition(&self) -> Condition {
        tenant_condition::<E>(self.tenant_value())
    }

    /// `SELECT … FROM e WHERE tenant = ?`.
    ///
    /// ```
    /// # use sea_orm_tenant::doc_entities::post;
    /// use sea_orm::{DbBackend, QueryFilter, QueryTrait, ColumnTrait};
    /// use sea_orm_tenant::prelude::*;
    ///
    /// let sql = post::Entity::scoped(&TenantId::from("acme"))
    ///     .find()
    ///     .filter(post::Column::Title.contains("rust"))
    ///     .build(DbBackend::Postgres)
    ///     .to_string();
    /// assert!(sql.contains(r#""post"."tenant_id" = /*!BINARY*/('acme') AND "post"."title" LIKE '%rust%'"#));
    /// ```
    fn find(&self) -> Select<E> {
        E::find().filter(self.tenant_condition())
    }

    /// Find-first by primary key with the tenant filter: `WHERE id = ? AND tenant = ?`.
    ///
    /// Use `.one(db)`; another tenant's row is simply not found.
    ///
    /// ```
    /// # use sea_orm_tenant::doc_entities::post;
    /// use sea_orm::{DbBackend, QueryTrait};
    /// use sea_orm_tenant::prelude::*;
    ///
    /// let sql = post::Entity::scoped(&TenantId::from("acme")).find_by_id(7).build(DbBackend::Postgres).to_string();
    /// assert!(sql.ends_with(r#"WHERE "post"."id" = 7 AND "post"."tenant_id" = /*!BINARY*/('acme')"#));
    /// ```
    fn find_by_id<T>(&self, values: T) -> Select<E>
    where
        T: Into<PrimaryKeyValue<E>>,
    {
        E::find_by_id(values).filter(self.tenant_condition())
    }

    /// Update one row by primary key *and* tenant.
    ///
    /// A model naming another tenant (set or unchanged) is refused with
    /// [`TenantError::Mismatch`]; a row of another tenant is not updated
    /// (`DbErr::RecordNotUpdated`), and SeaORM's re-read is scoped too.
    fn update<A>(&self, model: A) -> ScopedUpdateOne<A>
    where
        A: ActiveModelTrait<Entity = E>,
    {
        ScopedUpdateOne::new(self.tenant().clone(), self.tenant_value(), model)
    }

    /// `UPDATE e SET … WHERE tenant = ? AND …`; a write to the tenant column is refused at exec.
    ///
    /// ```
    /// # use sea_orm_tenant::doc_entities::post;
    /// use sea_orm::{DbBackend, QueryFilter, QueryTrait, ColumnTrait};
    /// use sea_orm::sea_query::Expr;
    /// use sea_orm_tenant::prelude::*;
    ///
    /// let sql = post::Entity::scoped(&TenantId::from("acme"))
    ///     .update_many()
    ///     .col_expr(post::Column::Title, Expr::value("archived"))
    ///     .filter(post::Column::Id.lt(10))
    ///     .build(DbBackend::Postgres)
    ///     .to_string();
    /// assert_eq!(sql, r#"UPDATE "post" SET "title" = 'archived' WHERE "post"."tenant_id" = /*!BINARY*/('acme') AND "post"."id" < 10"#);
    /// ```
    fn update_many(&self) -> ScopedUpdateMany<E> {
        ScopedUpdateMany::new(
            self.tenant_value(),
            E::update_many().filter(self.tenant_condition()),
        )
    }

    /// Delete one row by primary key *and* tenant; a model naming another
    /// tenant is refused with [`TenantError::Mismatch`].
    fn delete<A>(&self, model: A) -> ScopedDeleteOne<E>
    where
        A: ActiveModelTrait<Entity = E>,
    {
        ScopedDeleteOne::new(self.tenant(), self.tenant_value(), model)
    }

    /// Delete by primary key *and* tenant: SeaORM's [`ValidatedDeleteOne`].
    ///
    /// ```
    /// # use sea_orm_tenant::doc_entities::post;
    /// use sea_orm::{DbBackend, QueryTrait};
    /// use sea_orm_tenant::prelude::*;
    ///
    /// let sql = post::Entity::scoped(&TenantId::from("acme")).delete_by_id(7).build(DbBackend::Postgres).to_string();
    /// assert_eq!(sql, r#"DELETE FROM "post" WHERE "post"."id" = 7 AND "post"."tenant_id" = /*!BINARY*/('acme')"#);
    /// ```
    fn delete_by_id<T>(&self, values: T) -> ValidatedDeleteOne<E>
    where
        T: Into<PrimaryKeyValue<E>>,
    {
        E::delete_by_id(values).filter(self.tenant_condition())
    }

    /// `DELETE FROM e WHERE tenant = ? AND …`: SeaORM's [`DeleteMany`].
    fn delete_many(&self) -> DeleteMany<E> {
        E::delete_many().filter(self.tenant_condition())
    }

    /// Insert one row with the tenant column filled in; a model that already
    /// names another tenant is refused with [`TenantError::Mismatch`].
    fn insert<A>(&self, model: A) -> ScopedInsert<A>
    where
        A: ActiveModelTrait<Entity = E>,
    {
        ScopedInsert::new(self.tenant().clone(), self.tenant_value(), model)
    }

    /// Insert many rows, each with the tenant filled in. One model naming
    /// another tenant refuses the whole batch before anything is sent.
    fn insert_many<A, I>(&self, models: I) -> ScopedInsertMany<A>
    where
        A: ActiveModelTrait<Entity = E>,
        I: IntoIterator<Item = A>,
    {
        ScopedInsertMany::new(self.tenant().clone(), self.tenant_value(), models)
    }

    /// `find().find_also_related(r)` with the tenant on both tables; the
    /// related table's condition sits in the join's `ON`, so the `LEFT JOIN`
    /// stays a left join and another tenant's row comes back as `None`.
    /// Many-to-many junctions are scoped as in
    /// [`find_with_related`](Self::find_with_related).
    ///
    /// ```
    /// # use sea_orm_tenant::doc_entities::{comment, post};
    /// use sea_orm::{DbBackend, QueryTrait};
    /// use sea_orm_tenant::prelude::*;
    ///
    /// let sql = post::Entity::scoped(&TenantId::from("acme"))
    ///     .find_also_related(comment::Entity)
    ///     .build(DbBackend::Postgres)
    ///     .to_string();
    /// // The relation pairs the tenant columns (rule 11), and the scope adds the tenant.
    /// assert!(sql.contains(r#"LEFT JOIN "comment" ON "post"."id" = "comment"."post_id" AND "post"."tenant_id" = "comment"."tenant_id" AND "comment"."tenant_id" = /*!BINARY*/('acme')"#));
    /// assert!(sql.ends_with(r#"WHERE "post"."tenant_id" = /*!BINARY*/('acme')"#));
    /// ```
    fn find_also_related<R>(&self, r: R) -> SelectTwo<E, R>
    where
        R: TenantEntity,
        E: Related<R>,
    {
        let own = self.tenant_value();
        related::scoped_left_join::<E, R>(self.find(), own, R::tenant_value(self.tenant()), None)
            .select_also(r)
    }

    /// The scoped select for SeaORM's many-to-many loader, with the junction
    /// table `J` scoped too.
    ///
    /// `models.load_many(select, db)` accepts any `Select<R>`, and for a
    /// many-to-many relation it joins the junction table itself, without a
    /// tenant; the condition this adds on `J` closes that gap. (For
    /// one-to-many and belongs-to loaders, [`find`](Self::find) is enough.)
    ///
    /// ```
    /// # use sea_orm_tenant::doc_entities::{post_tag, tag};
    /// use sea_orm::{DbBackend, QueryTrait};
    /// use sea_orm_tenant::prelude::*;
    ///
    /// let select = tag::Entity::scoped(&TenantId::from("acme")).find_via(post_tag::Entity);
    /// let sql = select.build(DbBackend::Postgres).to_string();
    /// assert!(sql.contains(r#""tag"."tenant_id" = /*!BINARY*/('acme') AND "post_tag"."tenant_id" = /*!BINARY*/('acme')"#));
    /// ```
    fn find_via<J>(&self, _junction: J) -> Select<E>
    where
        J: TenantEntity,
    {
        self.find()
            .filter(tenant_condition::<J>(J::tenant_value(self.tenant())))
    }

    /// `find().find_with_related(r)` with the tenant on both tables, in the
    /// join's `ON` as for [`find_also_related`](Self::find_also_related).
    ///
    /// For a many-to-many relation the junction table is scoped too, on a
    /// column named like `E`'s tenant column; a junction whose tenant
    /// column has another name takes
    /// [`find_with_related_via`](Self::find_with_related_via), and a
    /// junction with no tenant column makes the query fail rather than
    /// return links another tenant made.
    fn find_with_related<R>(&self, r: R) -> SelectTwoMany<E, R>
    where
        R: TenantEntity,
        E: Related<R>,
    {
        let own = self.tenant_value();
        related::scoped_left_join::<E, R>(self.find(), own, R::tenant_value(self.tenant()), None)
            .select_with(r)
    }

    /// [`find_with_related`](Self::find_with_related) for a many-to-many
    /// relation whose junction table `J` is tenant-owned too: the tenant is
    /// on `E`, on `J` and on `R`.
    ///
    /// ```
    /// # use sea_orm_tenant::doc_entities::{post, post_tag, tag};
    /// use sea_orm::{DbBackend, QueryTrait};
    /// use sea_orm_tenant::prelude::*;
    ///
    /// let sql = post::Entity::scoped(&TenantId::from("acme"))
    ///     .find_with_related_via(tag::Entity, post_tag::Entity)
    ///     .build(DbBackend::Postgres)
    ///     .to_string();
    /// assert!(sql.contains(r#""post_tag"."tenant_id" = /*!BINARY*/('acme')"#));
    /// assert!(sql.contains(r#""tag"."tenant_id" = /*!BINARY*/('acme')"#));
    /// ```
    fn find_with_related_via<R, J>(&self, r: R, _junction: J) -> SelectTwoMany<E, R>
    where
        R: TenantEntity,
        J: TenantEntity,
        E: Related<R>,
    {
        let junction = tenant_condition::<J>(J::tenant_value(self.tenant()));
        related::scoped_left_join::<E, R>(
            self.find(),
            self.tenant_value(),
            R::tenant_value(self.tenant()),
            Some(junction),
        )
        .select_with(r)
    }
}

/// Builders scoped to one tenant, from [`TenantEntity::scoped`].
///
/// Holds the tenant only (a reference count): each builder converts it to
/// the tenant column's value as it builds, which costs what writing the
/// filter by hand costs.
pub struct Scoped<E: TenantEntity> {
    tenant: TenantId,
    entity: PhantomData<E>,
}

impl<E: TenantEntity> Scoped<E> {
    /// Builders for `tenant` (same as [`TenantEntity::scoped`]).
    pub fn new(tenant: TenantId) -> Self {
        Scoped {
            tenant,
            entity: PhantomData,
        }
    }
}

impl<E: TenantEntity> Clone for Scoped<E> {
    fn clone(&self) -> Self {
        Scoped {
            tenant: self.tenant.clone(),
            entity: PhantomData,
        }
    }
}

impl<E: TenantEntity> std::fmt::Debug for Scoped<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scoped")
            .field("entity", &E::default().table_name())
            .field("tenant", &self.tenant)
            .finish()
    }
}

impl<E: TenantEntity> TenantScoped<E> for Scoped<E> {
    fn tenant(&self) -> &TenantId {
        &self.tenant
    }
}

/// `E.tenant = value` (exact, see `compare::exact_eq`), or an always-false
/// condition when there is no value.
pub(crate) fn tenant_condition<E: TenantEntity>(value: Result<Value, TenantError>) -> Condition {
    match value {
        Ok(value) => compare::column_eq(E::tenant_column(), value).into_condition(),
        Err(err) => {
            tracing::warn!(error = %err, table = E::default().table_name(), "tenant id does not fit the tenant column; the query matches nothing");
            match_nothing()
        }
    }
}

/// A condition no row meets: what a query becomes when its tenant cannot
/// be expressed (fail closed).
pub(crate) fn match_nothing() -> Condition {
    Expr::cust("1 = 0").into_condition()
}

/// Checks that the tenant column of `model` does not name another tenant.
pub(crate) fn check_model_tenant<A>(model: &A, tenant: &TenantId) -> Result<(), TenantError>
where
    A: ActiveModelTrait,
    A::Entity: TenantEntity,
{
    let column = <A::Entity as TenantEntity>::tenant_column();
    match model.get(column) {
        ActiveValue::Set(value) | ActiveValue::Unchanged(value)
            if !tenant.matches_value(&value) =>
        {
            Err(TenantError::Mismatch {
                table: A::Entity::default().table_name().to_owned(),
                expected: tenant.to_string(),
                found: TenantId::describe_value(&value),
            })
        }
        _ => Ok(()),
    }
}

/// Re-reads a row by primary key within the tenant (SeaORM's re-read, scoped).
pub(crate) async fn reread_scoped<A, C>(
    value: Result<Value, TenantError>,
    key: sea_orm::sea_query::ValueTuple,
    db: &C,
    what: &str,
) -> Result<<A::Entity as EntityTrait>::Model, sea_orm::DbErr>
where
    A: ActiveModelTrait,
    A::Entity: TenantEntity,
    C: sea_orm::ConnectionTrait,
{
    use sea_orm::sea_query::FromValueTuple;
    let key = PrimaryKeyValue::<A::Entity>::from_value_tuple(key);
    <A::Entity as EntityTrait>::find_by_id(key)
        .filter(tenant_condition::<A::Entity>(value))
        .one(db)
        .await?
        .ok_or_else(|| sea_orm::DbErr::RecordNotFound(format!("Failed to find {what} item")))
}
