//! Per-tenant metrics through the [`metrics`](https://docs.rs/metrics)
//! crate (feature `metrics`): install any recorder (a Prometheus exporter,
//! OpenTelemetry, statsd) and these are recorded.
//!
//! | name | kind | unit | labels | what |
//! |---|---|---|---|---|
//! | [`db.client.operation.duration`](DB_OPERATION_DURATION) | histogram | seconds | `tenant.id`, `db.system.name`, `error.type` on failure | every statement a [`TenantConnection`](crate::TenantConnection) or its transaction sends, on every backend |
//! | [`sea_orm_tenant.db.busy`](DB_BUSY) | counter | | `tenant.id` | [`TenantError::Busy`](crate::TenantError::Busy) refusals: the tenant's cap on concurrent work was hit |
//! | [`http.server.request.duration`](HTTP_REQUEST_DURATION) | histogram | seconds | `tenant.id` (when resolved), `http.request.method`, `http.response.status_code` | every request through the `http::TenantLayer` (feature `http`); its count is the number of requests |
//! | [`sea_orm_tenant.http.rejections`](HTTP_REJECTIONS) | counter | | `tenant.id` (when resolved), `reason` | requests answered with a `http::Rejection` (feature `http`) |
//! | [`sea_orm_tenant.migration.outcomes`](MIGRATION_OUTCOMES) | counter | | `tenant.id` (tenant targets), `target`, `outcome` | one per target of a run of [`Tenancy::migrations`](crate::Tenancy::migrations) |
//! | [`sea_orm_tenant.migration.duration`](MIGRATION_DURATION) | histogram | seconds | as the outcomes | how long each target took |
//!
//! The names and labels follow OpenTelemetry's semantic conventions where
//! one exists: [database client metrics] (`db.client.operation.duration`,
//! `db.system.name` = `postgresql`, `mysql` or `sqlite`, `error.type`) and
//! [HTTP server metrics] (`http.server.request.duration`,
//! `http.request.method`, `http.response.status_code`). `tenant.id` has no
//! OpenTelemetry convention; it is this crate's. The rest are under
//! `sea_orm_tenant.`. A Prometheus exporter writes the dots as
//! underscores: `metrics-exporter-prometheus` shows
//! `db_client_operation_duration` with a `tenant_id` label.
//!
//! Label values:
//!
//! - `db.system.name`: `postgresql`, `mysql` (MySQL and MariaDB: SeaORM does
//!   not tell them apart), `sqlite`.
//! - `error.type` (only on failure): the SeaORM error's kind, `connection`,
//!   `connection_acquire`, `exec`, `query`, `custom` (refusals of this
//!   crate, such as a deprovisioned tenant), `type`, `record_not_found`, …,
//!   or `cancelled` when the caller dropped the statement's future before
//!   it ended. Statements refused before anything is sent (confinement,
//!   `Busy`) are not in the histogram.
//! - `http.request.method`: `GET`, `POST`, … or `_OTHER`.
//! - `reason`: the rejection's `reason` name: `missing`, `invalid_id`,
//!   `conflict`, `invalid_token`, `missing_token`, `token_without_tenant`,
//!   `unknown_tenant`, `suspended`, `rate_limited`, `body_mismatch`,
//!   `unavailable`, `database_unavailable`, `internal`.
//! - `target`: `global`, `shared` or `tenant`; `outcome`: `applied`,
//!   `rolled_back`, `up_to_date`, `status`, `unmanaged`, `failed`,
//!   `skipped` (see [`Outcome`](crate::migration::Outcome)).
//!
//! # Cardinality
//!
//! `tenant.id` makes one series per tenant (and per other label value):
//! with thousands of tenants that is thousands of series per metric. A
//! request for a tenant the tenancy does not know (answered
//! `unknown_tenant`) is recorded without `tenant.id`, so that clients
//! cannot make series up; a layer with neither a
//! `http::TenantDirectory` nor
//! `http::TenantDb` cannot tell, and records every
//! valid id it resolves. Turn
//! the label off with [`per_tenant`]`(false)`, or drop it on the recorder's
//! side (a `metrics-util` filter layer, an OpenTelemetry view, Prometheus
//! `metric_relabel_configs` with `action: labeldrop`).
//!
//! Not measured: streams, transaction begin, commit and rollback,
//! statements on [`TenantConnection::database`](crate::TenantConnection::database),
//! and the migrations that [`Tenancy::provision`](crate::Tenancy::provision)
//! runs itself.
//!
//! With the feature off nothing here is compiled: no clock is read and
//! nothing is recorded.
//!
//! ```
//! use metrics_util::debugging::DebuggingRecorder;
//! use sea_orm::{ConnectionTrait, Database, Statement};
//! use sea_orm_tenant::prelude::*;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), sea_orm::DbErr> {
//! let recorder = DebuggingRecorder::new();
//! let snapshotter = recorder.snapshotter();
//! metrics::set_global_recorder(recorder).expect("the only recorder");
//! sea_orm_tenant::metrics::describe();
//!
//! let conn = TenantConnection::new(Database::connect("sqlite::memory:").await?, TenantId::from("acme"));
//! conn.execute_unprepared("SELECT 1").await?;
//!
//! let seen = snapshotter.snapshot().into_vec();
//! let (key, ..) = seen
//!     .iter()
//!     .find(|(key, ..)| key.key().name() == sea_orm_tenant::metrics::DB_OPERATION_DURATION)
//!     .expect("recorded");
//! let labels: Vec<String> = key.key().labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
//! assert_eq!(labels, ["tenant.id=acme", "db.system.name=sqlite"]);
//! # Ok(())
//! # }
//! ```
//!
//! [database client metrics]: https://opentelemetry.io/docs/specs/semconv/database/database-metrics/
//! [HTTP server metrics]: https://opentelemetry.io/docs/specs/semconv/http/http-metrics/

