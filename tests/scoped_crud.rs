//! Every builder of `TenantScoped`, against real databases: reads see only
//! the tenant's rows, writes touch only the tenant's rows (rule 2: writes by
//! primary key carry the tenant; the tenant column can never be changed),
//! plus count / paginate / stream, the global table and `Unscoped`.

mod common;

use common::entities::handle;
use common::{acme, add_comment, add_post, all_posts, each_backend, globex};
use futures_util::TryStreamExt;
use sea_orm::ActiveValue::{NotSet, Set, Unchanged};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder,
};
use sea_orm_tenant::doc_entities::{country, post};
use sea_orm_tenant::prelude::*;

fn titles(posts: &[post::Model]) -> Vec<&str> {
    posts.iter().map(|p| p.title.as_str()).collect()
}

#[tokio::test]
async fn find_returns_only_the_tenants_rows() {
    each_backend(async |t| {
        add_post(t, &acme(), "a1").await;
        add_post(t, &globex(), "b1").await;
        add_post(t, &acme(), "a2").await;

        let mine = post::Entity::scoped(&acme())
            .find()
            .order_by_asc(post::Column::Id)
            .all(&t.db)
            .await
            .unwrap();
        assert_eq!(titles(&mine), ["a1", "a2"], "{t}: acme's find");
        assert!(mine.iter().all(|p| p.tenant_id == "acme"), "{t}");

        // A user filter is ANDed with the tenant, never ORed around it.
        let filtered = post::Entity::scoped(&acme())
            .find()
            .filter(post::Column::Title.eq("b1"))
            .all(&t.db)
            .await
            .unwrap();
        assert!(
            filtered.is_empty(),
            "{t}: acme found globex's post by title"
        );

        let theirs = post::Entity::scoped(&globex())
            .find()
            .all(&t.db)
            .await
            .unwrap();
        assert_eq!(titles(&theirs), ["b1"], "{t}: globex's find");

        let nobody = post::Entity::scoped(&TenantId::from("initech"))
            .find()
            .all(&t.db)
            .await
            .unwrap();
        assert!(nobody.is_empty(), "{t}: a tenant without rows sees rows");
    })
    .await;
}

#[tokio::test]
async fn find_by_id_does_not_find_another_tenants_row() {
    each_backend(async |t| {
        let a = add_post(t, &acme(), "a1").await;
        let b = add_post(t, &globex(), "b1").await;

        let own = post::Entity::scoped(&acme())
            .find_by_id(a.id)
            .one(&t.db)
            .await
            .unwrap();
        assert_eq!(own, Some(a.clone()), "{t}: own row by id");

        let other = post::Entity::scoped(&acme())
            .find_by_id(b.id)
            .one(&t.db)
            .await
            .unwrap();
        assert_eq!(other, None, "{t}: acme found globex's row by id");
    })
    .await;
}

#[tokio::test]
async fn update_changes_own_row_by_key() {
    each_backend(async |t| {
        let a = add_post(t, &acme(), "draft").await;
        let b = add_post(t, &globex(), "theirs").await;

        // A model read through the scope, changed and written back.
        let mut model = a.clone().into_active_model();
        model.title = Set("published".into());
        let updated = post::Entity::scoped(&acme())
            .update(model)
            .exec(&t.db)
            .await
            .unwrap_or_else(|err| panic!("{t}: own update failed: {err}"));
        assert_eq!(updated.title, "published", "{t}");
        assert_eq!(updated.tenant_id, "acme", "{t}");

        // A model built from the key alone, tenant left NotSet.
        let model = post::ActiveModel {
            id: Unchanged(a.id),
            title: Set("again".into()),
            ..Default::default()
        };
        let result = post::Entity::scoped(&acme())
            .update(model)
            .exec_without_returning(&t.db)
            .await
            .unwrap();
        assert_eq!(result.rows_affected, 1, "{t}");

        let rows = all_posts(t).await;
        assert_eq!(titles(&rows), ["again", "theirs"], "{t}");
        assert_eq!(rows[1], b, "{t}: globex's row changed");
    })
    .await;
}

