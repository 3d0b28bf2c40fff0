//! Moving a tenant that has data, online, between any two locations
//! (shared schema, its own schema, its own database; on the same server or
//! another): [`Tenancy::move_tenant`], [`Tenancy::resume_move`],
//! [`Tenancy::rollback_move`].
//!
//! The move is a copy and a catch-up under a short pause of the tenant's
//! writes:
//!
//! 1. the journal ([`MOVES_TABLE`]) records the move; the destination is
//!    created and migrated, and cleared of anything an earlier attempt
//!    left;
//! 2. every declared tenant table is copied while the tenant keeps reading
//!    and writing at the source;
//! 3. the tenant is paused: its single-statement reads go on at the
//!    source (Postgres, in `READ ONLY` transactions bounded by the pause;
//!    SQLite), statements and transactions that may write, streams and
//!    MySQL's reads wait for the pause to end, work in flight that may
//!    write ends (all within the pause), and a transaction open across
//!    the pause is refused ([`TenantError::Moved`]); on Postgres, when the
//!    source is a schema or database of the tenant's own, its tables are
//!    locked against writes from every process too;
//! 4. what changed during the copy is copied again (rows compared by key
//!    and a hash of their values), and every table is verified: the same
//!    count and checksum on both sides;
//! 5. the registry names the destination and the journal says "switched",
//!    in one transaction: the switch is one step;
//! 6. the connections handed out follow the tenant (their next statement
//!    or transaction goes to the destination; a stream or transaction
//!    open across the switch is refused with `Moved`), the reads let
//!    through at the source end, the pause ends (waiting work goes to the
//!    destination) and the source is removed.
//!
//! If the catch-up does not finish within the pause, the move gives up:
//! the pause ends, the tenant stays at the source, and the journal keeps
//! the move for [`Tenancy::resume_move`] or [`Tenancy::rollback_move`].
//! A move interrupted anywhere (the process killed) leaves the registry
//! naming exactly one place, which holds every row.

mod fence;
mod journal;
mod report;
mod rows;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, TransactionTrait};
use tracing::Instrument;

pub use journal::{MOVES_TABLE, MovePhase, PendingMove};
pub use report::{MoveReport, TableCheck};
use rows::Digest;
pub(crate) use rows::TableRows;

use super::{Location, Placement, Tenancy, registry};
use crate::connection::TenantTable;
use crate::{TenantConnection, TenantError, TenantId};

/// How a move runs.
///
/// ```
/// use std::time::Duration;
/// use sea_orm_tenant::MoveOptions;
///
/// let options = MoveOptions::default().pause(Duration::from_secs(2)).batch(1_000);
/// assert_eq!(options.pause_limit(), Duration::from_secs(2));
/// ```
#[derive(Clone)]
pub struct MoveOptions {
    pause: Duration,
    batch: usize,
    stop_before: Option<&'static str>,
    progress: Option<Arc<dyn Fn(MoveStep) + Send + Sync>>,
}

impl std::fmt::Debug for MoveOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MoveOptions")
            .field("pause", &self.pause)
            .field("batch", &self.batch)
            .finish()
    }
}

impl Default for MoveOptions {
    fn default() -> Self {
        MoveOptions {
            pause: Duration::from_secs(5),
            batch: 500,
            stop_before: None,
            progress: None,
        }
    }
}

/// A step of a move, as [`MoveOptions::on_progress`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MoveStep {
    /// Creating and migrating the destination.
    Preparing,
    /// Copying while the tenant writes.
    Copying,
    /// Pausing the tenant's writes, catching up and verifying.
    CatchingUp,
    /// Switching the registry.
    Switching,
    /// Removing the source.
    Removing,
}

impl MoveStep {
    /// How many steps there are.
    pub const COUNT: u64 = 5;

    /// Its place among the steps, from 0.
    pub fn index(self) -> u64 {
        self as u64
    }

