//! Scoped updates: one row by key and tenant, many rows within the tenant.

use sea_orm::sea_query::{IntoIden, SimpleExpr, UpdateStatement, Value, ValueTuple};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait, IdenStatic, IntoActiveModel,
    QueryFilter, QueryTrait, UpdateMany, UpdateResult, ValidatedUpdateOne,
};

use super::compare::is_tenant_column;
use super::{TenantEntity, check_model_tenant, reread_scoped, tenant_condition};
use crate::{TenantError, TenantId};

/// An update of one row by primary key *and* tenant, from
/// [`TenantScoped::update`](super::TenantScoped::update).
///
/// Ends in [`exec`](Self::exec) like SeaORM's `UpdateOne`.
///
/// ```
/// # use sea_orm_tenant::doc_entities::{self, post};
/// use sea_orm::{ActiveValue::Set, DbErr, IntoActiveModel};
/// use sea_orm_tenant::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), DbErr> {
/// # let db = doc_entities::sqlite().await?;
/// let (acme, globex) = (TenantId::from("acme"), TenantId::from("globex"));
/// let new = post::ActiveModel { title: Set("draft".into()), ..Default::default() };
/// let row = post::Entity::scoped(&acme).insert(new).exec_with_returning(&db).await?;
///
/// let mut edit = row.clone().into_active_model();
/// edit.title = Set("final".into());
/// assert_eq!(post::Entity::scoped(&acme).update(edit.clone()).exec(&db).await?.title, "final");
///
/// // The same model through another tenant's scope is refused, nothing sent.
/// let err = post::Entity::scoped(&globex).update(edit).exec(&db).await.unwrap_err();
/// assert!(TenantError::is_tenant_error(&err));
///
/// // A forged model with only the key: the row is not globex's, so not updated.
/// let forged = post::ActiveModel { id: Set(row.id), title: Set("pwned".into()), ..Default::default() };
/// let err = post::Entity::scoped(&globex).update(forged).exec(&db).await.unwrap_err();
/// assert_eq!(err, DbErr::RecordNotUpdated);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct ScopedUpdateOne<A: ActiveModelTrait> {
    inner: Result<Prepared<A>, DbErr>,
}

#[derive(Debug)]
struct Prepared<A: ActiveModelTrait> {
    update: ValidatedUpdateOne<A>,
    key: ValueTuple,
    value: Value,
}

impl<A> ScopedUpdateOne<A>
where
    A: ActiveModelTrait,
    A::Entity: TenantEntity,
{
    pub(crate) fn new(tenant: TenantId, value: Result<Value, TenantError>, model: A) -> Self {
        let prepare = || -> Result<Prepared<A>, DbErr> {
            let value = value?;
            check_model_tenant(&model, &tenant)?;
            let key = model
                .get_primary_key_value()
                .ok_or(DbErr::PrimaryKeyNotSet { ctx: "UpdateOne" })?;
            let update = <A::Entity as EntityTrait>::update(model)
                .validate()?
                .filter(tenant_condition::<A::Entity>(Ok(value.clone())));
            Ok(Prepared { update, key, value })
        };
        ScopedUpdateOne { inner: prepare() }
    }

    /// Runs the update and returns the updated row, as SeaORM's `UpdateOne::exec`.
    ///
    /// A row of another tenant (or no row) is `DbErr::RecordNotUpdated`.
    /// An update with nothing to write re-reads the row within the tenant,
    /// where SeaORM would re-read it by key alone.
    pub async fn exec<C>(self, db: &C) -> Result<<A::Entity as EntityTrait>::Model, DbErr>
    where
        <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
        C: ConnectionTrait,
    {
        let Prepared { update, key, value } = self.inner?;
        if update.as_query().get_values().is_empty() {
            return reread_scoped::<A, C>(Ok(value), key, db, "updated").await;
        }
        if db.support_returning() {
            update.exec(db).await
        } else {
            update.exec_without_returning(db).await?;
            reread_scoped::<A, C>(Ok(value), key, db, "updated").await
        }
    }

    /// Runs the update without reading the row back.
    ///
    /// A row of another tenant (or no row) is `DbErr::RecordNotUpdated`.
    pub async fn exec_without_returning<C>(self, db: &C) -> Result<UpdateResult, DbErr>
    where
        C: ConnectionTrait,
    {
        let prepared = self.inner?;
        if prepared.update.as_query().get_values().is_empty() {
            // Nothing to write: confirm the row is ours, as SeaORM would find it.
            let found =
                reread_scoped::<A, C>(Ok(prepared.value), prepared.key, db, "updated").await;
            return match found {
                Ok(_) => Ok(UpdateResult::default()),
                Err(DbErr::RecordNotFound(_)) => Err(DbErr::RecordNotUpdated),
                Err(err) => Err(err),
            };
        }
        prepared.update.exec_without_returning(db).await
    }

    /// The statement that [`exec`](Self::exec) runs, or why it will not run.
    pub fn statement(&self) -> Result<&UpdateStatement, &DbErr> {
        self.inner.as_ref().map(|p| p.update.as_query())
    }
}

