//! The ambient tenant (a tokio task-local) against real databases:
//! rule 1 (fail closed: no tenant is an error and no query) and rule 7
//! (context does not leak across tasks), under concurrency.

mod common;

use common::{acme, add_post, all_posts, each_backend, globex, within};
use sea_orm::ActiveValue::Set;
use sea_orm::{DatabaseConnection, DbErr, EntityTrait};
use sea_orm_tenant::doc_entities::post;
use sea_orm_tenant::prelude::*;

/// Application code that relies on the ambient tenant.
async fn list_posts(db: &DatabaseConnection) -> Result<Vec<post::Model>, DbErr> {
    post::Entity::scoped_current()?.find().all(db).await
}

async fn create_post(db: &DatabaseConnection, title: &str) -> Result<post::Model, DbErr> {
    let model = post::ActiveModel {
        title: Set(title.to_owned()),
        ..Default::default()
    };
    post::Entity::scoped_current()?
        .insert(model)
        .exec_with_returning(db)
        .await
}

fn missing() -> DbErr {
    TenantError::Missing.into()
}

/// Rule 1: outside `with_tenant` there is no tenant: an error, and no query.
#[tokio::test]
async fn outside_with_tenant_is_missing_and_sends_no_query() {
    assert_eq!(current_tenant(), Err(TenantError::Missing));
    assert!(matches!(
        post::Entity::scoped_current(),
        Err(TenantError::Missing)
    ));

    // A connection that fails every query: the error is the tenant's, so no
    // query was attempted.
    let disconnected = DatabaseConnection::default();
    assert_eq!(list_posts(&disconnected).await, Err(missing()));
    assert_eq!(create_post(&disconnected, "x").await, Err(missing()));

    each_backend(async |t| {
        add_post(t, &acme(), "a").await;
        let before = all_posts(t).await;

        let err = list_posts(&t.db).await.unwrap_err();
        assert!(TenantError::is_tenant_error(&err), "{t}: {err:?}");
        assert_eq!(err, missing(), "{t}");
        let err = create_post(&t.db, "nobody's").await.unwrap_err();
        assert_eq!(err, missing(), "{t}");

        assert_eq!(all_posts(t).await, before, "{t}: a row was written");
    })
    .await;
}

#[tokio::test]
async fn inside_with_tenant_queries_are_scoped() {
    each_backend(async |t| {
        add_post(t, &globex(), "theirs").await;
        let db = &t.db;

        let created = with_tenant(acme(), create_post(db, "mine")).await.unwrap();
        assert_eq!(created.tenant_id, "acme", "{t}");

        let seen = with_tenant(acme(), list_posts(db)).await.unwrap();
        assert_eq!(seen, [created], "{t}: acme's view");

        let seen = with_tenant(globex(), list_posts(db)).await.unwrap();
        assert_eq!(seen.len(), 1, "{t}");
        assert_eq!(seen[0].title, "theirs", "{t}: globex's view");

        // The scope ends with the future.
        assert_eq!(list_posts(db).await, Err(missing()), "{t}");
    })
    .await;
}

/// Rule 7: `sea_orm_tenant::spawn` carries the tenant into the new task;
/// `tokio::spawn` and threads do not.
#[tokio::test]
async fn spawn_inherits_the_tenant_and_tokio_spawn_does_not() {
    each_backend(async |t| {
        add_post(t, &acme(), "a").await;
        add_post(t, &globex(), "b").await;
        let db = t.db.clone();

        with_tenant(acme(), async {
            let inherited = sea_orm_tenant::spawn({
                let db = db.clone();
                async move { list_posts(&db).await }
            });
            let seen = inherited.await.unwrap().unwrap();
            assert_eq!(seen.len(), 1, "{t}");
            assert_eq!(seen[0].tenant_id, "acme", "{t}: spawned task");

            // Spawned from a spawned task: still acme.
            let grandchild = sea_orm_tenant::spawn(async {
                sea_orm_tenant::spawn(async { current_tenant() })
                    .await
                    .unwrap()
            });
            assert_eq!(grandchild.await.unwrap(), Ok(acme()), "{t}");

            let plain = tokio::spawn({
                let db = db.clone();
                async move { list_posts(&db).await }
            });
            assert_eq!(plain.await.unwrap(), Err(missing()), "{t}: tokio::spawn");

            let thread = std::thread::spawn(current_tenant).join().unwrap();
            assert_eq!(thread, Err(TenantError::Missing), "{t}: std thread");

            let blocking = tokio::task::spawn_blocking(current_tenant).await.unwrap();
            assert_eq!(blocking, Err(TenantError::Missing), "{t}: spawn_blocking");
        })
        .await;

        // Outside with_tenant, sea_orm_tenant::spawn is a plain spawn.
        let outside = sea_orm_tenant::spawn(async move { list_posts(&db).await });
        assert_eq!(outside.await.unwrap(), Err(missing()), "{t}");
    })
    .await;
}

