//! Tenant-keeping connections (Postgres, rule 6): connections of a pool
//! that a [`Tenancy`](crate::Tenancy) owns and never hands to other code,
//! on which the tenant (and its `search_path` and `statement_timeout`) is
//! set at session level and kept until the next statement is another
//! tenant's.
//!
//! The invariant, in one place ([`Keeper::checkout`]): a connection is
//! handed to a statement only with its session set to that statement's
//! [`Session`], either because it was kept under that very session, or
//! because the setting statement ([`SET_SESSION`]) has just succeeded on
//! it. A connection's session is recorded only after the server said the
//! setting succeeded, and it is forgotten whenever a round trip on the
//! connection did not end in step (a dropped future, a connection that
//! died): such a connection is closed, never kept ([`Lease`]'s drop). A
//! connection that goes back to the keeper's pool (kept too long, over the
//! bounds, the end of a user's transaction) loses its record, so it is set
//! again before its next statement, whatever it held.
//!
//! Statements on these connections run in autocommit: a hot tenant's read
//! or write is one round trip, a switch of tenant adds one (only what
//! differs, as one simple query of `SET`s). Nothing the first wall admits
//! can change a session setting (no `SET`, no function that could); what
//! it cannot see is undone: after a statement that called a function only
//! the application declared pure, or a write where a tenant table has a
//! trigger, the connection's record is dropped, so it is set again, role
//! included, before its next statement. A user's transaction is opened
//! after the session was set, so its rollbacks cannot undo it, and a
//! connection that ran an unconfined statement is closed afterwards.
//!
//! Waiters are never starved by kept connections: a connection that finds
//! none idle takes the least recently used kept one (and sets it to its
//! own session) rather than waiting, and a connection is given back to the
//! pool rather than kept while a statement of ours waits for the pool.
//! Several `Tenancy` values over one pool share one keeper, so one budget.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use sea_orm::DbErr;
use sea_orm::sqlx::postgres::{PgConnectOptions, PgPool};

use super::HotTenants;
use super::opener::timeout_millis;
use super::pg::Lease;
use crate::TenantId;

/// Sets a connection's session in one round trip, every value bound: the
/// tenant (`$1`); the `search_path`, the schema `$2` (quoted by the server
/// where it needs quotes) then `public`, or the pool's default `$4`; the
/// `statement_timeout` `$3` or the default `$5`; and the role back to the
/// default `$6` if something changed it (setting it costs a catalog
/// lookup, so only then).
pub(crate) const SET_SESSION: &str = "SELECT pg_catalog.set_config('app.tenant_id', $1, false), \
     pg_catalog.set_config('search_path', COALESCE(pg_catalog.quote_ident($2) || ', public', $4), \
     false), pg_catalog.set_config('statement_timeout', COALESCE($3, $5), false), \
     CASE WHEN pg_catalog.current_setting('role') <> $6 THEN pg_catalog.set_config('role', $6, false) END";

/// What a session of the keeper's pool starts with, read once, on its
/// first connection, which nothing of ours has set yet: the values after
/// the pool's own `after_connect` (SeaORM's `set_schema_search_path`, say),
/// which sessions without a schema or timeout of their own go back to.
/// The `search_path` is as `SHOW` prints it (its names quoted where they
/// need it), so it can be set again as written.
const DEFAULTS: &str = "SELECT pg_catalog.current_setting('search_path') AS search_path, \
     pg_catalog.current_setting('statement_timeout') AS timeout, \
     pg_catalog.current_setting('role') AS role";

/// The values a session of the keeper's pool starts with (its
/// connections all log in alike): what [`SET_SESSION`] goes back to.
#[derive(Debug)]
pub(crate) struct Defaults {
    pub(crate) search_path: String,
    pub(crate) timeout: String,
    pub(crate) role: String,
}

/// What a tenant's statements need set on their connection's session.
#[derive(Clone, Debug)]
pub(crate) struct Session(Arc<SessionValues>);

#[derive(Debug, PartialEq, Eq, Hash)]
struct SessionValues {
    /// `SET app.tenant_id = '<id>'` when the id may be written into SQL
    /// (validated `[A-Za-z0-9_-]`), for a switch as one simple query.
    set_tenant: Option<String>,
    tenant: TenantId,
    /// `app.tenant_id`, as the policies read it.
    setting: String,
    /// The schema of a schema per tenant.
    schema: Option<String>,
    /// The statement timeout, in milliseconds.
    timeout_ms: Option<String>,
}