/// Rule 2: an update by primary key carries the tenant predicate.
#[tokio::test]
async fn rule2_update_of_another_tenants_row_by_id_is_not_updated() {
    each_backend(async |t| {
        let b = add_post(t, &globex(), "theirs").await;
        let before = all_posts(t).await;

        let by_key = || post::ActiveModel {
            id: Unchanged(b.id),
            title: Set("pwned".into()),
            ..Default::default()
        };
        let err = post::Entity::scoped(&acme())
            .update(by_key())
            .exec(&t.db)
            .await
            .unwrap_err();
        assert_eq!(err, DbErr::RecordNotUpdated, "{t}: exec");

        let err = post::Entity::scoped(&acme())
            .update(by_key())
            .exec_without_returning(&t.db)
            .await
            .unwrap_err();
        assert_eq!(err, DbErr::RecordNotUpdated, "{t}: exec_without_returning");

        assert_eq!(all_posts(t).await, before, "{t}: globex's row changed");
    })
    .await;
}

/// Rule 2: a model naming another tenant (Set or Unchanged) is refused, so
/// an update can neither reach another tenant's row nor move a row to it.
#[tokio::test]
async fn rule2_update_with_a_model_of_another_tenant_is_refused() {
    each_backend(async |t| {
        let a = add_post(t, &acme(), "mine").await;
        let b = add_post(t, &globex(), "theirs").await;
        let before = all_posts(t).await;

        // globex's row as read (tenant Unchanged = "globex"), with a new title.
        let mut theirs = b.clone().into_active_model();
        theirs.title = Set("pwned".into());
        // acme's own row, moved to globex (tenant Set = "globex").
        let mut moved = a.clone().into_active_model();
        moved.tenant_id = Set("globex".into());
        // Only the tenant column Set, on acme's own key.
        let only_tenant = post::ActiveModel {
            id: Unchanged(a.id),
            tenant_id: Set("globex".into()),
            ..Default::default()
        };

        for (what, model) in [
            ("another tenant's row (Unchanged)", theirs),
            ("own row moved to another tenant (Set)", moved),
            ("only the tenant column Set", only_tenant),
        ] {
            let err = post::Entity::scoped(&acme())
                .update(model.clone())
                .exec(&t.db)
                .await
                .unwrap_err();
            assert!(
                TenantError::is_tenant_error(&err),
                "{t}: {what}: not a tenant error: {err:?}"
            );
            let err = post::Entity::scoped(&acme())
                .update(model)
                .exec_without_returning(&t.db)
                .await
                .unwrap_err();
            assert!(TenantError::is_tenant_error(&err), "{t}: {what}: {err:?}");
        }
        assert_eq!(all_posts(t).await, before, "{t}: the table changed");
    })
    .await;
}

#[tokio::test]
async fn update_many_touches_only_the_tenants_rows() {
    each_backend(async |t| {
        add_post(t, &acme(), "a1").await;
        add_post(t, &acme(), "a2").await;
        let b = add_post(t, &globex(), "b1").await;

        let result = post::Entity::scoped(&acme())
            .update_many()
            .col_expr(post::Column::Title, Expr::value("archived"))
            .exec(&t.db)
            .await
            .unwrap();
        assert_eq!(result.rows_affected, 2, "{t}: col_expr");

        // `.set(model)` and a filter that names globex's row by id.
        let result = post::Entity::scoped(&acme())
            .update_many()
            .set(post::ActiveModel {
                title: Set("renamed".into()),
                ..Default::default()
            })
            .filter(post::Column::Id.eq(b.id))
            .exec(&t.db)
            .await
            .unwrap();
        assert_eq!(
            result.rows_affected, 0,
            "{t}: filter on another tenant's id"
        );

        let rows = all_posts(t).await;
        assert_eq!(titles(&rows), ["archived", "archived", "b1"], "{t}");
        assert_eq!(rows[2], b, "{t}: globex's row changed");
    })
    .await;
}

