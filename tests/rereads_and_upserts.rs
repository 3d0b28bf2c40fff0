//! Rule 3 (SeaORM's re-reads by primary key stay within the tenant) and
//! rule 5 (upserts never overwrite another tenant's row), on every backend.
//!
//! SeaORM re-reads a row with a plain `find_by_id` after a no-op update and,
//! on backends without `RETURNING` (SQLite and MySQL/MariaDB in this build),
//! after every insert and update. Whenever the driver reports a row as
//! written although the upsert met another tenant's row (or reports a
//! `last_insert_id` that is not the upserted row's), that re-read is where
//! the other tenant's row would leak; the scoped builders re-read within
//! the tenant, so the worst outcome is `RecordNotFound`.

mod common;

use common::{TestDb, acme, add_post, all_posts, each_backend, globex, handle};
use sea_orm::ActiveValue::{Set, Unchanged};
use sea_orm::sea_query::Expr;
use sea_orm::{DbErr, EntityTrait, IntoActiveModel, TransactionTrait};
use sea_orm_tenant::doc_entities::post;
use sea_orm_tenant::prelude::*;

/// `acme`'s model that carries `globex`'s primary key.
fn acme_model_with_id(id: i32, title: &str) -> post::ActiveModel {
    post::ActiveModel {
        id: Set(id),
        title: Set(title.to_owned()),
        ..Default::default()
    }
}

fn upsert_title() -> ScopedOnConflict {
    ScopedOnConflict::column(post::Column::Id)
        .update_column(post::Column::Title)
        .to_owned()
}

/// The ways an upsert can be asked to update the title on conflict
/// (`do_nothing` has its own test, which runs on MySQL too).
fn title_upserts() -> Vec<(&'static str, ScopedOnConflict)> {
    vec![
        ("update_column(Title)", upsert_title()),
        (
            "update_columns([Title])",
            ScopedOnConflict::column(post::Column::Id)
                .update_columns([post::Column::Title])
                .to_owned(),
        ),
        (
            "value(Title, expr)",
            ScopedOnConflict::column(post::Column::Id)
                .value(post::Column::Title, Expr::value("overwritten"))
                .to_owned(),
        ),
    ]
}

/// A row that SeaORM says it returned for acme must be acme's.
fn assert_not_leaked(t: &TestDb, what: &str, result: Result<post::Model, DbErr>) {
    if let Ok(row) = result {
        assert_eq!(
            row.tenant_id, "acme",
            "{t}: {what} returned another tenant's row: {row:?}"
        );
        panic!("{t}: {what} returned a row although nothing of acme's was written: {row:?}");
    }
}

/// Rule 3: a no-op update (nothing `Set`) re-reads the row; with another
/// tenant's primary key that re-read must not return their row.
#[tokio::test]
async fn rule3_noop_update_of_another_tenants_key_does_not_return_their_row() {
    each_backend(async |t| {
        let b = add_post(t, &globex(), "theirs").await;
        let before = all_posts(t).await;

        let key_only = post::ActiveModel {
            id: Unchanged(b.id),
            ..Default::default()
        };
        let key_and_own_tenant = post::ActiveModel {
            id: Unchanged(b.id),
            tenant_id: Unchanged("acme".into()),
            ..Default::default()
        };
        for (what, model) in [
            ("key only", key_only),
            ("key and acme's tenant", key_and_own_tenant),
        ] {
            let result = post::Entity::scoped(&acme())
                .update(model.clone())
                .exec(&t.db)
                .await;
            assert_not_leaked(t, &format!("no-op update, {what}"), result.clone());
            assert!(
                matches!(
                    result,
                    Err(DbErr::RecordNotFound(_) | DbErr::RecordNotUpdated)
                ),
                "{t}: {what}: {result:?}"
            );

            let result = post::Entity::scoped(&acme())
                .update(model)
                .exec_without_returning(&t.db)
                .await;
            assert_eq!(
                result.map(|r| r.rows_affected),
                Err(DbErr::RecordNotUpdated),
                "{t}: no-op exec_without_returning, {what}"
            );
        }
        assert_eq!(all_posts(t).await, before, "{t}: the table changed");
    })
    .await;
}

/// The same no-op update on the tenant's own row returns the row, as in SeaORM.
#[tokio::test]
async fn noop_update_of_own_row_returns_it() {
    each_backend(async |t| {
        let a = add_post(t, &acme(), "mine").await;
        let row = post::Entity::scoped(&acme())
            .update(a.clone().into_active_model())
            .exec(&t.db)
            .await
            .unwrap_or_else(|err| panic!("{t}: {err}"));
        assert_eq!(row, a, "{t}");
        let result = post::Entity::scoped(&acme())
            .update(a.clone().into_active_model())
            .exec_without_returning(&t.db)
            .await;
        assert!(result.is_ok(), "{t}: {result:?}");
    })
    .await;
}