#[tokio::test]
async fn nested_with_tenant_inner_wins_until_it_ends() {
    each_backend(async |t| {
        add_post(t, &acme(), "a").await;
        add_post(t, &globex(), "b").await;
        let db = &t.db;

        let (outer_before, inner, outer_after) = with_tenant(acme(), async {
            let before = list_posts(db).await.unwrap();
            let inner = with_tenant(globex(), list_posts(db)).await.unwrap();
            let after = list_posts(db).await.unwrap();
            (before, inner, after)
        })
        .await;
        let titles =
            |rows: &[post::Model]| rows.iter().map(|r| r.title.clone()).collect::<Vec<_>>();
        assert_eq!(titles(&outer_before), ["a"], "{t}: outer before");
        assert_eq!(titles(&inner), ["b"], "{t}: inner");
        assert_eq!(titles(&outer_after), ["a"], "{t}: outer after");
    })
    .await;
}

/// Rule 7 under load: 200 tasks on a multi-thread runtime, alternating two
/// tenants, each inserting and reading back, never see the other's rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_tasks_never_see_the_other_tenant() {
    each_backend(async |t| {
        let mut tasks = Vec::new();
        for i in 0..200 {
            let db = t.db.clone();
            let tenant = if i % 2 == 0 { acme() } else { globex() };
            let expected = tenant.to_string();
            tasks.push(tokio::spawn(with_tenant(tenant, async move {
                tokio::task::yield_now().await;
                let row = create_post(&db, &format!("task {i}")).await?;
                tokio::task::yield_now().await;
                let seen = list_posts(&db).await?;
                let me = current_tenant()?;
                Ok::<_, DbErr>((i, expected, me, row, seen))
            })));
        }

        within(120, "200 concurrent tasks", async {
            for task in tasks {
                let (i, expected, me, row, seen) = task
                    .await
                    .unwrap()
                    .unwrap_or_else(|err| panic!("{t}: a task failed: {err}"));
                assert_eq!(me.to_string(), expected, "{t}: task {i}'s tenant changed");
                assert_eq!(
                    row.tenant_id, expected,
                    "{t}: task {i} inserted for another tenant"
                );
                assert!(
                    seen.iter().all(|r| r.tenant_id == expected),
                    "{t}: task {i} ({expected}) saw another tenant's rows"
                );
                assert!(
                    seen.contains(&row),
                    "{t}: task {i} did not read back its own row"
                );
            }
        })
        .await;

        let rows = all_posts(t).await;
        assert_eq!(rows.len(), 200, "{t}");
        let acme_rows = rows.iter().filter(|r| r.tenant_id == "acme").count();
        assert_eq!(acme_rows, 100, "{t}");
        for row in &rows {
            let i: usize = row.title["task ".len()..].parse().unwrap();
            let owner = if i.is_multiple_of(2) {
                "acme"
            } else {
                "globex"
            };
            assert_eq!(row.tenant_id, owner, "{t}: {row:?}");
        }
    })
    .await;
}

/// `sea_orm_tenant::spawn` carries the tracing span as well as the tenant:
/// what the job logs is inside the request's span, with its fields.
#[tokio::test]
async fn spawn_carries_the_current_span() {
    let (logs, _guard) = common::logs::Logs::capture();
    let span = tracing::info_span!("checkout", order = 42);
    let job = span.in_scope(|| {
        with_tenant_sync(acme(), || {
            sea_orm_tenant::spawn(async {
                tracing::info!(target: "sea_orm_tenant_job", "job ran");
                current_tenant()
            })
        })
    });
    assert_eq!(job.await.ok(), Some(Ok(acme())));
    let lines = logs.lines();
    let ran: Vec<&String> = lines.iter().filter(|l| l.contains("job ran")).collect();
    assert_eq!(ran.len(), 1, "{lines:?}");
    assert!(ran[0].contains("checkout{order=42}"), "{lines:?}");
}

/// A background job gets its tenant's connection from the ambient tenant
/// in one call; outside `with_tenant` that is `TenantError::Missing`.
#[tokio::test]
async fn a_job_gets_its_connection_from_the_ambient_tenant() {
    each_backend(async |t| {
        add_post(t, &acme(), "a").await;
        add_post(t, &globex(), "b").await;
        let tenancy = Tenancy::shared_schema(t.db.clone()).tenant_table::<post::Entity>();
        for tenant in [acme(), globex()] {
            tenancy.provision(&tenant).await.expect("provision");
        }
        let job = with_tenant_sync(globex(), || {
            let tenancy = tenancy.clone();
            sea_orm_tenant::spawn(async move {
                let conn = tenancy.current_connection().await?;
                post::Entity::find().all(&conn).await
            })
        });
        let seen = job.await.expect("join").expect("posts");
        assert_eq!(seen.len(), 1, "{t}");
        assert_eq!(seen[0].tenant_id, "globex", "{t}");
        assert_eq!(
            tenancy.current_connection().await.err(),
            Some(TenantError::Missing),
            "{t}"
        );
    })
    .await;
}
