//! The `metrics` feature (issue 14, item 5): what a recorder sees of the
//! connection (statements per tenant and backend, `Busy` refusals), the
//! tenant layer (requests, rejections by reason) and migrations.
//!
//! One recorder is installed for the whole binary; every test uses tenants
//! of its own and asserts on their series only.
//!
//! `cargo test --features metrics,http --test metrics`

mod common;

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use common::{Kind, TestDb, each_backend, each_backend_of};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use sea_orm::{ConnectionTrait, EntityTrait, Statement, TransactionTrait};
use sea_orm_tenant::doc_entities::post;
use sea_orm_tenant::http::{
    Quota, TenantDb, TenantLayer, TenantRateLimit, TenantRateLimitLayer, TenantResolver,
};
use sea_orm_tenant::metrics::{
    DB_BUSY, DB_OPERATION_DURATION, HTTP_REJECTIONS, HTTP_REQUEST_DURATION, MIGRATION_DURATION,
    MIGRATION_OUTCOMES,
};
use sea_orm_tenant::prelude::*;
use tower::ServiceExt;

// ---------------------------------------------------------------------------
// The recorder, and what it has seen so far.

/// One series: its name, its labels and what was recorded.
struct Series {
    name: String,
    labels: BTreeMap<String, String>,
    counter: u64,
    /// Histogram values (seconds), all of them since the start.
    values: Vec<f64>,
}

static SEEN: Mutex<Vec<Series>> = Mutex::new(Vec::new());

fn snapshotter() -> &'static Snapshotter {
    static SNAPSHOTTER: OnceLock<Snapshotter> = OnceLock::new();
    SNAPSHOTTER.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::set_global_recorder(recorder).expect("the only recorder of this binary");
        snapshotter
    })
}

/// Installs the recorder (once per binary).
fn record() {
    let _ = snapshotter();
}

/// Everything recorded so far. A snapshot drains counters and histograms, so it is
/// taken under the lock and added to what earlier snapshots saw.
fn seen() -> MutexGuard<'static, Vec<Series>> {
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    for (key, _, _, value) in snapshotter().snapshot().into_vec() {
        let (_, key) = key.into_parts();
        let name = key.name().to_owned();
        let labels: BTreeMap<String, String> = key
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        let at = match seen
            .iter()
            .position(|s| s.name == name && s.labels == labels)
        {
            Some(at) => at,
            None => {
                seen.push(Series {
                    name,
                    labels,
                    counter: 0,
                    values: Vec::new(),
                });
                seen.len() - 1
            }
        };
        match value {
            DebugValue::Counter(n) => seen[at].counter += n,
            DebugValue::Histogram(values) => seen[at]
                .values
                .extend(values.into_iter().map(|v| v.into_inner())),
            DebugValue::Gauge(_) => {}
        }
    }
    seen
}

/// The series of `name` whose labels include `labels`.
fn series<'a>(seen: &'a [Series], name: &str, labels: &[(&str, &str)]) -> Vec<&'a Series> {
    seen.iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect()
}

/// The sum of the counters of `name` with `labels`.
fn counted(name: &str, labels: &[(&str, &str)]) -> u64 {
    series(&seen(), name, labels)
        .iter()
        .map(|s| s.counter)
        .sum()
}

/// How many values the histograms of `name` with `labels` hold.
fn observed(name: &str, labels: &[(&str, &str)]) -> usize {
    series(&seen(), name, labels)
        .iter()
        .map(|s| s.values.len())
        .sum()
}

