//! Scoped inserts: the tenant column filled in, upserts guarded.

use sea_orm::sea_query::{IntoValueTuple, Value};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait, Insert, InsertMany, InsertManyResult,
    InsertResult, IntoActiveModel,
};

use super::{ScopedOnConflict, TenantEntity, check_model_tenant, reread_scoped};
use crate::{TenantError, TenantId};

/// Fills the tenant column of `model` in, or refuses a different tenant.
fn stamp<A>(mut model: A, tenant: &TenantId, value: &Value) -> Result<A, TenantError>
where
    A: ActiveModelTrait,
    A::Entity: TenantEntity,
{
    check_model_tenant(&model, tenant)?;
    model.set(<A::Entity as TenantEntity>::tenant_column(), value.clone());
    Ok(model)
}

/// An insert of one row into the tenant, from
/// [`TenantScoped::insert`](super::TenantScoped::insert).
///
/// Ends in [`exec`](Self::exec), [`exec_without_returning`](Self::exec_without_returning)
/// or [`exec_with_returning`](Self::exec_with_returning) as SeaORM's `Insert`.
///
/// ```
/// # use sea_orm_tenant::doc_entities::{self, post};
/// use sea_orm::{ActiveValue::Set, DbErr};
/// use sea_orm_tenant::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), DbErr> {
/// # let db = doc_entities::sqlite().await?;
/// let acme = post::Entity::scoped(&TenantId::from("acme"));
/// let row = acme
///     .insert(post::ActiveModel { title: Set("hello".into()), ..Default::default() })
///     .exec_with_returning(&db)
///     .await?;
/// assert_eq!(row.tenant_id, "acme");
///
/// let planted = post::ActiveModel { tenant_id: Set("globex".into()), title: Set("x".into()), ..Default::default() };
/// assert!(TenantError::is_tenant_error(&acme.insert(planted).exec(&db).await.unwrap_err()));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct ScopedInsert<A: ActiveModelTrait> {
    inner: Result<(Insert<A>, Value), DbErr>,
    on_conflict: Option<ScopedOnConflict>,
}

impl<A> ScopedInsert<A>
where
    A: ActiveModelTrait,
    A::Entity: TenantEntity,
{
    pub(crate) fn new(tenant: TenantId, value: Result<Value, TenantError>, model: A) -> Self {
        let prepare = || -> Result<(Insert<A>, Value), DbErr> {
            let value = value?;
            let model = stamp(model, &tenant, &value)?;
            Ok((<A::Entity as EntityTrait>::insert(model), value))
        };
        ScopedInsert {
            inner: prepare(),
            on_conflict: None,
        }
    }

    /// Makes the insert an upsert that only ever updates a row of this tenant.
    ///
    /// ```
    /// # use sea_orm_tenant::doc_entities::post;
    /// use sea_orm::{DbBackend, Set};
    /// use sea_orm_tenant::prelude::*;
    ///
    /// let insert = post::Entity::scoped(&TenantId::from("acme"))
    ///     .insert(post::ActiveModel { id: Set(1), title: Set("Hi".into()), ..Default::default() })
    ///     .on_conflict(ScopedOnConflict::column(post::Column::Id).update_column(post::Column::Title).to_owned());
    /// let sql = insert.statement(DbBackend::Postgres)?.to_string();
    /// assert!(sql.ends_with(r#"ON CONFLICT ("id") DO UPDATE SET "title" = "excluded"."title" WHERE "post"."tenant_id" = /*!BINARY*/('acme')"#));
    /// # Ok::<(), sea_orm::DbErr>(())
    /// ```
    pub fn on_conflict(mut self, on_conflict: ScopedOnConflict) -> Self {
        self.on_conflict = Some(on_conflict);
        self
    }

    fn prepared(self, backend: sea_orm::DbBackend) -> Result<(Insert<A>, Value), DbErr> {
        let (mut insert, value) = self.inner?;
        if let Some(on_conflict) = self.on_conflict {
            insert = insert.on_conflict(on_conflict.build::<A::Entity>(backend, &value)?);
        }
        Ok((insert, value))
    }

    /// The statement `exec` would send to `backend`, or why none would be sent.
    pub fn statement(self, backend: sea_orm::DbBackend) -> Result<sea_orm::Statement, DbErr> {
        use sea_orm::QueryTrait;
        Ok(self.prepared(backend)?.0.build(backend))
    }

    /// Runs the insert (as SeaORM's `Insert::exec`).
    ///
    /// An upsert that meets another tenant's row changes nothing; on
    /// Postgres and SQLite that is `DbErr::RecordNotInserted`.
    pub async fn exec<C>(self, db: &C) -> Result<InsertResult<A>, DbErr>
    where
        C: ConnectionTrait,
    {
        let (insert, _) = self.prepared(db.get_database_backend())?;
        insert.exec(db).await
    }

    /// Runs the insert and returns the number of rows inserted.
    pub async fn exec_without_returning<C>(self, db: &C) -> Result<u64, DbErr>
    where
        C: ConnectionTrait,
    {
        let (insert, _) = self.prepared(db.get_database_backend())?;
        insert.exec_without_returning(db).await
    }

    /// Runs the insert and returns the row as stored.
    ///
    /// Without `RETURNING` (MySQL, SQLite by default) SeaORM re-reads the
    /// row by primary key alone; here the re-read carries the tenant, so an
    /// upsert that met another tenant's row returns `DbErr::RecordNotFound`
    /// instead of that row.
    pub async fn exec_with_returning<C>(
        self,
        db: &C,
    ) -> Result<<A::Entity as EntityTrait>::Model, DbErr>
    where
        <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
        C: ConnectionTrait,
    {
        let (insert, value) = self.prepared(db.get_database_backend())?;
        if db.support_returning() {
            insert.exec_with_returning(db).await
        } else {
            let result = insert.exec(db).await?;
            let key = result.last_insert_id.into_value_tuple();
            reread_scoped::<A, C>(Ok(value), key, db, "inserted").await
        }
    }
}