impl Session {
    /// The session of `tenant`, in `schema` (a validated
    /// [`SchemaName`](crate::SchemaName)) when given, under `timeout`.
    pub(crate) fn new(tenant: &TenantId, schema: Option<&str>, timeout: Option<Duration>) -> Self {
        let id = tenant.as_str();
        let set_tenant = super::opener::is_literal_safe(&id)
            .then(|| format!("SET {} = '{id}'", super::opener::SETTING));
        Session(Arc::new(SessionValues {
            set_tenant,
            tenant: tenant.clone(),
            setting: tenant.as_str().into_owned(),
            schema: schema.map(str::to_owned),
            timeout_ms: timeout.map(|t| timeout_millis(t).to_string()),
        }))
    }

    /// The session of a statement that needs nothing set (no row-level
    /// security, no schema, no timeout): no tenant, the pool's defaults.
    /// Shared by every tenant of such a tenancy, so its statements never
    /// switch.
    pub(crate) fn anonymous() -> Self {
        Session(Arc::new(SessionValues {
            set_tenant: None,
            tenant: TenantId::from(""),
            setting: String::new(),
            schema: None,
            timeout_ms: None,
        }))
    }

    pub(crate) fn tenant(&self) -> &TenantId {
        &self.0.tenant
    }

    /// The switch from `prev` (what the connection holds, set by us and
    /// changed by nothing since) to this session as one simple query of
    /// `SET`s, only of what differs: the tenant, and the `search_path` and
    /// `statement_timeout` when they change (back to `defaults` when this
    /// session has none). A simple query of utility statements is neither
    /// planned nor cached, which a prepared `SELECT set_config(..)` is (and
    /// re-planned after every change of `search_path`). `None` when the id
    /// must be bound: then [`SET_SESSION`].
    pub(crate) fn switch_from(&self, prev: &Session, defaults: &Defaults) -> Option<String> {
        let mut sql = self.0.set_tenant.clone()?;
        if prev.0.schema != self.0.schema {
            sql.push_str("; SET search_path = ");
            match &self.0.schema {
                Some(schema) => {
                    sql.push_str(&quote_ident(schema));
                    sql.push_str(", public");
                }
                None => sql.push_str(&defaults.search_path),
            }
        }
        if prev.0.timeout_ms != self.0.timeout_ms {
            sql.push_str("; SET statement_timeout = ");
            sql.push_str(&quote_literal(
                self.0.timeout_ms.as_deref().unwrap_or(&defaults.timeout),
            ));
        }
        Some(sql)
    }

    /// The three values of [`SET_SESSION`].
    pub(crate) fn values(&self) -> (&str, Option<&str>, Option<&str>) {
        (
            &self.0.setting,
            self.0.schema.as_deref(),
            self.0.timeout_ms.as_deref(),
        )
    }
}

