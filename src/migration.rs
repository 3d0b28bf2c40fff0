//! Migrations across every tenant of a [`Tenancy`], and helpers for
//! writing tenant-aware migrations.
//!
//! [`Tenancy::migrations`] runs the application's sea-orm-migration
//! `MigratorTrait` in every tenant schema or database, and once in the
//! shared database:
//!
//! * a few targets at a time ([`concurrency`](TenantMigrations::concurrency),
//!   4 by default);
//! * on Postgres each target migrates in one transaction that starts with
//!   `SET LOCAL search_path TO "tenant_<id>"` and a transaction-scoped
//!   advisory lock, so a failure or a killed process leaves the tenant as it
//!   was, and a second runner (two instances deploying at once) waits and
//!   then finds nothing to do. sea-orm-migration's version table lives in
//!   the tenant's schema;
//! * a migration that opts out of transactions
//!   (`use_transaction() == Some(false)`, e.g. `CREATE INDEX
//!   CONCURRENTLY`) makes its tenant run on a connection of its own whose
//!   session `search_path` is the tenant's schema, closed afterwards;
//! * MySQL/MariaDB have no transactional DDL: each migration commits as it
//!   goes (as sea-orm-migration does there), a `GET_LOCK` named lock keeps a
//!   second runner out, and a failed migration leaves what it did before
//!   failing. SQLite migrates in one `BEGIN IMMEDIATE` transaction;
//! * a schema or database that holds tables but no version table is
//!   reported [`Outcome::Unmanaged`] and left alone;
//! * stop at the first failure (the default: at most `concurrency`
//!   tenants meet a broken migration) or
//!   [`keep_going`](TenantMigrations::keep_going); a rerun finishes what is
//!   missing and redoes nothing;
//! * when nothing is pending, schema-per-tenant runs answer from one
//!   catalog query and one `UNION ALL` of the version tables per 100
//!   tenants, `concurrency` of them at once, instead of a round trip per
//!   tenant (10,001 targets in about a second on two cores; see
//!   [the performance chapter](crate::guide::performance)).
//!
//! Tenant migrations see only the tenant's schema: name global tables
//! with their schema (`public.country`) in a foreign key.
//!
//! ```
//! use sea_orm::Database;
//! use sea_orm_migration::prelude::*;
//! use sea_orm_tenant::migration::Outcome;
//! use sea_orm_tenant::prelude::*;
//!
//! #[derive(DeriveMigrationName)]
//! struct CreateNote;
//!
//! #[async_trait::async_trait]
//! impl MigrationTrait for CreateNote {
//!     async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
//!         manager
//!             .create_table(
//!                 Table::create()
//!                     .table("note")
//!                     .col(ColumnDef::new("id").integer().not_null().primary_key())
//!                     .col(ColumnDef::new("body").string().not_null())
//!                     .to_owned(),
//!             )
//!             .await
//!     }
//!     async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
//!         manager.drop_table(Table::drop().table("note").to_owned()).await
//!     }
//! }
//!
//! struct Migrator;
//! impl MigratorTrait for Migrator {
//!     fn migrations() -> Vec<Box<dyn MigrationTrait>> {
//!         vec![Box::new(CreateNote)]
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), TenantError> {
//! let dir = std::env::temp_dir().join(format!("doc-migrate-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir).map_err(|e| TenantError::Unsupported(e.to_string()))?;
//! let registry = Database::connect(format!("sqlite://{}/registry.db?mode=rwc", dir.display()))
//!     .await
//!     .map_err(|e| TenantError::Unsupported(e.to_string()))?;
//! let tenancy = Tenancy::sqlite_files(&dir)
//!     .with_registry(registry)
//!     .with_migrator::<Migrator>();
//! tenancy.provision(&TenantId::from("acme")).await?; // migrates acme
//!
//! let report = tenancy.migrations().concurrency(8).up().await?;
//! assert!(report.is_ok());
//! assert_eq!(report.tenant(&TenantId::from("acme")).map(|r| &r.outcome), Some(&Outcome::UpToDate));
//! # tenancy.deprovision(&TenantId::from("acme")).await?;
//! # let _ = std::fs::remove_dir_all(&dir);
//! # Ok(())
//! # }
//! ```

mod catalog;
mod ledger;
mod registry;
mod report;
mod run;
mod session;
mod set;
mod tenant_column;
mod tenant_reference;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use sea_orm_migration::MigratorTrait;
use tracing::Instrument;

pub(crate) use ledger::{LEDGER_TABLE, Ledgers};
pub use registry::CreateRegistry;
pub use report::{MigrationReport, MigrationTarget, Outcome, TargetReport};
pub use run::lock_key;
pub(crate) use run::{Direction, Place, create_schema};
pub(crate) use set::MigrationSet;
pub use tenant_column::*;
pub use tenant_reference::TenantReference;

use crate::{Location, MAIN_SERVER, Placement, SchemaName, Tenancy, TenantError, TenantId};

/// How long a target waits for a lock unless told (10 minutes).
pub(crate) const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(600);

type Progress = Arc<dyn Fn(&TargetReport, usize, usize) + Send + Sync>;

/// A run of migrations across the tenants of a [`Tenancy`]: configure it,
/// then [`up`](Self::up), [`down`](Self::down) or [`status`](Self::status).
///
/// Errors that stop the run before it starts (no migrator, no tenant list,
/// an unreadable registry) are returned as `Err`; everything that happens
/// to one target is in its [`TargetReport`].
#[must_use = "a TenantMigrations does nothing until up(), down() or status() is awaited"]
pub struct TenantMigrations<'a> {
    tenancy: &'a Tenancy,
    set: Option<MigrationSet>,
    global: Option<MigrationSet>,
    concurrency: usize,
    keep_going: bool,
    only: Option<Vec<TenantId>>,
    lock_wait: Duration,
    progress: Option<Progress>,
}

