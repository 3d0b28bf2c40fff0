//! [`TenantConnection`]: a connection bound to one tenant.
//!
//! It implements SeaORM's [`ConnectionTrait`], [`TransactionTrait`] and
//! [`StreamTrait`], so every SeaORM call (`.all(&conn)`, loaders, joins,
//! raw [`Statement`]s) accepts it.
//!
//! # Every backend: the first wall
//!
//! Every statement, whatever built it (plain SeaORM, the scoped builders,
//! raw SQL, `execute_unprepared`), on the connection, its transactions and
//! its streams, is confined to the tenant before it is sent (rule 12; see
//! [`TenantConnection::confine`]): reads get the tenant predicate on every
//! declared tenant table they reference, writes change only the tenant's
//! rows, inserts get the tenant, and what cannot be confined with
//! certainty is refused with [`TenantError::Refused`] before anything is
//! sent. Tenant tables are those declared with
//! [`tenant_entity!`](crate::tenant_entity), [`Tenancy::tenant_table`]
//! (crate::Tenancy::tenant_table).
//!
//! # Postgres: the second wall
//!
//! Where the tenant tables carry row-level security policies (those of
//! [`rls`](crate::rls); see
//! [`Tenancy::row_level_security`](crate::Tenancy::row_level_security)),
//! every statement runs with `app.tenant_id` set to the connection's
//! tenant, so the policies isolate raw SQL, unscoped builders, loaders and
//! hand-written joins a second time. How the setting reaches the server
//! is the connection's road, chosen by its [`Tenancy`](crate::Tenancy):
//!
//! * **Tenant-keeping connections** (a `Tenancy` over Postgres, the
//!   default): the tenant, and the `search_path` of a schema per tenant and
//!   the statement timeout, are set at session level on connections of a
//!   pool the `Tenancy` owns and never hands to other code, and set again
//!   only when the next statement on the connection is another tenant's
//!   (DESIGN rule 6). A hot tenant's read or write is one round trip, a
//!   switch adds one; statements run in autocommit, and a
//!   [`begin`](sea_orm::TransactionTrait::begin) opens its transaction
//!   after the session was set, so no rollback can undo it. A connection
//!   whose round trip did not end in step (a dropped future, a connection
//!   that died) is closed, never reused. See [`HotTenants`] for the limits.
//!   When nothing needs setting (no policies, no schema, no timeout),
//!   every tenant of the tenancy shares one session: a statement is one
//!   round trip whatever the tenant, with nothing set.
//! * **Autocommit alone**: when nothing needs setting, no connection is
//!   kept (`HotTenants::off()`, database per tenant) and no
//!   transaction-mode pooler is in between, a statement is sent alone on
//!   the pool, one round trip. A statement that calls a function the
//!   application declared pure (or a write, when a tenant table has a
//!   trigger) runs in a transaction per statement instead, as below.
//! * **A transaction per statement** ([`TenantConnection::new`], a
//!   `Tenancy` behind a transaction-mode pooler, or `HotTenants::off()`):
//!   each statement runs in a transaction that set the tenant with
//!   `SET LOCAL` (or `set_config(.., true)` when the id is not plain
//!   `[A-Za-z0-9_-]`): a read in a `READ ONLY` transaction that is rolled
//!   back (a `SELECT` that turns out to write is re-run as a write), a
//!   write in one that is committed. Nothing is set at session level, as a
//!   connection shared with other code and a transaction-mode pooler need;
//!   behind a pooler, mark the tenancy with
//!   [`Tenancy::behind_pooler`](crate::Tenancy::behind_pooler) so that
//!   statements are sent unnamed.
//!
//! Raw SQL cannot change session state: the first wall admits only
//! `SELECT`, `INSERT`, `UPDATE` and `DELETE` calling allow-listed functions,
//! and a statement that visibly changes a setting (`SET`, `RESET`,
//! `set_config(.., .., false)`, …) is refused with
//! [`TenantError::SessionState`] before anything is sent. What a function
//! the application declared pure might still change (a broken promise) is
//! undone: on a tenant-keeping connection, its session is set again before
//! its next statement; in a transaction per statement, a read-write
//! transaction stashes the session's tenant setting, `search_path`, role and
//! session authorization when it opens and sets them back in the commit's
//! round trip.
//!
//! A statement whose future is dropped mid-flight runs to its end on the
//! server, as with SeaORM itself: in autocommit (the first two roads) a
//! write may commit; in a transaction per statement it is rolled back.
//! Wrap writes that must be all-or-nothing in
//! [`begin`](sea_orm::TransactionTrait::begin).
//!
//! Statements that cannot run inside a transaction block (`VACUUM`,
//! `CREATE INDEX CONCURRENTLY`), DDL and transaction control do not belong
//! on a tenant connection; run them on [`TenantConnection::database`].
//!
//! Connections are taken from the pools without sqlx's acquire-time ping:
//! the first round trip on one tells whether it is alive, and a read (or a
//! write the server surely did not run) that meets a dead one is sent again
//! on a connection the pool checked.
//!
//! # SQLite and MySQL
//!
//! There is no row-level security there: the first wall is the wall. A
//! `TenantConnection` confines every statement as above; the scoped
//! builders (`conn.scoped::<post::Entity>()`) add the tenant themselves
//! too, so they cost nothing more.

