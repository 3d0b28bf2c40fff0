//! The lifecycle lock: [`provision`](super::Tenancy::provision) and
//! [`deprovision`](super::Tenancy::deprovision) of one tenant run one at a
//! time, so that the registry always agrees with what exists.
//!
//! Within a process: a mutex per tenant, shared by the clones of a
//! `Tenancy`. Across processes, in the registry's database, outside the
//! application's pool (so that a pool of one still serves the operation):
//! on Postgres a transaction holding `pg_advisory_xact_lock` on a hash of
//! the tenant id, on a small pool of the lock's own, kept between
//! operations (a new connection per operation cost more than the rest of a
//! provisioning with TLS on); dropped, also mid-operation, the transaction
//! rolls back when its connection goes back to that pool, or the
//! connection is closed, and either releases the lock. On MySQL/MariaDB
//! `GET_LOCK` on a connection of its own, closed at the end. Both wait at
//! most [`LOCK_WAIT`]. SQLite has no lock across processes here: one
//! process per SQLite registry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
#[cfg(any(feature = "sqlx-postgres", feature = "sqlx-mysql"))]
use std::time::Duration;

use sea_orm::DatabaseConnection;
#[cfg(any(feature = "sqlx-postgres", feature = "sqlx-mysql"))]
use sea_orm::DatabaseConnectionType;
use sea_orm::sqlx;
#[cfg(feature = "sqlx-mysql")]
use sea_orm::sqlx::Connection;
#[cfg(feature = "sqlx-mysql")]
use sea_orm::sqlx::mysql::MySqlConnection;
#[cfg(feature = "sqlx-postgres")]
use sea_orm::sqlx::postgres::{PgPool, PgPoolOptions, Postgres};
use tokio::sync::OwnedMutexGuard;

use crate::{TenantError, TenantId};

/// How long a lifecycle operation waits for another one's lock across
/// processes (as long as a migration waits for its lock) before it fails.
#[cfg(any(feature = "sqlx-postgres", feature = "sqlx-mysql"))]
const LOCK_WAIT: Duration = crate::migration::DEFAULT_LOCK_WAIT;

type LocalMap = HashMap<TenantId, Arc<tokio::sync::Mutex<()>>>;

/// How many lifecycle operations of one `Tenancy` hold a Postgres lock at
/// once; more wait for a connection of the lock's pool.
#[cfg(feature = "sqlx-postgres")]
const PG_LOCK_CONNECTIONS: u32 = 16;

/// The in-process half: one mutex per tenant with a lifecycle operation
/// running or waiting; and the Postgres lock's pool, made at the first
/// operation. Shared by the clones of a `Tenancy`.
#[derive(Clone, Default)]
pub(super) struct Locks {
    local: Arc<Mutex<LocalMap>>,
    #[cfg(feature = "sqlx-postgres")]
    pg: Arc<std::sync::OnceLock<PgPool>>,
}

impl Locks {
    fn map(&self) -> MutexGuard<'_, LocalMap> {
        // Every change is one insert or remove: a poisoned map is whole.
        self.local.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for `tenant`'s lifecycle lock, in this process and, when
    /// `registry` is a Postgres or MySQL database, across processes.
    pub(super) async fn lock(
        &self,
        tenant: &TenantId,
        registry: Option<&DatabaseConnection>,
    ) -> Result<Lifecycle, TenantError> {
        let mutex = self.map().entry(tenant.clone()).or_default().clone();
        let local = Local {
            locks: self.clone(),
            tenant: tenant.clone(),
            guard: Some(mutex.lock_owned().await),
        };
        let shared = match registry {
            Some(db) => Shared::take(self, db, tenant)
                .await
                .map_err(|e| TenantError::db("taking the tenant's lifecycle lock", e))?,
            None => Shared::None,
        };
        Ok(Lifecycle {
            _shared: shared,
            _local: local,
        })
    }
}

/// A held lifecycle lock of one tenant; released when dropped (the shared
/// half first).
pub(super) struct Lifecycle {
    _shared: Shared,
    _local: Local,
}

struct Local {
    locks: Locks,
    tenant: TenantId,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Drop for Local {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut map = self.locks.map();
        // Only the map holds it: nobody runs or waits.
        if map
            .get(&self.tenant)
            .is_some_and(|m| Arc::strong_count(m) == 1)
        {
            map.remove(&self.tenant);
        }
    }
}