/// Rule 2: `update_many` cannot write the tenant column, by any route.
#[tokio::test]
async fn rule2_update_many_cannot_write_the_tenant_column() {
    each_backend(async |t| {
        add_post(t, &acme(), "a1").await;
        add_post(t, &globex(), "b1").await;
        let before = all_posts(t).await;

        let by_col_expr = post::Entity::scoped(&acme())
            .update_many()
            .col_expr(post::Column::TenantId, Expr::value("globex"));
        let by_set = post::Entity::scoped(&acme())
            .update_many()
            .set(post::ActiveModel {
                title: Set("moved".into()),
                tenant_id: Set("globex".into()),
                ..Default::default()
            });
        // What `set_from_json(json!({"title": "moved", "tenant_id": "globex"}))`
        // produces: every field named in the JSON becomes `Set`.
        let mut from_json = post::ActiveModel {
            id: NotSet,
            ..Default::default()
        };
        from_json.set(post::Column::Title, "moved".into());
        from_json.set(post::Column::TenantId, "globex".into());
        let by_json = post::Entity::scoped(&acme()).update_many().set(from_json);
        // Setting it to the tenant's own value is a write to the column too.
        let to_self = post::Entity::scoped(&acme())
            .update_many()
            .col_expr(post::Column::TenantId, Expr::value("acme"));

        for (what, update) in [
            ("col_expr", by_col_expr),
            ("set(model with tenant Set)", by_set),
            ("set(model filled from JSON)", by_json),
            ("col_expr to its own tenant", to_self),
        ] {
            let err = update.exec(&t.db).await.unwrap_err();
            assert!(
                TenantError::is_tenant_error(&err),
                "{t}: {what}: not a tenant error: {err:?}"
            );
        }
        assert_eq!(all_posts(t).await, before, "{t}: the table changed");
    })
    .await;
}

/// Rule 2 through SeaORM's real `set_from_json`: a JSON body naming
/// another tenant cannot move a row, by `update` or by `update_many().set`.
#[tokio::test]
async fn rule2_set_from_json_cannot_move_a_row() {
    each_backend(async |t| {
        let acme_handles = handle::Entity::scoped(&acme());
        let row = acme_handles
            .insert(handle::ActiveModel {
                slug: Set("a-slug".into()),
                body: Set("mine".into()),
                ..Default::default()
            })
            .exec_with_returning(&t.db)
            .await
            .unwrap_or_else(|err| panic!("{t}: {err}"));

        let mut moved = row.clone().into_active_model();
        moved
            .set_from_json(serde_json::json!({
                "id": row.id,
                "tenant_id": "globex",
                "slug": "a-slug",
                "body": "moved",
            }))
            .unwrap_or_else(|err| panic!("{t}: {err}"));

        let err = acme_handles
            .update(moved.clone())
            .exec(&t.db)
            .await
            .unwrap_err();
        assert!(TenantError::is_tenant_error(&err), "{t}: update: {err:?}");
        let err = acme_handles
            .update_many()
            .set(moved)
            .exec(&t.db)
            .await
            .unwrap_err();
        assert!(
            TenantError::is_tenant_error(&err),
            "{t}: update_many: {err:?}"
        );

        let now = handle::Entity::find_by_id(row.id).one(&t.db).await.unwrap();
        assert_eq!(now, Some(row), "{t}: the row changed");
    })
    .await;
}

#[tokio::test]
async fn delete_removes_own_row_only() {
    each_backend(async |t| {
        let a = add_post(t, &acme(), "mine").await;
        let b = add_post(t, &globex(), "theirs").await;

        // globex's row as read: refused before anything is sent.
        let err = post::Entity::scoped(&acme())
            .delete(b.clone().into_active_model())
            .exec(&t.db)
            .await
            .unwrap_err();
        assert!(TenantError::is_tenant_error(&err), "{t}: {err:?}");

        // globex's key without a tenant: the tenant predicate matches nothing.
        let key_only = post::ActiveModel {
            id: Set(b.id),
            ..Default::default()
        };
        let result = post::Entity::scoped(&acme())
            .delete(key_only)
            .exec(&t.db)
            .await
            .unwrap();
        assert_eq!(result.rows_affected, 0, "{t}: deleted globex's row by key");

        let result = post::Entity::scoped(&acme())
            .delete(a.clone().into_active_model())
            .exec(&t.db)
            .await
            .unwrap();
        assert_eq!(result.rows_affected, 1, "{t}: own delete");

        assert_eq!(all_posts(t).await, [b], "{t}");
    })
    .await;
}