mod confine;
mod execute;
mod follow;
mod hot_tenants;
#[cfg(feature = "sqlx-postgres")]
mod keeper;
mod limits;
// Postgres-only in use: kept compiled without the driver, unused then.
#[cfg_attr(not(feature = "sqlx-postgres"), allow(dead_code))]
mod observe;
// Postgres-only in use: kept compiled without the driver, unused then.
#[cfg_attr(not(feature = "sqlx-postgres"), allow(dead_code))]
mod op;
// Postgres-only in use: kept compiled without the driver, unused then.
#[cfg_attr(not(feature = "sqlx-postgres"), allow(dead_code))]
mod opener;
#[cfg(feature = "sqlx-postgres")]
mod pg;
// Postgres-only in use: kept compiled without the driver, unused then.
#[cfg_attr(not(feature = "sqlx-postgres"), allow(dead_code))]
mod session_guard;
mod stream;
mod transaction;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::{DatabaseConnection, DatabaseConnectionType, DbErr, EntityTrait, Statement};

use confine::Confinement;
pub(crate) use confine::{Catalog, Confiner, TenantTable};
#[doc(hidden)]
pub use confine::{GlobalRegistration, Registration, describe, table_name};
pub use hot_tenants::HotTenants;
#[cfg(feature = "sqlx-postgres")]
pub(crate) use keeper::Keeper;
#[cfg(feature = "sqlx-postgres")]
use keeper::Session;
pub(crate) use limits::Policy;
use limits::{Limits, Permit};
use observe::Observer;
use opener::Begin;
pub use stream::TenantStream;
use tracing::Instrument;
pub use transaction::{TenantTransaction, UnconfinedTransaction};

use crate::tenancy::{Life, Stage};
use crate::{Placement, Scoped, TenantEntity, TenantError, TenantId};

/// The Postgres setting the tenant is stored in, read by the policies of
/// [`rls`](crate::rls): `current_setting('app.tenant_id', true)`.
pub const TENANT_SETTING: &str = opener::SETTING;

