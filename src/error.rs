//! [`TenantError`], the crate's one error type, and how it travels
//! inside SeaORM's [`DbErr`].
//!
//! SeaORM 2.0's `DbErr` has one variant that keeps a typed error rather
//! than a message: [`DbErr::TryIntoErr`], whose `source` is an
//! `Arc<dyn Error + Send + Sync>` (the other variants hold a `String` or a
//! driver's `sqlx::Error`). A `TenantError` converted with `?` travels
//! there, so [`TenantError::from_db_err`] finds it again by type, with its
//! fields, and no message a user writes into `DbErr::Custom` can pass for
//! it.

use std::sync::Arc;

use sea_orm::{DbErr, RuntimeErr};

/// Everything that can go wrong when scoping work to a tenant.
///
/// Every variant but [`Database`](TenantError::Database) is a refusal: when
/// one is returned, nothing was sent to the database. It converts into
/// SeaORM's [`DbErr`] and back, so that `?` works both ways;
/// [`TenantError::from_db_err`] finds it again inside a `DbErr`, by type.
///
/// ```
/// use sea_orm::DbErr;
/// use sea_orm_tenant::{TenantError, TenantId};
///
/// let err = TenantId::parse("a'b").unwrap_err();
/// assert!(matches!(err, TenantError::InvalidId { .. }));
///
/// let db_err: DbErr = err.clone().into();
/// assert_eq!(TenantError::from_db_err(&db_err), Some(&err));
/// assert_eq!(TenantError::from(db_err), err);
///
/// // A message that merely looks like one is not a tenant error.
/// let lookalike = DbErr::Custom("tenant: invalid tenant id".into());
/// assert!(!TenantError::is_tenant_error(&lookalike));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TenantError {
    /// No tenant is in scope: the code ran outside [`with_tenant`](crate::with_tenant)
    /// or a task was spawned without [`spawn`](crate::spawn). The query was not run.
    #[error("tenant: no tenant in scope (run inside with_tenant, or pass a TenantId)")]
    Missing,

    /// A row or an active model names a tenant other than the one in scope.
    #[error(
        "tenant: mismatch on `{table}`: the scope is tenant `{expected}`, the row names `{found}`"
    )]
    Mismatch {
        /// The table of the entity.
        table: String,
        /// The tenant in scope.
        expected: String,
        /// The tenant the row or model names.
        found: String,
    },

    /// A tenant id from outside failed validation.
    #[error("tenant: invalid tenant id {input:?}: {reason}")]
    InvalidId {
        /// The rejected input, truncated to 80 characters.
        input: String,
        /// Why it was rejected.
        reason: &'static str,
    },

    /// The tenant id cannot be stored in the tenant column's type
    /// (for example `acme` for an integer column). The message says why:
    /// `007` is not refused as "not a number" but as a second spelling of
    /// 7 (rule 10: every tenant has one spelling).
    ///
    /// ```
    /// use sea_orm::sea_query::ColumnType;
    /// use sea_orm_tenant::TenantId;
    ///
    /// let err = TenantId::from("007").to_value_for(&ColumnType::Integer, "post", "tenant_id").unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "tenant: tenant id `007` does not fit column `post`.`tenant_id` (Integer): \
    ///      `007` is not the canonical spelling of 7; integer tenant ids have no leading zeros"
    /// );
    /// ```
    #[error(
        "tenant: tenant id `{tenant}` does not fit column `{table}`.`{column}` ({column_type}): {}",
        crate::tenant::why_unfit(tenant, column_type)
    )]
    ColumnType {
        /// The table of the entity.
        table: String,
        /// The tenant column.
        column: String,
        /// The column's type, as SeaORM describes it.
        column_type: String,
        /// The tenant id.
        tenant: String,
    },

    /// An update tried to write the tenant column.
    #[error("tenant: the tenant column `{table}`.`{column}` cannot be changed by an update")]
    TenantColumnWrite {
        /// The table of the entity.
        table: String,
        /// The tenant column.
        column: String,
    },

    /// The tenant is not known to the tenancy (not provisioned).
    #[error("tenant: unknown tenant `{0}`")]
    UnknownTenant(String),

    /// The tenant moved ([`Tenancy::move_tenant`](crate::Tenancy::move_tenant))
    /// or is moving, and this work cannot follow it, so nothing was sent
    /// and nothing is written to the old place: a transaction or stream
    /// open across the move's pause, a statement that may write (or a
    /// read that turned out to write) waiting longer than the pause, or
    /// a new connection waiting longer than it. A connection's next
    /// statement or transaction follows the tenant by itself; worth
    /// retrying (a web service answers 503).
    ///
    /// ```
    /// use sea_orm_tenant::TenantError;
    ///
    /// let err = TenantError::Moved("acme".into());
    /// assert!(err.to_string().contains("try again"));
    /// ```
    #[error(
        "tenant: tenant `{0}` moved (or is moving), and this work could not follow it; nothing was sent: try again"
    )]
    Moved(String),

    /// A tenant id (or the name built from it) is not a safe schema,
    /// database or file name. Nothing was created.
    #[error("tenant: {input:?} cannot name a schema, database or file: {reason}")]
    UnsafeName {
        /// The rejected id or name, truncated to 80 characters.
        input: String,
        /// Why it was rejected.
        reason: &'static str,
    },

    /// The isolation level or operation is not available here (for
    /// example schema per tenant on SQLite).
    #[error("tenant: unsupported: {0}")]
    Unsupported(String),

    /// The tenant already has as many database operations in flight
    /// (statements, streams, open transactions) as
    /// [`Tenancy::max_concurrent_per_tenant`](crate::Tenancy::max_concurrent_per_tenant)
    /// allows, and none ended within
    /// [`Tenancy::concurrency_wait`](crate::Tenancy::concurrency_wait).
    /// Nothing was sent; other tenants are not affected. Worth retrying
    /// later (a web service answers 429 or 503); [`TenantError::is_busy`]
    /// recognises it inside a [`DbErr`].
    ///
    /// ```
    /// use sea_orm::DbErr;
    /// use sea_orm_tenant::TenantError;
    ///
    /// let err = TenantError::Busy { tenant: "acme".into(), limit: 4 };
    /// assert_eq!(
    ///     err.to_string(),
    ///     "tenant: busy: tenant `acme` already has 4 database operations in flight (its cap)"
    /// );
    /// assert!(TenantError::is_busy(&DbErr::from(err)));
    /// ```
    #[error(
        "tenant: busy: tenant `{tenant}` already has {limit} database operations in flight (its cap)"
    )]
    Busy {
        /// The tenant.
        tenant: String,
        /// Its cap on concurrent database operations.
        limit: usize,
    },

    /// A migration adding a tenant column found rows its backfill cannot
    /// fill (no parent row, or a parent without a tenant; or rows exist and
    /// no backfill was given). The table was left as it was.
    #[error(
        "tenant: cannot add tenant column `{table}`.`{column}`: {rows} row(s) would stay NULL after the backfill; nothing was changed"
    )]
    Backfill {
        /// The table the column was to be added to.
        table: String,
        /// The tenant column.
        column: String,
        /// How many rows the backfill leaves without a tenant.
        rows: i64,
    },

    /// A migration step was to make a reference carry the tenant (rule 11),
    /// but rows already point at another tenant's row (or at none).
    #[error(
        "tenant: cannot add `{constraint}`: {rows} row(s) of `{table}` reference a row of another tenant or none; nothing was changed"
    )]
    CrossTenantReferences {
        /// The table holding the reference.
        table: String,
        /// The composite foreign key that was to be added.
        constraint: String,
        /// How many rows reference outside their tenant.
        rows: i64,
    },

    /// The declaration of
    /// [`Tenancy::row_level_security`](crate::Tenancy::row_level_security)
    /// and the catalog disagree about
    /// a declared tenant table: declared with policies, it has row-level
    /// security disabled (its rows would have no second wall), or declared
    /// without, it has it enabled (its statements would run without the
    /// tenant set and see no rows). Fix the declaration or the table.
    ///
    /// ```
    /// use sea_orm_tenant::TenantError;
    ///
    /// let err = TenantError::RowLevelSecurity { table: "post".into(), declared: true };
    /// assert!(err.to_string().contains("`post`"));
    /// ```
    #[error(
        "tenant: row-level security was declared {}, but the tenant table `{table}` has it {}",
        if *declared { "on" } else { "off" },
        if *declared { "disabled" } else { "enabled" }
    )]
    RowLevelSecurity {
        /// The first table that contradicts the declaration.
        table: String,
        /// What was declared.
        declared: bool,
    },

    /// A statement through a [`TenantConnection`](crate::TenantConnection)
    /// (Postgres) would have changed session state that outlives its
    /// transaction on the pooled connection: a session-level `SET` or any
    /// `RESET`, `set_config(.., .., is_local)` with `is_local` not the
    /// literal `true`, `UPDATE pg_settings`, `ALTER ROLE|DATABASE … SET`,
    /// transaction control ending the tenant's transaction, or a
    /// Unicode-escaped identifier the check does not read. Nothing was
    /// sent. Use `SET LOCAL` / `set_config(.., true)`, or
    /// [`TenantConnection::database`](crate::TenantConnection::database)
    /// for session-level work.
    ///
    /// ```
    /// use sea_orm::DbErr;
    /// use sea_orm_tenant::TenantError;
    ///
    /// let err = TenantError::SessionState {
    ///     reason: "a session-level SET (use SET LOCAL)",
    ///     statement: "SET app.tenant_id = 'b'".into(),
    /// };
    /// assert!(err.to_string().starts_with("tenant: refused before sending: a session-level SET"));
    /// assert!(TenantError::is_tenant_error(&DbErr::from(err)));
    /// ```
    #[error(
        "tenant: refused before sending: {reason}; a tenant connection never leaves session state on a pooled connection (use SET LOCAL / set_config(.., true), or conn.database() for session-level work): {statement}"
    )]
    SessionState {
        /// Why it was refused.
        reason: &'static str,
        /// The statement, truncated to 80 characters.
        statement: String,
    },

    /// A [`TenantConnection`](crate::TenantConnection) refused a statement
    /// it cannot confine to its tenant with certainty (rule 12): SQL it
    /// cannot parse, several statements in one string, anything but
    /// `SELECT`/`INSERT`/`UPDATE`/`DELETE` (DDL, `SET`, `USE`, `ATTACH`,
    /// transaction control, `DO`), a data-modifying CTE, `set_config`, a
    /// name in another tenant's schema or database, a write of the tenant
    /// column. Nothing was sent. Run admin work on
    /// [`TenantConnection::database`](crate::TenantConnection::database) or
    /// through [`unscoped`](crate::TenantEntity::unscoped).
    ///
    /// ```
    /// use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
    /// use sea_orm_tenant::prelude::*;
    ///
    /// let conn = TenantConnection::new(DatabaseConnection::default(), TenantId::from("acme"));
    /// let err = conn
    ///     .confine(Statement::from_string(DbBackend::Sqlite, "DROP TABLE post"))
    ///     .unwrap_err();
    /// assert!(matches!(err, TenantError::Refused { .. }));
    /// assert!(err.to_string().starts_with("tenant: refused before sending `DROP TABLE post`"));
    /// assert!(TenantError::is_refused(&err.into()));
    /// ```
    #[error(
        "tenant: refused before sending `{statement}`: {reason}; run admin work on conn.database() or through `unscoped`"
    )]
    Refused {
        /// The statement's first words (at most 60 characters).
        statement: String,
        /// Why it cannot be confined.
        reason: String,
    },

    /// An export or import of one tenant
    /// ([`Tenancy::export`](crate::Tenancy::export),
    /// [`Tenancy::import`](crate::Tenancy::import)) was refused or could
    /// not finish: a file could not be read or written (the I/O error is
    /// the [`source`](std::error::Error::source)), the directory does not
    /// hold what an export writes (an unknown format, a table this tenancy
    /// does not declare, a row of another tenant, a count or checksum that
    /// does not match the manifest, a line too long), or the tenant to
    /// import into is not empty. An import refused or failed changed
    /// nothing.
    ///
    /// ```
    /// use sea_orm_tenant::TenantError;
    ///
    /// let err = TenantError::Transfer {
    ///     tenant: "acme".into(),
    ///     reason: "table `invoice` of the manifest is not declared here".into(),
    ///     source: None,
    /// };
    /// assert_eq!(
    ///     err.to_string(),
    ///     "tenant: export/import of tenant `acme`: table `invoice` of the manifest is not declared here"
    /// );
    /// ```
    #[error("tenant: export/import of tenant `{tenant}`: {reason}")]
    Transfer {
        /// The tenant exported or imported into.
        tenant: String,
        /// What was wrong, naming the file, table or line.
        reason: String,
        /// The file system's error, when there was one.
        #[source]
        source: Option<FileError>,
    },

    /// [`Tenancy::erase`](crate::Tenancy::erase) removed the tenant but
    /// its check afterwards still found something of it: the places named
    /// in `left` (a table that still holds rows of it, a schema, database
    /// or registry row still there). Nothing is claimed erased; run it
    /// again, or look at those places.
    ///
    /// ```
    /// use sea_orm_tenant::TenantError;
    ///
    /// let err = TenantError::NotErased { tenant: "acme".into(), left: vec!["2 rows in `post`".into()] };
    /// assert_eq!(err.to_string(), "tenant: tenant `acme` is not erased: 2 rows in `post` left after removal");
    /// ```
    #[error("tenant: tenant `{tenant}` is not erased: {} left after removal", left.join(", "))]
    NotErased {
        /// The tenant.
        tenant: String,
        /// What the check found, one entry per place.
        left: Vec<String>,
    },

    /// The database failed a tenancy operation (provisioning, opening a
    /// tenant's pool, the tenant registry, a migration helper), or a
    /// [`DbErr`] was converted with `?`. The `DbErr` is kept as the
    /// error's [`source`](std::error::Error::source), with its SQLSTATE
    /// and driver error.
    ///
    /// Converted back into a `DbErr` (with `?` in SeaORM code), it is that
    /// `DbErr` again, so [`DbErr::sql_err`] still works on it.
    ///
    /// ```
    /// use std::error::Error;
    /// use sea_orm::DbErr;
    /// use sea_orm_tenant::TenantError;
    ///
    /// let err = TenantError::from(DbErr::RecordNotFound("post 7".into()));
    /// assert!(matches!(&err, TenantError::Database { .. }));
    /// assert_eq!(err.source().map(|s| s.to_string()).as_deref(), Some("RecordNotFound Error: post 7"));
    /// assert_eq!(DbErr::from(err), DbErr::RecordNotFound("post 7".into()));
    /// ```
    #[error("tenant: database error while {context}: {}", describe(source))]
    Database {
        /// What the tenancy was doing (`"running a statement"` for a
        /// `DbErr` converted with `?`).
        context: String,
        /// The database's error.
        #[source]
        source: DbErr,
    },
}