/// The half in the registry's database.
enum Shared {
    None,
    /// The transaction that holds the advisory lock, on a connection of
    /// the lock's pool; dropped, it rolls back as the connection goes back
    /// to the pool (which flushes the rollback before reuse, or closes a
    /// connection left mid-statement), and the lock is released.
    #[cfg(feature = "sqlx-postgres")]
    Postgres(#[allow(dead_code)] sqlx::Transaction<'static, Postgres>),
    /// A connection of its own holding `GET_LOCK`; dropped, it
    /// disconnects, and the server releases the lock.
    #[cfg(feature = "sqlx-mysql")]
    MySql(#[allow(dead_code)] MySqlConnection),
}

impl Shared {
    #[cfg_attr(
        not(any(feature = "sqlx-postgres", feature = "sqlx-mysql")),
        allow(unused_variables)
    )]
    #[cfg_attr(not(feature = "sqlx-postgres"), allow(unused_variables))]
    async fn take(
        locks: &Locks,
        db: &DatabaseConnection,
        tenant: &TenantId,
    ) -> Result<Self, sqlx::Error> {
        let key = lock_key(tenant);
        match &db.inner {
            #[cfg(feature = "sqlx-postgres")]
            DatabaseConnectionType::SqlxPostgresPoolConnection(_) => {
                let pool = locks.pg.get_or_init(|| {
                    let options = db.get_postgres_connection_pool().connect_options();
                    PgPoolOptions::new()
                        .max_connections(PG_LOCK_CONNECTIONS)
                        .min_connections(0)
                        .acquire_timeout(LOCK_WAIT)
                        .idle_timeout(Duration::from_secs(30))
                        .connect_lazy_with((*options).clone())
                });
                let mut txn = pool.begin().await?;
                // Numbers formatted here: nothing of the id is in the SQL.
                // Simple queries (nothing prepared), so a transaction-mode
                // pooler is fine.
                let sql = format!(
                    "SET LOCAL lock_timeout = {}; \
                     SELECT pg_catalog.pg_advisory_xact_lock({key})",
                    LOCK_WAIT.as_millis()
                );
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut *txn)
                    .await?;
                Ok(Shared::Postgres(txn))
            }
            #[cfg(feature = "sqlx-mysql")]
            DatabaseConnectionType::SqlxMySqlPoolConnection(_) => {
                let options = db.get_mysql_connection_pool().connect_options();
                let mut conn = MySqlConnection::connect_with(&options).await?;
                let name = format!("sea_orm_tenant:{key:016x}");
                let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, ?)")
                    .bind(name)
                    .bind(LOCK_WAIT.as_secs())
                    .fetch_one(&mut conn)
                    .await?;
                if got != Some(1) {
                    let _ = conn.close().await;
                    return Err(sqlx::Error::Protocol(format!(
                        "GET_LOCK did not grant the lock within {} s",
                        LOCK_WAIT.as_secs()
                    )));
                }
                Ok(Shared::MySql(conn))
            }
            _ => Ok(Shared::None),
        }
    }
}

/// A stable 64-bit key for `tenant` (FNV-1a over a prefix and the id's
/// bytes), the same in every process and version.
fn lock_key(tenant: &TenantId) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in b"sea_orm_tenant lifecycle\0"
        .iter()
        .chain(tenant.as_str().as_bytes())
    {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn keys_are_stable_and_per_tenant() {
        let a = lock_key(&TenantId::from("acme"));
        assert_eq!(a, lock_key(&TenantId::from("acme")));
        assert_ne!(a, lock_key(&TenantId::from("ACME")));
    }

    #[tokio::test]
    async fn one_tenant_at_a_time_and_the_map_empties() {
        let locks = Locks::default();
        let acme = TenantId::from("acme");
        let held = locks.lock(&acme, None).await.unwrap();
        // Another tenant is not held up.
        drop(locks.lock(&TenantId::from("globex"), None).await.unwrap());
        let waiting = locks.lock(&acme, None);
        tokio::pin!(waiting);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut waiting)
                .await
                .is_err()
        );
        drop(held);
        drop(waiting.await.unwrap());
        assert!(locks.map().is_empty());
    }
}
