//! A tenant's rows of one declared table, as a move reads, compares and
//! copies them: entity-typed functions kept in each
//! [`TenantTable`](crate::connection::TenantTable), so the values are the
//! entity's own types on every backend (no serde needed on the model).
//!
//! Reads go through a [`TenantConnection`] and writes through a
//! [`TenantTransaction`]: the first wall confines both to the tenant, so a
//! move can neither read nor write another tenant's rows.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use sea_orm::sea_query::Condition;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IdenStatic, Iterable,
    ModelTrait, PrimaryKeyToColumn, PrimaryKeyTrait, QueryFilter, QueryTrait, Value,
};

use crate::{TenantConnection, TenantEntity, TenantTransaction};

/// Each row of a table by primary key, with a hash of all its values.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Digest {
    /// Primary key (as written by [`key_of`]) to the row's hash.
    pub(crate) rows: HashMap<String, u64>,
}

impl Digest {
    /// How many rows.
    pub(crate) fn count(&self) -> u64 {
        self.rows.len() as u64
    }

    /// A checksum of every row (order does not matter): the sum of the
    /// rows' hashes, each over its key and values.
    pub(crate) fn checksum(&self) -> u64 {
        self.rows.iter().fold(0u64, |sum, (key, hash)| {
            sum.wrapping_add(fnv(key.as_bytes()) ^ hash)
        })
    }

    /// The keys whose rows differ from or are missing in `other`.
    pub(crate) fn not_in(&self, other: &Digest) -> HashSet<String> {
        self.rows
            .iter()
            .filter(|(key, hash)| other.rows.get(*key) != Some(hash))
            .map(|(key, _)| key.clone())
            .collect()
    }
}

/// Reads a tenant's rows of one table into a [`Digest`].
pub(crate) type ReadRows = for<'a> fn(&'a TenantConnection) -> BoxFuture<'a, Result<Digest, DbErr>>;

/// Copies a tenant's rows of one table from a connection into a
/// transaction, in batches; only the keys in the set when one is given.
/// Says how many rows were written.
pub(crate) type CopyRows = for<'a> fn(
    &'a TenantConnection,
    &'a TenantTransaction,
    Option<&'a HashSet<String>>,
    usize,
) -> BoxFuture<'a, Result<u64, DbErr>>;

/// Deletes the rows with the given keys (as a [`ReadRows`] wrote them)
/// through a transaction.
pub(crate) type DeleteKeys =
    for<'a> fn(&'a TenantTransaction, &'a HashSet<String>) -> BoxFuture<'a, Result<u64, DbErr>>;

/// The primary key of a table whose key is one auto-incremented column:
/// its name (for a Postgres sequence to continue above the copied rows).
pub(crate) fn serial_key<E: TenantEntity>() -> Option<String> {
    let mut keys = E::PrimaryKey::iter();
    let first = keys.next()?;
    if keys.next().is_some() || !<E::PrimaryKey as PrimaryKeyTrait>::auto_increment() {
        return None;
    }
    Some(first.into_column().as_str().to_owned())
}

/// FNV-1a, 64 bits: stable across processes and versions, unlike std's
/// hasher, so a checksum means the same thing on both sides of a move.
fn fnv(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// [`fnv`] as a [`Hasher`].
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// A value as text that is the same for the same value of the same type
/// whichever backend it was read from.
fn text(value: &Value) -> String {
    format!("{value:?}")
}

/// The row's primary key, as text.
fn key_of<E: EntityTrait>(model: &E::Model) -> String {
    E::PrimaryKey::iter()
        .map(|k| text(&model.get(k.into_column())))
        .collect::<Vec<_>>()
        .join("\u{1f}")
}

/// The hash of every value of the row.
fn hash_of<E: EntityTrait>(model: &E::Model) -> u64 {
    let mut hasher = Fnv(0xcbf2_9ce4_8422_2325);
    for column in E::Column::iter() {
        text(&model.get(column)).hash(&mut hasher);
    }
    hasher.finish()
}

/// The row as an active model with every value set.
fn active<E: EntityTrait>(model: &E::Model) -> E::ActiveModel {
    let mut am = <E::ActiveModel as ActiveModelTrait>::default();
    for column in E::Column::iter() {
        am.set(column, model.get(column));
    }
    am
}

/// The database's "no such table".
fn missing(err: &DbErr) -> bool {
    super::super::registry::is_missing_table(err)
}

/// One `INSERT` of every row of `models`, as they are.
fn insert<E: EntityTrait>(models: &[E::Model], backend: sea_orm::DbBackend) -> sea_orm::Statement {
    E::insert_many(models.iter().map(active::<E>)).build(backend)
}

/// [`ReadRows`] of `E`.
pub(crate) fn read_rows<E: TenantEntity>(
    conn: &TenantConnection,
) -> BoxFuture<'_, Result<Digest, DbErr>> {
    Box::pin(async move {
        let mut digest = Digest::default();
        let mut rows = match E::find().stream(conn).await {
            Err(e) if missing(&e) => return Ok(digest),
            rows => rows?,
        };
        let mut first = true;
        while let Some(model) = rows.next().await {
            let model = match model {
                // A table not there holds nothing of the tenant.
                Err(e) if first && missing(&e) => return Ok(digest),
                model => model?,
            };
            first = false;
            digest
                .rows
                .insert(key_of::<E>(&model), hash_of::<E>(&model));
        }
        Ok(digest)
    })
}