/// Rule 2: delete by primary key carries the tenant predicate.
#[tokio::test]
async fn rule2_delete_by_id_never_deletes_another_tenants_row() {
    each_backend(async |t| {
        let a = add_post(t, &acme(), "mine").await;
        let b = add_post(t, &globex(), "theirs").await;

        let result = post::Entity::scoped(&acme())
            .delete_by_id(b.id)
            .exec(&t.db)
            .await
            .unwrap();
        assert_eq!(result.rows_affected, 0, "{t}: deleted globex's row by id");

        let result = post::Entity::scoped(&acme())
            .delete_by_id(a.id)
            .exec(&t.db)
            .await
            .unwrap();
        assert_eq!(result.rows_affected, 1, "{t}: own delete_by_id");

        assert_eq!(all_posts(t).await, [b], "{t}");
    })
    .await;
}

#[tokio::test]
async fn delete_many_never_touches_another_tenant() {
    each_backend(async |t| {
        add_post(t, &acme(), "a1").await;
        let a2 = add_post(t, &acme(), "a2").await;
        let b1 = add_post(t, &globex(), "b1").await;
        let b2 = add_post(t, &globex(), "a1").await; // same title as acme's

        let result = post::Entity::scoped(&acme())
            .delete_many()
            .filter(post::Column::Title.eq("a1"))
            .exec(&t.db)
            .await
            .unwrap();
        assert_eq!(result.rows_affected, 1, "{t}: filtered delete_many");

        let result = post::Entity::scoped(&acme())
            .delete_many()
            .exec(&t.db)
            .await
            .unwrap();
        assert_eq!(result.rows_affected, 1, "{t}: delete_many of the rest");
        let _ = a2;

        assert_eq!(all_posts(t).await, [b1, b2], "{t}: globex lost rows");
    })
    .await;
}

#[tokio::test]
async fn insert_fills_the_tenant_in() {
    each_backend(async |t| {
        let row = post::Entity::scoped(&acme())
            .insert(post::ActiveModel {
                title: Set("hello".into()),
                ..Default::default()
            })
            .exec_with_returning(&t.db)
            .await
            .unwrap();
        assert_eq!(row.tenant_id, "acme", "{t}");

        let result = post::Entity::scoped(&acme())
            .insert(post::ActiveModel {
                title: Set("via exec".into()),
                ..Default::default()
            })
            .exec(&t.db)
            .await
            .unwrap();

        // The same tenant already set is fine.
        let same = post::Entity::scoped(&acme())
            .insert(post::ActiveModel {
                title: Set("explicit".into()),
                tenant_id: Set("acme".into()),
                ..Default::default()
            })
            .exec_without_returning(&t.db)
            .await
            .unwrap();
        assert_eq!(same, 1, "{t}");

        let rows = all_posts(t).await;
        assert_eq!(titles(&rows), ["hello", "via exec", "explicit"], "{t}");
        assert!(rows.iter().all(|p| p.tenant_id == "acme"), "{t}: {rows:?}");
        assert_eq!(rows[1].id, result.last_insert_id, "{t}");
    })
    .await;
}

#[tokio::test]
async fn insert_of_a_model_naming_another_tenant_is_refused() {
    each_backend(async |t| {
        let model = || post::ActiveModel {
            title: Set("sneaky".into()),
            tenant_id: Set("globex".into()),
            ..Default::default()
        };
        let s = post::Entity::scoped(&acme());
        let err = s.insert(model()).exec(&t.db).await.unwrap_err();
        assert!(TenantError::is_tenant_error(&err), "{t}: exec: {err:?}");
        let err = s
            .insert(model())
            .exec_with_returning(&t.db)
            .await
            .unwrap_err();
        assert!(
            TenantError::is_tenant_error(&err),
            "{t}: returning: {err:?}"
        );
        let err = s
            .insert(model())
            .exec_without_returning(&t.db)
            .await
            .unwrap_err();
        assert!(
            TenantError::is_tenant_error(&err),
            "{t}: no returning: {err:?}"
        );

        assert!(all_posts(t).await.is_empty(), "{t}: a row was written");
    })
    .await;
}

