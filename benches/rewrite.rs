//! What the statement rewrite costs: building and rendering a Postgres
//! statement with SeaORM alone, with a hand-written tenant filter, and with
//! the scoped builder, side by side in one run.
//!
//! ```text
//! cargo bench --bench rewrite
//! ```

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use sea_orm::sea_query::{Expr, ExprTrait, IntoCondition, JoinType};
use sea_orm::{
    ColumnTrait, DbBackend, EntityTrait, QueryFilter, QuerySelect, QueryTrait, RelationTrait,
};
use sea_orm_tenant::doc_entities::{comment, post};
use sea_orm_tenant::prelude::*;

const PG: DbBackend = DbBackend::Postgres;

fn find_by_id(c: &mut Criterion) {
    let tenant = TenantId::from("acme");
    let mut g = c.benchmark_group("find_by_id");
    g.bench_function("seaorm", |b| {
        b.iter(|| post::Entity::find_by_id(black_box(7)).build(PG))
    });
    g.bench_function("hand_filter", |b| {
        b.iter(|| {
            post::Entity::find_by_id(black_box(7))
                .filter(post::Column::TenantId.eq(black_box("acme")))
                .build(PG)
        })
    });
    g.bench_function("scoped", |b| {
        b.iter(|| {
            post::Entity::scoped(black_box(&tenant))
                .find_by_id(black_box(7))
                .build(PG)
        })
    });
    g.finish();
}

fn filtered_find(c: &mut Criterion) {
    let tenant = TenantId::from("acme");
    let mut g = c.benchmark_group("filtered_find");
    g.bench_function("seaorm", |b| {
        b.iter(|| {
            post::Entity::find()
                .filter(post::Column::Title.contains(black_box("rust")))
                .limit(20)
                .build(PG)
        })
    });
    g.bench_function("hand_filter", |b| {
        b.iter(|| {
            post::Entity::find()
                .filter(post::Column::TenantId.eq(black_box("acme")))
                .filter(post::Column::Title.contains(black_box("rust")))
                .limit(20)
                .build(PG)
        })
    });
    g.bench_function("scoped", |b| {
        b.iter(|| {
            post::Entity::scoped(black_box(&tenant))
                .find()
                .filter(post::Column::Title.contains(black_box("rust")))
                .limit(20)
                .build(PG)
        })
    });
    g.finish();
}

fn join(c: &mut Criterion) {
    let tenant = TenantId::from("acme");
    let mut g = c.benchmark_group("join");
    g.bench_function("seaorm", |b| {
        b.iter(|| {
            post::Entity::find()
                .find_also_related(comment::Entity)
                .build(PG)
        })
    });
    g.bench_function("hand_filter", |b| {
        b.iter(|| {
            let t = black_box("acme");
            post::Entity::find()
                .filter(post::Column::TenantId.eq(t))
                .join(
                    JoinType::LeftJoin,
                    post::Relation::Comment.def().on_condition(move |_, right| {
                        Expr::col((right, comment::Column::TenantId))
                            .eq(t)
                            .into_condition()
                    }),
                )
                .select_also(comment::Entity)
                .build(PG)
        })
    });
    g.bench_function("scoped", |b| {
        b.iter(|| {
            post::Entity::scoped(black_box(&tenant))
                .find_also_related(comment::Entity)
                .build(PG)
        })
    });
    g.finish();
}

fn update_many(c: &mut Criterion) {
    let tenant = TenantId::from("acme");
    let mut g = c.benchmark_group("update_many");
    g.bench_function("seaorm", |b| {
        b.iter(|| {
            post::Entity::update_many()
                .col_expr(post::Column::Title, Expr::value(black_box("archived")))
                .filter(post::Column::Id.lt(black_box(10)))
                .build(PG)
        })
    });
    g.bench_function("hand_filter", |b| {
        b.iter(|| {
            post::Entity::update_many()
                .col_expr(post::Column::Title, Expr::value(black_box("archived")))
                .filter(post::Column::TenantId.eq(black_box("acme")))
                .filter(post::Column::Id.lt(black_box(10)))
                .build(PG)
        })
    });
    g.bench_function("scoped", |b| {
        b.iter(|| {
            post::Entity::scoped(black_box(&tenant))
                .update_many()
                .col_expr(post::Column::Title, Expr::value(black_box("archived")))
                .filter(post::Column::Id.lt(black_box(10)))
                .build(PG)
        })
    });
    g.finish();
}

fn delete_by_id(c: &mut Criterion) {
    let tenant = TenantId::from("acme");
    let mut g = c.benchmark_group("delete_by_id");
    g.bench_function("seaorm", |b| {
        b.iter(|| post::Entity::delete_by_id(black_box(7)).build(PG))
    });
    g.bench_function("hand_filter", |b| {
        b.iter(|| {
            post::Entity::delete_by_id(black_box(7))
                .filter(post::Column::TenantId.eq(black_box("acme")))
                .build(PG)
        })
    });
    g.bench_function("scoped", |b| {
        b.iter(|| {
            post::Entity::scoped(black_box(&tenant))
                .delete_by_id(black_box(7))
                .build(PG)
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    find_by_id,
    filtered_find,
    join,
    update_many,
    delete_by_id
);
criterion_main!(benches);