/// A database connection bound to one tenant.
///
/// Cheap to create and to clone (per request): it holds the shared
/// [`DatabaseConnection`] and the tenant. Every statement is confined to
/// the tenant on every backend, or refused (see [`confine`](Self::confine)).
/// On Postgres with row-level security every statement also runs with
/// `app.tenant_id` set to the tenant (in a transaction of its own that set
/// it with `SET LOCAL`, for a connection made with [`new`](Self::new)), so
/// the RLS policies of [`rls`](crate::rls) are a second wall. A
/// [`Tenancy`](crate::Tenancy)'s connections set it on the session of
/// connections the tenancy keeps and never hands to other code, again only
/// when the next statement is another tenant's (one round trip for a hot
/// tenant, two on a switch); without row-level security, nothing is set
/// ([`Tenancy::row_level_security`](crate::Tenancy::row_level_security),
/// [`HotTenants`]).
///
/// ```no_run
/// use sea_orm::{ConnectionTrait, Database, DbBackend, EntityTrait, Statement};
/// use sea_orm_tenant::doc_entities::post;
/// use sea_orm_tenant::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sea_orm::DbErr> {
/// let db = Database::connect("postgres://app@localhost/app").await?;
/// let conn = TenantConnection::new(db.clone(), TenantId::from("acme"));
///
/// // Plain SeaORM and raw SQL only see acme's rows (for tables declared
/// // with `tenant_entity!`; and with the policies of `sea_orm_tenant::rls`
/// // in place, RLS filters them a second time).
/// let posts = post::Entity::find().all(&conn).await?;
/// let rows = conn
///     .query_all_raw(Statement::from_string(DbBackend::Postgres, "SELECT * FROM post"))
///     .await?;
/// assert_eq!(posts.len(), rows.len());
///
/// // The scoped builders, without repeating the tenant.
/// let mine = conn.scoped::<post::Entity>().find().all(&conn).await?;
/// # let _ = mine;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct TenantConnection {
    db: DatabaseConnection,
    tenant: TenantId,
    begin: Begin,
    /// How its Postgres statements reach the server.
    road: Road,
    /// What its statements need set on a kept connection's session.
    #[cfg(feature = "sqlx-postgres")]
    session: Session,
    /// Writes may change session state (triggers): after one, a kept
    /// connection's session is set again; on the application's pool, it
    /// runs in a transaction whose commit sets it back.
    writes_reset: bool,
    /// The Postgres schema of every transaction (schema per tenant).
    schema: Option<Arc<str>>,
    /// `SET LOCAL statement_timeout` of every transaction (Postgres).
    timeout: Option<Duration>,
    /// `SET LOCAL search_path …` for transactions opened with `begin()`
    /// (schema per tenant, Postgres).
    search_path: Option<Arc<str>>,
    /// The per-tenant cap and the database-time hook of the pool.
    limits: Limits,
    /// Where the tenant lives, for tracing spans.
    placement: Placement,
    /// The statement confinement (rule 12).
    confinement: Confinement,
    /// Postgres statements are sent unnamed (behind a transaction-mode
    /// pooler).
    unnamed: bool,
    /// The metric callback of the Postgres statements sent on our lease.
    observer: Observer,
    /// Whether its tenant still exists: ended by
    /// [`Tenancy::deprovision`](crate::Tenancy::deprovision), after which
    /// every statement is refused.
    life: Life,
}

impl std::fmt::Debug for TenantConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantConnection")
            .field("tenant", &self.tenant)
            .field("backend", &Backend(&self.db))
            .field("road", &self.road)
            .field("placement", &self.placement)
            .field("statement_timeout", &self.timeout)
            .field("limits", &self.limits)
            .field("metric_callback", &self.observer.is_on())
            .finish()
    }
}

impl TenantConnection {
    /// Binds `db` to `tenant`, in strict mode (no parked transactions).
    ///
    /// ```
    /// use sea_orm::DatabaseConnection;
    /// use sea_orm_tenant::prelude::*;
    ///
    /// let conn = TenantConnection::new(DatabaseConnection::default(), TenantId::from("acme"));
    /// assert_eq!(conn.tenant().to_string(), "acme");
    /// ```
    pub fn new(db: DatabaseConnection, tenant: TenantId) -> Self {
        Self::with_timeout(db, tenant, None)
    }

    fn with_timeout(db: DatabaseConnection, tenant: TenantId, timeout: Option<Duration>) -> Self {
        let begin = Begin::opener(&tenant, None, timeout);
        TenantConnection {
            db,
            #[cfg(feature = "sqlx-postgres")]
            session: Session::new(&tenant, None, timeout),
            tenant,
            begin,
            road: Road::Local,
            writes_reset: false,
            schema: None,
            timeout,
            search_path: None,
            limits: Limits::default(),
            placement: Placement::SharedSchema,
            confinement: Confinement::default(),
            unnamed: false,
            observer: Observer::default(),
            life: Life::default(),
        }
    }

