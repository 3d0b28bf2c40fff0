//! Rule 12, confinement, through plain SeaORM: on a shared-schema
//! `TenantConnection` every SeaORM call written without `scoped()` sees and
//! changes only its tenant's rows, on every backend: `find`, `find_by_id`,
//! `count`, `paginate`, `cursor_by`, `stream`, `ActiveModel` insert,
//! update, save and delete, `delete_many`, `update_many`, and all of it
//! inside `begin()` transactions too, and 200 concurrent tasks of two
//! tenants (related rows, joins and loaders are in `confinement_related.rs`,
//! raw SQL in `confinement_raw.rs`).
//!
//! globex's rows are planted on the test database directly; acme's
//! connection must neither return nor change them (checked on the test
//! database afterwards). Postgres runs as a superuser without RLS
//! policies, so only the connection's own confinement is tested.

mod common;

use common::confine::{Related, Shared, posts_of, related, shared, tenant_error};
use common::{TestDb, acme, add_post, all_posts, each_backend, globex, legacy, within};
use futures_util::TryStreamExt;
use sea_orm::ActiveValue::{NotSet, Set, Unchanged};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DbErr, EntityTrait, IntoActiveModel, ModelTrait,
    PaginatorTrait, QueryFilter, QueryOrder, TransactionTrait,
};
use sea_orm_tenant::TenantConnection;
use sea_orm_tenant::doc_entities::post;

fn titles(posts: &[post::Model]) -> Vec<&str> {
    posts.iter().map(|p| p.title.as_str()).collect()
}

fn new_post(title: &str) -> post::ActiveModel {
    post::ActiveModel {
        title: Set(title.to_owned()),
        ..Default::default()
    }
}

/// acme's `a1`, `a2` and globex's `g1` (its secret), `g2`, by id.
struct Posts {
    a1: post::Model,
    a2: post::Model,
    g1: post::Model,
}

async fn posts(t: &TestDb) -> Posts {
    let a1 = add_post(t, &acme(), "a1").await;
    let g1 = add_post(t, &globex(), "globex secret").await;
    let a2 = add_post(t, &acme(), "a2").await;
    add_post(t, &globex(), "g2").await;
    Posts { a1, a2, g1 }
}

#[tokio::test]
async fn plain_find_sees_only_its_tenant() {
    each_backend(async |t| {
        let Posts { a1, a2, g1 } = posts(t).await;
        let Shared { acme, globex, .. } = shared(t).await;

        let mine = post::Entity::find()
            .order_by_asc(post::Column::Id)
            .all(&acme)
            .await
            .expect("find");
        assert_eq!(mine, [a1.clone(), a2.clone()], "{t}: find().all");

        let by_id = post::Entity::find_by_id(g1.id).one(&acme).await;
        assert_eq!(by_id, Ok(None), "{t}: find_by_id of globex's post");
        let own = post::Entity::find_by_id(a1.id).one(&acme).await;
        assert_eq!(own, Ok(Some(a1.clone())), "{t}: find_by_id of its own");

        // A user filter naming the other tenant finds nothing.
        let theirs = post::Entity::find()
            .filter(post::Column::TenantId.eq("globex"))
            .all(&acme)
            .await
            .expect("filter");
        assert_eq!(theirs, [], "{t}: filter on globex's tenant");
        let by_title = post::Entity::find()
            .filter(post::Column::Title.contains("secret"))
            .one(&acme)
            .await;
        assert_eq!(by_title, Ok(None), "{t}: filter on globex's title");
        // An OR in the user's filter cannot reach around the tenant.
        let or = post::Entity::find()
            .filter(
                Condition::any()
                    .add(post::Column::Id.eq(g1.id))
                    .add(post::Column::TenantId.ne("acme")),
            )
            .all(&acme)
            .await
            .expect("or");
        assert_eq!(or, [], "{t}: OR around the tenant");

        // globex's connection sees globex's own.
        let theirs = post::Entity::find()
            .order_by_asc(post::Column::Id)
            .all(&globex)
            .await
            .expect("globex find");
        assert_eq!(titles(&theirs), ["globex secret", "g2"], "{t}");
    })
    .await;
}