/// An `UPDATE … WHERE tenant = ?` over many rows, from
/// [`TenantScoped::update_many`](super::TenantScoped::update_many).
///
/// It has [`UpdateMany`]'s methods (`filter` through [`QueryFilter`],
/// [`col_expr`](Self::col_expr), [`set`](Self::set), [`exec`](Self::exec)).
/// A write to the tenant column, by any route, is refused at `exec` with
/// [`TenantError::TenantColumnWrite`] and nothing is sent.
///
/// ```
/// # use sea_orm_tenant::doc_entities::{self, post};
/// use sea_orm::{ActiveValue::Set, ColumnTrait, DbErr, QueryFilter};
/// use sea_orm::sea_query::Expr;
/// use sea_orm_tenant::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), DbErr> {
/// # let db = doc_entities::sqlite().await?;
/// let acme = post::Entity::scoped(&TenantId::from("acme"));
/// let globex = post::Entity::scoped(&TenantId::from("globex"));
/// for s in [&acme, &globex] {
///     s.insert(post::ActiveModel { title: Set("draft".into()), ..Default::default() }).exec(&db).await?;
/// }
///
/// let done = acme
///     .update_many()
///     .col_expr(post::Column::Title, Expr::value("archived"))
///     .filter(post::Column::Title.eq("draft"))
///     .exec(&db)
///     .await?;
/// assert_eq!(done.rows_affected, 1); // globex's draft is untouched
///
/// let moved = acme.update_many().col_expr(post::Column::TenantId, Expr::value("globex")).exec(&db).await;
/// assert!(TenantError::is_tenant_error(&moved.unwrap_err()));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ScopedUpdateMany<E: TenantEntity> {
    update: UpdateMany<E>,
    value: Result<Value, TenantError>,
}

impl<E: TenantEntity> ScopedUpdateMany<E> {
    pub(crate) fn new(value: Result<Value, TenantError>, update: UpdateMany<E>) -> Self {
        ScopedUpdateMany { update, value }
    }

    /// Writes the `Set` fields of `model` to every matching row
    /// (as [`UpdateMany::set`]).
    pub fn set<A>(mut self, model: A) -> Self
    where
        A: ActiveModelTrait<Entity = E>,
    {
        self.update = self.update.set(model);
        self
    }

    /// Writes `expr` to `col` (as [`UpdateMany::col_expr`]).
    pub fn col_expr<T>(mut self, col: T, expr: SimpleExpr) -> Self
    where
        T: IntoIden,
    {
        self.update = self.update.col_expr(col, expr);
        self
    }

    fn checked(self) -> Result<UpdateMany<E>, DbErr> {
        self.value?;
        let column = E::tenant_column();
        let writes_tenant = self
            .update
            .as_query()
            .get_values()
            .iter()
            .any(|(iden, _)| is_tenant_column::<E>(column, &iden.inner()));
        if writes_tenant {
            return Err(TenantError::TenantColumnWrite {
                table: E::default().table_name().to_owned(),
                column: column.as_str().to_owned(),
            }
            .into());
        }
        Ok(self.update)
    }

    /// Runs the update within the tenant (as [`UpdateMany::exec`]).
    pub async fn exec<C>(self, db: &C) -> Result<UpdateResult, DbErr>
    where
        C: ConnectionTrait,
    {
        self.checked()?.exec(db).await
    }

    /// Runs the update and returns the updated rows, on backends with
    /// `RETURNING` (as [`UpdateMany::exec_with_returning`]).
    pub async fn exec_with_returning<C>(self, db: &C) -> Result<Vec<E::Model>, DbErr>
    where
        C: ConnectionTrait,
    {
        self.checked()?.exec_with_returning(db).await
    }
}

impl<E: TenantEntity> QueryFilter for ScopedUpdateMany<E> {
    type QueryStatement = UpdateStatement;

    fn query(&mut self) -> &mut UpdateStatement {
        QueryTrait::query(&mut self.update)
    }
}

impl<E: TenantEntity> QueryTrait for ScopedUpdateMany<E> {
    type QueryStatement = UpdateStatement;

    fn query(&mut self) -> &mut UpdateStatement {
        QueryTrait::query(&mut self.update)
    }

    fn as_query(&self) -> &UpdateStatement {
        self.update.as_query()
    }

    fn into_query(self) -> UpdateStatement {
        self.update.into_query()
    }
}