/// [`CopyRows`] of `E`.
pub(crate) fn copy_rows<'a, E: TenantEntity>(
    from: &'a TenantConnection,
    to: &'a TenantTransaction,
    only: Option<&'a HashSet<String>>,
    batch: usize,
) -> BoxFuture<'a, Result<u64, DbErr>> {
    Box::pin(async move {
        let batch = batch.max(1);
        let mut copied = 0u64;
        // Models, not active models, wait across the awaits: a model is
        // `Send`, an entity's active model need not be.
        let mut pending: Vec<E::Model> = Vec::with_capacity(batch);
        let mut rows = match E::find().stream(from).await {
            Err(e) if missing(&e) => return Ok(0),
            rows => rows?,
        };
        let mut first = true;
        while let Some(model) = rows.next().await {
            let model = match model {
                // Not at the source: nothing to copy.
                Err(e) if first && missing(&e) => return Ok(0),
                model => model?,
            };
            first = false;
            if only.is_some_and(|keys| !keys.contains(&key_of::<E>(&model))) {
                continue;
            }
            pending.push(model);
            if pending.len() == batch {
                copied += pending.len() as u64;
                to.execute_raw(insert::<E>(&pending, to.get_database_backend()))
                    .await?;
                pending.clear();
            }
        }
        drop(rows);
        if !pending.is_empty() {
            copied += pending.len() as u64;
            to.execute_raw(insert::<E>(&pending, to.get_database_backend()))
                .await?;
        }
        Ok(copied)
    })
}

/// [`DeleteKeys`] of `E`: the rows are found by reading them in the
/// transaction, then deleted by primary key.
pub(crate) fn delete_keys<'a, E: TenantEntity>(
    txn: &'a TenantTransaction,
    keys: &'a HashSet<String>,
) -> BoxFuture<'a, Result<u64, DbErr>> {
    Box::pin(async move {
        if keys.is_empty() {
            return Ok(0);
        }
        let mut doomed: Vec<Vec<(E::Column, Value)>> = Vec::new();
        {
            let mut rows = E::find().stream(txn).await?;
            while let Some(model) = rows.next().await {
                let model = model?;
                if keys.contains(&key_of::<E>(&model)) {
                    doomed.push(
                        E::PrimaryKey::iter()
                            .map(|k| (k.into_column(), model.get(k.into_column())))
                            .collect(),
                    );
                }
            }
        }
        let mut deleted = 0;
        for key in doomed {
            let cond = key
                .into_iter()
                .fold(Condition::all(), |c, (col, v)| c.add(col.eq(v)));
            deleted += E::delete_many().filter(cond).exec(txn).await?.rows_affected;
        }
        Ok(deleted)
    })
}

/// The entity-typed functions of one declared table that a move uses.
#[derive(Clone, Copy)]
pub(crate) struct TableRows {
    pub(crate) read: ReadRows,
    pub(crate) copy: CopyRows,
    pub(crate) delete: DeleteKeys,
    /// The single auto-incremented key column, if that is the key.
    pub(crate) serial: fn() -> Option<String>,
}

impl TableRows {
    /// Those of `E`.
    pub(crate) fn of<E: TenantEntity>() -> Self {
        TableRows {
            read: read_rows::<E>,
            copy: copy_rows::<E>,
            delete: delete_keys::<E>,
            serial: serial_key::<E>,
        }
    }
}
