//! Moving a tenant with its data, online: between the shared schema, a
//! schema and a database of its own, on one server or two, while several
//! tasks keep writing; interrupted moves resumed and rolled back.
//!
//! After every move: each write that was acknowledged is at the new place
//! exactly once, nothing of the tenant is left at the old place, and a
//! neighbour in the shared tables is untouched.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::second_server::SecondDb;
use common::{Databases, Kind, TestDb, each_backend, each_backend_of};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, Schema, Statement, TransactionTrait,
};
use sea_orm_migration::prelude::*;
use sea_orm_tenant::doc_entities::{comment, post};
use sea_orm_tenant::prelude::*;
use sea_orm_tenant::{MoveOptions, MovePhase};

/// `post` and `comment` (a composite foreign key to `post`).
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

/// `n` posts, each with a comment.
async fn seed(tenancy: &Tenancy, tenant: &TenantId, n: usize) {
    let conn = tenancy.connection(tenant).await.expect("connection");
    for i in 0..n {
        conn.execute_unprepared(&format!("INSERT INTO post (title) VALUES ('seed-{i}')"))
            .await
            .expect("seeding a post");
    }
    let posts = post::Entity::find().all(&conn).await.expect("posts");
    for p in posts {
        conn.execute_unprepared(&format!(
            "INSERT INTO comment (post_id, body) VALUES ({}, 'on {}')",
            p.id, p.title
        ))
        .await
        .expect("seeding a comment");
    }
}

/// Tasks that keep inserting posts through fresh connections (a request
/// each) and remember what was acknowledged.
struct Writers {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<(Vec<String>, Vec<String>)>>,
}

impl Writers {
    fn start(tenancy: &Tenancy, tenant: &TenantId, n: usize, label: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = (0..n)
            .map(|w| {
                let (tenancy, tenant, stop) = (tenancy.clone(), tenant.clone(), stop.clone());
                let label = format!("{label}-w{w}");
                tokio::spawn(async move {
                    let (mut acked, mut unexpected) = (Vec::new(), Vec::new());
                    let mut i = 0;
                    while !stop.load(Ordering::SeqCst) {
                        let title = format!("{label}-{i}");
                        i += 1;
                        let written = match tenancy.connection(&tenant).await {
                            Ok(conn) => conn
                                .execute_unprepared(&format!(
                                    "INSERT INTO post (title) VALUES ('{title}')"
                                ))
                                .await
                                .map(|_| ())
                                .map_err(|e| e.to_string()),
                            Err(e) => Err(e.to_string()),
                        };
                        match written {
                            Ok(()) => acked.push(title),
                            // Refused before sending: not acknowledged.
                            Err(e) if e.contains("moved") => {}
                            Err(e) => unexpected.push(e),
                        }
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                    (acked, unexpected)
                })
            })
            .collect();
        Writers { stop, tasks }
    }

    async fn stop(self) -> Vec<String> {
        self.stop.store(true, Ordering::SeqCst);
        let mut acked = Vec::new();
        for task in self.tasks {
            let (a, unexpected) = task.await.expect("writer");
            assert!(unexpected.is_empty(), "writers failed: {unexpected:?}");
            acked.extend(a);
        }
        assert!(!acked.is_empty(), "the writers wrote nothing");
        acked
    }
}

/// The tenant's post titles through its connection, with how often each
/// is there.
async fn titles(tenancy: &Tenancy, tenant: &TenantId) -> HashMap<String, usize> {
    let conn = tenancy.connection(tenant).await.expect("connection");
    let mut seen = HashMap::new();
    for p in post::Entity::find().all(&conn).await.expect("posts") {
        *seen.entry(p.title).or_insert(0) += 1;
    }
    seen
}

async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    db.query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect(sql)
        .expect("a row")
        .try_get_by_index::<i64>(0)
        .expect("a count")
}

/// The tenant's rows in the shared tables of `db`.
async fn shared_rows(db: &DatabaseConnection, tenant: &str) -> i64 {
    count(
        db,
        &format!("SELECT count(*) FROM post WHERE tenant_id = '{tenant}'"),
    )
    .await
        + count(
            db,
            &format!("SELECT count(*) FROM comment WHERE tenant_id = '{tenant}'"),
        )
        .await
}