    /// The step in words.
    pub fn describe(self) -> &'static str {
        match self {
            MoveStep::Preparing => "preparing the destination",
            MoveStep::Copying => "copying",
            MoveStep::CatchingUp => "paused: catching up and verifying",
            MoveStep::Switching => "switching",
            MoveStep::Removing => "removing the source",
        }
    }
}

impl MoveOptions {
    /// The longest the tenant's writes wait while the move catches up
    /// and switches (5 s unless told, at most [`MAX_PAUSE`](Self::MAX_PAUSE));
    /// its reads go on. A catch-up that would take longer is given up, and
    /// the tenant stays where it was.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sea_orm_tenant::MoveOptions;
    ///
    /// let options = MoveOptions::default().pause(Duration::MAX);
    /// assert_eq!(options.pause_limit(), MoveOptions::MAX_PAUSE);
    /// ```
    pub fn pause(mut self, pause: Duration) -> Self {
        self.pause = pause.min(Self::MAX_PAUSE);
        self
    }

    /// The longest pause a move takes: one hour.
    pub const MAX_PAUSE: Duration = Duration::from_secs(3600);

    /// Rows per insert while copying (500 unless told).
    pub fn batch(mut self, rows: usize) -> Self {
        self.batch = rows.max(1);
        self
    }

    /// The pause limit.
    pub fn pause_limit(&self) -> Duration {
        self.pause
    }

    /// Calls `f` as the move reaches each [`MoveStep`] (for a progress
    /// bar).
    pub fn on_progress(mut self, f: impl Fn(MoveStep) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }

    fn step(&self, step: MoveStep) {
        if let Some(f) = &self.progress {
            f(step);
        }
    }

    /// For tests of interrupted moves: the move stops, as if the process
    /// were killed, just before `step` (`"pause"`, `"switch"` or
    /// `"cleanup"`).
    #[doc(hidden)]
    pub fn stop_before(mut self, step: &'static str) -> Self {
        self.stop_before = Some(step);
        self
    }

    fn stop(&self, step: &'static str) -> Result<(), TenantError> {
        if self.stop_before == Some(step) {
            Err(TenantError::Unsupported(format!(
                "the move was stopped before `{step}` (MoveOptions::stop_before)"
            )))
        } else {
            Ok(())
        }
    }
}

fn move_failed(tenant: &TenantId, e: impl crate::error::IntoDbErr) -> TenantError {
    TenantError::db(format!("moving tenant `{tenant}`"), e)
}