/// Rule 3: `insert(..).exec_with_returning` re-reads by primary key where
/// there is no `RETURNING` (SQLite, MySQL/MariaDB here); an upsert that hit
/// another tenant's primary key must not return that tenant's row.
#[tokio::test]
async fn rule3_upsert_exec_with_returning_never_returns_another_tenants_row() {
    each_backend(rule3_upsert_exec_with_returning_never_returns_another_tenants_row_on).await;
}

async fn rule3_upsert_exec_with_returning_never_returns_another_tenants_row_on(t: &TestDb) {
    let b = add_post(t, &globex(), "theirs").await;
    let before = all_posts(t).await;

    for (what, on_conflict) in title_upserts() {
        let result = post::Entity::scoped(&acme())
            .insert(acme_model_with_id(b.id, "mine"))
            .on_conflict(on_conflict)
            .exec_with_returning(&t.db)
            .await;
        assert_not_leaked(t, what, result.clone());
        assert!(
            matches!(
                result,
                Err(DbErr::RecordNotFound(_) | DbErr::RecordNotInserted)
            ),
            "{t}: {what}: {result:?}"
        );
    }

    // A plain insert with their key is a duplicate-key error, not their row.
    let result = post::Entity::scoped(&acme())
        .insert(acme_model_with_id(b.id, "mine"))
        .exec_with_returning(&t.db)
        .await;
    assert_not_leaked(t, "plain insert with their key", result);

    assert_eq!(all_posts(t).await, before, "{t}: globex's row changed");
}

/// Rules 3 and 5 with `do_nothing()`, on every backend (on MySQL/MariaDB it
/// renders as `ON DUPLICATE KEY UPDATE id = id`, so it is not affected by
/// the bug of the `*_on_mysql` tests).
#[tokio::test]
async fn rule3_rule5_do_nothing_upsert_on_another_tenants_key() {
    each_backend(async |t| {
        let b = add_post(t, &globex(), "theirs").await;
        let before = all_posts(t).await;
        let do_nothing = || {
            ScopedOnConflict::column(post::Column::Id)
                .do_nothing()
                .to_owned()
        };

        let result = post::Entity::scoped(&acme())
            .insert(acme_model_with_id(b.id, "mine"))
            .on_conflict(do_nothing())
            .exec_with_returning(&t.db)
            .await;
        assert_not_leaked(t, "do_nothing exec_with_returning", result.clone());
        assert!(
            matches!(
                result,
                Err(DbErr::RecordNotFound(_) | DbErr::RecordNotInserted)
            ),
            "{t}: {result:?}"
        );

        let result = post::Entity::scoped(&acme())
            .insert(acme_model_with_id(b.id, "mine"))
            .on_conflict(do_nothing())
            .exec(&t.db)
            .await;
        if !t.is_mysql() {
            assert_eq!(
                result.map(|r| r.last_insert_id),
                Err(DbErr::RecordNotInserted),
                "{t}: exec"
            );
        }
        post::Entity::scoped(&acme())
            .insert_many([acme_model_with_id(b.id, "mine")])
            .on_conflict(do_nothing())
            .exec_without_returning(&t.db)
            .await
            .unwrap_or_else(|err| panic!("{t}: insert_many: {err}"));

        assert_eq!(all_posts(t).await, before, "{t}: globex's row changed");
        let mine = post::Entity::scoped(&acme())
            .find()
            .all(&t.db)
            .await
            .unwrap();
        assert!(mine.is_empty(), "{t}: acme sees {mine:?}");
    })
    .await;
}

/// Rule 5: an upsert that conflicts with another tenant's row leaves that
/// row unchanged, through every exec method and for insert_many too.
#[tokio::test]
async fn rule5_upsert_never_overwrites_another_tenants_row() {
    each_backend(rule5_upsert_never_overwrites_another_tenants_row_on).await;
}