async fn schema_exists(db: &DatabaseConnection, name: &str) -> bool {
    count(
        db,
        &format!("SELECT count(*) FROM pg_namespace WHERE nspname = '{name}'"),
    )
    .await
        > 0
}

/// Moves `tenant` to `to` while three tasks write; checks that every
/// acknowledged write is there once and that the seeded rows are intact.
async fn move_under_writes(
    tenancy: &Tenancy,
    tenant: &TenantId,
    to: Location,
    expected: &mut Vec<String>,
    label: &str,
) -> MoveReport {
    let writers = Writers::start(tenancy, tenant, 3, label);
    tokio::time::sleep(Duration::from_millis(40)).await;
    let report = tenancy
        .move_tenant(tenant, to.clone())
        .await
        .unwrap_or_else(|e| panic!("{label}: moving to {to}: {e}"));
    tokio::time::sleep(Duration::from_millis(40)).await;
    expected.extend(writers.stop().await);
    assert_eq!(tenancy.location_of(tenant).await.expect("location"), to);
    let seen = titles(tenancy, tenant).await;
    let dupes: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dupes.is_empty(), "{label}: duplicated: {dupes:?}");
    let missing: Vec<_> = expected.iter().filter(|t| !seen.contains_key(*t)).collect();
    assert!(missing.is_empty(), "{label}: lost: {missing:?}");
    assert_eq!(seen.len(), expected.len(), "{label}: rows nobody wrote");
    assert!(report.rows() > 0 && report.to == to, "{label}: {report}");
    assert!(
        tenancy
            .pending_move(tenant)
            .await
            .expect("journal")
            .is_none()
    );
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_move_under_writes_loses_and_duplicates_nothing() {
    each_backend(async |t: &TestDb| {
        let dbs = Databases::new(t);
        let tenancy = tenancy(t.db.clone(), &dbs);
        let (acme, globex) = (TenantId::from("acme"), TenantId::from("globex"));
        // acme's case twin is another tenant, whom acme's moves never touch.
        let twin = TenantId::from("ACME");
        tenancy.provision(&acme).await.expect("provision acme");
        tenancy.provision(&globex).await.expect("provision globex");
        tenancy.provision(&twin).await.expect("provision ACME");
        seed(&tenancy, &acme, 20).await;
        seed(&tenancy, &globex, 5).await;
        seed(&tenancy, &twin, 2).await;
        let mut expected: Vec<String> = (0..20).map(|i| format!("seed-{i}")).collect();

        // A connection held across the moves.
        let held = tenancy.connection(&acme).await.expect("connection");

        let report = move_under_writes(
            &tenancy,
            &acme,
            Location::new(Placement::DatabasePerTenant),
            &mut expected,
            "to-db",
        )
        .await;
        assert!(report.to_string().contains("verified"), "{report}");
        assert_eq!(shared_rows(&t.db, "acme").await, 0, "{t}: left in shared");
        // It follows the tenant: its write lands at the new place.
        held.execute_unprepared("INSERT INTO post (title) VALUES ('held')")
            .await
            .unwrap_or_else(|e| panic!("{t}: a held connection follows the tenant: {e}"));
        expected.push("held".to_owned());

        if t.kind == Kind::Postgres {
            move_under_writes(
                &tenancy,
                &acme,
                Location::new(Placement::SchemaPerTenant),
                &mut expected,
                "to-schema",
            )
            .await;
            assert!(!dbs.exists(t, "acme").await, "{t}: database left");
        }

        move_under_writes(
            &tenancy,
            &acme,
            Location::new(Placement::SharedSchema),
            &mut expected,
            "to-shared",
        )
        .await;
        assert!(!dbs.exists(t, "acme").await, "{t}: database left");
        if t.kind == Kind::Postgres {
            assert!(!schema_exists(&t.db, "tenant_acme").await, "schema left");
        }
        assert_eq!(titles(&tenancy, &acme).await.get("held"), Some(&1));
        // The neighbours are untouched.
        assert_eq!(titles(&tenancy, &globex).await.len(), 5, "{t}: globex");
        assert_eq!(shared_rows(&t.db, "globex").await, 10, "{t}: globex");
        assert_eq!(titles(&tenancy, &twin).await.len(), 2, "{t}: ACME");
        assert_eq!(shared_rows(&t.db, "ACME").await, 4, "{t}: ACME");
        tenancy.deprovision(&twin).await.expect("deprovision");

        tenancy.deprovision(&acme).await.expect("deprovision");
        tenancy.deprovision(&globex).await.expect("deprovision");
        dbs.cleanup();
    })
    .await;
}