impl Tenancy {
    /// Moves `tenant`, with its data, to `to`: from the shared schema to a
    /// schema or a database of its own and back, on this server or another
    /// ([`with_server`](Self::with_server)). Online: the tenant reads and
    /// writes during the copy; only the last step pauses its writes, for at
    /// most 5 s ([`move_tenant_with`](Self::move_tenant_with) sets it).
    /// See [the guide](crate::guide::moving) for the steps.
    ///
    /// Nothing is lost or duplicated: every table is verified (count and
    /// checksum) before the registry switches, and the source is removed
    /// only after. On Postgres the destination's sequences continue above
    /// the copied keys. During the pause the tenant's reads go on at the
    /// source (Postgres, in `READ ONLY` transactions; SQLite), and its
    /// writes, streams and transactions (and on MySQL its reads) wait.
    /// Connections to the tenant held across the switch follow it: their
    /// next statement or transaction goes to the destination; a
    /// transaction or stream open across the pause is refused with
    /// [`TenantError::Moved`]. Nothing is written to the old place through
    /// this `Tenancy`. Other processes
    /// learn of the switch through the registry within
    /// [`registry_ttl`](Self::registry_ttl); where the source was a
    /// Postgres schema or database of the tenant's own, their writes wait
    /// on its tables' locks meanwhile and then fail, as its tables are
    /// gone.
    ///
    /// Serialised with [`provision`](Self::provision) and
    /// [`deprovision`](Self::deprovision) of the same tenant. A move that
    /// is already pending (interrupted) is resumed when `to` is its
    /// destination, and refused otherwise.
    ///
    /// ```
    /// use sea_orm::{ConnectionTrait, Database, EntityTrait, Schema};
    /// use sea_orm_tenant::doc_entities::post;
    /// use sea_orm_tenant::prelude::*;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = std::env::temp_dir().join(format!("move-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let db = Database::connect(format!("sqlite://{}?mode=rwc", dir.join("shared.db").display())).await?;
    /// let schema = Schema::new(db.get_database_backend());
    /// db.execute(&schema.create_table_from_entity(post::Entity)).await?;
    /// let files = dir.clone();
    /// let tenancy = Tenancy::shared_schema(db)
    ///     .with_databases(move |t| format!("sqlite://{}", files.join(format!("tenant_{t}.db")).display()))
    ///     .tenant_table::<post::Entity>();
    /// # struct Migrator;
    /// # impl sea_orm_migration::MigratorTrait for Migrator {
    /// #     fn migrations() -> Vec<Box<dyn sea_orm_migration::MigrationTrait>> { vec![Box::new(M)] }
    /// # }
    /// # struct M;
    /// # impl sea_orm_migration::MigrationName for M { fn name(&self) -> &str { "m1" } }
    /// # #[async_trait::async_trait]
    /// # impl sea_orm_migration::MigrationTrait for M {
    /// #     async fn up(&self, m: &sea_orm_migration::SchemaManager) -> Result<(), sea_orm::DbErr> {
    /// #         let s = Schema::new(m.get_database_backend());
    /// #         m.create_table(s.create_table_from_entity(post::Entity).if_not_exists().to_owned()).await
    /// #     }
    /// # }
    /// # let tenancy = tenancy.with_migrator::<Migrator>();
    ///
    /// let acme = TenantId::from("acme");
    /// tenancy.provision(&acme).await?;
    /// let conn = tenancy.connection(&acme).await?;
    /// conn.execute_unprepared("INSERT INTO post (title) VALUES ('a'), ('b')").await?;
    ///
    /// let report = tenancy.move_tenant(&acme, Location::new(Placement::DatabasePerTenant)).await?;
    /// assert_eq!(report.rows(), 2);
    ///
    /// // The connection held across the move follows the tenant.
    /// conn.execute_unprepared("INSERT INTO post (title) VALUES ('c')").await?;
    /// let conn = tenancy.connection(&acme).await?;
    /// assert_eq!(conn.placement(), Placement::DatabasePerTenant);
    /// assert_eq!(post::Entity::find().all(&conn).await?.len(), 3);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn move_tenant(
        &self,
        tenant: &TenantId,
        to: Location,
    ) -> Result<MoveReport, TenantError> {
        self.move_tenant_with(tenant, to, MoveOptions::default())
            .await
    }

    /// [`move_tenant`](Self::move_tenant) with options (the pause limit,
    /// the copy's batch size).
    pub async fn move_tenant_with(
        &self,
        tenant: &TenantId,
        to: Location,
        options: MoveOptions,
    ) -> Result<MoveReport, TenantError> {
        let span = tracing::info_span!(
            target: "sea_orm_tenant",
            "move",
            tenant = %tenant,
            to = %to
        );
        async {
            let registry_db = self.moves_db()?;
            let _lock = self.lifecycle_lock(tenant).await?;
            let fail = |e| move_failed(tenant, e);
            let from = registry::read(&self.registry_db(registry_db), tenant)
                .await
                .map_err(fail)?
                .ok_or_else(|| TenantError::UnknownTenant(tenant.to_string()))?;
            journal::create(&self.registry_db(registry_db))
                .await
                .map_err(fail)?;
            let pending = journal::read(&self.registry_db(registry_db), tenant)
                .await
                .map_err(fail)?;
            match pending {
                Some(pending) if pending.to != to => {
                    return Err(TenantError::Unsupported(format!(
                        "tenant `{tenant}` has a pending move to {}: resume or roll it back first",
                        pending.to
                    )));
                }
                Some(pending) if pending.phase == MovePhase::Switched => {
                    return self.finish_switched(&pending, &options).await;
                }
                Some(_) => {}
                None => {
                    if from == to {
                        return Err(TenantError::Unsupported(format!(
                            "tenant `{tenant}` already lives at {to}"
                        )));
                    }
                    self.check_location(tenant, &to)?;
                    journal::begin(&self.registry_db(registry_db), tenant, &from, &to)
                        .await
                        .map_err(fail)?;
                }
            }
            self.run_move(tenant, &from, &to, &options).await
        }
        .instrument(span)
        .await
    }

    /// Finishes the pending move of `tenant` (interrupted: the process was
    /// killed, a server restarted, or a catch-up did not fit its pause):
    /// before the switch it copies again and switches; after the switch it
    /// removes the source. `UnknownTenant`-like `Unsupported` when no move
    /// is pending.
    pub async fn resume_move(&self, tenant: &TenantId) -> Result<MoveReport, TenantError> {
        self.resume_move_with(tenant, MoveOptions::default()).await
    }

    /// [`resume_move`](Self::resume_move) with options.
    pub async fn resume_move_with(
        &self,
        tenant: &TenantId,
        options: MoveOptions,
    ) -> Result<MoveReport, TenantError> {
        let pending = self.pending_move(tenant).await?.ok_or_else(|| {
            TenantError::Unsupported(format!("tenant `{tenant}` has no pending move"))
        })?;
        self.move_tenant_with(tenant, pending.to, options).await
    }

    /// Rolls back the pending move of `tenant` that has not switched: the
    /// copy at the destination is removed and the tenant stays where it
    /// is. A move that switched already cannot be rolled back (resume it,
    /// then move the tenant back). Returns the move that was rolled back,
    /// or `None` when none was pending.
    pub async fn rollback_move(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<PendingMove>, TenantError> {
        let registry_db = self.moves_db()?;
        let _lock = self.lifecycle_lock(tenant).await?;
        let fail = |e| move_failed(tenant, e);
        let Some(pending) = journal::read(&self.registry_db(registry_db), tenant)
            .await
            .map_err(fail)?
        else {
            return Ok(None);
        };
        if pending.phase == MovePhase::Switched {
            return Err(TenantError::Unsupported(format!(
                "the move of tenant `{tenant}` to {} switched already: resume it (Tenancy::resume_move), then move the tenant back",
                pending.to
            )));
        }
        self.remove_data(tenant, &pending.to).await?;
        journal::end(&self.registry_db(registry_db), tenant)
            .await
            .map_err(fail)?;
        Ok(Some(pending))
    }

    /// The pending (begun, not ended) move of `tenant`, if any.
    pub async fn pending_move(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<PendingMove>, TenantError> {
        let db = self.moves_db()?;
        journal::read(&self.registry_db(db), tenant)
            .await
            .map_err(|e| move_failed(tenant, e))
    }

    /// Every pending move (to resume or roll back after a crash).
    pub async fn pending_moves(&self) -> Result<Vec<PendingMove>, TenantError> {
        let db = self.moves_db()?;
        journal::list(&self.registry_db(db))
            .await
            .map_err(|e| TenantError::db("reading the move journal", e))
    }

    fn moves_db(&self) -> Result<&DatabaseConnection, TenantError> {
        self.db.as_ref().ok_or_else(|| {
            TenantError::Unsupported(
                "moving tenants needs a registry (Tenancy::with_registry)".into(),
            )
        })
    }

    /// A move after its journal row exists, phase "copying".
    async fn run_move(
        &self,
        tenant: &TenantId,
        from: &Location,
        to: &Location,
        options: &MoveOptions,
    ) -> Result<MoveReport, TenantError> {
        let started = Instant::now();
        let fail = |e| move_failed(tenant, e);
        let tables: Vec<&TenantTable> = {
            let mut tables: Vec<&TenantTable> = self
                .catalog()
                .tables()
                .filter(|t| (t.value)(tenant).is_ok())
                .collect();
            tables.sort_by(|a, b| a.name.cmp(&b.name));
            tables
        };

        // 1. The destination, created and migrated, and emptied of what
        // an earlier attempt left.
        options.step(MoveStep::Preparing);
        self.create_storage(tenant, to, None).await?;
        let source = Side::open(self, tenant, from).await?;
        let dest = Side::open(self, tenant, to).await?;
        {
            let txn = dest.conn.begin().await.map_err(fail)?;
            super::provision::delete_rows(&txn, tables.clone())
                .await
                .map_err(fail)?;
            txn.commit().await.map_err(fail)?;
        }

        // 2. The copy, while the tenant writes at the source.
        options.step(MoveStep::Copying);
        let copied = copy(&source.conn, &dest.conn, &tables, None, options.batch)
            .await
            .map_err(fail)?;
        options.stop("pause")?;

        // 3. The pause.
        options.step(MoveStep::CatchingUp);
        let paused_at = Instant::now();
        let deadline = paused_at + options.pause;
        let mut pause = self.lives.pause(tenant, options.pause);
        let given_up = || {
            TenantError::Unsupported(format!(
                "moving tenant `{tenant}`: the last step did not fit the pause of {} ms; \
                 the tenant stays at {from} (resume the move, or roll it back)",
                options.pause.as_millis()
            ))
        };
        if tokio::time::timeout_at(deadline.into(), pause.drained())
            .await
            .is_err()
        {
            return Err(given_up());
        }
        let fence = fence::Fence::take(self, tenant, from, &tables, options.pause).await?;

        // 4. Catch-up and verification, within the pause.
        let caught = tokio::time::timeout_at(
            deadline.into(),
            catch_up(&source.conn, &dest.conn, &tables, options.batch),
        )
        .await
        .map_err(|_| given_up())?
        .map_err(fail)?;
        let (caught_up, checks) = caught;
        options.stop("switch")?;

        // 5. The switch, in one transaction on the registry.
        options.step(MoveStep::Switching);
        pause.switching();
        self.switch(tenant, to).await?;
        // The tenant's connections follow it from now on (new ones wait
        // for the end of the pause); the reads let through at the source
        // during the pause end first.
        pause.switched(self, options.pause).await;
        self.known.invalidate(tenant).await;
        if let Some(keeper) = &self.keeper {
            keeper.forget(tenant);
        }
        if let Some(pool) = self.pools.remove(tenant).await {
            // Closes once its connections are back; they refuse work.
            drop(pool);
        }
        // The source's tables go before its locks are let go: a write of
        // another process that waited on them fails instead of landing in
        // the old place.
        fence.finish().await.map_err(fail)?;
        let paused = paused_at.elapsed();
        // 6. Waiting connections go on, to the destination.
        drop(pause);
        source.close().await;
        dest.close().await;
        options.stop("cleanup")?;
        options.step(MoveStep::Removing);
        self.remove_data(tenant, from).await?;
        journal::end(&self.registry_db(self.moves_db()?), tenant)
            .await
            .map_err(fail)?;
        Ok(MoveReport {
            tenant: tenant.clone(),
            from: from.clone(),
            to: to.clone(),
            tables: checks,
            copied,
            caught_up,
            paused,
            elapsed: started.elapsed(),
            resumed: false,
        })
    }

    /// A move that switched before it was interrupted: the source goes.
    async fn finish_switched(
        &self,
        pending: &PendingMove,
        options: &MoveOptions,
    ) -> Result<MoveReport, TenantError> {
        let started = Instant::now();
        let tenant = &pending.tenant;
        options.stop("cleanup")?;
        options.step(MoveStep::Removing);
        self.remove_data(tenant, &pending.from).await?;
        journal::end(&self.registry_db(self.moves_db()?), tenant)
            .await
            .map_err(|e| move_failed(tenant, e))?;
        Ok(MoveReport {
            tenant: tenant.clone(),
            from: pending.from.clone(),
            to: pending.to.clone(),
            tables: Vec::new(),
            copied: 0,
            caught_up: 0,
            paused: Duration::ZERO,
            elapsed: started.elapsed(),
            resumed: true,
        })
    }

    /// The registry names `to`, and the journal says switched, in one
    /// transaction.
    async fn switch(&self, tenant: &TenantId, to: &Location) -> Result<(), TenantError> {
        let db = self.moves_db()?;
        let fail = |e| move_failed(tenant, e);
        if self.is_behind_pooler() && db.get_database_backend() == DbBackend::Postgres {
            let admin = TenantConnection::admin(db.clone());
            let txn = admin.begin().await.map_err(fail)?;
            registry::insert(&txn, tenant, to).await.map_err(fail)?;
            journal::switched(&txn, tenant).await.map_err(fail)?;
            txn.commit().await.map_err(fail)
        } else {
            let txn = db.begin().await.map_err(fail)?;
            registry::insert(&txn, tenant, to).await.map_err(fail)?;
            journal::switched(&txn, tenant).await.map_err(fail)?;
            txn.commit().await.map_err(fail)
        }
    }
}

/// One end of a move: a connection confined to the tenant at a location
/// that need not be the registry's, on a pool of its own for a database.
struct Side {
    conn: TenantConnection,
    own: Option<DatabaseConnection>,
}

impl Side {
    async fn open(
        tenancy: &Tenancy,
        tenant: &TenantId,
        at: &Location,
    ) -> Result<Self, TenantError> {
        let (db, own) = match at.placement() {
            Placement::SharedSchema | Placement::SchemaPerTenant => {
                (tenancy.server_db(at)?.clone(), None)
            }
            Placement::DatabasePerTenant => {
                let (url, target) = tenancy.target_on(tenant, at.server())?;
                let db = super::database::open_own(tenant, &url, &target).await?;
                (db.clone(), Some(db))
            }
        };
        let mut conn = TenantConnection::new(db, tenant.clone());
        if at.placement() == Placement::SchemaPerTenant {
            conn = conn.in_schema(tenancy.schema_of(tenant)?.as_str());
        }
        // The transaction road, the tenant set for any policy: nothing is
        // kept between statements.
        let conn = conn
            .placed(at.placement())
            .unnamed(tenancy.is_behind_pooler())
            .confined_by(tenancy.confiner.clone())
            .choose_road(true, true, None);
        Ok(Side { conn, own })
    }

    async fn close(self) {
        if let Some(db) = self.own {
            let _ = db.close().await;
        }
    }
}

/// Copies every table (only the keys in `only`, per table, when given) in
/// one transaction of the destination, parents before children: a table
/// whose rows a foreign key refuses is copied again after the others.
async fn copy(
    from: &TenantConnection,
    to: &TenantConnection,
    tables: &[&TenantTable],
    only: Option<&[HashSet<String>]>,
    batch: usize,
) -> Result<u64, DbErr> {
    let txn = to.begin().await?;
    let mut left: Vec<usize> = (0..tables.len()).collect();
    let mut copied = 0;
    while !left.is_empty() {
        let mut refused = Vec::new();
        let mut first_error = None;
        for &i in &left {
            let keys = only.map(|o| &o[i]);
            if keys.is_some_and(HashSet::is_empty) {
                continue;
            }
            let savepoint = txn.begin().await?;
            match (tables[i].rows.copy)(from, &savepoint, keys, batch).await {
                Ok(n) => {
                    savepoint.commit().await?;
                    copied += n;
                }
                Err(e) => {
                    savepoint.rollback().await?;
                    first_error.get_or_insert(e);
                    refused.push(i);
                }
            }
        }
        if let Some(e) = first_error
            && refused.len() == left.len()
        {
            return Err(e);
        }
        left = refused;
    }
    txn.commit().await?;
    continue_sequences(to, tables).await?;
    Ok(copied)
}

/// On Postgres, each table's sequence (a single auto-incremented key)
/// continues above the largest key there, never lower than it was.
async fn continue_sequences(conn: &TenantConnection, tables: &[&TenantTable]) -> Result<(), DbErr> {
    if conn.get_database_backend() != DbBackend::Postgres {
        // MySQL's AUTO_INCREMENT and SQLite's rowid follow inserted keys.
        return Ok(());
    }
    let db = conn.database();
    for table in tables {
        let Some(column) = (table.rows.serial)() else {
            continue;
        };
        let name = match conn.schema() {
            Some(schema) => format!(
                "{}.{}",
                crate::rls::quote_ident(schema),
                crate::rls::quote_ident(&table.name)
            ),
            None => crate::rls::quote_ident(&table.name),
        };
        // A declared table this place does not have holds nothing.
        let there = db
            .query_one_raw(sea_orm::Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT to_regclass($1) IS NOT NULL",
                [name.clone().into()],
            ))
            .await?
            .map(|row| row.try_get_by_index::<bool>(0))
            .transpose()?
            .unwrap_or(false);
        if !there {
            continue;
        }
        let sql = format!(
            "SELECT setval(s.seq, m.top) FROM \
             (SELECT pg_get_serial_sequence($1, $2)::regclass AS seq) s, \
             (SELECT max({col})::bigint AS top FROM {name}) m \
             WHERE s.seq IS NOT NULL AND m.top IS NOT NULL \
             AND m.top > (SELECT COALESCE(q.last_value, 0) FROM pg_sequences q \
                          WHERE format('%I.%I', q.schemaname, q.sequencename)::regclass = s.seq)",
            col = crate::rls::quote_ident(&column)
        );
        db.execute_raw(sea_orm::Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            [name.clone().into(), column.into()],
        ))
        .await?;
    }
    Ok(())
}