/// A file system error of an export or import
/// ([`TenantError::Transfer`]): the file, the kind of error and the
/// operating system's message, kept so that `TenantError` stays `Clone`
/// and `Eq`.
///
/// ```
/// use sea_orm_tenant::FileError;
///
/// let err = FileError::new("/tmp/x/post.jsonl", &std::io::Error::from(std::io::ErrorKind::NotFound));
/// assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
/// assert!(err.to_string().starts_with("/tmp/x/post.jsonl: "));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct FileError {
    path: String,
    kind: std::io::ErrorKind,
    message: String,
}

impl FileError {
    /// The error `err` met on the file `path`.
    pub fn new(path: impl AsRef<std::path::Path>, err: &std::io::Error) -> Self {
        FileError {
            path: path.as_ref().display().to_string(),
            kind: err.kind(),
            message: err.to_string(),
        }
    }

    /// The file (or directory).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What kind of I/O error it was.
    pub fn kind(&self) -> std::io::ErrorKind {
        self.kind
    }
}

/// What [`DbErr::TryIntoErr`] says it converted, for a [`TenantError`]
/// travelling inside a `DbErr`: its message reads "Error converting
/// `TenantError` into `DbErr`: tenant: …" (SeaORM writes it; see
/// [`TenantError::describe`] for the sentence alone).
const CARRIER: (&str, &str) = ("TenantError", "DbErr");