#[tokio::test]
async fn plain_count_paginate_and_cursor_see_only_its_tenant() {
    each_backend(async |t| {
        let Posts { a1, a2, g1 } = posts(t).await;
        let Shared { acme, .. } = shared(t).await;

        assert_eq!(post::Entity::find().count(&acme).await, Ok(2), "{t}: count");

        let pages = post::Entity::find()
            .order_by_asc(post::Column::Id)
            .paginate(&acme, 1);
        assert_eq!(pages.num_items().await, Ok(2), "{t}: num_items");
        assert_eq!(pages.num_pages().await, Ok(2), "{t}: num_pages");
        assert_eq!(pages.fetch_page(0).await, Ok(vec![a1.clone()]), "{t}");
        assert_eq!(pages.fetch_page(1).await, Ok(vec![a2.clone()]), "{t}");
        assert_eq!(pages.fetch_page(2).await, Ok(vec![]), "{t}: page 3");

        let mut cursor = post::Entity::find().cursor_by(post::Column::Id);
        let first = cursor.first(10).all(&acme).await.expect("cursor");
        assert_eq!(first, [a1.clone(), a2.clone()], "{t}: cursor_by");
        let mut cursor = post::Entity::find().cursor_by(post::Column::Id);
        let after = cursor.after(a1.id).first(10).all(&acme).await;
        assert_eq!(after, Ok(vec![a2.clone()]), "{t}: cursor after a1");
        let mut cursor = post::Entity::find().cursor_by(post::Column::Id);
        let before = cursor.before(g1.id + 100).last(1).all(&acme).await;
        assert_eq!(before, Ok(vec![a2]), "{t}: cursor last");
    })
    .await;
}

#[tokio::test]
async fn plain_stream_sees_only_its_tenant() {
    each_backend(async |t| {
        let Posts { a1, a2, .. } = posts(t).await;
        let Shared { acme, .. } = shared(t).await;

        let streamed: Vec<post::Model> = post::Entity::find()
            .order_by_asc(post::Column::Id)
            .stream(&acme)
            .await
            .expect("stream")
            .try_collect()
            .await
            .expect("rows");
        assert_eq!(streamed, [a1.clone(), a2.clone()], "{t}: stream");

        let txn = acme.begin().await.expect("begin");
        let streamed: Vec<post::Model> = post::Entity::find()
            .order_by_asc(post::Column::Id)
            .stream(&txn)
            .await
            .expect("stream in a transaction")
            .try_collect()
            .await
            .expect("rows");
        txn.commit().await.expect("commit");
        assert_eq!(streamed, [a1, a2], "{t}: stream in a transaction");
    })
    .await;
}

