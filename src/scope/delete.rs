//! Scoped delete of one row by primary key and tenant.

use sea_orm::sea_query::{DeleteStatement, Value};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbErr, DeleteResult, QueryFilter, QueryTrait,
    ValidatedDeleteOne,
};

use super::{TenantEntity, check_model_tenant, tenant_condition};
use crate::{TenantError, TenantId};

/// A delete of one row by primary key *and* tenant, from
/// [`TenantScoped::delete`](super::TenantScoped::delete).
///
/// Ends in [`exec`](Self::exec) like SeaORM's `DeleteOne`. A row of another
/// tenant is not deleted (`rows_affected == 0`); a model that names another
/// tenant is refused before anything is sent.
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
/// let err = post::Entity::scoped(&globex).delete(row.clone().into_active_model()).exec(&db).await;
/// assert!(TenantError::is_tenant_error(&err.unwrap_err()));
///
/// let gone = post::Entity::scoped(&acme).delete(row.into_active_model()).exec(&db).await?;
/// assert_eq!(gone.rows_affected, 1);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ScopedDeleteOne<E: TenantEntity> {
    inner: Result<ValidatedDeleteOne<E>, DbErr>,
}

impl<E: TenantEntity> ScopedDeleteOne<E> {
    pub(crate) fn new<A>(tenant: &TenantId, value: Result<Value, TenantError>, model: A) -> Self
    where
        A: ActiveModelTrait<Entity = E>,
    {
        let prepare = || -> Result<ValidatedDeleteOne<E>, DbErr> {
            let value = value?;
            check_model_tenant(&model, tenant)?;
            Ok(E::delete(model)
                .validate()?
                .filter(tenant_condition::<E>(Ok(value))))
        };
        ScopedDeleteOne { inner: prepare() }
    }

    /// Runs the delete (as SeaORM's `DeleteOne::exec`).
    pub async fn exec<C>(self, db: &C) -> Result<DeleteResult, DbErr>
    where
        C: ConnectionTrait,
    {
        self.inner?.exec(db).await
    }

    /// Runs the delete and returns the deleted row, on backends with
    /// `RETURNING` (as SeaORM's `DeleteOne::exec_with_returning`).
    pub async fn exec_with_returning<C>(self, db: &C) -> Result<Option<E::Model>, DbErr>
    where
        C: ConnectionTrait,
    {
        self.inner?.exec_with_returning(db).await
    }

    /// The statement that [`exec`](Self::exec) runs, or why it will not run.
    pub fn statement(&self) -> Result<&DeleteStatement, &DbErr> {
        self.inner.as_ref().map(QueryTrait::as_query)
    }
}