async fn rule5_upsert_never_overwrites_another_tenants_row_on(t: &TestDb) {
    let b = add_post(t, &globex(), "theirs").await;
    let before = all_posts(t).await;

    for (what, on_conflict) in title_upserts() {
        let result = post::Entity::scoped(&acme())
            .insert(acme_model_with_id(b.id, "overwritten"))
            .on_conflict(on_conflict.clone())
            .exec(&t.db)
            .await;
        if t.is_mysql() {
            // ON DUPLICATE KEY UPDATE col = IF(tenant = ?, ..): the row is
            // found (FOUND_ROWS), left as it was, and reported as affected.
            assert!(
                matches!(result, Ok(_) | Err(DbErr::RecordNotInserted)),
                "{t}: {what}: {result:?}"
            );
        } else {
            assert_eq!(
                result.map(|r| r.last_insert_id),
                Err(DbErr::RecordNotInserted),
                "{t}: {what}: exec"
            );
        }

        let written = post::Entity::scoped(&acme())
            .insert(acme_model_with_id(b.id, "overwritten"))
            .on_conflict(on_conflict.clone())
            .exec_without_returning(&t.db)
            .await
            .unwrap_or_else(|err| panic!("{t}: {what}: {err}"));
        if !t.is_mysql() {
            assert_eq!(written, 0, "{t}: {what}: exec_without_returning");
        }

        let many = post::Entity::scoped(&acme())
            .insert_many([acme_model_with_id(b.id, "overwritten")])
            .on_conflict(on_conflict)
            .exec_without_returning(&t.db)
            .await
            .unwrap_or_else(|err| panic!("{t}: {what}: insert_many: {err}"));
        if !t.is_mysql() {
            assert_eq!(many, 0, "{t}: {what}: insert_many");
        }

        assert_eq!(
            all_posts(t).await,
            before,
            "{t}: {what}: globex's row changed"
        );
    }
    let mine = post::Entity::scoped(&acme())
        .find()
        .all(&t.db)
        .await
        .unwrap();
    assert!(mine.is_empty(), "{t}: acme sees {mine:?}");
}

/// Rule 5, the other half: an upsert on the tenant's own row does update it,
/// and a row without conflict is inserted.
#[tokio::test]
async fn rule5_upsert_on_own_row_updates_it() {
    each_backend(rule5_upsert_on_own_row_updates_it_on).await;
}

async fn rule5_upsert_on_own_row_updates_it_on(t: &TestDb) {
    let a = add_post(t, &acme(), "old").await;
    let b = add_post(t, &globex(), "theirs").await;

    post::Entity::scoped(&acme())
        .insert(acme_model_with_id(a.id, "new"))
        .on_conflict(upsert_title())
        .exec(&t.db)
        .await
        .unwrap_or_else(|err| panic!("{t}: upsert exec: {err}"));
    let row = post::Entity::scoped(&acme())
        .find_by_id(a.id)
        .one(&t.db)
        .await
        .unwrap();
    assert_eq!(row.map(|r| r.title), Some("new".into()), "{t}: exec");

    let row = post::Entity::scoped(&acme())
        .insert(acme_model_with_id(a.id, "newer"))
        .on_conflict(upsert_title())
        .exec_with_returning(&t.db)
        .await
        .unwrap_or_else(|err| panic!("{t}: upsert exec_with_returning: {err}"));
    assert_eq!((row.id, row.title.as_str()), (a.id, "newer"), "{t}");
    assert_eq!(row.tenant_id, "acme", "{t}");

    // No conflict: a new row of acme's.
    let fresh_id = b.id + 100;
    let row = post::Entity::scoped(&acme())
        .insert(acme_model_with_id(fresh_id, "fresh"))
        .on_conflict(upsert_title())
        .exec_with_returning(&t.db)
        .await
        .unwrap_or_else(|err| panic!("{t}: upsert without conflict: {err}"));
    assert_eq!((row.id, row.tenant_id.as_str()), (fresh_id, "acme"), "{t}");

    // insert_many: one own conflict, one other-tenant conflict.
    post::Entity::scoped(&acme())
        .insert_many([
            acme_model_with_id(a.id, "batch"),
            acme_model_with_id(b.id, "batch"),
        ])
        .on_conflict(upsert_title())
        .exec_without_returning(&t.db)
        .await
        .unwrap_or_else(|err| panic!("{t}: insert_many upsert: {err}"));

    let rows = all_posts(t).await;
    let by_id = |id: i32| rows.iter().find(|r| r.id == id).cloned();
    assert_eq!(by_id(a.id).map(|r| r.title), Some("batch".into()), "{t}");
    assert_eq!(by_id(b.id), Some(b), "{t}: globex's row changed");
}

/// Rule 5 with rule 2: an upsert may not write the tenant column.
#[tokio::test]
async fn rule5_upsert_cannot_update_the_tenant_column() {
    each_backend(async |t| {
        let a = add_post(t, &acme(), "mine").await;
        let b = add_post(t, &globex(), "theirs").await;
        let before = all_posts(t).await;

        for id in [a.id, b.id] {
            for (what, on_conflict) in [
                (
                    "update_column(TenantId)",
                    ScopedOnConflict::column(post::Column::Id)
                        .update_column(post::Column::TenantId)
                        .to_owned(),
                ),
                (
                    "update_columns([Title, TenantId])",
                    ScopedOnConflict::column(post::Column::Id)
                        .update_columns([post::Column::Title, post::Column::TenantId])
                        .to_owned(),
                ),
                (
                    "value(TenantId, 'acme')",
                    ScopedOnConflict::column(post::Column::Id)
                        .value(post::Column::TenantId, Expr::value("acme"))
                        .to_owned(),
                ),
            ] {
                let err = post::Entity::scoped(&acme())
                    .insert(acme_model_with_id(id, "moved"))
                    .on_conflict(on_conflict.clone())
                    .exec(&t.db)
                    .await
                    .unwrap_err();
                assert!(TenantError::is_tenant_error(&err), "{t}: {what}: {err:?}");

                let err = post::Entity::scoped(&acme())
                    .insert_many([acme_model_with_id(id, "moved")])
                    .on_conflict(on_conflict)
                    .exec(&t.db)
                    .await
                    .unwrap_err();
                assert!(TenantError::is_tenant_error(&err), "{t}: {what}: {err:?}");
            }
        }
        assert_eq!(all_posts(t).await, before, "{t}: the table changed");
    })
    .await;
}