/// `err` as a sentence: the message of the [`TenantError`] it carries, or
/// its own. See [`TenantError::describe`].
pub(crate) fn describe(err: &DbErr) -> String {
    match TenantError::from_db_err(err) {
        Some(tenant) => tenant.to_string(),
        None => err.to_string(),
    }
}

/// The database's own message when `err` is the database refusing the
/// connecting role: a missing privilege (Postgres SQLSTATE 42501
/// `insufficient_privilege`; MySQL/MariaDB errors 1142 and 1143, a table
/// or column command denied, and 1044, access to a database denied) or a
/// failed login (Postgres 28000 and 28P01; MySQL 1045). Permanent until
/// someone grants or fixes the role: not a database that is down.
pub(crate) fn denied_message(err: &DbErr) -> Option<&str> {
    let (DbErr::Conn(RuntimeErr::SqlxError(driver))
    | DbErr::Exec(RuntimeErr::SqlxError(driver))
    | DbErr::Query(RuntimeErr::SqlxError(driver))) = err
    else {
        return None;
    };
    let sea_orm::sqlx::Error::Database(db) = &**driver else {
        return None;
    };
    #[cfg(feature = "sqlx-postgres")]
    if let Some(pg) = db.try_downcast_ref::<sea_orm::sqlx::postgres::PgDatabaseError>() {
        return matches!(pg.code(), "42501" | "28000" | "28P01").then(|| pg.message());
    }
    #[cfg(feature = "sqlx-mysql")]
    if let Some(my) = db.try_downcast_ref::<sea_orm::sqlx::mysql::MySqlDatabaseError>() {
        return matches!(my.number(), 1044 | 1045 | 1142 | 1143).then(|| my.message());
    }
    let _ = db;
    None
}

