//! A move's pause (Postgres): a read let through during the pause that
//! waits for the tenant's permit (or a pool connection) past the switch
//! must not run at the old place, which the move removes; it answers right
//! or is refused with `Moved`. Found by an attack on the pause: it ran
//! there and answered no rows as a success.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Databases, Kind, TestDb, each_backend_of};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, Schema, Statement};
use sea_orm_migration::prelude::*;
use sea_orm_tenant::doc_entities::{comment, post};
use sea_orm_tenant::prelude::*;
use sea_orm_tenant::{MoveOptions, MoveStep};

struct Migrator;
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateTables)]
    }
}
struct CreateTables;
impl MigrationName for CreateTables {
    fn name(&self) -> &str {
        "m0001_post_and_comment"
    }
}
#[async_trait::async_trait]
impl MigrationTrait for CreateTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = Schema::new(manager.get_database_backend());
        if !manager.has_table("post").await? {
            manager
                .create_table(schema.create_table_from_entity(post::Entity))
                .await?;
            for index in schema.create_index_from_entity(post::Entity) {
                manager.create_index(index).await?;
            }
        }
        manager
            .create_table(
                schema
                    .create_table_from_entity(comment::Entity)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }
}

fn tenancy(db: DatabaseConnection, dbs: &Databases) -> Tenancy {
    Tenancy::shared_schema(db)
        .with_databases(dbs.url_for())
        .with_migrator::<Migrator>()
        .tenant_table::<post::Entity>()
        .tenant_table::<comment::Entity>()
}

async fn seed(tenancy: &Tenancy, tenant: &TenantId, n: usize, label: &str) {
    let conn = tenancy.connection(tenant).await.expect("connection");
    for i in 0..n {
        conn.execute_unprepared(&format!("INSERT INTO post (title) VALUES ('{label}-{i}')"))
            .await
            .expect("seeding a post");
    }
}

async fn titles(tenancy: &Tenancy, tenant: &TenantId) -> Vec<String> {
    let conn = tenancy.connection(tenant).await.expect("connection");
    let mut v: Vec<String> = post::Entity::find()
        .all(&conn)
        .await
        .expect("posts")
        .into_iter()
        .map(|p| p.title)
        .collect();
    v.sort();
    v
}

fn stmt(sql: &str) -> Statement {
    Statement::from_string(sea_orm::DbBackend::Postgres, sql)
}

/// Outcome of a future within `ms`.
async fn probe<T: std::fmt::Debug>(
    ms: u64,
    f: impl std::future::Future<Output = Result<T, DbErr>>,
) -> String {
    match tokio::time::timeout(Duration::from_millis(ms), f).await {
        Ok(Ok(v)) => {
            let s = format!("ok {v:?}");
            s.chars().take(200).collect()
        }
        Ok(Err(e)) => format!("err {e}"),
        Err(_) => "waited".into(),
    }
}

async fn rows_of(conn: &TenantConnection, sql: &str) -> Result<usize, DbErr> {
    conn.query_all_raw(stmt(sql)).await.map(|r| r.len())
}

/// A read let through during the pause that waits for the tenant's permit
/// (cap 1) past `switched`'s wait: where does it read?
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_read_of_the_pause_that_starts_after_the_switch_is_refused() {
    each_backend_of(&[Kind::Postgres], async |t: &TestDb| {
        let dbs = Databases::new(t);
        let tn = tenancy(t.db.clone(), &dbs)
            .max_concurrent_per_tenant(1)
            .pure_function("pg_sleep");
        let (acme, globex) = (TenantId::from("acme"), TenantId::from("globex"));
        tn.provision(&acme).await.expect("provision");
        tn.provision(&globex).await.expect("provision");
        tn.move_tenant(&acme, Location::new(Placement::SchemaPerTenant))
            .await
            .expect("to schema");
        seed(&tn, &acme, 5, "acme").await;
        seed(&tn, &globex, 4, "globex").await;
        let held = tn.connection(&acme).await.expect("held");
        let results = Arc::new(std::sync::Mutex::new(Vec::new()));
        let start = Instant::now();
        let options = {
            let (held, results) = (held.clone(), results.clone());
            let handle = tokio::runtime::Handle::current();
            MoveOptions::default()
                .pause(Duration::from_secs(2))
                .on_progress(move |step| {
                    if step == MoveStep::Switching {
                        for (i, q) in [
                            "SELECT pg_sleep(1.8)",
                            "SELECT pg_sleep(1.8)",
                            "SELECT * FROM post",
                        ]
                        .into_iter()
                        .enumerate()
                        {
                            let (held, results) = (held.clone(), results.clone());
                            handle.spawn(async move {
                                let r = probe(20_000, rows_of(&held, q)).await;
                                results.lock().unwrap().push(format!(
                                    "{i} {q} => {r} at {} ms",
                                    start.elapsed().as_millis()
                                ));
                            });
                            std::thread::sleep(Duration::from_millis(30));
                        }
                        std::thread::sleep(Duration::from_millis(200));
                        println!("switching at {} ms", start.elapsed().as_millis());
                    }
                    if step == MoveStep::Removing {
                        println!("removing at {} ms", start.elapsed().as_millis());
                    }
                })
        };
        let r = tn
            .move_tenant_with(&acme, Location::new(Placement::DatabasePerTenant), options)
            .await;
        println!("move: {:?} at {} ms", r.as_ref().map(|_| ()), start.elapsed().as_millis());
        tokio::time::sleep(Duration::from_secs(5)).await;
        for l in results.lock().unwrap().iter() {
            println!("  {l}");
        }
        let now = titles(&tn, &acme).await;
        println!("acme now {now:?}");
        let read = results.lock().unwrap().iter().find(|l| l.starts_with("2 ")).cloned();
        let ok = read.as_deref().is_some_and(|l| l.contains("=> ok 5") || l.contains("moved"));
        let _ = tn.deprovision(&acme).await;
        let _ = tn.deprovision(&globex).await;
        dbs.cleanup();
        assert!(ok, "a read let through during the pause ran after the source was removed and answered wrongly: {read:?} (acme has {} posts)", now.len());
    })
    .await;
}