mod db;
#[cfg(feature = "axum")]
mod http;
mod migration;

use std::sync::atomic::{AtomicBool, Ordering};

use ::metrics::{Label, Unit, describe_counter, describe_histogram};

pub(crate) use db::{busy, system, system_of, timed};
#[cfg(feature = "axum")]
pub use http::reason;
#[cfg(feature = "axum")]
pub(crate) use http::{HttpRequest, rejected};
pub(crate) use migration::migrated;

use crate::TenantId;

/// Histogram, seconds: every statement sent by a tenant connection
/// (OpenTelemetry's database client metric).
pub const DB_OPERATION_DURATION: &str = "db.client.operation.duration";
/// Counter: statements and transactions refused with
/// [`TenantError::Busy`](crate::TenantError::Busy).
pub const DB_BUSY: &str = "sea_orm_tenant.db.busy";
/// Histogram, seconds: every request through the tenant layer
/// (OpenTelemetry's HTTP server metric).
pub const HTTP_REQUEST_DURATION: &str = "http.server.request.duration";
/// Counter: requests answered with a rejection, by [`REASON`].
pub const HTTP_REJECTIONS: &str = "sea_orm_tenant.http.rejections";
/// Counter: one per target of a migration run, by [`OUTCOME`].
pub const MIGRATION_OUTCOMES: &str = "sea_orm_tenant.migration.outcomes";
/// Histogram, seconds: how long each target of a migration run took.
pub const MIGRATION_DURATION: &str = "sea_orm_tenant.migration.duration";

/// Label: the tenant (no OpenTelemetry convention; see [`per_tenant`]).
pub const TENANT_ID: &str = "tenant.id";
/// Label: `postgresql`, `mysql` or `sqlite` (OpenTelemetry).
pub const DB_SYSTEM_NAME: &str = "db.system.name";
/// Label: why an operation failed, only on failure (OpenTelemetry).
pub const ERROR_TYPE: &str = "error.type";
/// Label: the request's method, `_OTHER` for a non-standard one (OpenTelemetry).
pub const HTTP_REQUEST_METHOD: &str = "http.request.method";
/// Label: the response's status code (OpenTelemetry).
pub const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";
/// Label: a rejection's reason name.
pub const REASON: &str = "reason";
/// Label: a migration target's kind, `global`, `shared` or `tenant`.
pub const TARGET: &str = "target";
/// Label: a migration target's outcome.
pub const OUTCOME: &str = "outcome";

static PER_TENANT: AtomicBool = AtomicBool::new(true);

/// Whether metrics carry the `tenant.id` label (on unless turned off):
/// `per_tenant(false)` makes one series per metric and label set instead
/// of one per tenant, for services with many tenants. Applies to what is
/// recorded from then on, process-wide.
///
/// ```
/// sea_orm_tenant::metrics::per_tenant(false);
/// # sea_orm_tenant::metrics::per_tenant(true);
/// ```
pub fn per_tenant(on: bool) {
    PER_TENANT.store(on, Ordering::Relaxed);
}

/// Registers the unit and description of every metric above with the
/// installed recorder (an exporter uses them for `# HELP` lines and
/// units). Call it once, after installing the recorder.
///
/// ```
/// sea_orm_tenant::metrics::describe();
/// ```
pub fn describe() {
    describe_histogram!(
        DB_OPERATION_DURATION,
        Unit::Seconds,
        "Duration of the statements of tenant connections."
    );
    describe_counter!(
        DB_BUSY,
        "Statements and transactions refused because the tenant's concurrency cap was hit."
    );
    describe_histogram!(
        HTTP_REQUEST_DURATION,
        Unit::Seconds,
        "Duration of the requests through the tenant layer."
    );
    describe_counter!(
        HTTP_REJECTIONS,
        "Requests refused before their handler, by reason."
    );
    describe_counter!(
        MIGRATION_OUTCOMES,
        "Migration targets (global, shared, tenant schemas and databases) by outcome."
    );
    describe_histogram!(
        MIGRATION_DURATION,
        Unit::Seconds,
        "How long each migration target took."
    );
}

/// `labels` with `tenant.id` first, unless [`per_tenant`] turned it off
/// or there is no tenant (the crate's own statements on global tables run
/// on a connection with the empty id).
fn with_tenant(tenant: Option<&TenantId>, labels: impl IntoIterator<Item = Label>) -> Vec<Label> {
    let mut all = Vec::with_capacity(4);
    if let Some(tenant) = tenant
        .filter(|t| !t.as_str().is_empty())
        .filter(|_| PER_TENANT.load(Ordering::Relaxed))
    {
        all.push(Label::new(TENANT_ID, tenant.to_string()));
    }
    all.extend(labels);
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_util::debugging::DebuggingRecorder;

    #[test]
    fn the_tenant_label_can_be_turned_off() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        ::metrics::with_local_recorder(&recorder, || {
            let acme = TenantId::from("acme");
            busy(&acme);
            per_tenant(false);
            busy(&acme);
            per_tenant(true);
        });
        let mut seen: Vec<(Vec<String>, u64)> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| {
                let labels = key.key().labels().map(|l| l.value().to_owned()).collect();
                let metrics_util::debugging::DebugValue::Counter(n) = value else {
                    panic!("a counter");
                };
                (labels, n)
            })
            .collect();
        seen.sort();
        assert_eq!(seen, [(vec![], 1), (vec!["acme".to_owned()], 1)]);
    }
}