#[tokio::test]
async fn plain_insert_gets_its_tenant() {
    each_backend(async |t| {
        let Shared { acme, .. } = shared(t).await;

        let row = new_post("by ActiveModel::insert").insert(&acme).await;
        let row = row.unwrap_or_else(|err| panic!("{t}: insert: {err}"));
        assert_eq!(row.tenant_id, "acme", "{t}: insert returned {row:?}");

        post::Entity::insert(new_post("by Entity::insert"))
            .exec(&acme)
            .await
            .unwrap_or_else(|err| panic!("{t}: Entity::insert: {err}"));
        post::Entity::insert_many([new_post("many 1"), new_post("many 2")])
            .exec(&acme)
            .await
            .unwrap_or_else(|err| panic!("{t}: insert_many: {err}"));
        let saved = new_post("by save").save(&acme).await;
        let saved = saved.unwrap_or_else(|err| panic!("{t}: save: {err}"));
        assert_eq!(saved.tenant_id, Unchanged("acme".into()), "{t}: save");
        // Set to its own tenant is fine too.
        let mut own = new_post("tenant set to acme");
        own.tenant_id = Set("acme".into());
        own.insert(&acme)
            .await
            .unwrap_or_else(|err| panic!("{t}: insert naming acme: {err}"));

        let stored = all_posts(t).await;
        assert_eq!(stored.len(), 6, "{t}: {stored:?}");
        assert!(
            stored.iter().all(|p| p.tenant_id == "acme"),
            "{t}: {stored:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn plain_insert_naming_another_tenant_is_refused() {
    each_backend(async |t| {
        posts(t).await;
        let Shared { acme, .. } = shared(t).await;
        let before = all_posts(t).await;
        let theirs = || {
            let mut model = new_post("planted by acme");
            model.tenant_id = Set("globex".into());
            model
        };

        let err = theirs().insert(&acme).await.expect_err("insert");
        assert!(tenant_error(&err), "{t}: ActiveModel::insert: {err}");
        let err = post::Entity::insert(theirs()).exec(&acme).await;
        assert!(err.is_err(), "{t}: Entity::insert: {err:?}");
        let err = post::Entity::insert_many([new_post("own"), theirs()])
            .exec(&acme)
            .await;
        assert!(err.is_err(), "{t}: insert_many: {err:?}");
        let err = theirs().save(&acme).await;
        assert!(err.is_err(), "{t}: save: {err:?}");

        assert_eq!(all_posts(t).await, before, "{t}: the table changed");
    })
    .await;
}

#[tokio::test]
async fn plain_update_of_another_tenants_row_changes_nothing() {
    each_backend(async |t| {
        let Posts { a1, g1, .. } = posts(t).await;
        let Shared { acme, .. } = shared(t).await;
        let before = all_posts(t).await;
        let by_key = || post::ActiveModel {
            id: Unchanged(g1.id),
            title: Set("pwned".into()),
            ..Default::default()
        };
        // globex's row as read, with a new title.
        let as_read = || {
            let mut model = g1.clone().into_active_model();
            model.title = Set("pwned".into());
            model
        };

        let result = by_key().update(&acme).await;
        assert!(result.is_err(), "{t}: ActiveModel::update: {result:?}");
        let result = post::Entity::update(by_key()).exec(&acme).await;
        assert!(result.is_err(), "{t}: Entity::update: {result:?}");
        let result = as_read().update(&acme).await;
        assert!(
            result.is_err(),
            "{t}: update of the row as read: {result:?}"
        );
        let result = by_key().save(&acme).await;
        assert!(result.is_err(), "{t}: save: {result:?}");
        assert_eq!(all_posts(t).await, before, "{t}: globex's row changed");

        // Its own row updates as usual.
        let mut mine = a1.clone().into_active_model();
        mine.title = Set("renamed".into());
        let row = mine.update(&acme).await;
        let row = row.unwrap_or_else(|err| panic!("{t}: own update: {err}"));
        assert_eq!((row.id, row.title.as_str()), (a1.id, "renamed"), "{t}");
        assert_eq!(row.tenant_id, "acme", "{t}");
        assert_eq!(posts_of(t, &globex()).await.len(), 2, "{t}");
    })
    .await;
}

#[tokio::test]
async fn plain_delete_of_another_tenants_row_leaves_it() {
    each_backend(async |t| {
        let Posts { a1, g1, .. } = posts(t).await;
        let Shared { acme, .. } = shared(t).await;
        let theirs = posts_of(t, &globex()).await;

        let key_only = post::ActiveModel {
            id: Set(g1.id),
            ..Default::default()
        };
        let gone = key_only
            .clone()
            .delete(&acme)
            .await
            .map(|r| r.rows_affected);
        assert!(
            matches!(gone, Ok(0) | Err(_)),
            "{t}: ActiveModel::delete: {gone:?}"
        );
        let gone = g1.clone().delete(&acme).await.map(|r| r.rows_affected);
        assert!(
            matches!(gone, Ok(0) | Err(_)),
            "{t}: Model::delete: {gone:?}"
        );
        let gone = post::Entity::delete(key_only).exec(&acme).await;
        let gone = gone.map(|r| r.rows_affected);
        assert!(
            matches!(gone, Ok(0) | Err(_)),
            "{t}: Entity::delete: {gone:?}"
        );
        let gone = post::Entity::delete_by_id(g1.id).exec(&acme).await;
        assert_eq!(gone.map(|r| r.rows_affected), Ok(0), "{t}: delete_by_id");
        assert_eq!(posts_of(t, &globex()).await, theirs, "{t}: globex's rows");

        let gone = a1.delete(&acme).await.map(|r| r.rows_affected);
        assert_eq!(gone, Ok(1), "{t}: own delete");
        assert_eq!(posts_of(t, &globex()).await, theirs, "{t}: globex's rows");
    })
    .await;
}

#[tokio::test]
async fn plain_delete_many_removes_only_its_tenants_rows() {
    each_backend(async |t| {
        posts(t).await;
        add_post(t, &globex(), "a1").await; // the same title as acme's
        let Shared { acme, .. } = shared(t).await;
        let theirs = posts_of(t, &globex()).await;

        let gone = post::Entity::delete_many()
            .filter(post::Column::Title.eq("a1"))
            .exec(&acme)
            .await;
        assert_eq!(gone.map(|r| r.rows_affected), Ok(1), "{t}: by title");
        let gone = post::Entity::delete_many().exec(&acme).await;
        assert_eq!(gone.map(|r| r.rows_affected), Ok(1), "{t}: everything");

        assert_eq!(all_posts(t).await, theirs, "{t}: globex's rows");
    })
    .await;
}

#[tokio::test]
async fn plain_update_many_changes_only_its_tenants_rows() {
    each_backend(async |t| {
        let Posts { g1, .. } = posts(t).await;
        let Shared { acme, .. } = shared(t).await;
        let theirs = posts_of(t, &globex()).await;

        let touched = post::Entity::update_many()
            .col_expr(post::Column::Title, Expr::value("archived"))
            .exec(&acme)
            .await;
        assert_eq!(touched.map(|r| r.rows_affected), Ok(2), "{t}: col_expr");
        let touched = post::Entity::update_many()
            .set(new_post("renamed"))
            .filter(post::Column::Id.eq(g1.id))
            .exec(&acme)
            .await;
        assert_eq!(touched.map(|r| r.rows_affected), Ok(0), "{t}: globex's id");

        assert_eq!(posts_of(t, &globex()).await, theirs, "{t}: globex's rows");
        let mine = posts_of(t, &common::acme()).await;
        assert_eq!(titles(&mine), ["archived", "archived"], "{t}");
    })
    .await;
}

// ---------------------------------------------------------------------------
// Transactions of the connection.

#[tokio::test]
async fn plain_calls_in_a_transaction_are_confined_too() {
    each_backend(async |t| {
        let Posts { a1, a2, g1 } = posts(t).await;
        let Related { p1, p2, c, .. } = related(t).await;
        let Shared { acme, .. } = shared(t).await;
        let theirs = posts_of(t, &globex()).await;

        let txn = acme.begin().await.expect("begin");
        let mine = post::Entity::find()
            .order_by_asc(post::Column::Id)
            .all(&txn)
            .await;
        assert_eq!(mine, Ok(vec![a1.clone(), a2.clone()]), "{t}: find in txn");
        let by_id = post::Entity::find_by_id(g1.id).one(&txn).await;
        assert_eq!(by_id, Ok(None), "{t}: find_by_id in txn");
        assert_eq!(post::Entity::find().count(&txn).await, Ok(2), "{t}");
        let row = new_post("in txn").insert(&txn).await;
        let row = row.unwrap_or_else(|err| panic!("{t}: insert in txn: {err}"));
        assert_eq!(row.tenant_id, "acme", "{t}: insert in txn");
        let touched = post::Entity::update_many()
            .col_expr(post::Column::Title, Expr::value("txn"))
            .exec(&txn)
            .await;
        assert_eq!(touched.map(|r| r.rows_affected), Ok(3), "{t}");
        let gone = post::Entity::delete_by_id(g1.id).exec(&txn).await;
        assert_eq!(gone.map(|r| r.rows_affected), Ok(0), "{t}: delete in txn");
        let pwned = post::ActiveModel {
            id: Unchanged(g1.id),
            title: Set("pwned".into()),
            tenant_id: NotSet,
        };
        let pwned = pwned.update(&txn).await;
        assert!(
            pwned.is_err(),
            "{t}: update of globex's row in txn: {pwned:?}"
        );
        let with = legacy::post::Entity::find()
            .find_with_related(legacy::comment::Entity)
            .order_by_asc(legacy::post::Column::Id)
            .all(&txn)
            .await;
        let expected = vec![(p1.clone(), vec![]), (p2.clone(), vec![c.clone()])];
        assert_eq!(with, Ok(expected), "{t}: find_with_related in txn");

        // A nested transaction (a savepoint) is the same connection.
        let inner = txn.begin().await.expect("savepoint");
        let gone = post::Entity::delete_many().exec(&inner).await;
        assert_eq!(
            gone.map(|r| r.rows_affected),
            Ok(3),
            "{t}: in the savepoint"
        );
        inner.rollback().await.expect("rollback to savepoint");
        txn.commit().await.expect("commit");

        // `transaction(..)` with a closure.
        let count = acme
            .transaction::<_, u64, DbErr>(|txn| {
                Box::pin(async move {
                    post::Entity::delete_many()
                        .filter(post::Column::Title.eq("globex secret"))
                        .exec(txn)
                        .await?;
                    post::Entity::find().count(txn).await
                })
            })
            .await;
        assert_eq!(count.ok(), Some(3), "{t}: transaction(..)");

        assert_eq!(posts_of(t, &globex()).await, theirs, "{t}: globex's rows");
        let mine = posts_of(t, &common::acme()).await;
        assert_eq!(titles(&mine), ["txn", "txn", "txn"], "{t}");
    })
    .await;
}

// ---------------------------------------------------------------------------
// Many tenants' tasks at once.

/// One task's work through plain SeaORM on its tenant's connection: insert,
/// read back, update, list; `Err` says what it saw of another tenant.
async fn task(conn: TenantConnection, i: usize) -> Result<(), String> {
    let tenant = conn.tenant().to_string();
    let fail = |what: &str, err: DbErr| format!("{tenant} task {i}: {what}: {err}");
    let row = new_post(&format!("{tenant}-{i}"))
        .insert(&conn)
        .await
        .map_err(|e| fail("insert", e))?;
    if row.tenant_id != tenant {
        return Err(format!("{tenant} task {i}: inserted {row:?}"));
    }
    let found = post::Entity::find_by_id(row.id)
        .one(&conn)
        .await
        .map_err(|e| fail("find_by_id", e))?;
    if found.as_ref() != Some(&row) {
        return Err(format!("{tenant} task {i}: read back {found:?}"));
    }
    let mut edit = row.into_active_model();
    edit.title = Set(format!("{tenant}-{i}-edited"));
    edit.update(&conn).await.map_err(|e| fail("update", e))?;
    let seen = post::Entity::find()
        .all(&conn)
        .await
        .map_err(|e| fail("find", e))?;
    if let Some(other) = seen.iter().find(|p| p.tenant_id != tenant) {
        return Err(format!("{tenant} task {i}: saw {other:?}"));
    }
    // The other tenant's rows, by their titles: nothing matches.
    let other = if tenant == "acme" { "globex-" } else { "acme-" };
    let touched = post::Entity::update_many()
        .col_expr(post::Column::Title, Expr::value("pwned"))
        .filter(post::Column::Title.starts_with(other))
        .exec(&conn)
        .await
        .map_err(|e| fail("update_many", e))?;
    if touched.rows_affected != 0 {
        return Err(format!("{tenant} task {i}: updated {touched:?} of {other}"));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_tasks_each_see_only_their_tenant() {
    each_backend(async |t| {
        let Shared { acme, globex, .. } = shared(t).await;
        let started = std::time::Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..200 {
            let conn = if i % 2 == 0 { &acme } else { &globex };
            tasks.spawn(task(conn.clone(), i));
        }
        let results = within(60, "200 tasks", tasks.join_all()).await;
        let failed: Vec<String> = results.into_iter().filter_map(Result::err).collect();
        assert!(
            failed.is_empty(),
            "{t}: {} task(s): {failed:#?}",
            failed.len()
        );

        for (conn, tenant) in [(&acme, "acme"), (&globex, "globex")] {
            assert_eq!(
                post::Entity::find().count(conn).await,
                Ok(100),
                "{t}: {tenant}"
            );
            let stored = posts_of(t, conn.tenant()).await;
            assert_eq!(stored.len(), 100, "{t}: {tenant}'s rows in the table");
            assert!(
                stored
                    .iter()
                    .all(|p| p.title.starts_with(tenant) && p.title.ends_with("-edited")),
                "{t}: {tenant}: {stored:?}"
            );
        }
        assert_eq!(all_posts(t).await.len(), 200, "{t}: rows in the table");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{t}: 200 tasks took {:?}",
            started.elapsed()
        );
    })
    .await;
}