impl TenantError {
    /// The `TenantError` inside a [`DbErr`], if it carries one (it was
    /// converted with `?` or [`From`]). Found by type, so a
    /// `DbErr::Custom` message cannot pass for it.
    ///
    /// ```
    /// use sea_orm::DbErr;
    /// use sea_orm_tenant::TenantError;
    ///
    /// let busy: DbErr = TenantError::Busy { tenant: "acme".into(), limit: 2 }.into();
    /// match TenantError::from_db_err(&busy) {
    ///     Some(TenantError::Busy { tenant, limit }) => assert_eq!((tenant.as_str(), *limit), ("acme", 2)),
    ///     other => panic!("{other:?}"),
    /// }
    /// assert_eq!(TenantError::from_db_err(&DbErr::Custom("tenant: busy: x".into())), None);
    /// ```
    pub fn from_db_err(err: &DbErr) -> Option<&TenantError> {
        match err {
            DbErr::TryIntoErr { source, .. } => source.downcast_ref::<TenantError>(),
            _ => None,
        }
    }

    /// Whether a [`DbErr`] carries a [`TenantError`] (see
    /// [`from_db_err`](Self::from_db_err)).
    ///
    /// ```
    /// use sea_orm::DbErr;
    /// use sea_orm_tenant::TenantError;
    ///
    /// assert!(TenantError::is_tenant_error(&TenantError::Missing.into()));
    /// assert!(!TenantError::is_tenant_error(&DbErr::RecordNotFound("x".into())));
    /// assert!(!TenantError::is_tenant_error(&DbErr::Custom("tenant: no tenant in scope".into())));
    /// ```
    pub fn is_tenant_error(err: &DbErr) -> bool {
        Self::from_db_err(err).is_some()
    }