#[tokio::test]
async fn insert_many_fills_the_tenant_and_refuses_a_bad_batch_whole() {
    each_backend(async |t| {
        let good = |title: &str| post::ActiveModel {
            title: Set(title.into()),
            ..Default::default()
        };
        let result = post::Entity::scoped(&acme())
            .insert_many([good("m1"), good("m2"), good("m3")])
            .exec_without_returning(&t.db)
            .await
            .unwrap();
        assert_eq!(result, 3, "{t}");
        let rows = all_posts(t).await;
        assert!(rows.iter().all(|p| p.tenant_id == "acme"), "{t}: {rows:?}");

        let bad = post::ActiveModel {
            title: Set("sneaky".into()),
            tenant_id: Set("globex".into()),
            ..Default::default()
        };
        let err = post::Entity::scoped(&acme())
            .insert_many([good("x1"), bad.clone(), good("x2")])
            .exec(&t.db)
            .await
            .unwrap_err();
        assert!(TenantError::is_tenant_error(&err), "{t}: {err:?}");
        let err = post::Entity::scoped(&acme())
            .insert_many([good("x1"), good("x2"), bad])
            .exec_without_returning(&t.db)
            .await
            .unwrap_err();
        assert!(TenantError::is_tenant_error(&err), "{t}: {err:?}");

        assert_eq!(
            all_posts(t).await,
            rows,
            "{t}: part of a refused batch was written"
        );
    })
    .await;
}

#[tokio::test]
async fn count_paginate_and_stream_are_scoped() {
    each_backend(async |t| {
        for i in 0..5 {
            add_post(t, &acme(), &format!("a{i}")).await;
            add_post(t, &globex(), &format!("b{i}")).await;
        }
        let s = post::Entity::scoped(&acme());

        assert_eq!(s.find().count(&t.db).await.unwrap(), 5, "{t}: count");

        let pages = s.find().order_by_asc(post::Column::Id).paginate(&t.db, 2);
        assert_eq!(pages.num_items().await.unwrap(), 5, "{t}: num_items");
        assert_eq!(pages.num_pages().await.unwrap(), 3, "{t}: num_pages");
        let first = pages.fetch_page(0).await.unwrap();
        assert_eq!(titles(&first), ["a0", "a1"], "{t}: page 0");
        let last = pages.fetch_page(2).await.unwrap();
        assert_eq!(titles(&last), ["a4"], "{t}: page 2");

        let mut streamed: Vec<post::Model> = s
            .find()
            .order_by_asc(post::Column::Id)
            .stream(&t.db)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        streamed.sort_by_key(|p| p.id);
        assert_eq!(
            titles(&streamed),
            ["a0", "a1", "a2", "a3", "a4"],
            "{t}: stream"
        );
    })
    .await;
}

#[tokio::test]
async fn global_table_works_unchanged_from_tenant_code() {
    each_backend(async |t| {
        let db = &t.db;
        with_tenant(acme(), async {
            country::Entity::insert(country::ActiveModel {
                code: Set("NZ".into()),
                name: Set("New Zealand".into()),
            })
            .exec(db)
            .await
            .unwrap();
            add_post(t, &current_tenant().unwrap(), "kia ora").await;
        })
        .await;

        // Another tenant sees the global row; tenant tables stay scoped.
        with_tenant(globex(), async {
            let countries = country::Entity::find().all(db).await.unwrap();
            assert_eq!(
                countries.len(),
                1,
                "{t}: globex does not see the global row"
            );
            assert_eq!(countries[0].name, "New Zealand", "{t}");
            let posts = post::Entity::scoped_current()
                .unwrap()
                .find()
                .all(db)
                .await
                .unwrap();
            assert!(posts.is_empty(), "{t}: globex sees acme's posts");
        })
        .await;
    })
    .await;
}

#[tokio::test]
async fn unscoped_sees_every_tenant() {
    each_backend(async |t| {
        add_post(t, &acme(), "a1").await;
        let b = add_post(t, &globex(), "b1").await;
        let admin = post::Entity::unscoped("test: admin report");
        assert_eq!(admin.reason(), "test: admin report");

        let everything = admin.find().all(&t.db).await.unwrap();
        assert_eq!(everything.len(), 2, "{t}");
        let theirs = admin.find_by_id(b.id).one(&t.db).await.unwrap();
        assert_eq!(theirs, Some(b), "{t}");

        let touched = admin
            .update_many()
            .col_expr(post::Column::Title, Expr::value("audited"))
            .exec(&t.db)
            .await
            .unwrap();
        assert_eq!(touched.rows_affected, 2, "{t}");
        let gone = admin.delete_many().exec(&t.db).await.unwrap();
        assert_eq!(gone.rows_affected, 2, "{t}");
    })
    .await;
}

