//! [`TenantError`], the crate's one error type.

use sea_orm::DbErr;

/// Everything that can go wrong when scoping work to a tenant.
///
/// Every variant is a refusal: when one is returned, nothing was sent to the
/// database. It converts into SeaORM's [`DbErr`] so that `?` works inside
/// SeaORM code; [`TenantError::is_tenant_error`] recognises it again there.
///
/// ```
/// use sea_orm::DbErr;
/// use sea_orm_tenant::{TenantError, TenantId};
///
/// let err = TenantId::parse("a'b").unwrap_err();
/// assert!(matches!(err, TenantError::InvalidId { .. }));
///
/// let db_err: DbErr = err.into();
/// assert!(TenantError::is_tenant_error(&db_err));
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
    /// (for example `acme` for an integer column).
    #[error(
        "tenant: tenant id `{tenant}` does not fit column `{table}`.`{column}` ({column_type})"
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

    /// The database refused a tenancy operation (provisioning, opening a
    /// tenant's pool, the tenant registry).
    #[error("tenant: database error while {context}: {message}")]
    Database {
        /// What the tenancy was doing.
        context: String,
        /// The database's error, as text.
        message: String,
    },
}

/// The prefix that marks a [`TenantError`] carried inside a [`DbErr::Custom`].
const PREFIX: &str = "tenant: ";

/// The prefix of a [`TenantError::Busy`] carried inside a [`DbErr::Custom`].
const BUSY_PREFIX: &str = "tenant: busy: ";

/// The prefix of a refused statement carried inside a [`DbErr::Custom`].
const REFUSED_PREFIX: &str = "tenant: refused before sending";

impl TenantError {
    /// Whether a [`DbErr`] is a [`TenantError`] that was converted with `?`.
    ///
    /// ```
    /// use sea_orm::DbErr;
    /// use sea_orm_tenant::TenantError;
    ///
    /// assert!(TenantError::is_tenant_error(&TenantError::Missing.into()));
    /// assert!(!TenantError::is_tenant_error(&DbErr::RecordNotFound("x".into())));
    /// ```
    pub fn is_tenant_error(err: &DbErr) -> bool {
        matches!(err, DbErr::Custom(message) if message.starts_with(PREFIX))
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
        matches!(err, DbErr::Custom(message) if message.starts_with(BUSY_PREFIX))
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
        matches!(err, DbErr::Custom(message) if message.starts_with(REFUSED_PREFIX))
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

    pub(crate) fn session_state(statement: &str, reason: &'static str) -> Self {
        let statement = statement.chars().take(80).collect();
        TenantError::SessionState { reason, statement }
    }

    pub(crate) fn db(context: impl Into<String>, err: impl std::fmt::Display) -> Self {
        TenantError::Database {
            context: context.into(),
            message: err.to_string(),
        }
    }

    pub(crate) fn invalid(input: &str, reason: &'static str) -> Self {
        let input = input.chars().take(80).collect();
        TenantError::InvalidId { input, reason }
    }
}

impl From<TenantError> for DbErr {
    fn from(err: TenantError) -> Self {
        DbErr::Custom(err.to_string())
    }
}