    /// Whether a [`DbErr`] is a [`TenantError::Busy`] that was converted
    /// with `?`: the tenant hit its cap on concurrent database work.
    ///
    /// ```
    /// use sea_orm::DbErr;
    /// use sea_orm_tenant::TenantError;
    ///
    /// let busy: DbErr = TenantError::Busy { tenant: "acme".into(), limit: 2 }.into();
    /// assert!(TenantError::is_busy(&busy));
    /// assert!(!TenantError::is_busy(&TenantError::Missing.into()));
    /// ```
    pub fn is_busy(err: &DbErr) -> bool {
        matches!(Self::from_db_err(err), Some(TenantError::Busy { .. }))
    }

    /// Whether a [`DbErr`] is a statement a tenant connection refused
    /// before sending it: [`TenantError::Refused`] or
    /// [`TenantError::SessionState`].
    ///
    /// ```
    /// use sea_orm::DbErr;
    /// use sea_orm_tenant::TenantError;
    ///
    /// let err = TenantError::Refused { statement: "DROP TABLE post".into(), reason: "DDL".into() };
    /// assert!(TenantError::is_refused(&err.into()));
    /// assert!(!TenantError::is_refused(&TenantError::Missing.into()));
    /// ```
    pub fn is_refused(err: &DbErr) -> bool {
        matches!(
            Self::from_db_err(err),
            Some(TenantError::Refused { .. } | TenantError::SessionState { .. })
        )
    }