/// An insert of many rows into the tenant, from
/// [`TenantScoped::insert_many`](super::TenantScoped::insert_many).
///
/// One model naming another tenant refuses the whole batch before anything
/// is sent.
///
/// ```
/// # use sea_orm_tenant::doc_entities::{self, post};
/// use sea_orm::{ActiveValue::Set, DbErr, EntityTrait, PaginatorTrait};
/// use sea_orm_tenant::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), DbErr> {
/// # let db = doc_entities::sqlite().await?;
/// let acme = post::Entity::scoped(&TenantId::from("acme"));
/// let draft = |title: &str| post::ActiveModel { title: Set(title.into()), ..Default::default() };
/// acme.insert_many([draft("a"), draft("b")]).exec(&db).await?;
///
/// let mut foreign = draft("c");
/// foreign.tenant_id = Set("globex".into());
/// let err = acme.insert_many([draft("d"), foreign]).exec(&db).await.unwrap_err();
/// assert!(TenantError::is_tenant_error(&err));
/// assert_eq!(acme.find().count(&db).await?, 2); // "d" was not written either
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct ScopedInsertMany<A: ActiveModelTrait> {
    inner: Result<(InsertMany<A>, Value), DbErr>,
    on_conflict: Option<ScopedOnConflict>,
}

impl<A> ScopedInsertMany<A>
where
    A: ActiveModelTrait,
    A::Entity: TenantEntity,
{
    pub(crate) fn new<I>(tenant: TenantId, value: Result<Value, TenantError>, models: I) -> Self
    where
        I: IntoIterator<Item = A>,
    {
        let prepare = || -> Result<(InsertMany<A>, Value), DbErr> {
            let value = value?;
            let models = models
                .into_iter()
                .map(|model| stamp(model, &tenant, &value))
                .collect::<Result<Vec<A>, TenantError>>()?;
            Ok((<A::Entity as EntityTrait>::insert_many(models), value))
        };
        ScopedInsertMany {
            inner: prepare(),
            on_conflict: None,
        }
    }

    /// Makes the insert an upsert that only ever updates rows of this tenant
    /// (see [`ScopedInsert::on_conflict`]).
    pub fn on_conflict(mut self, on_conflict: ScopedOnConflict) -> Self {
        self.on_conflict = Some(on_conflict);
        self
    }

    fn prepared(self, backend: sea_orm::DbBackend) -> Result<InsertMany<A>, DbErr> {
        let (mut insert, value) = self.inner?;
        if let Some(on_conflict) = self.on_conflict {
            insert = insert.on_conflict(on_conflict.build::<A::Entity>(backend, &value)?);
        }
        Ok(insert)
    }

    /// Runs the insert (as SeaORM's `InsertMany::exec`).
    pub async fn exec<C>(self, db: &C) -> Result<InsertManyResult<A>, DbErr>
    where
        C: ConnectionTrait,
    {
        self.prepared(db.get_database_backend())?.exec(db).await
    }

    /// Runs the insert and returns the number of rows inserted.
    pub async fn exec_without_returning<C>(self, db: &C) -> Result<u64, DbErr>
    where
        C: ConnectionTrait,
    {
        self.prepared(db.get_database_backend())?
            .exec_without_returning(db)
            .await
    }

    /// Runs the insert and returns the rows as stored, on backends with
    /// `RETURNING` (as SeaORM's `InsertMany::exec_with_returning`).
    pub async fn exec_with_returning<C>(
        self,
        db: &C,
    ) -> Result<Vec<<A::Entity as EntityTrait>::Model>, DbErr>
    where
        <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
        C: ConnectionTrait,
    {
        self.prepared(db.get_database_backend())?
            .exec_with_returning(db)
            .await
    }
}
