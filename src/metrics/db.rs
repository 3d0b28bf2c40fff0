//! The connection's metrics: statement durations and `Busy` refusals.

use std::future::Future;
use std::time::Instant;

use ::metrics::{Label, counter, histogram};
use sea_orm::{DatabaseConnection, DatabaseConnectionType, DbBackend, DbErr};

use super::{DB_BUSY, DB_OPERATION_DURATION, DB_SYSTEM_NAME, ERROR_TYPE, with_tenant};
use crate::TenantId;

/// `db.system.name` of `backend`.
pub(crate) fn system(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "postgresql",
        DbBackend::MySql => "mysql",
        DbBackend::Sqlite => "sqlite",
        #[allow(unreachable_patterns)]
        _ => "other_sql",
    }
}

/// `db.system.name` of `db`, without SeaORM's panic on a disconnected one.
pub(crate) fn system_of(db: &DatabaseConnection) -> &'static str {
    match &db.inner {
        DatabaseConnectionType::Disconnected => "other_sql",
        _ => system(db.get_database_backend()),
    }
}

/// Counts one [`TenantError::Busy`](crate::TenantError::Busy) refusal of
/// `tenant`.
pub(crate) fn busy(tenant: &TenantId) {
    counter!(DB_BUSY, with_tenant(Some(tenant), [])).increment(1);
}

/// Runs `work`, one statement of `tenant` on `system`, and records its
/// duration (also when its future is dropped before it ends).
pub(crate) async fn timed<T>(
    tenant: &TenantId,
    system: &'static str,
    work: impl Future<Output = Result<T, DbErr>>,
) -> Result<T, DbErr> {
    let mut timer = Timer {
        start: Instant::now(),
        tenant,
        system,
        error: Some("cancelled"),
    };
    let result = work.await;
    timer.error = result.as_ref().err().map(error_type);
    result
}

/// Records when dropped: finished, failed or cancelled alike.
struct Timer<'a> {
    start: Instant,
    tenant: &'a TenantId,
    system: &'static str,
    error: Option<&'static str>,
}

impl Drop for Timer<'_> {
    fn drop(&mut self) {
        let elapsed = self.start.elapsed();
        let mut labels = vec![Label::new(DB_SYSTEM_NAME, self.system)];
        labels.extend(self.error.map(|e| Label::new(ERROR_TYPE, e)));
        histogram!(
            DB_OPERATION_DURATION,
            with_tenant(Some(self.tenant), labels)
        )
        .record(elapsed);
    }
}

/// `error.type`: the kind of SeaORM error, in snake case.
fn error_type(err: &DbErr) -> &'static str {
    match err {
        DbErr::ConnectionAcquire(_) => "connection_acquire",
        DbErr::Conn(_) => "connection",
        DbErr::Exec(_) => "exec",
        DbErr::Query(_) => "query",
        DbErr::Custom(_) => "custom",
        DbErr::Type(_) => "type",
        DbErr::Json(_) => "json",
        DbErr::RecordNotFound(_) => "record_not_found",
        DbErr::RecordNotInserted => "record_not_inserted",
        DbErr::RecordNotUpdated => "record_not_updated",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_backends_as_opentelemetry() {
        assert_eq!(system(DbBackend::Postgres), "postgresql");
        assert_eq!(system(DbBackend::MySql), "mysql");
        assert_eq!(system(DbBackend::Sqlite), "sqlite");
        assert_eq!(system_of(&DatabaseConnection::default()), "other_sql");
    }

    #[test]
    fn names_error_kinds() {
        assert_eq!(error_type(&DbErr::Custom("no".into())), "custom");
        assert_eq!(error_type(&DbErr::RecordNotInserted), "record_not_inserted");
    }
}