/// What the tenant's connections did while the move was paused.
#[derive(Debug, Default)]
struct DuringPause {
    held_read: Option<Result<usize, String>>,
    new_read: Option<Result<usize, String>>,
    stream_waited: Option<bool>,
    write_waited: Option<bool>,
    /// Postgres: a `SELECT` of a function declared pure that writes.
    sneaked: Option<Result<(), String>>,
}

/// Reads, a stream and a write of `tenant` run from inside the move's
/// pause (its `Switching` step, after the catch-up, before the registry
/// switches).
async fn during_pause(
    tenancy: &Tenancy,
    tenant: &TenantId,
    held: &TenantConnection,
) -> DuringPause {
    let mut seen = DuringPause::default();
    // The posts a read finds, or "waited" when it is still waiting after
    // 300 ms (its future dropped before anything was sent).
    async fn posts(conn: &TenantConnection) -> Result<usize, String> {
        let read = post::Entity::find().all(conn);
        match tokio::time::timeout(Duration::from_millis(300), read).await {
            Ok(r) => r.map(|v| v.len()).map_err(|e| e.to_string()),
            Err(_) => Err("waited".into()),
        }
    }
    seen.held_read = Some(posts(held).await);
    // A stream waits with the writes (one kept open would hold the old
    // place); its future is dropped here, before anything was sent.
    let stream = post::Entity::find().stream(held);
    seen.stream_waited = Some(
        tokio::time::timeout(Duration::from_millis(300), stream)
            .await
            .is_err(),
    );
    if held.get_database_backend() == sea_orm::DbBackend::Postgres {
        let liar = held.clone().pure_function("move_pause_sneak_write");
        let sql = "SELECT move_pause_sneak_write()";
        let stmt = Statement::from_string(sea_orm::DbBackend::Postgres, sql);
        seen.sneaked = Some(
            liar.query_one_raw(stmt)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
        );
    }
    match tenancy.connection(tenant).await {
        Ok(new) => {
            seen.new_read = Some(posts(&new).await);
            // The write waits for the pause (its future is dropped here,
            // before anything was sent).
            let write = new.execute_unprepared("INSERT INTO post (title) VALUES ('paused')");
            seen.write_waited = Some(
                tokio::time::timeout(Duration::from_millis(300), write)
                    .await
                    .is_err(),
            );
        }
        Err(e) => seen.new_read = Some(Err(e.to_string())),
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_go_on_during_the_pause_writes_wait_and_held_connections_follow() {
    each_backend(async |t: &TestDb| {
        let dbs = Databases::new(t);
        let tenancy = tenancy(t.db.clone(), &dbs);
        let acme = TenantId::from("acme");
        tenancy.provision(&acme).await.expect("provision");
        seed(&tenancy, &acme, 5).await;
        let held = tenancy.connection(&acme).await.expect("connection");
        if t.kind == Kind::Postgres {
            // A function declared pure that writes after all: during the
            // pause the database refuses it (a `READ ONLY` transaction).
            t.db.execute_unprepared(
                "CREATE OR REPLACE FUNCTION move_pause_sneak_write() RETURNS int \
                 LANGUAGE sql AS $$ UPDATE post SET title = 'sneaked' \
                 WHERE tenant_id = 'acme' RETURNING 1 $$",
            )
            .await
            .expect("function");
        }

        // The pause's reads, from the move's own progress callback.
        let seen = Arc::new(std::sync::Mutex::new(None));
        let options = {
            let (tenancy, acme, held, seen) =
                (tenancy.clone(), acme.clone(), held.clone(), seen.clone());
            let handle = tokio::runtime::Handle::current();
            MoveOptions::default()
                .pause(Duration::from_secs(10))
                .on_progress(move |step| {
                    if step == sea_orm_tenant::MoveStep::Switching {
                        let during = tokio::task::block_in_place(|| {
                            handle.block_on(during_pause(&tenancy, &acme, &held))
                        });
                        *seen.lock().unwrap() = Some(during);
                    }
                })
        };
        tenancy
            .move_tenant_with(&acme, Location::new(Placement::DatabasePerTenant), options)
            .await
            .unwrap_or_else(|e| panic!("{t}: move: {e}"));
        let seen = seen.lock().unwrap().take().expect("the pause was seen");
        // Reads go on at the source, on MySQL they wait (a long one would
        // hold the removal of the source).
        let read = match t.kind {
            Kind::MySql => Err("waited".to_owned()),
            _ => Ok(5),
        };
        assert_eq!(
            seen.held_read,
            Some(read.clone()),
            "{t}: a held connection reads: {seen:?}"
        );
        assert_eq!(
            seen.new_read,
            Some(read),
            "{t}: a new connection reads: {seen:?}"
        );
        assert_eq!(
            seen.stream_waited,
            Some(true),
            "{t}: a stream waits: {seen:?}"
        );
        assert_eq!(
            seen.write_waited,
            Some(true),
            "{t}: a write waits: {seen:?}"
        );
        if t.kind == Kind::Postgres {
            let refused = seen.sneaked.as_ref().and_then(|r| r.as_ref().err());
            assert!(
                refused.is_some_and(|e| e.contains("moved")),
                "{t}: a read that writes during the pause: {seen:?}"
            );
        }

        // After the switch the held connection follows the tenant; its
        // streams do not (they are refused, never sent to the old place).
        held.execute_unprepared("INSERT INTO post (title) VALUES ('after')")
            .await
            .unwrap_or_else(|e| panic!("{t}: the held connection follows: {e}"));
        assert_eq!(
            post::Entity::find().all(&held).await.expect("read").len(),
            6
        );
        let refused = post::Entity::find().stream(&held).await.err();
        assert!(
            refused.is_some_and(|e| e.to_string().contains("moved")),
            "{t}: a stream of a moved connection"
        );
        assert_eq!(shared_rows(&t.db, "acme").await, 0, "{t}: left in shared");
        let titles = titles(&tenancy, &acme).await;
        assert_eq!(titles.get("after"), Some(&1), "{t}");
        assert!(
            !titles.contains_key("paused"),
            "{t}: the dropped write was sent"
        );
        assert!(!titles.contains_key("sneaked"), "{t}: a read wrote");

        // A transaction open across a pause makes the move give up; the
        // tenant stays, and its connections and the transaction go on.
        let txn = held.begin().await.expect("begin");
        let gave_up = tenancy
            .move_tenant_with(
                &acme,
                Location::new(Placement::SharedSchema),
                MoveOptions::default().pause(Duration::from_millis(300)),
            )
            .await;
        assert!(
            gave_up.is_err(),
            "{t}: the move waited for an open transaction"
        );
        txn.execute_unprepared("INSERT INTO post (title) VALUES ('in-txn')")
            .await
            .unwrap_or_else(|e| panic!("{t}: the transaction goes on: {e}"));
        txn.commit().await.expect("commit");
        held.execute_unprepared("INSERT INTO post (title) VALUES ('thawed')")
            .await
            .unwrap_or_else(|e| panic!("{t}: the connection goes on: {e}"));
        tenancy.rollback_move(&acme).await.expect("rollback");
        assert_eq!(
            tenancy.location_of(&acme).await.expect("location"),
            Location::new(Placement::DatabasePerTenant)
        );
        let titles = self::titles(&tenancy, &acme).await;
        assert_eq!(
            (titles.get("in-txn"), titles.get("thawed")),
            (Some(&1), Some(&1)),
            "{t}"
        );

        tenancy.deprovision(&acme).await.expect("deprovision");
        if t.kind == Kind::Postgres {
            t.db.execute_unprepared("DROP FUNCTION move_pause_sneak_write()")
                .await
                .expect("drop function");
        }
        dbs.cleanup();
    })
    .await;
}

/// A move dropped while the registry's switch commits (a request timeout,
/// a shutdown): nobody in the process knows whether it switched, so the
/// tenant's held connections refuse their work, new ones read the registry
/// again, and nothing is written at the old place.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_move_dropped_during_its_switch_writes_nothing_at_the_old_place() {
    each_backend_of(&[Kind::Postgres], async |t: &TestDb| {
        let dbs = Databases::new(t);
        let tenancy = tenancy(t.db.clone(), &dbs);
        let acme = TenantId::from("acme");
        tenancy.provision(&acme).await.expect("provision");
        seed(&tenancy, &acme, 3).await;
        let held = tenancy.connection(&acme).await.expect("connection");
        // A slow commit of the registry, as a slow network would make it.
        t.db.execute_unprepared(
            "CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN PERFORM pg_sleep(2); RETURN NULL; END $$; \
             CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT OR UPDATE \
             ON sea_orm_tenant_registry DEFERRABLE INITIALLY DEFERRED \
             FOR EACH ROW EXECUTE FUNCTION slow_commit()",
        )
        .await
        .expect("trigger");
        let switching = Arc::new(AtomicBool::new(false));
        let options = {
            let switching = switching.clone();
            MoveOptions::default()
                .pause(Duration::from_secs(10))
                .on_progress(move |step| {
                    if step == sea_orm_tenant::MoveStep::Switching {
                        switching.store(true, Ordering::SeqCst);
                    }
                })
        };
        let to = Location::new(Placement::DatabasePerTenant);
        let moving = tenancy.move_tenant_with(&acme, to.clone(), options);
        let dropped = tokio::time::timeout(Duration::from_secs(20), async {
            while !switching.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            tokio::time::sleep(Duration::from_millis(700)).await;
        });
        tokio::select! {
            moved = moving => panic!("{t}: the move ended first: {:?}", moved.map(|_| ())),
            _ = dropped => {}
        }
        // The commit goes on at the server.
        tokio::time::sleep(Duration::from_secs(3)).await;

        let refused = held
            .execute_unprepared("INSERT INTO post (title) VALUES ('held')")
            .await
            .expect_err("a held connection does not write where it was");
        assert!(refused.to_string().contains("moved"), "{t}: {refused}");
        tenancy
            .connection(&acme)
            .await
            .expect("a new connection")
            .execute_unprepared("INSERT INTO post (title) VALUES ('new')")
            .await
            .expect("a new connection writes where the registry says");
        let at_old =
            "SELECT count(*) FROM post WHERE tenant_id = 'acme' AND title IN ('held', 'new')";
        assert_eq!(
            count(&t.db, at_old).await,
            0,
            "{t}: written at the old place"
        );
        let pending = tenancy.pending_move(&acme).await.expect("journal");
        assert!(
            pending.is_some_and(|p| p.phase == MovePhase::Switched),
            "{t}: the journal says switched"
        );
        tenancy.resume_move(&acme).await.expect("resume");
        let titles = titles(&tenancy, &acme).await;
        assert_eq!(titles.len(), 4, "{t}: {titles:?}");
        assert_eq!(titles.get("new"), Some(&1), "{t}: {titles:?}");
        assert_eq!(tenancy.location_of(&acme).await.expect("location"), to);

        t.db.execute_unprepared(
            "DROP TRIGGER slow_commit ON sea_orm_tenant_registry; DROP FUNCTION slow_commit()",
        )
        .await
        .expect("drop trigger");
        tenancy.deprovision(&acme).await.expect("deprovision");
        dbs.cleanup();
    })
    .await;
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
    let stmt = Statement::from_string(sea_orm::DbBackend::Postgres, sql);
    conn.query_all_raw(stmt).await.map(|r| r.len())
}

/// A read let through during a move's pause that waits for the tenant's
/// permit (cap 1) past the switch must not run at the old place, which the
/// move removes: it answers right or is refused with `Moved`. Found by an
/// attack on the pause: it ran there and answered no rows as a success.
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
        seed(&tn, &acme, 5).await;
        seed(&tn, &globex, 4).await;
        let held = tn.connection(&acme).await.expect("held");
        let results = Arc::new(std::sync::Mutex::new(Vec::new()));
        let start = Instant::now();
        let options = {
            let (held, results) = (held.clone(), results.clone());
            let handle = tokio::runtime::Handle::current();
            MoveOptions::default()
                .pause(Duration::from_secs(2))
                .on_progress(move |step| {
                    if step == sea_orm_tenant::MoveStep::Switching {
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
                    if step == sea_orm_tenant::MoveStep::Removing {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_interrupted_move_is_resumed_or_rolled_back() {
    each_backend(async |t: &TestDb| {
        let dbs = Databases::new(t);
        let tenancy = tenancy(t.db.clone(), &dbs);
        let acme = TenantId::from("acme");
        tenancy.provision(&acme).await.expect("provision");
        seed(&tenancy, &acme, 10).await;
        let shared = Location::new(Placement::SharedSchema);
        let own = Location::new(Placement::DatabasePerTenant);

        // Killed before the switch: the tenant lives at the source, whole.
        let stopped = tenancy
            .move_tenant_with(
                &acme,
                own.clone(),
                MoveOptions::default().stop_before("switch"),
            )
            .await;
        assert!(stopped.is_err(), "{t}");
        let pending = tenancy
            .pending_move(&acme)
            .await
            .expect("journal")
            .expect("pending");
        assert_eq!((pending.phase, &pending.to), (MovePhase::Copying, &own));
        assert_eq!(tenancy.location_of(&acme).await.expect("location"), shared);
        assert_eq!(titles(&tenancy, &acme).await.len(), 10);
        // The journal is the crate's own: no tenant reaches it.
        let conn = tenancy.connection(&acme).await.expect("connection");
        let peek = conn
            .query_all_raw(Statement::from_string(
                t.backend(),
                "SELECT * FROM sea_orm_tenant_moves",
            ))
            .await;
        assert!(
            peek.is_err(),
            "{t}: the journal through a tenant connection"
        );
        // Another destination is refused while it is pending.
        assert!(tenancy.move_tenant(&acme, shared.clone()).await.is_err());
        let resumed = tenancy.resume_move(&acme).await.expect("resume");
        assert_eq!(resumed.rows(), 20, "{t}: {resumed}");
        assert_eq!(tenancy.location_of(&acme).await.expect("location"), own);
        assert_eq!(titles(&tenancy, &acme).await.len(), 10);
        assert_eq!(shared_rows(&t.db, "acme").await, 0);

        // Killed before the switch, then rolled back: the copy goes.
        tenancy
            .move_tenant_with(
                &acme,
                shared.clone(),
                MoveOptions::default().stop_before("switch"),
            )
            .await
            .expect_err("stopped");
        assert_eq!(shared_rows(&t.db, "acme").await, 20, "{t}: the copy");
        let rolled = tenancy.rollback_move(&acme).await.expect("rollback");
        assert_eq!(rolled.map(|p| p.to), Some(shared.clone()));
        assert_eq!(shared_rows(&t.db, "acme").await, 0, "{t}: the copy stays");
        assert_eq!(tenancy.location_of(&acme).await.expect("location"), own);
        assert_eq!(titles(&tenancy, &acme).await.len(), 10);
        assert!(
            tenancy
                .rollback_move(&acme)
                .await
                .expect("nothing")
                .is_none()
        );

        // Killed after the switch: it lives at the destination; resuming
        // removes the source, rolling back is refused.
        tenancy
            .move_tenant_with(
                &acme,
                shared.clone(),
                MoveOptions::default().stop_before("cleanup"),
            )
            .await
            .expect_err("stopped");
        let pending = tenancy
            .pending_move(&acme)
            .await
            .expect("journal")
            .expect("pending");
        assert_eq!(pending.phase, MovePhase::Switched);
        assert_eq!(tenancy.location_of(&acme).await.expect("location"), shared);
        assert_eq!(titles(&tenancy, &acme).await.len(), 10);
        assert!(tenancy.rollback_move(&acme).await.is_err(), "{t}");
        let finished = tenancy.resume_move(&acme).await.expect("resume");
        assert!(finished.resumed);
        assert!(!dbs.exists(t, "acme").await, "{t}: database left");
        assert!(tenancy.pending_moves().await.expect("journal").is_empty());

        tenancy.deprovision(&acme).await.expect("deprovision");
        dbs.cleanup();
    })
    .await;
}

#[tokio::test]
async fn sequences_continue_above_the_copied_keys() {
    each_backend_of(&[Kind::Postgres], async |t: &TestDb| {
        let dbs = Databases::new(t);
        let tenancy = tenancy(t.db.clone(), &dbs);
        let acme = TenantId::from("acme");
        tenancy.provision(&acme).await.expect("provision");
        seed(&tenancy, &acme, 5).await;
        for to in [Placement::SchemaPerTenant, Placement::DatabasePerTenant] {
            let top = titles_and_ids(&tenancy, &acme).await;
            tenancy
                .move_tenant(&acme, Location::new(to))
                .await
                .expect("move");
            let conn = tenancy.connection(&acme).await.expect("connection");
            conn.execute_unprepared("INSERT INTO post (title) VALUES ('after')")
                .await
                .expect("an insert after the move");
            let after = post::Entity::find()
                .all(&conn)
                .await
                .expect("posts")
                .into_iter()
                .find(|p| p.title == "after")
                .expect("the new post");
            assert!(after.id > top, "{to}: id {} after {top}", after.id);
            conn.execute_unprepared("DELETE FROM post WHERE title = 'after'")
                .await
                .expect("delete");
        }
        tenancy.deprovision(&acme).await.expect("deprovision");
        dbs.cleanup();
    })
    .await;
}

/// The test tenancy on `t`'s server, with the second server beside it
/// (its shared tables, its schemas, and databases per tenant there).
fn on_two_servers(t: &TestDb, dbs: &Databases, second: &SecondDb) -> Tenancy {
    let far = common::unique_name();
    let second_url = second.url.clone();
    let server = Server::new("second", second.db.clone())
        .expect("server")
        .with_databases(move |tenant| {
            common::with_database(&second_url, &format!("{far}_{tenant}"))
        });
    tenancy(t.db.clone(), dbs).with_server(server)
}

async fn titles_and_ids(tenancy: &Tenancy, tenant: &TenantId) -> i32 {
    let conn = tenancy.connection(tenant).await.expect("connection");
    post::Entity::find()
        .all(&conn)
        .await
        .expect("posts")
        .into_iter()
        .map(|p| p.id)
        .max()
        .unwrap_or(0)
}

/// Two Postgres servers: a tenant provisioned on the second lives there
/// only; one moved there and back under writes, through every placement.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tenants_live_and_move_across_two_servers() {
    each_backend_of(&[Kind::Postgres], async |t: &TestDb| {
        let Some(second) = SecondDb::new().await else {
            return;
        };
        let dbs = Databases::new(t);
        let tenancy = on_two_servers(t, &dbs, &second);
        let (acme, initech) = (TenantId::from("acme"), TenantId::from("initech"));

        // Provisioned on the second server: its rows are there only.
        let there = Location::on("second", Placement::SharedSchema).expect("location");
        tenancy
            .provision_at(&initech, there.clone())
            .await
            .expect("provision");
        seed(&tenancy, &initech, 3).await;
        assert_eq!(shared_rows(&second.db, "initech").await, 6);
        assert_eq!(shared_rows(&t.db, "initech").await, 0);
        assert_eq!(
            tenancy.location_of(&initech).await.expect("location"),
            there
        );

        tenancy.provision(&acme).await.expect("provision");
        seed(&tenancy, &acme, 10).await;
        let mut expected: Vec<String> = (0..10).map(|i| format!("seed-{i}")).collect();
        for (i, placement) in [Placement::SchemaPerTenant, Placement::DatabasePerTenant]
            .into_iter()
            .enumerate()
        {
            let to = Location::on("second", placement).expect("location");
            move_under_writes(&tenancy, &acme, to, &mut expected, &format!("second-{i}")).await;
        }

        // Into the second server's shared tables, where initech's rows hold
        // keys acme's rows have too (single-column keys): refused at the
        // copy, and acme stays where it is, whole.
        let shared_there = Location::on("second", Placement::SharedSchema).expect("location");
        let refused = tenancy.move_tenant(&acme, shared_there.clone()).await;
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.to_string().contains("duplicate key")),
            "{refused:?}"
        );
        let own_there = Location::on("second", Placement::DatabasePerTenant).expect("location");
        assert_eq!(
            tenancy.location_of(&acme).await.expect("location"),
            own_there
        );
        assert_eq!(titles(&tenancy, &acme).await.len(), expected.len());
        assert_eq!(shared_rows(&second.db, "acme").await, 0, "half a copy");
        assert!(
            tenancy
                .rollback_move(&acme)
                .await
                .expect("rollback")
                .is_some()
        );

        // With initech gone, the keys are free.
        tenancy.deprovision(&initech).await.expect("deprovision");
        move_under_writes(&tenancy, &acme, shared_there, &mut expected, "second-2").await;
        // A tenant provisioned there now gets keys above acme's.
        tenancy
            .provision_at(&initech, there.clone())
            .await
            .expect("provision");
        seed(&tenancy, &initech, 3).await;
        assert_eq!(shared_rows(&t.db, "acme").await, 0, "left on main");
        assert_eq!(
            shared_rows(&second.db, "acme").await,
            expected.len() as i64 + 10,
            "on the second server"
        );
        assert!(!schema_exists(&second.db, "tenant_acme").await);
        // And back to the main server.
        move_under_writes(
            &tenancy,
            &acme,
            Location::new(Placement::SharedSchema),
            &mut expected,
            "back",
        )
        .await;
        assert_eq!(shared_rows(&second.db, "acme").await, 0, "left on second");
        assert_eq!(shared_rows(&second.db, "initech").await, 6, "neighbour");

        tenancy.deprovision(&acme).await.expect("deprovision");
        tenancy.deprovision(&initech).await.expect("deprovision");
        assert_eq!(shared_rows(&second.db, "initech").await, 0);
        dbs.cleanup();
        second.cleanup().await;
    })
    .await;
}

/// Migrations run on every server: each server's shared tables, its
/// schemas and its databases, reported per server.
#[tokio::test]
async fn migrations_run_on_every_server_and_report_per_server() {
    each_backend_of(&[Kind::Postgres], async |t: &TestDb| {
        let Some(second) = SecondDb::new().await else {
            return;
        };
        let dbs = Databases::new(t);
        let tenancy = on_two_servers(t, &dbs, &second);
        let on = |p| Location::on("second", p).expect("location");
        for (id, at) in [
            ("acme", Location::new(Placement::SharedSchema)),
            ("globex", on(Placement::SharedSchema)),
            ("initech", on(Placement::SchemaPerTenant)),
            ("umbrella", on(Placement::DatabasePerTenant)),
        ] {
            tenancy
                .provision_at(&TenantId::from(id), at)
                .await
                .expect("provision");
        }
        let status = tenancy.migrations().status().await.expect("status");
        assert!(status.is_ok(), "{status}");
        let report = tenancy.migrations().up().await.expect("up");
        assert!(report.is_ok(), "{report}");
        let on_second: Vec<String> = report
            .on_server("second")
            .map(|r| r.target.describe())
            .collect();
        assert_eq!(
            on_second,
            [
                "the shared schema",
                "tenant `initech` (its own schema)",
                "tenant `umbrella` (its own database)",
            ],
            "{report}"
        );
        // Shared tenants (acme) are migrated with their server's shared tables.
        assert_eq!(report.on_server("main").count(), 1, "{report}");
        assert!(report.shared().is_some_and(|r| r.server == "main"));
        // Each tenant can use its tables where it lives.
        for id in ["acme", "globex", "initech", "umbrella"] {
            seed(&tenancy, &TenantId::from(id), 1).await;
        }
        assert_eq!(shared_rows(&second.db, "globex").await, 2);
        assert_eq!(shared_rows(&t.db, "globex").await, 0);
        for id in ["acme", "globex", "initech", "umbrella"] {
            tenancy
                .deprovision(&TenantId::from(id))
                .await
                .expect("deprovision");
        }
        dbs.cleanup();
        second.cleanup().await;
    })
    .await;
}
