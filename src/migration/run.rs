//! Migrating one schema or database: under a lock, in a transaction where
//! the backend has transactional DDL, and never over tables the migrator
//! did not make.

use std::time::Duration;

#[cfg(feature = "sqlx-mysql")]
use sea_orm::SqlxMySqlConnector;
#[cfg(feature = "sqlx-postgres")]
use sea_orm::SqlxPostgresConnector;
use sea_orm::sea_query::{Alias, Order, Query};
#[cfg(feature = "sqlx-mysql")]
use sea_orm::sqlx;
#[cfg(feature = "sqlx-mysql")]
use sea_orm::sqlx::mysql::MySqlPoolOptions;
#[cfg(feature = "sqlx-postgres")]
use sea_orm::sqlx::postgres::PgPoolOptions;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};

use super::ledger::Ledger;
use super::report::Outcome;
use super::session;
use super::set::MigrationSet;
use crate::{SchemaName, TenantId};

/// Which way a run goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Apply every pending migration.
    Up,
    /// Roll back this many applied migrations (all when `None`).
    Down(Option<u32>),
}

/// One schema or database to migrate.
pub(crate) struct Place<'a> {
    /// The shared database, or the tenant's own pool.
    pub(crate) db: &'a DatabaseConnection,
    /// The tenant's Postgres schema (schema per tenant only).
    pub(crate) schema: Option<&'a SchemaName>,
    /// Refuse a schema or database that holds tables but no version table.
    pub(crate) guard_unmanaged: bool,
    /// Names the lock: two runners on the same name take turns.
    pub(crate) lock_name: String,
    /// How long to wait for a lock (the other runner's, or a table's).
    pub(crate) lock_wait: Duration,
    /// Reached through a transaction-mode pooler
    /// ([`Tenancy::behind_pooler`](crate::Tenancy::behind_pooler)).
    pub(crate) pooler: bool,
    /// Create the schema first, in the migrations' transaction (while
    /// provisioning): one round trip and one commit fewer per tenant, and
    /// a schema that exists only with its migrations applied.
    pub(crate) create_schema: bool,
    /// The server's version ledger, recorded into after a tenant schema's
    /// migrations ([`ledger`](super::ledger)).
    pub(crate) ledger: Option<Ledger>,
}

impl<'a> Place<'a> {
    /// The same place, reached through a transaction-mode pooler when
    /// `pooler`.
    pub(crate) fn pooled(mut self, pooler: bool) -> Self {
        self.pooler = pooler;
        self
    }

    /// The same place, whose schema is created first (`CREATE SCHEMA IF
    /// NOT EXISTS`) in the transaction that migrates it (Postgres, schema
    /// per tenant).
    pub(crate) fn creating_schema(mut self) -> Self {
        self.create_schema = self.schema.is_some();
        self
    }

    /// The same place, whose versions are recorded in `ledger` after its
    /// migrations (a tenant schema on Postgres).
    pub(crate) fn with_ledger(mut self, ledger: Option<Ledger>) -> Self {
        self.ledger = ledger.filter(|_| self.schema.is_some());
        self
    }

    /// The shared database, for `set` (its version table names the lock).
    pub(crate) fn shared(
        db: &'a DatabaseConnection,
        set: &MigrationSet,
        lock_wait: Duration,
    ) -> Self {
        Place {
            db,
            schema: None,
            guard_unmanaged: false,
            lock_name: format!("shared:{}", set.table()),
            lock_wait,
            pooler: false,
            create_schema: false,
            ledger: None,
        }
    }

    /// A tenant's schema in the shared database.
    pub(crate) fn schema(
        db: &'a DatabaseConnection,
        schema: &'a SchemaName,
        lock_wait: Duration,
    ) -> Self {
        Place {
            db,
            schema: Some(schema),
            guard_unmanaged: true,
            lock_name: schema.as_str().to_owned(),
            lock_wait,
            pooler: false,
            create_schema: false,
            ledger: None,
        }
    }