/// Copies again what differs between the two sides, until they agree
/// (at most three rounds: a cascade at the destination may take rows the
/// next round puts back), then verifies every table.
async fn catch_up(
    from: &TenantConnection,
    to: &TenantConnection,
    tables: &[&TenantTable],
    batch: usize,
) -> Result<(u64, Vec<TableCheck>), DbErr> {
    let mut caught_up = 0;
    for _round in 0..3 {
        let mut sources = Vec::with_capacity(tables.len());
        let mut stale = Vec::with_capacity(tables.len());
        let mut missing = Vec::with_capacity(tables.len());
        for table in tables {
            let here: Digest = (table.rows.read)(from).await?;
            let there: Digest = (table.rows.read)(to).await?;
            stale.push(there.not_in(&here));
            missing.push(here.not_in(&there));
            sources.push(here);
        }
        if stale.iter().chain(&missing).all(HashSet::is_empty) {
            let checks = tables
                .iter()
                .zip(&sources)
                .map(|(table, digest)| TableCheck {
                    table: table.name.clone(),
                    rows: digest.count(),
                    checksum: digest.checksum(),
                })
                .collect();
            return Ok((caught_up, checks));
        }
        // Stale rows go (children first: refused ones again later), then
        // the missing ones are copied.
        let txn = to.begin().await?;
        let mut left: Vec<usize> = (0..tables.len())
            .filter(|&i| !stale[i].is_empty())
            .collect();
        while !left.is_empty() {
            let mut refused = Vec::new();
            let mut first_error = None;
            for &i in &left {
                let savepoint = txn.begin().await?;
                match (tables[i].rows.delete)(&savepoint, &stale[i]).await {
                    Ok(_) => savepoint.commit().await?,
                    Err(e) => {
                        savepoint.rollback().await?;
                        first_error.get_or_insert(e);
                        refused.push(i);
                    }
                }
            }
            if let Some(e) = first_error
                && refused.len() == left.len()
            {
                return Err(e);
            }
            left = refused;
        }
        txn.commit().await?;
        caught_up += copy(from, to, tables, Some(&missing), batch).await?;
    }
    Err(DbErr::Custom(
        "the copy did not converge in three rounds (the source kept changing)".into(),
    ))
}