fn handle_model(slug: &str, body: &str) -> handle::ActiveModel {
    handle::ActiveModel {
        slug: Set(slug.to_owned()),
        body: Set(body.to_owned()),
        ..Default::default()
    }
}

/// Rules 3 and 5 on a unique column that is not the primary key: the
/// model carries no key, so without `RETURNING` SeaORM re-reads by the
/// driver's `last_insert_id`, which after an upsert that updated (or left
/// alone) a row need not be that row's id. Run in one transaction, so that
/// `last_insert_id` is the connection's, and the last insert before the
/// upsert is globex's row.
#[tokio::test]
async fn rule3_rule5_upsert_on_a_unique_column() {
    each_backend(rule3_rule5_upsert_on_a_unique_column_on).await;
}

async fn rule3_rule5_upsert_on_a_unique_column_on(t: &TestDb) {
    let txn = t.db.begin().await.unwrap();
    let mine = handle::Entity::scoped(&acme())
        .insert(handle_model("acme-home", "v1"))
        .exec_with_returning(&txn)
        .await
        .unwrap();
    let theirs = handle::Entity::scoped(&globex())
        .insert(handle_model("globex-home", "secret"))
        .exec_with_returning(&txn)
        .await
        .unwrap();
    let on_slug = || {
        ScopedOnConflict::column(handle::Column::Slug)
            .update_column(handle::Column::Body)
            .to_owned()
    };

    // Conflict with globex's row: nothing of globex's comes back or changes.
    for (what, on_conflict) in [
        ("update_column(Body)", on_slug()),
        (
            "do_nothing()",
            ScopedOnConflict::column(handle::Column::Slug)
                .do_nothing()
                .to_owned(),
        ),
    ] {
        let result = handle::Entity::scoped(&acme())
            .insert(handle_model("globex-home", "pwned"))
            .on_conflict(on_conflict)
            .exec_with_returning(&txn)
            .await;
        if let Ok(row) = &result {
            assert_ne!(row.id, theirs.id, "{t}: {what}: returned globex's row");
            assert_eq!(row.tenant_id, "acme", "{t}: {what}: {row:?}");
        }
        let stored = handle::Entity::find_by_id(theirs.id)
            .one(&txn)
            .await
            .unwrap();
        assert_eq!(
            stored.as_ref(),
            Some(&theirs),
            "{t}: {what}: globex's row changed"
        );
    }

    // Conflict with acme's own row: updated; what comes back, if anything, is acme's.
    let result = handle::Entity::scoped(&acme())
        .insert(handle_model("acme-home", "v2"))
        .on_conflict(on_slug())
        .exec_with_returning(&txn)
        .await;
    if let Ok(row) = &result {
        assert_eq!(row.tenant_id, "acme", "{t}: own upsert returned {row:?}");
    }
    let stored = handle::Entity::find_by_id(mine.id).one(&txn).await.unwrap();
    assert_eq!(
        stored.map(|r| r.body),
        Some("v2".into()),
        "{t}: own row not updated"
    );
    txn.commit().await.unwrap();
}

/// Rule 5 on a unique column, with `do_nothing` only: runs on MySQL too.
#[tokio::test]
async fn rule5_do_nothing_upsert_on_a_unique_column() {
    each_backend(async |t| {
        let theirs = handle::Entity::scoped(&globex())
            .insert(handle_model("globex-home", "secret"))
            .exec_with_returning(&t.db)
            .await
            .unwrap();
        let result = handle::Entity::scoped(&acme())
            .insert(handle_model("globex-home", "pwned"))
            .on_conflict(
                ScopedOnConflict::column(handle::Column::Slug)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_with_returning(&t.db)
            .await;
        if let Ok(row) = &result {
            assert_ne!(row.id, theirs.id, "{t}: returned globex's row");
        }
        let all = handle::Entity::find().all(&t.db).await.unwrap();
        assert_eq!(all, [theirs], "{t}");
    })
    .await;
}
