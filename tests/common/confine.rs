//! Fixtures of the confinement tests (rule 12): a shared-schema `Tenancy`
//! that declares every tenant table of the harness, tenant connections for
//! `acme` and `globex`, raw statements in each backend's syntax, and the
//! check that an error is a refusal.

use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryResult,
    Statement,
};
use sea_orm_tenant::doc_entities::{comment, country, post, post_tag, tag};
use sea_orm_tenant::{Tenancy, TenantConnection, TenantId};

use super::{Kind, TestDb, acme, add_post, all_posts, globex, handle, legacy};

/// Whether `err` is a refusal of the tenant connection (nothing was sent):
/// `TenantError::Refused` or, on Postgres, `TenantError::SessionState`.
pub fn refused(err: &DbErr) -> bool {
    sea_orm_tenant::TenantError::is_refused(err)
}

/// Whether `err` is any `TenantError` (every one means nothing was sent):
/// a refusal, or `Mismatch` for a row that names another tenant.
pub fn tenant_error(err: &DbErr) -> bool {
    sea_orm_tenant::TenantError::is_tenant_error(err)
}

/// A shared-schema `Tenancy` on the test database that declares every
/// tenant table the harness creates with a text tenant: the doc entities,
/// their `legacy_*` copies and `handle` (children first, for deprovision).
pub fn shared_tenancy(t: &TestDb) -> Tenancy {
    shared_tenancy_on(t.db.clone())
}

/// [`shared_tenancy`] on another pool of the test database.
pub fn shared_tenancy_on(db: DatabaseConnection) -> Tenancy {
    Tenancy::shared_schema(db)
        .tenant_table::<comment::Entity>()
        .tenant_table::<post_tag::Entity>()
        .tenant_table::<tag::Entity>()
        .tenant_table::<post::Entity>()
        .tenant_table::<legacy::comment::Entity>()
        .tenant_table::<legacy::post_tag::Entity>()
        .tenant_table::<legacy::tag::Entity>()
        .tenant_table::<legacy::post::Entity>()
        .tenant_table::<handle::Entity>()
        .global_table::<country::Entity>()
}

/// Provisions `tenant` (idempotent) and hands out its connection.
pub async fn connect(t: &TestDb, tenancy: &Tenancy, tenant: &TenantId) -> TenantConnection {
    tenancy
        .provision(tenant)
        .await
        .unwrap_or_else(|err| panic!("{t}: provisioning {tenant}: {err}"));
    tenancy
        .connection(tenant)
        .await
        .unwrap_or_else(|err| panic!("{t}: connecting as {tenant}: {err}"))
}

/// acme's and globex's connections on the shared schema.
pub struct Shared {
    pub tenancy: Tenancy,
    pub acme: TenantConnection,
    pub globex: TenantConnection,
}

/// [`shared_tenancy`] with both tenants provisioned and connected.
pub async fn shared(t: &TestDb) -> Shared {
    shared_with(t, shared_tenancy(t)).await
}

/// Like [`shared`], for a `Tenancy` that declares more tables.
pub async fn shared_with(t: &TestDb, tenancy: Tenancy) -> Shared {
    let acme = connect(t, &tenancy, &acme()).await;
    let globex = connect(t, &tenancy, &globex()).await;
    Shared {
        tenancy,
        acme,
        globex,
    }
}

/// What the raw-SQL tests start from: acme's posts `a1`, `a2`, globex's
/// `g1` (its secret) and `g2`, one country (a global table), and acme's
/// connection.
pub struct Planted {
    pub a1: post::Model,
    pub g1: post::Model,
    /// acme's connection.
    pub conn: TenantConnection,
    /// globex's connection.
    pub globex: TenantConnection,
}

/// Plants [`Planted`]'s rows on the test database and connects.
pub async fn planted(t: &TestDb) -> Planted {
    let a1 = add_post(t, &acme(), "a1").await;
    let g1 = add_post(t, &globex(), "globex secret").await;
    add_post(t, &acme(), "a2").await;
    add_post(t, &globex(), "g2").await;
    country::ActiveModel {
        code: Set("NZ".into()),
        name: Set("New Zealand".into()),
    }
    .insert(&t.db)
    .await
    .unwrap_or_else(|err| panic!("{t}: planting a country: {err}"));
    let Shared { acme, globex, .. } = shared(t).await;
    Planted {
        a1,
        g1,
        conn: acme,
        globex,
    }
}

/// A raw statement for this test's backend.
pub fn stmt(t: &TestDb, sql: &str) -> Statement {
    Statement::from_string(t.backend(), sql)
}

/// The `n`-th (1-based) bind placeholder of this backend: `$n` or `?`.
pub fn ph(t: &TestDb, n: usize) -> String {
    match t.kind {
        Kind::Postgres => format!("${n}"),
        _ => "?".to_owned(),
    }
}

/// `name` quoted as an identifier in this backend's syntax.
pub fn ident(t: &TestDb, name: &str) -> String {
    match t.kind {
        Kind::MySql => format!("`{name}`"),
        _ => format!("\"{name}\""),
    }
}

/// The `tenant_id` column of every row, for rows read by raw SQL.
pub fn tenants_of(rows: &[QueryResult]) -> Vec<String> {
    rows.iter()
        .map(|row| {
            row.try_get::<String>("", "tenant_id")
                .expect("a tenant_id column")
        })
        .collect()
}

