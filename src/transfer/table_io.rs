//! [`TableIo`]: what an export, an import and an erasure do to one
//! declared tenant table, as functions typed by its entity (made once, in
//! [`describe`](crate::connection::describe)), so that the rows travel as
//! SeaORM [`Value`]s read from and written to the entity's own `Model`
//! and `ActiveModel`, without serde on either.

use futures_util::TryStreamExt;
use futures_util::future::BoxFuture;
use sea_orm::sea_query::{Asterisk, Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbErr, IdenStatic, Iterable, ModelTrait, PrimaryKeyToColumn,
    QueryOrder, QuerySelect, QueryTrait, Value,
};

use crate::{TenantEntity, TenantError, TenantScoped, TenantTransaction};

/// Receives each row read, as the entity's column values in
/// [`columns`](TableIo::columns) order.
pub(crate) type RowSink<'a> = dyn FnMut(Vec<Value>) -> Result<(), TenantError> + Send + 'a;

/// Streams the transaction's tenant's rows to a sink, in primary key
/// order, and says how many went.
pub(crate) type ReadRows = for<'a> fn(
    &'a TenantTransaction,
    &'a mut RowSink<'a>,
) -> BoxFuture<'a, Result<u64, TenantError>>;

/// Inserts rows (values in [`columns`](TableIo::columns) order) through
/// the transaction.
pub(crate) type WriteRows =
    for<'a> fn(&'a TenantTransaction, Vec<Vec<Value>>) -> BoxFuture<'a, Result<(), TenantError>>;

/// Counts the transaction's tenant's rows.
pub(crate) type CountRows = for<'a> fn(&'a TenantTransaction) -> BoxFuture<'a, Result<u64, DbErr>>;

/// The typed operations on one tenant table.
#[derive(Clone, Copy)]
pub(crate) struct TableIo {
    /// The entity's column names, in declaration order.
    pub(crate) columns: fn() -> Vec<&'static str>,
    pub(crate) read: ReadRows,
    pub(crate) write: WriteRows,
    pub(crate) count: CountRows,
}

impl TableIo {
    /// The operations on `E`.
    pub(crate) fn of<E: TenantEntity>() -> Self {
        TableIo {
            columns: columns::<E>,
            read: read::<E>,
            write: write::<E>,
            count: count::<E>,
        }
    }
}

fn columns<E: TenantEntity>() -> Vec<&'static str> {
    E::Column::iter().map(|c| c.as_str()).collect()
}

fn read<'a, E: TenantEntity>(
    txn: &'a TenantTransaction,
    sink: &'a mut RowSink<'a>,
) -> BoxFuture<'a, Result<u64, TenantError>> {
    Box::pin(async move {
        // Scoped, and confined by the transaction besides: the first wall
        // twice.
        let mut select = E::scoped(txn.tenant()).find();
        for key in E::PrimaryKey::iter() {
            select = select.order_by_asc(key.into_column());
        }
        let mut stream = select.stream(txn).await?;
        let mut rows = 0u64;
        while let Some(model) = stream.try_next().await? {
            sink(E::Column::iter().map(|c| model.get(c)).collect())?;
            rows += 1;
        }
        Ok(rows)
    })
}

fn write<E: TenantEntity>(
    txn: &TenantTransaction,
    rows: Vec<Vec<Value>>,
) -> BoxFuture<'_, Result<(), TenantError>> {
    Box::pin(async move {
        if rows.is_empty() {
            return Ok(());
        }
        let stmt = statement::<E>(txn, rows)?;
        txn.execute_raw(stmt).await?;
        Ok(())
    })
}

/// The `INSERT` of `rows`, built before anything is awaited (an
/// `ActiveModel` need not be `Send`).
fn statement<E: TenantEntity>(
    txn: &TenantTransaction,
    rows: Vec<Vec<Value>>,
) -> Result<sea_orm::Statement, TenantError> {
    {
        let columns: Vec<E::Column> = E::Column::iter().collect();
        let mut models = Vec::with_capacity(rows.len());
        for row in rows {
            let mut model = <E::ActiveModel as ActiveModelTrait>::default();
            for (column, value) in columns.iter().zip(row) {
                // `try_set`, never `set`: a value of the wrong type is an
                // error, not a panic.
                model
                    .try_set(*column, value)
                    .map_err(|e| TenantError::Transfer {
                        tenant: txn.tenant().to_string(),
                        reason: format!(
                            "column `{}`.`{}`: the value does not fit the entity's field ({e})",
                            E::default().table_name(),
                            column.as_str()
                        ),
                        source: None,
                    })?;
            }
            models.push(model);
        }
        let insert = E::insert_many(models);
        Ok(QueryTrait::build(&insert, txn.get_database_backend()))
    }
}

fn count<E: TenantEntity>(txn: &TenantTransaction) -> BoxFuture<'_, Result<u64, DbErr>> {
    let select = E::scoped(txn.tenant())
        .find()
        .select_only()
        .expr(Expr::col(Asterisk).count());
    let stmt = QueryTrait::build(&select, txn.get_database_backend());
    Box::pin(async move {
        let row = txn.query_one_raw(stmt).await?;
        let rows = match row {
            Some(row) => row.try_get_by_index::<i64>(0)?,
            None => 0,
        };
        Ok(u64::try_from(rows).unwrap_or(0))
    })
}