    /// A tenant's own database.
    pub(crate) fn database(
        db: &'a DatabaseConnection,
        tenant: &TenantId,
        lock_wait: Duration,
    ) -> Self {
        Place {
            db,
            schema: None,
            guard_unmanaged: true,
            lock_name: format!("tenant:{tenant}"),
            lock_wait,
            pooler: false,
            create_schema: false,
            ledger: None,
        }
    }
}

/// What a schema or database holds, as far as migrations care.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct State {
    /// It has the version table.
    pub(crate) versioned: bool,
    /// How many other tables it has.
    pub(crate) others: u64,
    /// The versions recorded in the version table.
    pub(crate) applied: Vec<String>,
}

/// What to do about a [`State`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Nothing to run; this is the outcome.
    Done(Outcome),
    /// Run these migrations (in this order); `session` when one of them
    /// opted out of transactions.
    Run { names: Vec<String>, session: bool },
}

fn fail(context: &str, err: impl crate::error::IntoDbErr) -> Outcome {
    Outcome::Failed(crate::TenantError::db(context, err))
}

/// Decides what to do, from what is there. Pure: unit-tested below.
pub(crate) fn plan(set: &MigrationSet, dir: Option<Direction>, state: &State, guard: bool) -> Plan {
    if guard && !state.versioned && state.others > 0 {
        return Plan::Done(Outcome::Unmanaged {
            tables: state.others,
        });
    }
    let steps = set.steps();
    if let Some(unknown) = state
        .applied
        .iter()
        .find(|v| !steps.iter().any(|s| &s.name == *v))
    {
        return Plan::Done(fail(
            "checking migrations",
            format!("migration `{unknown}` is applied here but is not in the migrator"),
        ));
    }
    let is_applied = |name: &str| state.applied.iter().any(|a| a == name);
    let (applied, pending): (Vec<_>, Vec<_>) = steps.iter().partition(|s| is_applied(&s.name));
    let run = match dir {
        None => {
            return Plan::Done(Outcome::Status {
                applied: applied.iter().map(|s| s.name.clone()).collect(),
                pending: pending.iter().map(|s| s.name.clone()).collect(),
            });
        }
        Some(Direction::Up) => pending,
        Some(Direction::Down(n)) => {
            let n = n.map_or(usize::MAX, |n| n as usize);
            applied.into_iter().rev().take(n).collect()
        }
    };
    if run.is_empty() {
        return Plan::Done(Outcome::UpToDate);
    }
    Plan::Run {
        session: run.iter().any(|s| s.no_transaction),
        names: run.into_iter().map(|s| s.name.clone()).collect(),
    }
}

fn done(dir: Direction, names: Vec<String>) -> Outcome {
    match dir {
        Direction::Up => Outcome::Applied(names),
        Direction::Down(_) => Outcome::RolledBack(names),
    }
}

