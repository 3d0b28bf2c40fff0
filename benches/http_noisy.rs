//! Quiet-tenant latency with and without a noisy neighbour.
//!
//! The example service's router (`examples/saas.rs`, SQLite in memory) is
//! driven in process with `tower::ServiceExt::oneshot`: the quiet tenant
//! lists its notes, alone and then while 4 tasks flood the router with a
//! noisy tenant's requests (quota: 100 a second, so nearly all are answered
//! 429 by the rate-limit layer before any handler or database work).
//!
//! ```text
//! cargo bench --features http --bench http_noisy
//! ```

#[allow(dead_code)]
#[path = "../examples/saas.rs"]
mod saas;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use criterion::{Criterion, criterion_group, criterion_main};
use sea_orm_tenant::http::{Quota, TenantLayer, TenantRateLimit, TenantResolver};
use tower::ServiceExt;

fn request(tenant: &str) -> Request<Body> {
    Request::builder()
        .uri("/notes")
        .header("x-tenant-id", tenant)
        .body(Body::empty())
        .unwrap_or_default()
}

async fn quiet_call(app: &Router) {
    let response = app.clone().oneshot(request("quiet")).await;
    assert_eq!(response.map(|r| r.status().as_u16()).ok(), Some(200));
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let app = rt.block_on(async {
        let db = saas::setup("sqlite::memory:").await.expect("setup");
        // The quiet tenant's quota is far above what the bench sends.
        let limits = TenantRateLimit::new(Quota::per_second(NonZeroU32::new(100).expect("100")))
            .plan(
                "quiet",
                Quota::per_second(NonZeroU32::new(1_000_000).expect("1e6")),
            )
            .plan_of(|t| (t.as_str() == "quiet").then(|| "quiet".to_string()));
        let layer = TenantLayer::new(TenantResolver::new().header("x-tenant-id"));
        saas::router(db, layer, limits)
    });

    let mut group = c.benchmark_group("quiet_tenant_list_notes");
    group
        .measurement_time(Duration::from_secs(5))
        .sample_size(30);
    group.bench_function("alone", |b| b.to_async(&rt).iter(|| quiet_call(&app)));

    let stop = Arc::new(AtomicBool::new(false));
    for _ in 0..4 {
        let (app, stop) = (app.clone(), stop.clone());
        rt.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let _ = app.clone().oneshot(request("noisy")).await;
                tokio::task::yield_now().await;
            }
        });
    }
    group.bench_function("noisy_neighbour", |b| {
        b.to_async(&rt).iter(|| quiet_call(&app))
    });
    stop.store(true, Ordering::Relaxed);
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