/// A comment row exists only so that FK-linked tables are exercised too.
#[tokio::test]
async fn scoped_builders_work_on_child_tables() {
    each_backend(async |t| {
        let a = add_post(t, &acme(), "a").await;
        let g = add_post(t, &globex(), "g").await;
        add_comment(t, &acme(), a.id, "first").await;
        add_comment(t, &globex(), g.id, "globex's own").await;
        let mine = sea_orm_tenant::doc_entities::comment::Entity::scoped(&acme())
            .find()
            .all(&t.db)
            .await
            .unwrap();
        assert_eq!(mine.len(), 1, "{t}: {mine:?}");
        assert_eq!(mine[0].body, "first", "{t}");
    })
    .await;
}

/// A user filter built with `Condition::any()` is ANDed with the tenant as a
/// whole: an `OR` cannot widen a read, an update or a delete.
#[tokio::test]
async fn an_or_filter_cannot_widen_the_scope() {
    each_backend(async |t| {
        let a = add_post(t, &acme(), "a1").await;
        let b = add_post(t, &globex(), "b1").await;
        let either = || {
            Condition::any()
                .add(post::Column::Id.eq(b.id))
                .add(post::Column::Title.eq("b1"))
                .add(post::Column::Id.eq(a.id))
        };
        let s = post::Entity::scoped(&acme());

        let seen = s.find().filter(either()).all(&t.db).await.unwrap();
        assert_eq!(seen.len(), 1, "{t}: find: {seen:?}");
        assert_eq!(seen[0].id, a.id, "{t}: find");
        let updated = QueryFilter::filter(
            s.update_many()
                .col_expr(post::Column::Title, Expr::value("changed")),
            either(),
        )
        .exec(&t.db)
        .await
        .unwrap();
        assert_eq!(updated.rows_affected, 1, "{t}: update_many");
        let deleted = s.delete_many().filter(either()).exec(&t.db).await.unwrap();
        assert_eq!(deleted.rows_affected, 1, "{t}: delete_many");

        assert_eq!(all_posts(t).await, [b], "{t}");
    })
    .await;
}

/// The `RETURNING` variants (Postgres here) return only the tenant's rows;
/// elsewhere SeaORM says the backend does not support them.
#[tokio::test]
async fn returning_variants_return_only_own_rows() {
    each_backend(async |t| {
        let a = add_post(t, &acme(), "a1").await;
        let b = add_post(t, &globex(), "b1").await;
        let s = post::Entity::scoped(&acme());
        let returning = t.db.support_returning();

        let updated = s
            .update_many()
            .col_expr(post::Column::Title, Expr::value("changed"))
            .exec_with_returning(&t.db)
            .await;
        let deleted_theirs = s
            .delete(post::ActiveModel {
                id: Set(b.id),
                ..Default::default()
            })
            .exec_with_returning(&t.db)
            .await;
        let deleted_mine = s
            .delete(a.clone().into_active_model())
            .exec_with_returning(&t.db)
            .await;
        if returning {
            let updated = updated.unwrap();
            assert_eq!(updated.len(), 1, "{t}: {updated:?}");
            assert_eq!(updated[0].tenant_id, "acme", "{t}");
            assert_eq!(deleted_theirs, Ok(None), "{t}: delete of globex's row");
            let mine = deleted_mine.unwrap().expect("own row deleted");
            assert_eq!((mine.id, mine.title.as_str()), (a.id, "changed"), "{t}");
            assert_eq!(all_posts(t).await, [b], "{t}");
        } else {
            for result in [
                updated.map(|_| ()),
                deleted_theirs.map(|_| ()),
                deleted_mine.map(|_| ()),
            ] {
                assert!(
                    matches!(result, Err(DbErr::BackendNotSupported { .. })),
                    "{t}: {result:?}"
                );
            }
            assert_eq!(all_posts(t).await, [a, b], "{t}");
        }
    })
    .await;
}