impl PartialEq for Session {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl Eq for Session {}

impl Hash for Session {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

struct Kept {
    lease: Lease,
    since: Instant,
}

struct Slot {
    last_used: u64,
    kept: Vec<Kept>,
}

#[derive(Default)]
struct State {
    tick: u64,
    total: usize,
    slots: HashMap<Session, Slot>,
}

/// The tenant-keeping connections of one pool of the application's.
pub(crate) struct Keeper {
    /// The application's pool, whose settings the keeper's own copies.
    source: PgPool,
    /// The keeper's own pool, made on first use (inside a runtime).
    own: OnceLock<PgPool>,
    max_kept: usize,
    per_session: usize,
    max_idle: Duration,
    /// Statements of ours waiting for a connection of `own`.
    waiting: AtomicUsize,
    /// What a session of `own` starts with, read on its first connection.
    defaults: tokio::sync::OnceCell<Defaults>,
    state: Mutex<State>,
}

/// The keepers alive, by the connect options of the pool they copy (one
/// `Arc` per pool, shared by its clones).
type Registry = Mutex<Vec<(Weak<PgConnectOptions>, Weak<Keeper>)>>;

fn registry() -> &'static Registry {
    static KEEPERS: OnceLock<Registry> = OnceLock::new();
    KEEPERS.get_or_init(Registry::default)
}

impl Keeper {
    /// The keeper of `pool`: the one already made for it (by another
    /// `Tenancy` over the same pool, whose limits it keeps) or a new one
    /// with `config`'s. `None` when `config` keeps nothing.
    pub(crate) fn for_pool(pool: &PgPool, config: &HotTenants) -> Option<Arc<Self>> {
        if !config.parks() {
            return None;
        }
        let options = pool.connect_options();
        let mut keepers = registry().lock().unwrap_or_else(|e| e.into_inner());
        keepers.retain(|(o, k)| o.strong_count() > 0 && k.strong_count() > 0);
        let found = keepers.iter().find_map(|(o, k)| {
            o.upgrade()
                .filter(|o| Arc::ptr_eq(o, &options))
                .and_then(|_| k.upgrade())
        });
        if let Some(keeper) = found {
            return Some(keeper);
        }
        let max = pool.options().get_max_connections() as usize;
        let keeper = Arc::new(Keeper {
            source: pool.clone(),
            own: OnceLock::new(),
            max_kept: config.max_parked.unwrap_or(max).min(max),
            per_session: config.per_tenant,
            max_idle: config.max_idle,
            waiting: AtomicUsize::new(0),
            defaults: tokio::sync::OnceCell::new(),
            state: Mutex::new(State::default()),
        });
        keepers.push((Arc::downgrade(&options), Arc::downgrade(&keeper)));
        Some(keeper)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every mutation under the lock is a single push, pop or remove,
        // so a panic cannot leave it half done: poisoning is ignored.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The keeper's own pool: the application's settings (size, timeouts,
    /// hooks) and server, its own connections.
    fn own(self: &Arc<Self>) -> &PgPool {
        self.own.get_or_init(|| {
            let options = (*self.source.connect_options()).clone();
            let pool = self.source.options().clone().connect_lazy_with(options);
            tokio::spawn(sweeper(Arc::downgrade(self), self.max_idle));
            pool
        })
    }

    /// A connection whose session is `session`, ready for one statement
    /// or a user's transaction: one kept under it (no round trip), or an
    /// idle one of the pool, or the least recently used kept one, set to
    /// `session` first (one round trip); only when all are busy does it
    /// wait for the pool. A connection that turns out dead when set is
    /// replaced by one the pool checked. A kept one is handed out marked
    /// unchecked ([`Lease::idle_since_checked`]): the caller's first round
    /// trip on it tells whether it died while idle.
    pub(crate) async fn checkout(
        self: &Arc<Self>,
        session: &Session,
        unnamed: bool,
    ) -> Result<Lease, DbErr> {
        if let Some(lease) = self.take_kept(session) {
            return Ok(lease);
        }
        let own = self.own();
        let max = own.options().get_max_connections();
        let mut lease = match own.try_acquire() {
            Some(conn) => Lease::unchecked(conn, unnamed),
            // Room for one more: opened (and checked) by the pool.
            None if own.size() < max => self.wait(own, unnamed).await?,
            None => match self.steal() {
                Some(lease) => lease,
                None => self.wait(own, unnamed).await?,
            },
        };
        match self.set(&mut lease, session).await {
            Ok(()) => return Ok(lease),
            Err(err) if !lease.is_unchecked_failure(&err) => return Err(set_err(err)),
            // Dead while idle: likely the others too (a server restart).
            Err(_) => {
                drop(lease);
                self.clear();
            }
        }
        let mut lease = self.wait(own, unnamed).await?;
        self.set(&mut lease, session).await.map_err(set_err)?;
        Ok(lease)
    }

    /// Sets `lease`'s session, reading the pool's defaults first if this
    /// is the keeper's first connection.
    async fn set(&self, lease: &mut Lease, session: &Session) -> Result<(), sea_orm::sqlx::Error> {
        let defaults = match self.defaults.get() {
            Some(defaults) => defaults,
            None => {
                let read = lease.read_defaults(DEFAULTS).await?;
                self.defaults.get_or_init(|| async { read }).await
            }
        };
        lease.set_session(session, defaults).await
    }

    /// A connection the pool checked, counted as a waiter meanwhile (until
    /// it returns or its future is dropped).
    async fn wait(&self, own: &PgPool, unnamed: bool) -> Result<Lease, DbErr> {
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&self.waiting);
        Lease::acquire(own, unnamed).await
    }

    /// A connection kept under `session`, if one is ready.
    fn take_kept(&self, session: &Session) -> Option<Lease> {
        let mut stale = Vec::new();
        let found = {
            let mut state = self.lock();
            state.tick += 1;
            let tick = state.tick;
            let mut found = None;
            if let Some(slot) = state.slots.get_mut(session) {
                slot.last_used = tick;
                while let Some(kept) = slot.kept.pop() {
                    if kept.since.elapsed() > self.max_idle {
                        stale.push(kept);
                    } else {
                        found = Some(kept.lease.idle_since_checked());
                        break;
                    }
                }
            }
            state.total -= stale.len() + usize::from(found.is_some());
            found
        };
        drop(stale); // back to the pool, outside the lock
        found
    }