    /// A connection with no tenant (`app.tenant_id` set to the empty
    /// string, which no policy matches) whose statements are not confined
    /// and are sent unnamed: for the crate's own statements on global
    /// tables (the registry) behind a transaction-mode pooler.
    pub(crate) fn admin(db: DatabaseConnection) -> Self {
        let mut conn = Self::new(db, TenantId::from("")).unnamed(true);
        conn.confinement.off();
        conn
    }

    /// Confines this connection's statements with `confiner`.
    pub(crate) fn confined_by(mut self, confiner: Arc<Confiner>) -> Self {
        self.confinement.by(confiner);
        self
    }

    /// Sends statements as written, without the confinement: the
    /// "before" of the benchmarks, and the check that the tests fail
    /// without it. Not for applications.
    #[doc(hidden)]
    pub fn __unconfined(mut self) -> Self {
        self.confinement.off();
        self
    }

    /// `stmt` as this connection sends it: confined to its tenant (see
    /// the README, "The first wall: what a `TenantConnection` lets through"), or the
    /// reason it is refused. Every statement the connection runs goes
    /// through this first; call it to see what a query becomes.
    ///
    /// ```
    /// use sea_orm::{DatabaseConnection, DbBackend, EntityTrait, QueryTrait};
    /// use sea_orm_tenant::doc_entities::post;
    /// use sea_orm_tenant::prelude::*;
    ///
    /// let conn = TenantConnection::new(DatabaseConnection::default(), TenantId::from("acme"))
    ///     .tenant_table::<post::Entity>();
    /// let stmt = conn.confine(post::Entity::find_by_id(7).build(DbBackend::Postgres))?;
    /// assert!(stmt.sql.ends_with(r#"WHERE "post"."tenant_id" = $2 AND ("post"."id" = $1)"#));
    /// # Ok::<(), TenantError>(())
    /// ```
    pub fn confine(&self, stmt: Statement) -> Result<Statement, TenantError> {
        self.confinement.apply(stmt, &self.tenant)
    }

    /// [`confine`](Self::confine), and whether the statement calls a
    /// function only the application declared pure.
    fn confine_marked(&self, stmt: Statement) -> Result<(Statement, bool), TenantError> {
        self.confinement.apply_marked(stmt, &self.tenant)
    }

    /// Declares `E`'s table as a tenant table to this connection (and its
    /// clones), as [`Tenancy::tenant_table`](crate::Tenancy::tenant_table)
    /// does for a tenancy and [`tenant_entity!`](crate::tenant_entity) for
    /// the whole program. It starts a new cache of confined statements, so
    /// declare tables once per connection you clone, not per statement;
    /// services get their connections from a [`Tenancy`](crate::Tenancy).
    pub fn tenant_table<E: TenantEntity>(mut self) -> Self {
        self.confinement.declare::<E>();
        self
    }

    /// Declares `E`'s table global to this connection (and its clones): a
    /// table that belongs to no tenant, which its statements may name
    /// unconfined, as [`Tenancy::global_table`](crate::Tenancy::global_table)
    /// does for a tenancy and [`global_entity!`](crate::global_entity) for
    /// the whole program. A table declared nowhere is refused.
    ///
    /// ```
    /// use sea_orm::{DatabaseConnection, DbBackend, Statement};
    /// use sea_orm_tenant::doc_entities::country;
    /// use sea_orm_tenant::prelude::*;
    ///
    /// let conn = TenantConnection::new(DatabaseConnection::default(), TenantId::from("acme"));
    /// let stmt = Statement::from_string(DbBackend::Sqlite, "SELECT code FROM region");
    /// assert!(conn.confine(stmt.clone()).is_err(), "undeclared: refused");
    /// let conn = conn.global_table_named("region").global_table::<country::Entity>();
    /// assert_eq!(conn.confine(stmt)?.sql, "SELECT code FROM region");
    /// # Ok::<(), TenantError>(())
    /// ```
    pub fn global_table<E: EntityTrait>(self) -> Self {
        let name = crate::connection::table_name::<E>();
        self.global_table_named(&name)
    }