    /// The error as one sentence, for a log line or a report: the
    /// [`TenantError`] a [`DbErr`] carries, in its own words, or else the
    /// `DbErr`'s message.
    ///
    /// SeaORM prints a `TenantError` converted with `?` as
    /// ``Error converting `TenantError` into `DbErr`: tenant: …``: the only
    /// `DbErr` variant that keeps a typed error (so that
    /// [`from_db_err`](Self::from_db_err) finds it by type) writes that
    /// prefix, and every other variant writes a prefix of its own
    /// (`DbErr::Custom` prints "Custom Error: …"). This crate's logs, reports
    /// and HTTP answers print the sentence; do the same in your own logs.
    ///
    /// ```
    /// use sea_orm::DbErr;
    /// use sea_orm_tenant::TenantError;
    ///
    /// let err: DbErr = TenantError::UnknownTenant("acme".into()).into();
    /// assert_eq!(err.to_string(), "Error converting `TenantError` into `DbErr`: tenant: unknown tenant `acme`");
    /// assert_eq!(TenantError::describe(&err), "tenant: unknown tenant `acme`");
    /// assert_eq!(TenantError::describe(&DbErr::RecordNotFound("post 7".into())), "RecordNotFound Error: post 7");
    /// ```
    pub fn describe(err: &DbErr) -> String {
        describe(err)
    }