impl std::fmt::Debug for TenantMigrations<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantMigrations")
            .field("migrator", &self.set.map(|s| s.type_name))
            .field("global", &self.global.map(|s| s.type_name))
            .field("concurrency", &self.concurrency)
            .field("keep_going", &self.keep_going)
            .field("only", &self.only)
            .field("lock_wait", &self.lock_wait)
            .finish()
    }
}

impl Tenancy {
    /// Migrations across every tenant, with the migrator of
    /// [`with_migrator`](Self::with_migrator) (or
    /// [`TenantMigrations::migrator`]). See [the module](crate::migration).
    pub fn migrations(&self) -> TenantMigrations<'_> {
        TenantMigrations {
            tenancy: self,
            set: self.migration_set(),
            global: None,
            concurrency: 4,
            keep_going: false,
            only: None,
            lock_wait: DEFAULT_LOCK_WAIT,
            progress: None,
        }
    }
}

impl<'a> TenantMigrations<'a> {
    /// Runs `M` in every tenant (instead of the tenancy's migrator).
    pub fn migrator<M: MigratorTrait + 'static>(mut self) -> Self {
        self.set = Some(MigrationSet::of::<M>());
        self
    }

    /// Also runs `G`, once, in the shared database (its `public` schema on
    /// Postgres), before any tenant: global tables such as a country list.
    /// `G` keeps its own version table: give it another
    /// `migration_table_name` when the tenants' migrator also runs in the
    /// shared database (shared-schema tenants).
    pub fn global<G: MigratorTrait + 'static>(mut self) -> Self {
        self.global = Some(MigrationSet::of::<G>());
        self
    }

    /// How many targets migrate at once (4 by default; at least 1). Each
    /// holds one connection while it runs. Also how many queries at once
    /// read the version tables when nothing is pending.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Keep migrating the other tenants after a failure (the default is to
    /// start no new tenant once one failed; the rest are
    /// [`Outcome::Skipped`]).
    pub fn keep_going(mut self) -> Self {
        self.keep_going = true;
        self
    }

    /// Only these tenants (all provisioned tenants by default). Needed for
    /// a database-per-tenant tenancy without a registry, which cannot list
    /// its tenants. A listed tenant that was not provisioned is reported as
    /// [`Outcome::Failed`] with [`TenantError::UnknownTenant`]; the shared
    /// target runs only when a listed tenant is a shared-schema tenant, the
    /// [`global`](Self::global) migrator always.
    pub fn only(mut self, tenants: impl IntoIterator<Item = TenantId>) -> Self {
        let mut list: Vec<TenantId> = tenants.into_iter().collect();
        list.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        list.dedup();
        self.only = Some(list);
        self
    }

    /// How long a target waits for a lock: another runner's, or a table a
    /// migration alters (10 minutes by default). Past it the target fails
    /// and a rerun retries it.
    pub fn lock_wait(mut self, wait: Duration) -> Self {
        self.lock_wait = wait;
        self
    }

    /// Called as each target finishes, with its report, how many targets
    /// are done and how many there are (for a progress bar).
    pub fn on_progress(
        mut self,
        progress: impl Fn(&TargetReport, usize, usize) + Send + Sync + 'static,
    ) -> Self {
        self.progress = Some(Arc::new(progress));
        self
    }

    /// Applies every pending migration everywhere.
    pub async fn up(&self) -> Result<MigrationReport, TenantError> {
        self.execute(Some(Direction::Up)).await
    }

    /// Rolls back the last `steps` migrations (all when `None`) everywhere.
    /// The global migrator is not rolled back.
    pub async fn down(&self, steps: Option<u32>) -> Result<MigrationReport, TenantError> {
        self.execute(Some(Direction::Down(steps))).await
    }

    /// What is applied and pending everywhere ([`Outcome::Status`]),
    /// changing nothing.
    pub async fn status(&self) -> Result<MigrationReport, TenantError> {
        self.execute(None).await
    }

    async fn execute(&self, dir: Option<Direction>) -> Result<MigrationReport, TenantError> {
        let started = Instant::now();
        let set = self.set.ok_or_else(|| {
            TenantError::Unsupported(
                "no migrator: call Tenancy::with_migrator or TenantMigrations::migrator".into(),
            )
        })?;
        let Targets {
            shared,
            own: tenants,
            unknown,
        } = self.targets().await?;
        let global = match (self.global, dir) {
            (Some(g), Some(Direction::Up) | None) => Some(g),
            _ => None,
        };
        let main_shared = shared.iter().any(|s| s == MAIN_SERVER);
        if global.is_some() || main_shared {
            self.tenancy.shared_db()?;
        }
        if let Some(g) = global
            && main_shared
            && g.table() == set.table()
        {
            return Err(TenantError::Unsupported(format!(
                "the global migrator and the tenants' migrator both keep their versions in `{}` of the shared database; \
                 give one of them another migration_table_name",
                g.table()
            )));
        }
        let total = usize::from(global.is_some()) + shared.len() + tenants.len() + unknown.len();
        let done = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let finish =
            |target: MigrationTarget, server: &str, outcome: Outcome, elapsed: Duration| {
                if outcome.is_failure() && !self.keep_going {
                    stop.store(true, Ordering::SeqCst);
                }
                let report = TargetReport {
                    target,
                    outcome,
                    elapsed,
                    server: server.to_owned(),
                };
                #[cfg(feature = "metrics")]
                crate::metrics::migrated(&report);
                let n = done.fetch_add(1, Ordering::SeqCst) + 1;
                if let Some(progress) = &self.progress {
                    progress(&report, n, total);
                }
                report
            };

        let mut reports = Vec::with_capacity(total);
        let firsts = global
            .map(|g| (MigrationTarget::Global, MAIN_SERVER.to_owned(), g))
            .into_iter()
            .chain(
                shared
                    .iter()
                    .map(|server| (MigrationTarget::Shared, server.clone(), set)),
            );
        for (target, server, set) in firsts {
            let t = Instant::now();
            let outcome = if stop.load(Ordering::SeqCst) {
                Outcome::Skipped
            } else {
                match self.tenancy.server_database(&server) {
                    Ok(db) => {
                        let place = Place::shared(db, &set, self.lock_wait)
                            .pooled(self.tenancy.is_behind_pooler());
                        self.run_place(&set, dir, &place)
                            .instrument(tracing::info_span!(
                                target: "sea_orm_tenant",
                                "migrate",
                                target = %target,
                                server = %server
                            ))
                            .await
                    }
                    Err(e) => Outcome::Failed(e),
                }
            };
            reports.push(finish(target, &server, outcome, t.elapsed()));
        }

        // The fast path: every tenant schema's state from the catalog of
        // its server.
        let mut known: HashMap<String, HashMap<String, run::State>> = HashMap::new();
        if !matches!(dir, Some(Direction::Down(_))) {
            let mut by_server: HashMap<&str, Vec<SchemaName>> = HashMap::new();
            for (tenant, location) in &tenants {
                if location.placement() == Placement::SchemaPerTenant
                    && let Ok(schema) = self.tenancy.schema_name(tenant)
                {
                    by_server.entry(location.server()).or_default().push(schema);
                }
            }
            for (server, schemas) in by_server {
                let Ok(db) = self.tenancy.server_database(server) else {
                    continue;
                };
                // Found, not made: a status changes nothing.
                let ledger = self
                    .tenancy
                    .ledgers
                    .get(
                        server,
                        &self.tenancy.registry_db(db),
                        &set.table(),
                        dir.is_some(),
                    )
                    .await;
                if let Ok(states) = catalog::schema_states(
                    db,
                    &schemas,
                    &set.table(),
                    self.concurrency,
                    ledger.as_ref(),
                )
                .await
                {
                    known.insert(server.to_owned(), states);
                }
            }
        }

        // Listed tenants the registry does not know fail first (and stop a
        // run that stops at the first failure).
        let mut tenant_reports: Vec<TargetReport> = unknown
            .into_iter()
            .map(|(tenant, e)| {
                let placement = self.tenancy.placement_for(&tenant);
                finish(
                    MigrationTarget::Tenant(tenant, placement),
                    MAIN_SERVER,
                    Outcome::Failed(e),
                    Duration::ZERO,
                )
            })
            .collect();
        let jobs = tenants.into_iter().map(|(tenant, location)| {
            let known = &known;
            let stop = &stop;
            let finish = &finish;
            async move {
                let t = Instant::now();
                let placement = location.placement();
                let server = location.server();
                let target = MigrationTarget::Tenant(tenant.clone(), placement);
                if let Some(outcome) =
                    self.answered(&set, dir, &tenant, placement, known.get(server))
                {
                    return finish(target, server, outcome, t.elapsed());
                }
                if stop.load(Ordering::SeqCst) {
                    return finish(target, server, Outcome::Skipped, t.elapsed());
                }
                let span = tracing::info_span!(
                    target: "sea_orm_tenant",
                    "migrate",
                    tenant = %tenant,
                    isolation = placement.as_str(),
                    server = server
                );
                let outcome = self
                    .tenant(&set, dir, &tenant, &location)
                    .instrument(span)
                    .await;
                finish(target, server, outcome, t.elapsed())
            }
        });
        let ran: Vec<TargetReport> = futures_util::stream::iter(jobs)
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        tenant_reports.extend(ran);
        tenant_reports.sort_by_cached_key(|r| r.target.tenant().map(|t| t.as_str().into_owned()));
        reports.extend(tenant_reports);
        Ok(MigrationReport {
            targets: reports,
            elapsed: started.elapsed(),
        })
    }

    /// A tenant's outcome when it needs no round trip of its own: shared
    /// tenants (migrated with the shared target), and schemas the catalog
    /// shows with nothing to do (or missing).
    fn answered(
        &self,
        set: &MigrationSet,
        dir: Option<Direction>,
        tenant: &TenantId,
        placement: Placement,
        known: Option<&HashMap<String, run::State>>,
    ) -> Option<Outcome> {
        match placement {
            Placement::SharedSchema => Some(Outcome::UpToDate),
            Placement::SchemaPerTenant => {
                let known = known?;
                let schema = match self.tenancy.schema_name(tenant) {
                    Ok(s) => s,
                    Err(e) => return Some(Outcome::Failed(e)),
                };
                let Some(state) = known.get(schema.as_str()) else {
                    return Some(Outcome::Failed(TenantError::db(
                        format!("migrating tenant `{tenant}`"),
                        format!(
                            "schema {} does not exist; provision the tenant again",
                            schema.pg_quoted()
                        ),
                    )));
                };
                match run::plan(set, dir, state, true) {
                    run::Plan::Done(outcome) => Some(outcome),
                    // Pending work: done under the lock.
                    run::Plan::Run { .. } => None,
                }
            }
            Placement::DatabasePerTenant => None,
        }
    }

    /// One tenant's run in its own schema or database.
    async fn tenant(
        &self,
        set: &MigrationSet,
        dir: Option<Direction>,
        tenant: &TenantId,
        location: &Location,
    ) -> Outcome {
        let fail = Outcome::Failed;
        match location.placement() {
            // Migrated with the shared target.
            Placement::SharedSchema => Outcome::UpToDate,
            Placement::SchemaPerTenant => {
                let (schema, db) = match (
                    self.tenancy.schema_name(tenant),
                    self.tenancy.server_database(location.server()),
                ) {
                    (Ok(schema), Ok(db)) => (schema, db),
                    (Err(e), _) | (_, Err(e)) => return fail(e),
                };
                let ledger = match dir {
                    Some(_) => {
                        self.tenancy
                            .ledgers
                            .get(
                                location.server(),
                                &self.tenancy.registry_db(db),
                                &set.table(),
                                true,
                            )
                            .await
                    }
                    None => None,
                };
                let place = Place::schema(db, &schema, self.lock_wait)
                    .pooled(self.tenancy.is_behind_pooler())
                    .with_ledger(ledger);
                self.run_place(set, dir, &place).await
            }
            Placement::DatabasePerTenant => {
                let (db, own) = match self.tenancy.migration_pool(tenant, location.server()).await {
                    Ok(pool) => pool,
                    Err(e) => return fail(e),
                };
                let place = Place::database(&db, tenant, self.lock_wait)
                    .pooled(self.tenancy.is_behind_pooler());
                let outcome = self.run_place(set, dir, &place).await;
                if own {
                    let _ = db.close().await;
                }
                outcome
            }
        }
    }

    async fn run_place(
        &self,
        set: &MigrationSet,
        dir: Option<Direction>,
        place: &Place<'_>,
    ) -> Outcome {
        match dir {
            Some(dir) => run::run(set, dir, place).await,
            None => run::status(set, place).await,
        }
    }

    /// What a run covers.
    async fn targets(&self) -> Result<Targets, TenantError> {
        let mut unknown = Vec::new();
        let listed = match &self.only {
            Some(only) => {
                let mut out = Vec::with_capacity(only.len());
                for tenant in only {
                    match self.tenancy.location_of(tenant).await {
                        Ok(location) => out.push((tenant.clone(), location)),
                        // Reported as that tenant's failure; the others run.
                        Err(e @ TenantError::UnknownTenant(_)) => unknown.push((tenant.clone(), e)),
                        Err(e) => return Err(e),
                    }
                }
                out
            }
            None => {
                if self.tenancy.shared_db().is_err() {
                    return Err(TenantError::Unsupported(
                        "this tenancy cannot list its tenants (no registry): pass them with TenantMigrations::only".into(),
                    ));
                }
                self.tenancy.locations().await?
            }
        };
        // The shared tables of each server that holds shared tenants; of
        // every server when new tenants go to shared tables.
        let mut shared: Vec<String> = Vec::new();
        if self.only.is_none() && self.tenancy.default_placement() == Placement::SharedSchema {
            shared.extend(self.tenancy.servers().map(str::to_owned));
        }
        for (_, location) in &listed {
            if location.placement() == Placement::SharedSchema
                && !shared.iter().any(|s| s == location.server())
            {
                shared.push(location.server().to_owned());
            }
        }
        // The main server first, then by name.
        shared.sort_by(|a, b| (a != MAIN_SERVER, a).cmp(&(b != MAIN_SERVER, b)));
        let own = listed
            .into_iter()
            .filter(|(_, l)| l.placement() != Placement::SharedSchema)
            .collect();
        Ok(Targets {
            shared,
            own,
            unknown,
        })
    }
}

/// What a run covers: whether the shared database runs the tenants'
/// migrator, the tenants with a schema or database of their own, and
/// listed tenants the registry does not know.
struct Targets {
    shared: Vec<String>,
    own: Vec<(TenantId, Location)>,
    unknown: Vec<(TenantId, TenantError)>,
}

/// Migrates one place right after its tenant was provisioned (used by
/// [`Tenancy::provision`]); the outcome's failures become errors.
pub(crate) async fn provision_one(
    set: &MigrationSet,
    tenant: &TenantId,
    place: Place<'_>,
) -> Result<(), TenantError> {
    match run::run(set, Direction::Up, &place).await {
        Outcome::Failed(e) => Err(e),
        outcome @ Outcome::Unmanaged { .. } => Err(TenantError::db(
            format!("migrating tenant `{tenant}`"),
            outcome.to_string(),
        )),
        _ => Ok(()),
    }
}
