//! What a [`TenantConnection`](super::TenantConnection) reports of the
//! Postgres statements it sends on its own lease, which SeaORM never sees:
//! SeaORM's own `tracing-spans` spans (feature `tracing-spans`) and the
//! metric callback ([`sea_orm::metric::Info`]).
//!
//! On SQLite and MySQL/MariaDB a tenant connection's statements go through
//! SeaORM's `DatabaseConnection` and `DatabaseTransaction`, which report
//! them; nothing here runs there, so nothing is reported twice.
//!
//! With no callback and the feature off, [`Observer::run`] is two `Option`
//! checks: no allocation, no clock read.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use sea_orm::metric::Info;
use sea_orm::{DatabaseConnection, DbErr, Statement};

/// The user's metric callback, as SeaORM's `set_metric_callback` takes it.
pub(crate) type Callback = Arc<dyn Fn(&Info<'_>) + Send + Sync>;

/// The metric callback of a connection, if any; cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct Observer {
    metric: Option<Callback>,
}

impl Observer {
    pub(crate) fn new<F>(callback: F) -> Self
    where
        F: Fn(&Info<'_>) + Send + Sync + 'static,
    {
        Observer {
            metric: Some(Arc::new(callback)),
        }
    }

    pub(crate) fn is_on(&self) -> bool {
        self.metric.is_some()
    }

    /// Sets the callback on `db` too, so that the statements SeaORM runs
    /// itself (SQLite, MySQL, and the unscoped `database()`) report to it.
    pub(crate) fn install(&self, db: &mut DatabaseConnection) {
        if let Some(callback) = &self.metric {
            let callback = callback.clone();
            db.set_metric_callback(move |info| callback(info));
        }
    }

    /// Runs `work`, one statement sent on our lease (or a transaction's
    /// begin, commit or rollback), inside `span`, and reports `stmt` to
    /// the metric callback: once, with the time of `work` and whether it
    /// failed. As in SeaORM, only statements report (`stmt` is `None` for
    /// `execute_unprepared`, begin, commit and rollback).
    pub(crate) async fn run<T>(
        &self,
        span: DbSpan,
        stmt: Option<&Statement>,
        work: impl Future<Output = Result<T, DbErr>>,
    ) -> Result<T, DbErr> {
        let metric = self.metric.as_deref().zip(stmt);
        let start = metric.map(|_| Instant::now());
        let result = span.around(work).await;
        if let (Some((callback, statement)), Some(start)) = (metric, start) {
            callback(&Info {
                elapsed: start.elapsed(),
                statement,
                failed: result.is_err(),
            });
        }
        result
    }
}

/// Which SeaORM call a statement stands for: the span's name.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Call {
    Execute,
    ExecuteUnprepared,
    QueryOne,
    QueryAll,
    /// A stream. SeaORM gives its own streams no span; ours get
    /// `sea_orm.stream`, with the same fields.
    Stream,
    Begin,
    Commit,
    Rollback,
}

/// SeaORM's span of one database call (feature `tracing-spans`), made
/// with SeaORM's name and fields (`sea_orm::database::tracing_spans`):
/// `otel.kind`, `db.system`, `db.operation`, `db.statement`,
/// `otel.status_code`, `exception.message`. Without the feature it is
/// nothing.
///
/// `db.statement` is the statement as sent (confined) for `execute`,
/// `query_one`, `query_all` and streams, and empty for
/// `execute_unprepared`, begin, commit and rollback, as SeaORM records it
/// by default (`ConnectOptions::record_stmt_in_spans` is `true` unless
/// set). A `DatabaseConnection` does not tell whether it was turned off,
/// so tenant statements are always recorded.
#[cfg(feature = "tracing-spans")]
pub(crate) struct DbSpan(tracing::Span);

/// See the `tracing-spans` version.
#[cfg(not(feature = "tracing-spans"))]
pub(crate) struct DbSpan;

/// SeaORM's `db_span!`, for Postgres.
#[cfg(feature = "tracing-spans")]
macro_rules! db_span {
    ($name:literal, $sql:expr) => {
        tracing::info_span!(
            $name,
            otel.kind = "client",
            db.system = "postgresql",
            db.operation = operation($sql),
            db.statement = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            exception.message = tracing::field::Empty,
        )
    };
}