    /// The database's own message when this is a
    /// [`Database`](TenantError::Database) error in which the database
    /// refused the connecting role: a missing privilege (Postgres SQLSTATE
    /// 42501 `insufficient_privilege`, MySQL/MariaDB errors 1142, 1143 and
    /// 1044) or a failed login (Postgres 28000 and 28P01, MySQL 1045).
    ///
    /// Such an error lasts until someone grants the privilege or fixes the
    /// role, so a web service answers it as a server fault (500, see
    /// [`Rejection::Misconfigured`](crate::http::Rejection::Misconfigured)
    /// with the feature `axum`), not as a database that is down (503).
    ///
    /// ```
    /// use sea_orm::DbErr;
    /// use sea_orm_tenant::TenantError;
    ///
    /// let down = TenantError::from(DbErr::Custom("connection reset".into()));
    /// assert_eq!(down.permission_denied(), None);
    /// assert_eq!(TenantError::Missing.permission_denied(), None);
    /// ```
    pub fn permission_denied(&self) -> Option<&str> {
        match self {
            TenantError::Database { source, .. } => denied_message(source),
            _ => None,
        }
    }

    pub(crate) fn unsafe_name(input: &str, reason: &'static str) -> Self {
        let input = input.chars().take(80).collect();
        TenantError::UnsafeName { input, reason }
    }

    pub(crate) fn refused(statement: &str, reason: String) -> Self {
        let mut words: String = statement.split_whitespace().collect::<Vec<_>>().join(" ");
        if let Some((cut, _)) = words.char_indices().nth(60) {
            words.truncate(cut);
            words.push('…');
        }
        TenantError::Refused {
            statement: words,
            reason,
        }
    }

    #[cfg_attr(not(feature = "sqlx-postgres"), allow(dead_code))]
    pub(crate) fn session_state(statement: &str, reason: &'static str) -> Self {
        let statement = statement.chars().take(80).collect();
        TenantError::SessionState { reason, statement }
    }

    pub(crate) fn db(context: impl Into<String>, err: impl IntoDbErr) -> Self {
        TenantError::Database {
            context: context.into(),
            source: err.into_db_err(),
        }
    }

    pub(crate) fn invalid(input: &str, reason: &'static str) -> Self {
        let input = input.chars().take(80).collect();
        TenantError::InvalidId { input, reason }
    }
}

/// `?` from tenant code into SeaORM code: the error travels inside
/// [`DbErr::TryIntoErr`], where [`TenantError::from_db_err`] finds it. A
/// [`TenantError::Database`] gives back the `DbErr` it holds.
impl From<TenantError> for DbErr {
    fn from(err: TenantError) -> Self {
        match err {
            TenantError::Database { source, .. } => source,
            err => DbErr::TryIntoErr {
                from: CARRIER.0,
                into: CARRIER.1,
                source: Arc::new(err),
            },
        }
    }
}

/// `?` from SeaORM code into tenant code: the `TenantError` a `DbErr`
/// carries, or else a [`TenantError::Database`] holding the `DbErr`.
impl From<DbErr> for TenantError {
    fn from(err: DbErr) -> Self {
        match TenantError::from_db_err(&err) {
            Some(found) => found.clone(),
            None => TenantError::Database {
                context: "running a statement".into(),
                source: err,
            },
        }
    }
}

/// The errors a tenancy operation turns into the `DbErr` of a
/// [`TenantError::Database`]: SeaORM's own, a driver's, a file system's,
/// or a message of ours.
pub(crate) trait IntoDbErr {
    fn into_db_err(self) -> DbErr;
}

impl IntoDbErr for DbErr {
    fn into_db_err(self) -> DbErr {
        self
    }
}

impl IntoDbErr for sea_orm::sqlx::Error {
    fn into_db_err(self) -> DbErr {
        DbErr::Conn(RuntimeErr::SqlxError(Arc::new(self)))
    }
}

impl IntoDbErr for std::io::Error {
    fn into_db_err(self) -> DbErr {
        sea_orm::sqlx::Error::Io(self).into_db_err()
    }
}

impl IntoDbErr for &str {
    fn into_db_err(self) -> DbErr {
        self.to_owned().into_db_err()
    }
}

impl IntoDbErr for String {
    fn into_db_err(self) -> DbErr {
        DbErr::Conn(RuntimeErr::Internal(self))
    }
}