    /// The least recently used kept connection of any session.
    fn steal(&self) -> Option<Lease> {
        let mut state = self.lock();
        evict_lru(&mut state, None).map(|kept| kept.lease.idle_since_checked())
    }

    /// Keeps `lease` under its session for the next statement of the same
    /// session, or gives it back to the pool: when it is not idle in
    /// step, when the bounds are reached, or when a statement of ours is
    /// waiting for the pool.
    pub(crate) fn keep(&self, lease: Lease) {
        let Some(session) = lease.session().cloned() else {
            return;
        };
        if !lease.is_idle() || self.waiting.load(Ordering::SeqCst) > 0 {
            return;
        }
        let mut released = Vec::new();
        {
            let mut state = self.lock();
            state.tick += 1;
            let tick = state.tick;
            let in_slot = state.slots.get(&session).map_or(0, |s| s.kept.len());
            if in_slot >= self.per_session {
                return drop_outside(state, lease);
            }
            while state.total >= self.max_kept {
                match evict_lru(&mut state, Some(&session)) {
                    Some(kept) => released.push(kept),
                    None => break,
                }
            }
            if state.total >= self.max_kept {
                return drop_outside(state, lease);
            }
            state.total += 1;
            let slot = state.slots.entry(session).or_insert(Slot {
                last_used: tick,
                kept: Vec::new(),
            });
            slot.last_used = tick;
            slot.kept.push(Kept {
                lease,
                since: Instant::now(),
            });
        }
        drop(released);
    }

    /// Gives every kept connection back to the pool.
    pub(crate) fn clear(&self) {
        let slots = {
            let mut state = self.lock();
            state.total = 0;
            std::mem::take(&mut state.slots)
        };
        drop(slots);
    }

    /// Gives back every connection kept for `tenant` (deprovisioned).
    pub(crate) fn forget(&self, tenant: &TenantId) {
        let released: Vec<Slot> = {
            let mut state = self.lock();
            let sessions: Vec<Session> = state
                .slots
                .keys()
                .filter(|s| s.tenant() == tenant)
                .cloned()
                .collect();
            let released: Vec<Slot> = sessions
                .iter()
                .filter_map(|s| state.slots.remove(s))
                .collect();
            state.total -= released.iter().map(|s| s.kept.len()).sum::<usize>();
            released
        };
        drop(released);
    }

    /// How many connections are kept idle now.
    pub(crate) fn kept(&self) -> usize {
        self.lock().total
    }

    fn sweep(&self) {
        let released: Vec<Kept> = {
            let mut state = self.lock();
            let max_idle = self.max_idle;
            let mut released = Vec::new();
            state.slots.retain(|_, slot| {
                let (keep, old): (Vec<_>, Vec<_>) = std::mem::take(&mut slot.kept)
                    .into_iter()
                    .partition(|k| k.since.elapsed() <= max_idle);
                released.extend(old);
                slot.kept = keep;
                !slot.kept.is_empty()
            });
            state.total -= released.len();
            released
        };
        drop(released);
    }
}

/// `"name"`, embedded quotes doubled.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'`, embedded quotes doubled (the text is the server's own
/// `statement_timeout` or a number of ours).
fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Releases the lock, then `lease` (back to the pool).
fn drop_outside(state: std::sync::MutexGuard<'_, State>, lease: Lease) {
    drop(state);
    drop(lease);
}

fn set_err(err: sea_orm::sqlx::Error) -> DbErr {
    super::op::Op::Unprepared(SET_SESSION).convert(err)
}

/// Takes the oldest kept connection of the least recently used slot other
/// than `spare`.
fn evict_lru(state: &mut State, spare: Option<&Session>) -> Option<Kept> {
    let victim = state
        .slots
        .iter()
        .filter(|(s, slot)| Some(*s) != spare && !slot.kept.is_empty())
        .min_by_key(|(_, slot)| slot.last_used)
        .map(|(s, _)| s.clone())?;
    let slot = state.slots.get_mut(&victim)?;
    let kept = (!slot.kept.is_empty()).then(|| slot.kept.remove(0));
    if slot.kept.is_empty() {
        state.slots.remove(&victim);
    }
    if kept.is_some() {
        state.total -= 1;
    }
    kept
}

/// Gives connections kept longer than `max_idle` back to the pool, even
/// when no statement comes.
async fn sweeper(keeper: Weak<Keeper>, max_idle: Duration) {
    let period = (max_idle / 2).max(Duration::from_millis(100));
    loop {
        tokio::time::sleep(period).await;
        let Some(keeper) = keeper.upgrade() else {
            return;
        };
        keeper.sweep();
    }
}