impl DbSpan {
    /// The span of `call` running `sql`, a child of the current span.
    #[cfg(feature = "tracing-spans")]
    pub(crate) fn new(call: Call, sql: &str) -> Self {
        let (span, record) = match call {
            Call::Execute => (db_span!("sea_orm.execute", sql), true),
            Call::ExecuteUnprepared => (db_span!("sea_orm.execute_unprepared", sql), false),
            Call::QueryOne => (db_span!("sea_orm.query_one", sql), true),
            Call::QueryAll => (db_span!("sea_orm.query_all", sql), true),
            Call::Stream => (db_span!("sea_orm.stream", sql), true),
            Call::Begin => (db_span!("sea_orm.begin", sql), false),
            Call::Commit => (db_span!("sea_orm.commit", sql), false),
            Call::Rollback => (db_span!("sea_orm.rollback", sql), false),
        };
        if record {
            span.record("db.statement", sql);
        }
        DbSpan(span)
    }

    #[cfg(not(feature = "tracing-spans"))]
    #[inline]
    pub(crate) fn new(_call: Call, _sql: &str) -> Self {
        DbSpan
    }

    /// Runs `work` in the span and records its outcome, as SeaORM's
    /// `record_query_result`.
    #[cfg(feature = "tracing-spans")]
    async fn around<T>(self, work: impl Future<Output = Result<T, DbErr>>) -> Result<T, DbErr> {
        use tracing::Instrument;
        let result = work.instrument(self.0.clone()).await;
        match &result {
            Ok(_) => {
                self.0.record("otel.status_code", "OK");
            }
            Err(err) => {
                self.0.record("otel.status_code", "ERROR");
                // A carried tenant error in its own words, not SeaORM's
                // "Error converting …".
                self.0.record(
                    "exception.message",
                    tracing::field::display(crate::TenantError::describe(err)),
                );
            }
        }
        result
    }

    #[cfg(not(feature = "tracing-spans"))]
    #[inline]
    async fn around<T>(self, work: impl Future<Output = Result<T, DbErr>>) -> Result<T, DbErr> {
        work.await
    }
}

/// `db.operation` as SeaORM's `DbOperation::from_sql` names it: the first
/// word, `SELECT`, `INSERT`, `UPDATE`, `DELETE`, else `EXECUTE`.
#[cfg(any(feature = "tracing-spans", test))]
fn operation(sql: &str) -> &'static str {
    let first = sql.split_whitespace().next().unwrap_or("");
    ["SELECT", "INSERT", "UPDATE", "DELETE"]
        .into_iter()
        .find(|op| first.eq_ignore_ascii_case(op))
        .unwrap_or("EXECUTE")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_operation_as_seaorm() {
        assert_eq!(operation("  select * from t"), "SELECT");
        assert_eq!(operation("INSERT INTO t"), "INSERT");
        assert_eq!(operation("Update t set a = 1"), "UPDATE");
        assert_eq!(operation("DELETE FROM t"), "DELETE");
        assert_eq!(operation("WITH x AS (SELECT 1) SELECT * FROM x"), "EXECUTE");
        assert_eq!(operation("(SELECT 1)"), "EXECUTE");
        assert_eq!(operation(""), "EXECUTE");
    }

    #[tokio::test]
    async fn reports_a_statement_once_and_nothing_else() {
        use std::sync::Mutex;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let observer = Observer::new(move |info: &Info<'_>| {
            log.lock()
                .unwrap()
                .push((info.statement.sql.clone(), info.failed));
        });
        let stmt = Statement::from_string(sea_orm::DbBackend::Postgres, "SELECT 1");
        let span = || DbSpan::new(Call::QueryOne, "SELECT 1");
        observer
            .run(span(), Some(&stmt), async { Ok(()) })
            .await
            .unwrap();
        let failed = observer
            .run(span(), Some(&stmt), async {
                Err::<(), _>(DbErr::Custom("no".into()))
            })
            .await;
        assert!(failed.is_err());
        observer.run(span(), None, async { Ok(()) }).await.unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            [
                ("SELECT 1".to_owned(), false),
                ("SELECT 1".to_owned(), true)
            ]
        );
        Observer::default()
            .run(span(), Some(&stmt), async { Ok(()) })
            .await
            .unwrap();
    }
}