/// Every post of `tenant`, read on the test database directly.
pub async fn posts_of(t: &TestDb, tenant: &TenantId) -> Vec<post::Model> {
    let tenant = tenant.to_string();
    all_posts(t)
        .await
        .into_iter()
        .filter(|p| p.tenant_id == tenant)
        .collect()
}

/// The one integer column `n` of a raw `SELECT count(*) AS n ...`.
pub async fn count_raw<C: ConnectionTrait>(conn: &C, t: &TestDb, sql: &str) -> Result<i64, DbErr> {
    let row = conn
        .query_one_raw(stmt(t, sql))
        .await?
        .ok_or_else(|| DbErr::Custom("no row".into()))?;
    row.try_get::<i64>("", "n")
}

/// A result that is either a refusal or, when the statement ran, one that
/// `check` accepts; anything else fails the test with `what`.
pub fn refused_or<T: std::fmt::Debug>(
    t: &TestDb,
    what: &str,
    result: Result<T, DbErr>,
    check: impl FnOnce(&T) -> bool,
) {
    match result {
        Err(err) => assert!(refused(&err), "{t}: {what}: not a refusal: {err}"),
        Ok(value) => assert!(check(&value), "{t}: {what}: ran and gave {value:?}"),
    }
}

/// A result that is an error of any kind (a refusal, or the database not
/// finding what the statement names) or, when the statement ran, one that
/// `check` accepts.
pub fn failed_or<T: std::fmt::Debug>(
    t: &TestDb,
    what: &str,
    result: Result<T, DbErr>,
    check: impl FnOnce(&T) -> bool,
) {
    if let Ok(value) = result {
        assert!(check(&value), "{t}: {what}: ran and gave {value:?}");
    }
}

// ---------------------------------------------------------------------------
// Related rows across tenants, planted in the `legacy_*` tables (whose
// foreign keys check ids only) on the test database directly.

pub async fn legacy_post(t: &TestDb, tenant: &TenantId, title: &str) -> legacy::post::Model {
    legacy::post::ActiveModel {
        tenant_id: Set(tenant.to_string()),
        title: Set(title.to_owned()),
        ..Default::default()
    }
    .insert(&t.db)
    .await
    .unwrap_or_else(|err| panic!("{t}: planting post {title:?}: {err}"))
}

pub async fn legacy_comment(
    t: &TestDb,
    tenant: &TenantId,
    post_id: i32,
    body: &str,
) -> legacy::comment::Model {
    legacy::comment::ActiveModel {
        tenant_id: Set(tenant.to_string()),
        post_id: Set(post_id),
        body: Set(body.to_owned()),
        ..Default::default()
    }
    .insert(&t.db)
    .await
    .unwrap_or_else(|err| panic!("{t}: planting comment {body:?}: {err}"))
}

pub async fn legacy_tag(t: &TestDb, tenant: &TenantId, name: &str) -> legacy::tag::Model {
    legacy::tag::ActiveModel {
        tenant_id: Set(tenant.to_string()),
        name: Set(name.to_owned()),
        ..Default::default()
    }
    .insert(&t.db)
    .await
    .unwrap_or_else(|err| panic!("{t}: planting tag {name:?}: {err}"))
}

pub async fn legacy_link(t: &TestDb, tenant: &TenantId, post_id: i32, tag_id: i32) {
    legacy::post_tag::Entity::insert(legacy::post_tag::ActiveModel {
        post_id: Set(post_id),
        tag_id: Set(tag_id),
        tenant_id: Set(tenant.to_string()),
    })
    .exec_without_returning(&t.db)
    .await
    .unwrap_or_else(|err| panic!("{t}: linking post {post_id} to tag {tag_id}: {err}"));
}

/// acme's posts `p1` (only globex's comment on it) and `p2` (acme's comment
/// `c` and globex's); globex's post `theirs` with acme's comment `stray`;
/// acme's tags `t1` (linked by acme) and `t2` (linked to `p2` by globex's
/// junction row), globex's tag linked to `p2` by acme.
pub struct Related {
    pub p1: legacy::post::Model,
    pub p2: legacy::post::Model,
    pub c: legacy::comment::Model,
    pub stray: legacy::comment::Model,
    pub t1: legacy::tag::Model,
}

pub async fn related(t: &TestDb) -> Related {
    let (a, g) = (acme(), globex());
    let p1 = legacy_post(t, &a, "p1").await;
    let p2 = legacy_post(t, &a, "p2").await;
    let theirs = legacy_post(t, &g, "globex secret").await;
    legacy_comment(t, &g, p1.id, "globex on p1").await;
    let c = legacy_comment(t, &a, p2.id, "own").await;
    legacy_comment(t, &g, p2.id, "globex on p2").await;
    let stray = legacy_comment(t, &a, theirs.id, "acme on globex's post").await;
    let t1 = legacy_tag(t, &a, "t1").await;
    let t2 = legacy_tag(t, &a, "t2").await;
    let gt = legacy_tag(t, &g, "globex's tag").await;
    legacy_link(t, &a, p2.id, t1.id).await;
    legacy_link(t, &g, p2.id, t2.id).await;
    legacy_link(t, &a, p2.id, gt.id).await;
    Related {
        p1,
        p2,
        c,
        stray,
        t1,
    }
}