/// A tenant no other test uses.
fn fresh() -> TenantId {
    TenantId::from(format!(
        "m{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    ))
}

fn system(t: &TestDb) -> &'static str {
    match t.kind {
        Kind::Sqlite => "sqlite",
        Kind::Postgres => "postgresql",
        Kind::MySql => "mysql",
    }
}

// ---------------------------------------------------------------------------
// The connection.

/// Every statement a tenant connection sends, and each one in its
/// transactions, is one value of `db.client.operation.duration` for its
/// tenant and backend; a failed one carries `error.type`; begin and commit
/// are not statements.
#[tokio::test]
async fn statements_are_timed_per_tenant_and_backend() {
    record();
    each_backend(async |t: &TestDb| {
        let tenant = fresh();
        let id = tenant.to_string();
        // `no_such_table` is declared global so that the wall lets it
        // through and the database fails it: the failed statement measured
        // below (a table declared nowhere is refused before it is sent).
        let conn = TenantConnection::new(t.db.clone(), tenant.clone())
            .tenant_table::<post::Entity>()
            .global_table_named("no_such_table");
        let one = Statement::from_string(t.backend(), "SELECT 1");

        conn.query_one_raw(one.clone()).await.expect("select 1");
        post::Entity::find().all(&conn).await.expect("posts");
        let txn = conn.begin().await.expect("begin");
        txn.query_one_raw(one.clone()).await.expect("in txn");
        txn.commit().await.expect("commit");
        let missing = Statement::from_string(t.backend(), "SELECT * FROM no_such_table");
        conn.query_all_raw(missing)
            .await
            .expect_err("no such table");

        let labels = [("tenant.id", id.as_str()), ("db.system.name", system(t))];
        assert_eq!(observed(DB_OPERATION_DURATION, &labels), 4, "{t}");
        let all = seen();
        let mine = series(&all, DB_OPERATION_DURATION, &[("tenant.id", id.as_str())]);
        let failed: Vec<_> = mine
            .iter()
            .filter(|s| s.labels.contains_key("error.type"))
            .collect();
        assert_eq!(failed.len(), 1, "{t}: one failed series");
        assert_eq!(failed[0].values.len(), 1, "{t}: one failed statement");
        for s in &mine {
            assert!(
                s.values.iter().all(|v| (0.0..60.0).contains(v) && *v > 0.0),
                "{t}: seconds"
            );
            let keys: Vec<&str> = s.labels.keys().map(String::as_str).collect();
            assert!(
                keys == ["db.system.name", "tenant.id"]
                    || keys == ["db.system.name", "error.type", "tenant.id"],
                "{t}: {keys:?}"
            );
        }
    })
    .await;
}

/// A statement and a transaction refused at the tenant's cap are counted
/// in `sea_orm_tenant.db.busy`, and are not statements.
#[tokio::test]
async fn busy_refusals_are_counted_per_tenant() {
    record();
    each_backend_of(&[Kind::Sqlite], async |t: &TestDb| {
        let tenant = fresh();
        let id = tenant.to_string();
        let tenancy = Tenancy::shared_schema(t.db.clone())
            .max_concurrent_per_tenant(1)
            .concurrency_wait(Duration::from_millis(10));
        tenancy.provision(&tenant).await.expect("provision");
        let conn = tenancy.connection(&tenant).await.expect("conn");
        let one = Statement::from_string(t.backend(), "SELECT 1");

        let held = conn.begin().await.expect("holds the one permit");
        let refused = conn.query_one_raw(one.clone()).await.expect_err("busy");
        assert!(TenantError::is_busy(&refused), "{refused}");
        assert!(conn.begin().await.is_err(), "busy");
        assert_eq!(counted(DB_BUSY, &[("tenant.id", id.as_str())]), 2);
        assert_eq!(
            observed(DB_OPERATION_DURATION, &[("tenant.id", id.as_str())]),
            0
        );

        held.commit().await.expect("commit");
        conn.query_one_raw(one).await.expect("the permit is back");
        assert_eq!(
            observed(DB_OPERATION_DURATION, &[("tenant.id", id.as_str())]),
            1
        );
        assert_eq!(counted(DB_BUSY, &[("tenant.id", id.as_str())]), 2);
    })
    .await;
}

// ---------------------------------------------------------------------------
// The tenant layer.

async fn send(app: &Router, tenant: Option<&str>) -> StatusCode {
    let mut req = Request::builder().uri("/");
    if let Some(tenant) = tenant {
        req = req.header("x-tenant-id", tenant);
    }
    let req = req.body(Body::empty()).expect("request");
    app.clone().oneshot(req).await.expect("infallible").status()
}

/// Each request is one value of `http.server.request.duration` with its
/// method and status (and tenant, once resolved); a rejection is counted
/// by reason, whichever layer refused it.
#[tokio::test]
async fn requests_and_rejections_are_counted_by_tenant_and_reason() {
    record();
    let limits = TenantRateLimit::new(Quota::per_minute(NonZeroU32::MIN));
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(TenantRateLimitLayer::new(limits))
        .layer(TenantLayer::new(
            TenantResolver::new().header("x-tenant-id"),
        ));
    let tenant = fresh().to_string();

    assert_eq!(send(&app, Some(&tenant)).await, StatusCode::OK);
    assert_eq!(
        send(&app, Some(&tenant)).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(send(&app, None).await, StatusCode::BAD_REQUEST);
    assert_eq!(
        send(&app, Some("not a tenant!")).await,
        StatusCode::BAD_REQUEST
    );

    let mine = |status: &'static str| {
        observed(
            HTTP_REQUEST_DURATION,
            &[
                ("tenant.id", tenant.as_str()),
                ("http.request.method", "GET"),
                ("http.response.status_code", status),
            ],
        )
    };
    assert_eq!((mine("200"), mine("429")), (1, 1));
    assert_eq!(
        counted(
            HTTP_REJECTIONS,
            &[("tenant.id", tenant.as_str()), ("reason", "rate_limited")]
        ),
        1
    );
    assert_eq!(
        counted(HTTP_REJECTIONS, &[("tenant.id", tenant.as_str())]),
        1
    );

    // Not resolved: no tenant label (and no other test of this binary
    // refuses for these reasons).
    let all = seen();
    let anonymous: Vec<(&str, u64)> = series(&all, HTTP_REJECTIONS, &[])
        .into_iter()
        .filter(|s| !s.labels.contains_key("tenant.id"))
        .map(|s| (s.labels["reason"].as_str(), s.counter))
        .filter(|(reason, _)| ["missing", "invalid_id"].contains(reason))
        .collect();
    assert_eq!(anonymous, [("missing", 1), ("invalid_id", 1)]);
    let refused: usize = series(
        &all,
        HTTP_REQUEST_DURATION,
        &[("http.response.status_code", "400")],
    )
    .iter()
    .filter(|s| !s.labels.contains_key("tenant.id"))
    .map(|s| s.values.len())
    .sum();
    assert_eq!(refused, 2);
}

/// A tenant the tenancy does not know is whatever a client sent: its
/// request and its rejection are recorded without `tenant.id`, so that
/// clients cannot make series up.
#[tokio::test]
async fn an_unknown_tenant_gets_no_series_of_its_own() {
    record();
    let dir = std::env::temp_dir().join(format!("sot_metrics_{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let app = Router::new()
        .route("/", get(|TenantDb(_conn): TenantDb| async { "ok" }))
        .layer(TenantLayer::new(
            TenantResolver::new().header("x-tenant-id"),
        ))
        .with_state(Tenancy::sqlite_files(&dir));
    let stranger = fresh().to_string();

    assert_eq!(send(&app, Some(&stranger)).await, StatusCode::NOT_FOUND);

    let all = seen();
    assert!(
        all.iter()
            .all(|s| s.labels.get("tenant.id") != Some(&stranger)),
        "no series for a stranger"
    );
    let unknown: u64 = series(&all, HTTP_REJECTIONS, &[("reason", "unknown_tenant")])
        .iter()
        .map(|s| s.counter)
        .sum();
    assert_eq!(unknown, 1);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------
// Migrations.

/// Each target of a migration run is counted once by outcome, and timed.
#[tokio::test]
async fn migration_outcomes_are_counted_per_tenant() {
    record();
    let dir = std::env::temp_dir().join(format!("sot_metrics_{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let tenancy = Tenancy::sqlite_files(&dir);
    let (fresh_one, unknown) = (fresh(), fresh());
    tenancy.provision(&fresh_one).await.expect("provision");

    let run = || {
        tenancy
            .migrations()
            .migrator::<common::post_migrator::Migrator>()
            .only([fresh_one.clone(), unknown.clone()])
            .keep_going()
    };
    run().up().await.expect("first run");
    run().up().await.expect("second run");

    let (id, gone) = (fresh_one.to_string(), unknown.to_string());
    let outcome = |tenant: &str, outcome: &str| {
        counted(
            MIGRATION_OUTCOMES,
            &[
                ("tenant.id", tenant),
                ("target", "tenant"),
                ("outcome", outcome),
            ],
        )
    };
    assert_eq!(outcome(&id, "applied"), 1);
    assert_eq!(outcome(&id, "up_to_date"), 1);
    assert_eq!(outcome(&gone, "failed"), 2);
    assert_eq!(
        counted(MIGRATION_OUTCOMES, &[("tenant.id", id.as_str())]),
        2
    );
    assert_eq!(
        observed(MIGRATION_DURATION, &[("tenant.id", id.as_str())]),
        2
    );
    let _ = std::fs::remove_dir_all(&dir);
}