/// The Postgres advisory lock key a runner takes while it migrates a
/// schema (`lock_name` is the schema name, e.g. `tenant_acme`): a stable
/// 64-bit FNV-1a hash, the same in every process and release, so
/// operators can find a running migration in `pg_locks`.
///
/// ```
/// use sea_orm_tenant::migration::lock_key;
/// assert_eq!(lock_key("tenant_acme"), lock_key("tenant_acme"));
/// assert_ne!(lock_key("tenant_acme"), lock_key("tenant_acne"));
/// ```
pub fn lock_key(name: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in "sea_orm_tenant:migrate:".bytes().chain(name.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash as i64
}

/// `SET LOCAL search_path TO "<schema>"`: the tenant's schema alone, so a
/// migration never falls through to a `public` table of the same name.
fn tenant_search_path(schema: &SchemaName) -> String {
    format!("SET LOCAL search_path TO {}", schema.pg_quoted())
}

/// The state of the current schema on Postgres, by index only: the
/// version table by name (`pg_class (relname, relnamespace)`), the other
/// tables through their dependency on the schema (`pg_depend`'s reference
/// index). `pg_class` has no index on the schema alone: filtering it by
/// `relnamespace` read the whole catalog, once per tenant, which made
/// provisioning the n-th tenant cost O(n) (15 ms at 2,000 schemas).
/// Every table outside a pinned schema (`pg_catalog`, and `public` from
/// Postgres 15) depends on its schema; `others` is only used for tenant
/// schemas, which are never pinned.
const PG_INSPECT: &str = "SELECT \
     (SELECT count(DISTINCT c.oid) FROM pg_catalog.pg_depend d \
      JOIN pg_catalog.pg_class c ON c.oid = d.objid \
      WHERE d.refclassid = 'pg_catalog.pg_namespace'::pg_catalog.regclass \
        AND d.refobjid = s.oid \
        AND d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass \
        AND c.relkind IN ('r', 'p') AND c.relname <> $1) AS others, \
     (SELECT count(*) FROM pg_catalog.pg_class c \
      WHERE c.relname = $1 AND c.relnamespace = s.oid AND c.relkind IN ('r', 'p')) AS versioned \
     FROM (SELECT (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = pg_catalog.current_schema()) AS oid) AS s";

/// `CREATE SCHEMA IF NOT EXISTS "<schema>"`.
pub(crate) fn create_schema(schema: &SchemaName) -> String {
    format!("CREATE SCHEMA IF NOT EXISTS {}", schema.pg_quoted())
}

/// Reads the [`State`] of the connection's current schema or database.
pub(crate) async fn inspect<C: ConnectionTrait>(conn: &C, table: &str) -> Result<State, DbErr> {
    let backend = conn.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => PG_INSPECT,
        DbBackend::MySql => {
            "SELECT CAST(COALESCE(SUM(table_name <> ?), 0) AS SIGNED) AS others, \
                    CAST(COALESCE(SUM(table_name = ?), 0) AS SIGNED) AS versioned \
             FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'"
        }
        _ => {
            "SELECT COALESCE(SUM(name <> ?), 0) AS others, COALESCE(SUM(name = ?), 0) AS versioned \
             FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        }
    };
    let values: Vec<sea_orm::Value> = match backend {
        DbBackend::Postgres => vec![table.into()],
        _ => vec![table.into(), table.into()],
    };
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?
        .ok_or_else(|| DbErr::Custom("the catalog returned no row".into()))?;
    let others: i64 = row.try_get("", "others")?;
    let versioned: i64 = row.try_get("", "versioned")?;
    let mut state = State {
        versioned: versioned > 0,
        others: others.max(0) as u64,
        applied: Vec::new(),
    };
    if state.versioned {
        state.applied = applied(conn, table).await?;
    }
    Ok(state)
}

/// The versions in the version table of the current schema.
async fn applied<C: ConnectionTrait>(conn: &C, table: &str) -> Result<Vec<String>, DbErr> {
    let select = Query::select()
        .column("version")
        .from(Alias::new(table))
        .order_by("version", Order::Asc)
        .to_owned();
    conn.query_all(&select)
        .await?
        .iter()
        .map(|row| row.try_get::<String>("", "version"))
        .collect()
}

/// Migrates one place; every error ends up in the outcome.
pub(crate) async fn run(set: &MigrationSet, dir: Direction, place: &Place<'_>) -> Outcome {
    let result = match place.db.get_database_backend() {
        DbBackend::Postgres => run_pg(set, dir, place).await,
        #[cfg(feature = "sqlx-mysql")]
        DbBackend::MySql => run_mysql(set, dir, place).await,
        _ => run_sqlite(set, dir, place).await,
    };
    result.unwrap_or_else(|e| fail("migrating", e))
}

/// Reads the status of one place (no lock, no change).
pub(crate) async fn status(set: &MigrationSet, place: &Place<'_>) -> Outcome {
    let state = match place.schema {
        Some(schema) => {
            async {
                let txn = place.db.begin().await?;
                txn.execute_unprepared(&tenant_search_path(schema)).await?;
                let state = inspect(&txn, &set.table()).await;
                txn.rollback().await?;
                state
            }
            .await
        }
        None => inspect(place.db, &set.table()).await,
    };
    match state {
        Ok(state) => match plan(set, None, &state, place.guard_unmanaged) {
            Plan::Done(outcome) => outcome,
            Plan::Run { .. } => Outcome::UpToDate,
        },
        Err(e) => fail("reading migration status", e),
    }
}

/// Inspects, plans and runs inside `txn`, then commits. `None` (rolled
/// back, nothing done) when a pending migration opted out of transactions.
/// `restore`, when given, runs last before the commit.
async fn migrate_in(
    txn: DatabaseTransaction,
    set: &MigrationSet,
    dir: Direction,
    guard: bool,
    restore: Option<&str>,
) -> Result<Option<Outcome>, DbErr> {
    let state = inspect(&txn, &set.table()).await?;
    match plan(set, Some(dir), &state, guard) {
        Plan::Done(outcome) => {
            txn.rollback().await?;
            Ok(Some(outcome))
        }
        Plan::Run { session: true, .. } => {
            txn.rollback().await?;
            Ok(None)
        }
        Plan::Run { names, .. } => {
            match dir {
                Direction::Up => (set.apply_txn)(&txn, &names, !state.versioned).await?,
                Direction::Down(n) => (set.down_txn)(&txn, n).await?,
            }
            if let Some(sql) = restore {
                txn.execute_unprepared(sql).await?;
            }
            txn.commit().await?;
            Ok(Some(done(dir, names)))
        }
    }
}

/// Inspects, plans and runs on `db` with no transaction of ours around it
/// (sea-orm-migration still wraps each migration where it would).
async fn migrate_on(
    db: &DatabaseConnection,
    set: &MigrationSet,
    dir: Direction,
    guard: bool,
) -> Result<Outcome, DbErr> {
    let state = inspect(db, &set.table()).await?;
    match plan(set, Some(dir), &state, guard) {
        Plan::Done(outcome) => Ok(outcome),
        Plan::Run { names, .. } => {
            match dir {
                Direction::Up => (set.up_db)(db, None).await?,
                Direction::Down(n) => (set.down_db)(db, n).await?,
            }
            Ok(done(dir, names))
        }
    }
}

/// Postgres: one transaction per place (`SET LOCAL search_path`, an
/// advisory transaction lock, every pending migration, commit), so a
/// failure or a killed process leaves the place as it was. Session-level
/// settings a migration made are set back before the commit
/// ([`session`](super::session)), so the pool's connection keeps none.
async fn run_pg(set: &MigrationSet, dir: Direction, place: &Place<'_>) -> Result<Outcome, DbErr> {
    let txn = place.db.begin().await?;
    let mut opener = String::new();
    if place.pooler {
        // sea-orm-migration's statements are prepared by name on this
        // server connection, which a transaction-mode pooler shares: drop
        // what an earlier run left there, so no name collides.
        opener.push_str("DEALLOCATE ALL; ");
    }
    opener.push_str(session::STASH);
    opener.push_str("; ");
    if let Some(schema) = place.schema {
        if place.create_schema {
            opener.push_str(&create_schema(schema));
            opener.push_str("; ");
        }
        opener.push_str(&tenant_search_path(schema));
        opener.push_str("; ");
    }
    // Both values are numbers we format; the lock waits for another runner.
    opener.push_str(&format!(
        "SET LOCAL lock_timeout = {}; SELECT pg_advisory_xact_lock({})",
        place.lock_wait.as_millis().max(1),
        lock_key(&place.lock_name)
    ));
    txn.execute_unprepared(&opener).await?;
    let closer = match &place.ledger {
        Some(ledger) => format!("{}; {}", ledger.record(), session::RESTORE),
        None => session::RESTORE.to_owned(),
    };
    match migrate_in(txn, set, dir, place.guard_unmanaged, Some(&closer)).await? {
        Some(outcome) => Ok(outcome),
        #[cfg(feature = "sqlx-postgres")]
        None => {
            // The transaction that created the schema was rolled back.
            if let (true, Some(schema)) = (place.create_schema, place.schema) {
                place.db.execute_unprepared(&create_schema(schema)).await?;
            }
            run_pg_session(set, dir, place).await
        }
        // No Postgres connection exists without the driver.
        #[cfg(not(feature = "sqlx-postgres"))]
        None => Err(DbErr::BackendNotSupported {
            db: "Postgres",
            ctx: "the sqlx-postgres feature is off",
        }),
    }
}

/// Postgres, when a migration opted out of transactions: a connection of
/// its own whose session `search_path` is the tenant's schema (it is
/// closed afterwards, never returned to a pool), a session advisory lock,
/// and sea-orm-migration's own per-migration transactions.
#[cfg(feature = "sqlx-postgres")]
async fn run_pg_session(
    set: &MigrationSet,
    dir: Direction,
    place: &Place<'_>,
) -> Result<Outcome, DbErr> {
    if place.pooler {
        // A pooler ignores the session options (`search_path`) and hands
        // the session's lock to other clients.
        return Err(DbErr::Custom(
            "a migration that opts out of transactions cannot run behind a transaction-mode \
             pooler: run it on a direct connection"
                .into(),
        ));
    }
    let mut options = (*place.db.get_postgres_connection_pool().connect_options()).clone();
    if let Some(schema) = place.schema {
        // A validated `[a-z0-9_]` name: no quoting needed in the option.
        options = options.options([("search_path", schema.as_str())]);
    }
    options = options.options([(
        "lock_timeout",
        place.lock_wait.as_millis().max(1).to_string(),
    )]);
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .idle_timeout(None)
        .max_lifetime(None)
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .map_err(|e| DbErr::Custom(e.to_string()))?;
    let db = SqlxPostgresConnector::from_sqlx_postgres_pool(pool);
    let lock = format!("SELECT pg_advisory_lock({})", lock_key(&place.lock_name));
    let result = match db.execute_unprepared(&lock).await {
        Ok(_) => migrate_on(&db, set, dir, place.guard_unmanaged).await,
        Err(e) => Err(e),
    };
    // Closing the connection ends the session: its lock and search_path go.
    let _ = db.close().await;
    result
}

/// MySQL/MariaDB: DDL commits implicitly, so there is no transaction
/// around a place. The migrations run on a connection of their own, which
/// first takes a named lock (`GET_LOCK`) that keeps a second runner out,
/// and is closed afterwards: the lock goes with the session, and so does
/// any session setting a migration made (`SET SESSION …`), which never
/// reaches the pool.
#[cfg(feature = "sqlx-mysql")]
async fn run_mysql(
    set: &MigrationSet,
    dir: Direction,
    place: &Place<'_>,
) -> Result<Outcome, DbErr> {
    let options = place.db.get_mysql_connection_pool().connect_options();
    let pool = MySqlPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .idle_timeout(None)
        .max_lifetime(None)
        .test_before_acquire(false)
        .connect_with((*options).clone())
        .await
        .map_err(|e| DbErr::Custom(e.to_string()))?;
    let got: Result<Option<i64>, _> = sqlx::query_scalar(
        "SELECT GET_LOCK(CONCAT('sot_migrate_', SHA1(CONCAT(IFNULL(DATABASE(), ''), ':', ?))), ?)",
    )
    .bind(&place.lock_name)
    .bind(place.lock_wait.as_secs().max(1) as i64)
    .fetch_one(&pool)
    .await;
    let db = SqlxMySqlConnector::from_sqlx_mysql_pool(pool);
    let result = match got {
        Ok(Some(1)) => migrate_on(&db, set, dir, place.guard_unmanaged).await,
        Ok(_) => Ok(fail(
            "migrating",
            "another runner held the migration lock for longer than the lock wait",
        )),
        Err(e) => Err(DbErr::Custom(e.to_string())),
    };
    // Closing the session releases the named lock and its settings.
    let _ = db.close().await;
    result
}

/// SQLite: one `BEGIN IMMEDIATE` transaction per database (it takes the
/// write lock first, so a second runner waits, then finds nothing to do).
/// A migration that must run outside a transaction (VACUUM, some PRAGMAs)
/// makes sea-orm-migration run the database's migrations on the pool.
async fn run_sqlite(
    set: &MigrationSet,
    dir: Direction,
    place: &Place<'_>,
) -> Result<Outcome, DbErr> {
    let txn = place
        .db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await?;
    match migrate_in(txn, set, dir, place.guard_unmanaged, None).await? {
        Some(outcome) => Ok(outcome),
        None => migrate_on(place.db, set, dir, place.guard_unmanaged).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm_migration::prelude::*;

    struct M1;
    impl MigrationName for M1 {
        fn name(&self) -> &str {
            "m1"
        }
    }
    #[async_trait::async_trait]
    impl MigrationTrait for M1 {
        async fn up(&self, _: &SchemaManager) -> Result<(), DbErr> {
            Ok(())
        }
    }
    struct M2;
    impl MigrationName for M2 {
        fn name(&self) -> &str {
            "m2"
        }
    }
    #[async_trait::async_trait]
    impl MigrationTrait for M2 {
        async fn up(&self, _: &SchemaManager) -> Result<(), DbErr> {
            Ok(())
        }
        fn use_transaction(&self) -> Option<bool> {
            Some(false)
        }
    }
    struct Migrator;
    impl MigratorTrait for Migrator {
        fn migrations() -> Vec<Box<dyn MigrationTrait>> {
            vec![Box::new(M1), Box::new(M2)]
        }
    }

    fn state(versioned: bool, others: u64, applied: &[&str]) -> State {
        State {
            versioned,
            others,
            applied: applied.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn plans_from_what_is_there() {
        let set = MigrationSet::of::<Migrator>();
        let up = Some(Direction::Up);
        assert_eq!(
            plan(&set, up, &state(false, 0, &[]), true),
            Plan::Run {
                names: vec!["m1".into(), "m2".into()],
                session: true
            }
        );
        assert_eq!(
            plan(&set, up, &state(true, 3, &["m1"]), true),
            Plan::Run {
                names: vec!["m2".into()],
                session: true
            }
        );
        assert_eq!(
            plan(&set, up, &state(true, 3, &["m1", "m2"]), true),
            Plan::Done(Outcome::UpToDate)
        );
        assert_eq!(
            plan(
                &set,
                Some(Direction::Down(Some(1))),
                &state(true, 3, &["m1", "m2"]),
                true
            ),
            Plan::Run {
                names: vec!["m2".into()],
                session: true
            }
        );
        assert_eq!(
            plan(
                &set,
                Some(Direction::Down(None)),
                &state(true, 3, &["m1"]),
                true
            ),
            Plan::Run {
                names: vec!["m1".into()],
                session: false
            }
        );
    }

    #[test]
    fn leaves_unversioned_tables_alone() {
        let set = MigrationSet::of::<Migrator>();
        assert_eq!(
            plan(&set, Some(Direction::Up), &state(false, 2, &[]), true),
            Plan::Done(Outcome::Unmanaged { tables: 2 })
        );
        // The shared database holds other tables by design.
        assert!(matches!(
            plan(&set, Some(Direction::Up), &state(false, 2, &[]), false),
            Plan::Run { .. }
        ));
    }

    #[test]
    fn refuses_versions_it_does_not_know() {
        let set = MigrationSet::of::<Migrator>();
        let Plan::Done(Outcome::Failed(e)) = plan(
            &set,
            Some(Direction::Up),
            &state(true, 1, &["m1", "zz"]),
            true,
        ) else {
            panic!("expected a failure");
        };
        assert!(e.to_string().contains("`zz`"), "{e}");
    }

    #[test]
    fn lock_keys_are_stable_and_distinct() {
        assert_eq!(lock_key("tenant_acme"), lock_key("tenant_acme"));
        assert_ne!(lock_key("tenant_acme"), lock_key("tenant_acm"));
    }
}