    /// Declares the table `name` global to this connection, for a table
    /// without an entity; see [`global_table`](Self::global_table).
    pub fn global_table_named(mut self, name: &str) -> Self {
        self.confinement.declare_global(name);
        self
    }

    /// Declares the database function `name` pure to this connection: a
    /// promise that it computes on its arguments alone, reads no tenant
    /// table and keeps no state, so statements may call it (rule 12). See
    /// [`Tenancy::pure_function`](crate::Tenancy::pure_function).
    pub fn pure_function(mut self, name: &str) -> Self {
        self.confinement.declare_function(name);
        self
    }

    /// Declares the database type `name` one that statements may cast to;
    /// see [`Tenancy::pure_type`](crate::Tenancy::pure_type).
    pub fn pure_type(mut self, name: &str) -> Self {
        self.confinement.declare_type(name);
        self
    }

    /// The tenant's schema, when it has one of its own.
    pub(crate) fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// Runs every transaction of this connection in the Postgres schema
    /// `schema` (`SET LOCAL search_path TO "<schema>", public`, folded into
    /// the transaction's opening query). `schema` must come from
    /// [`SchemaName`](crate::SchemaName).
    pub(crate) fn in_schema(mut self, schema: &str) -> Self {
        self.schema = Some(Arc::from(schema));
        self.confinement.in_schema(schema);
        self.rebuild_opener();
        self
    }

    /// Limits every statement of this connection to `timeout` on Postgres:
    /// each transaction it opens (for one statement, or with
    /// [`begin`](sea_orm::TransactionTrait::begin)) starts with
    /// `SET LOCAL statement_timeout = <ms>`, folded into the same round trip
    /// as the tenant. A statement that runs longer is cancelled by Postgres
    /// (SQLSTATE 57014, `canceling statement due to statement timeout`) and
    /// its transaction rolled back. The setting is transaction-local, like
    /// the tenant: it never reaches the next borrower of the pooled
    /// connection.
    ///
    /// The value is whole milliseconds, rounded up, at least 1 ms
    /// (Postgres reads 0 as "no timeout") and at most `i32::MAX` ms. For a
    /// value per tenant or plan, use
    /// [`Tenancy::statement_timeout_for`](crate::Tenancy::statement_timeout_for).
    ///
    /// **SQLite and MySQL/MariaDB: ignored.** SQLite has no statement
    /// timeout; MySQL's `max_execution_time` exists only as session state
    /// (`SET SESSION`, SELECTs only), which this crate never sets because
    /// it would outlive the statement on a pooled connection.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sea_orm::DatabaseConnection;
    /// use sea_orm_tenant::prelude::*;
    ///
    /// let conn = TenantConnection::new(DatabaseConnection::default(), TenantId::from("acme"))
    ///     .statement_timeout(Duration::from_secs(2));
    /// assert!(format!("{conn:?}").contains("statement_timeout: Some(2s)"));
    /// ```
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self.rebuild_opener();
        self
    }

    /// Calls `callback` once for every statement of this connection, its
    /// transactions and its streams, as SeaORM's
    /// [`DatabaseConnection::set_metric_callback`] does: the statement as
    /// sent (confined to the tenant), its time, and whether it failed.
    ///
    /// The callback is set on the connection's own
    /// [`DatabaseConnection`] too (this connection's clone of it, which
    /// [`database`](Self::database) returns), so it is the only one to
    /// set. On SQLite and MySQL/MariaDB SeaORM runs the statements and
    /// reports them; on Postgres the tenant connection sends them on its
    /// own leased connection, inside the transaction that set the tenant,
    /// and reports them itself: each once (a read re-run as a write
    /// included), with `elapsed` the time of its transaction (opening,
    /// statement, commit). A stream reports when it ends. As in SeaORM,
    /// `execute_unprepared` of SQL that stays without bound values, and
    /// begin, commit and rollback, are not reported.
    ///
    /// SeaORM keeps a callback private once set, so one set on the
    /// `DatabaseConnection` before cannot be taken over: set it here, or
    /// with [`Tenancy::metric_callback`](crate::Tenancy::metric_callback).
    /// With none set, a statement reads no clock and allocates nothing
    /// for it.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use sea_orm::{ConnectionTrait, Database};
    /// use sea_orm_tenant::prelude::*;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sea_orm::DbErr> {
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = seen.clone();
    /// let db = Database::connect("sqlite::memory:").await?;
    /// let conn = TenantConnection::new(db, TenantId::from("acme")).metric_callback(
    ///     move |info: &sea_orm::metric::Info<'_>| {
    ///         // e.g. metrics::histogram!("db_statement_seconds").record(info.elapsed);
    ///         log.lock().unwrap().push((info.statement.sql.clone(), info.failed));
    ///     },
    /// );
    /// conn.query_one_raw(sea_orm::Statement::from_string(conn.get_database_backend(), "SELECT 1"))
    ///     .await?;
    /// assert_eq!(*seen.lock().unwrap(), [("SELECT 1".to_owned(), false)]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn metric_callback<F>(mut self, callback: F) -> Self
    where
        F: Fn(&sea_orm::metric::Info<'_>) + Send + Sync + 'static,
    {
        self.observer = Observer::new(callback);
        self.observer.install(&mut self.db);
        self
    }

    /// Runs this connection under `policy` (a [`Tenancy`](crate::Tenancy)'s
    /// limits): its statement timeout for this tenant, cap and hook.
    pub(crate) fn under(mut self, policy: &Policy) -> Self {
        if let Some(timeout) = policy.timeout_for(&self.tenant) {
            self = self.statement_timeout(timeout);
        }
        self.limits = policy.limits.clone();
        self.observer = policy.observer.clone();
        self
    }

    /// Builds the transaction opener from the tenant, schema and timeout.
    fn rebuild_opener(&mut self) {
        self.begin = Begin::opener(&self.tenant, self.schema.as_deref(), self.timeout);
        // Autocommit alone sets nothing: a schema or timeout needs a road
        // that does.
        if matches!(self.road, Road::Plain) && (self.schema.is_some() || self.timeout.is_some()) {
            self.road = Road::Local;
        }
        #[cfg(feature = "sqlx-postgres")]
        {
            self.session = Session::new(&self.tenant, self.schema.as_deref(), self.timeout);
        }
        self.search_path = self
            .schema
            .as_deref()
            .map(|schema| Arc::from(opener::search_path_sql(schema)));
    }

    /// Ties this connection to its tenant's life in a
    /// [`Tenancy`](crate::Tenancy): once deprovision begins, every
    /// statement, transaction and stream is refused with
    /// [`TenantError::UnknownTenant`].
    pub(crate) fn living(mut self, life: Life) -> Self {
        self.life = life;
        self
    }

    /// Sets where the tenant lives, as reported in tracing spans.
    pub(crate) fn placed(mut self, placement: Placement) -> Self {
        self.placement = placement;
        self
    }

    /// Chooses how this connection's Postgres statements reach the
    /// server, once its schema, timeout and pooler are known: alone in
    /// autocommit when nothing needs setting (no row-level security, `rls`
    /// false; no schema; no timeout) and no pooler is in between, else on
    /// `keeper`'s tenant-keeping connections when there is one, else in a
    /// transaction that sets them locally.
    ///
    /// With `triggers` (the tenant tables may have triggers of the
    /// application's, which could change session state), a write is
    /// treated like a statement calling a declared function: followed by
    /// setting the session again on a kept connection, or run in a
    /// transaction whose commit sets it back.
    pub(crate) fn choose_road(
        mut self,
        rls: bool,
        triggers: bool,
        keeper: Option<&Arc<Keeper>>,
    ) -> Self {
        self.writes_reset = triggers;
        let needs_setting = rls || self.schema.is_some() || self.timeout.is_some();
        self.road = match keeper {
            // Kept connections need no acquire-time ping and skip the ping
            // sqlx sends when one goes back to its pool; without a setting
            // to make, every tenant shares one session, so none switches.
            #[cfg(feature = "sqlx-postgres")]
            Some(keeper) => {
                if !needs_setting {
                    self.session = Session::anonymous();
                }
                Road::Kept(keeper.clone())
            }
            // Behind a transaction-mode pooler an unnamed statement must be
            // parsed and run in one transaction (sqlx prepares it in a
            // round trip of its own, which the pooler may send to another
            // server connection): never alone.
            _ if !needs_setting && !self.unnamed => Road::Plain,
            _ => Road::Local,
        };
        self
    }

    /// Sends this connection's Postgres statements unnamed, for a
    /// transaction-mode pooler (see
    /// [`Tenancy::behind_pooler`](crate::Tenancy::behind_pooler)).
    pub(crate) fn unnamed(mut self, unnamed: bool) -> Self {
        self.unnamed = unnamed;
        self
    }

    /// Where this connection's tenant lives: the level it was handed out
    /// for, as recorded in the `placement` field of every statement's
    /// tracing span.
    ///
    /// ```
    /// use sea_orm::DatabaseConnection;
    /// use sea_orm_tenant::prelude::*;
    ///
    /// let conn = TenantConnection::new(DatabaseConnection::default(), TenantId::from("acme"));
    /// assert_eq!(conn.placement(), Placement::SharedSchema);
    /// ```
    pub fn placement(&self) -> Placement {
        self.placement
    }

    /// The span every statement of this connection runs in: target
    /// `sea_orm_tenant`, fields `tenant`, `placement`, and `db_time_us`
    /// (the statement's time in microseconds, recorded when it ends).
    fn span(&self) -> tracing::Span {
        tracing::debug_span!(
            target: "sea_orm_tenant",
            "tenant_statement",
            tenant = %self.tenant,
            placement = self.placement.as_str(),
            db_time_us = tracing::field::Empty
        )
    }

    /// Runs one statement's `work` in its span, holding one of the
    /// tenant's permits (when the pool caps concurrency) and timing it
    /// (when the pool has a database-time hook or the span is enabled).
    /// `work` gets the permit too, so that the connection it runs on can
    /// keep it past a dropped future until the server has finished.
    ///
    /// A `read` is let through while a move's pause freezes the tenant,
    /// and `work` is told so (`true`): it must then run where the database
    /// refuses writes, and never be retried as a write.
    async fn guarded<T, W, F>(&self, read: bool, work: W) -> Result<T, DbErr>
    where
        W: FnOnce(Option<Permit>, bool) -> F,
        F: Future<Output = Result<T, DbErr>>,
    {
        let alive = self.life.enter(&self.tenant, read)?;
        let frozen = alive.frozen();
        let span = self.span();
        let limited = async {
            let permit = self.limits.enter(&self.tenant).await?;
            // A read let through during a move's pause that waited for its
            // permit past the switch: the old place may be gone.
            if frozen && self.life.stage() == Stage::Moved {
                return Err(TenantError::Moved(self.tenant.to_string()).into());
            }
            let _meter = self.limits.meter(&self.tenant, Some(&span));
            // Boxed: the statement's future (sqlx's, the transaction's
            // round trips) lives on the heap, so the future callers hold
            // across `.await` stays small (tests/future_size.rs) and the
            // nesting of futures stays within what the compiler lays out
            // in a release build with every feature.
            let work = Box::pin(work(permit.clone(), frozen));
            #[cfg(feature = "metrics")]
            let work =
                crate::metrics::timed(&self.tenant, crate::metrics::system_of(&self.db), work);
            work.await
        };
        limited.instrument(span.clone()).await
    }

    /// Like [`new`](Self::new), but first checks that `tenant` fits the
    /// type of `E`'s tenant column, so a policy's cast cannot fail later:
    /// `acme` for an integer column is a [`TenantError::ColumnType`] here,
    /// before any statement runs. `E` is declared a tenant table of the
    /// connection, as [`tenant_table`](Self::tenant_table) does.
    ///
    /// ```
    /// use sea_orm::DatabaseConnection;
    /// use sea_orm_tenant::doc_entities::post;
    /// use sea_orm_tenant::prelude::*;
    ///
    /// let db = DatabaseConnection::default();
    /// assert!(TenantConnection::checked::<post::Entity>(db, TenantId::from("acme")).is_ok());
    /// ```
    pub fn checked<E: TenantEntity>(
        db: DatabaseConnection,
        tenant: TenantId,
    ) -> Result<Self, TenantError> {
        E::tenant_value(&tenant)?;
        Ok(Self::new(db, tenant).tenant_table::<E>())
    }

    /// The tenant this connection is bound to.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The shared connection underneath, **without** the tenant. For
    /// global tables and admin work; statements on it are not scoped.
    pub fn database(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The scoped builders of `E` for this connection's tenant: the same
    /// as `E::scoped(conn.tenant())`.
    ///
    /// ```
    /// use sea_orm::{DatabaseConnection, DbBackend, QueryTrait};
    /// use sea_orm_tenant::doc_entities::post;
    /// use sea_orm_tenant::prelude::*;
    ///
    /// let conn = TenantConnection::new(DatabaseConnection::default(), TenantId::from("acme"));
    /// let sql = conn.scoped::<post::Entity>().find_by_id(7).build(DbBackend::Postgres).to_string();
    /// assert!(sql.contains(r#""post"."tenant_id" = /*!BINARY*/('acme')"#));
    /// ```
    pub fn scoped<E: TenantEntity>(&self) -> Scoped<E> {
        E::scoped(&self.tenant)
    }

    /// On Postgres, refuses a statement that visibly changes session state
    /// (see [`TenantError::SessionState`]) before anything is sent.
    fn refuse_session_state(&self, sql: &str) -> Result<(), DbErr> {
        #[cfg(feature = "sqlx-postgres")]
        if self.pg_pool().is_some() {
            session_guard::check(sql)?;
        }
        #[cfg(not(feature = "sqlx-postgres"))]
        let _ = sql;
        Ok(())
    }

    #[cfg(feature = "sqlx-postgres")]
    fn pg_pool(&self) -> Option<&sea_orm::sqlx::PgPool> {
        match &self.db.inner {
            DatabaseConnectionType::SqlxPostgresPoolConnection(_) => {
                Some(self.db.get_postgres_connection_pool())
            }
            _ => None,
        }
    }
}

/// How a tenant connection's Postgres statements reach the server.
#[derive(Clone, Default)]
pub(crate) enum Road {
    /// Each statement in a transaction of its own that first set the
    /// tenant (schema, timeout) with `SET LOCAL`, on the application's
    /// pool: for a connection shared with other code, or behind a
    /// transaction-mode pooler (rule 6).
    #[default]
    Local,
    /// Nothing needs setting (no row-level security, no schema, no
    /// timeout): each statement alone, in autocommit, one round trip.
    Plain,
    /// On the tenant-keeping connections of a `Tenancy` ([`Keeper`]): the
    /// session holds the tenant, set again only when the previous
    /// statement on the connection was another's.
    #[cfg(feature = "sqlx-postgres")]
    Kept(Arc<Keeper>),
}

impl std::fmt::Debug for Road {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Road::Local => "Local",
            Road::Plain => "Plain",
            #[cfg(feature = "sqlx-postgres")]
            Road::Kept(_) => "Kept",
        })
    }
}

/// Without Postgres nothing is kept: no `Keeper` can exist.
#[cfg(not(feature = "sqlx-postgres"))]
pub(crate) enum Keeper {}

#[cfg(not(feature = "sqlx-postgres"))]
impl Keeper {
    pub(crate) fn clear(&self) {
        match *self {}
    }

    pub(crate) fn forget(&self, _tenant: &TenantId) {
        match *self {}
    }

    pub(crate) fn kept(&self) -> usize {
        match *self {}
    }
}

/// The backend of a connection for `Debug`, without SeaORM's panic on a
/// disconnected one (`DatabaseConnection::default()`).
struct Backend<'a>(&'a DatabaseConnection);

impl std::fmt::Debug for Backend<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0.inner {
            DatabaseConnectionType::Disconnected => f.write_str("Disconnected"),
            _ => std::fmt::Debug::fmt(&self.0.get_database_backend(), f),
        }
    }
}

fn unexpected(what: &str) -> DbErr {
    DbErr::Custom(format!("tenant connection: unexpected result for {what}"))
}
