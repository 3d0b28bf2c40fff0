//! Rule 12 against the older leak rules: the cross-tenant attempts of the
//! `rule2_*`, `rule3_*`, `rule5_*`, `rule10_*` and `rule11_*` tests (which
//! use the scoped builders) repeated through PLAIN SeaORM calls on a
//! shared-schema `TenantConnection`, on every backend. Rule 4's attempts
//! through plain SeaORM are in `confinement_related.rs`.
//!
//! - Rule 2: an update by primary key carries the tenant; the tenant column
//!   can never be written (`Set`, `col_expr`, `set_from_json`, another case).
//! - Rule 3: SeaORM's re-reads (no-op updates, inserts and upserts without
//!   `RETURNING`) never return another tenant's row.
//! - Rule 5: an upsert never overwrites another tenant's row, nor writes
//!   the tenant column; on its own row it still updates.
//! - Rule 10: a case twin (`ACME`) or an integer alias (`007`) reaches
//!   nothing of the tenant's, also where the column's collation would
//!   match them (`handle` on MySQL).
//! - Rule 11: a row cannot be made to reference another tenant's row, and
//!   joins from one tenant do not probe another's rows.

mod common;

use common::confine::{Shared, connect, posts_of, refused, shared, shared_tenancy};
use common::{TestDb, acme, add_post, all_posts, each_backend, globex, handle, ledger};
use sea_orm::ActiveValue::{Set, Unchanged};
use sea_orm::sea_query::{Alias, Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, IntoActiveModel, JoinType, PaginatorTrait,
    QueryFilter, QuerySelect, RelationTrait, TransactionTrait,
};
use sea_orm_tenant::TenantId;
use sea_orm_tenant::doc_entities::{comment, post, post_tag, tag};

fn with_id(id: i32, title: &str) -> post::ActiveModel {
    post::ActiveModel {
        id: Set(id),
        title: Set(title.to_owned()),
        ..Default::default()
    }
}

/// A row SeaORM returned for acme must be acme's, and must be one acme wrote.
fn assert_not_leaked(t: &TestDb, what: &str, result: &Result<post::Model, DbErr>) {
    if let Ok(row) = result {
        assert_eq!(row.tenant_id, "acme", "{t}: {what} returned {row:?}");
        panic!("{t}: {what} returned a row although nothing of acme's was written: {row:?}");
    }
}

// ---------------------------------------------------------------------------
// Rule 2.

#[tokio::test]
async fn rule2_plain_update_cannot_move_a_row_to_another_tenant() {
    each_backend(async |t| {
        let a = add_post(t, &acme(), "mine").await;
        add_post(t, &globex(), "theirs").await;
        let Shared { acme, .. } = shared(t).await;
        let before = all_posts(t).await;

        let mut moved = a.clone().into_active_model();
        moved.tenant_id = Set("globex".into());
        let only_tenant = post::ActiveModel {
            id: Unchanged(a.id),
            tenant_id: Set("globex".into()),
            ..Default::default()
        };
        // Setting it to its own value is a write to the column too.
        let to_self = post::ActiveModel {
            id: Unchanged(a.id),
            tenant_id: Set("acme".into()),
            title: Set("x".into()),
        };
        for (what, model) in [
            ("own row moved (Set)", moved),
            ("only the tenant column Set", only_tenant),
            ("the tenant column Set to its own tenant", to_self),
        ] {
            let err = model.clone().update(&acme).await.expect_err(what);
            assert!(refused(&err), "{t}: {what}: ActiveModel::update: {err}");
            let err = post::Entity::update(model.clone()).exec(&acme).await;
            assert!(err.is_err(), "{t}: {what}: Entity::update: {err:?}");
            let err = model.save(&acme).await;
            assert!(err.is_err(), "{t}: {what}: save: {err:?}");
        }

        let by_col_expr = post::Entity::update_many()
            .col_expr(post::Column::TenantId, Expr::value("globex"))
            .exec(&acme)
            .await;
        let err = by_col_expr.expect_err("col_expr");
        assert!(refused(&err), "{t}: update_many col_expr: {err}");
        let mut from_json = post::ActiveModel {
            ..Default::default()
        };
        from_json.set(post::Column::Title, "moved".into());
        from_json.set(post::Column::TenantId, "globex".into());
        let by_set = post::Entity::update_many().set(from_json).exec(&acme).await;
        let err = by_set.expect_err("set");
        assert!(refused(&err), "{t}: update_many set: {err}");
        // Another spelling: the tenant column on SQLite and MySQL, no column
        // at all on Postgres; an error either way.
        for name in ["TENANT_ID", "Tenant_Id"] {
            let moved = post::Entity::update_many()
                .col_expr(Alias::new(name), Expr::value("globex"))
                .exec(&acme)
                .await;
            assert!(moved.is_err(), "{t}: col_expr({name}): {moved:?}");
        }
        assert_eq!(all_posts(t).await, before, "{t}: the table changed");
    })
    .await;
}

#[tokio::test]
async fn rule2_plain_set_from_json_cannot_move_a_row() {
    each_backend(async |t| {
        let Shared { acme, .. } = shared(t).await;
        let row = handle::ActiveModel {
            slug: Set("a-slug".into()),
            body: Set("mine".into()),
            ..Default::default()
        }
        .insert(&acme)
        .await
        .unwrap_or_else(|err| panic!("{t}: insert: {err}"));
        assert_eq!(row.tenant_id, "acme", "{t}");

        let mut moved = row.clone().into_active_model();
        moved
            .set_from_json(serde_json::json!({
                "id": row.id,
                "tenant_id": "globex",
                "slug": "a-slug",
                "body": "moved",
            }))
            .unwrap_or_else(|err| panic!("{t}: {err}"));
        let err = moved.clone().update(&acme).await.expect_err("update");
        assert!(refused(&err), "{t}: update: {err}");
        let err = handle::Entity::update_many()
            .set(moved)
            .exec(&acme)
            .await
            .expect_err("update_many");
        assert!(refused(&err), "{t}: update_many: {err}");

        let now = handle::Entity::find_by_id(row.id).one(&t.db).await;
        assert_eq!(now, Ok(Some(row)), "{t}: the row changed");
    })
    .await;
}

// ---------------------------------------------------------------------------
// Rule 3.

#[tokio::test]
async fn rule3_plain_noop_update_of_another_tenants_key_does_not_return_their_row() {
    each_backend(async |t| {
        let b = add_post(t, &globex(), "theirs").await;
        let Shared { acme, .. } = shared(t).await;
        let before = all_posts(t).await;

        for (what, model) in [
            (
                "key only",
                post::ActiveModel {
                    id: Unchanged(b.id),
                    ..Default::default()
                },
            ),
            (
                "key and acme's tenant",
                post::ActiveModel {
                    id: Unchanged(b.id),
                    tenant_id: Unchanged("acme".into()),
                    ..Default::default()
                },
            ),
        ] {
            let result = model.clone().update(&acme).await;
            assert_not_leaked(t, &format!("no-op ActiveModel::update, {what}"), &result);
            let result = post::Entity::update(model).exec(&acme).await;
            assert_not_leaked(t, &format!("no-op Entity::update, {what}"), &result);
        }
        assert_eq!(all_posts(t).await, before, "{t}: the table changed");
    })
    .await;
}

fn title_upserts() -> Vec<(&'static str, OnConflict)> {
    vec![
        (
            "update_column(Title)",
            OnConflict::column(post::Column::Id)
                .update_column(post::Column::Title)
                .to_owned(),
        ),
        (
            "update_columns([Title])",
            OnConflict::column(post::Column::Id)
                .update_columns([post::Column::Title])
                .to_owned(),
        ),
        (
            "value(Title, expr)",
            OnConflict::column(post::Column::Id)
                .value(post::Column::Title, Expr::value("overwritten"))
                .to_owned(),
        ),
        (
            "do_nothing()",
            OnConflict::column(post::Column::Id).do_nothing().to_owned(),
        ),
    ]
}

#[tokio::test]
async fn rule3_plain_inserts_and_upserts_never_return_another_tenants_row() {
    each_backend(async |t| {
        let b = add_post(t, &globex(), "theirs").await;
        let Shared { acme, .. } = shared(t).await;
        let before = all_posts(t).await;

        for (what, on_conflict) in title_upserts() {
            let result = post::Entity::insert(with_id(b.id, "mine"))
                .on_conflict(on_conflict)
                .exec_with_returning(&acme)
                .await;
            assert_not_leaked(t, what, &result);
        }
        let result = with_id(b.id, "mine").insert(&acme).await;
        assert_not_leaked(t, "ActiveModel::insert with their key", &result);
        let result = post::Entity::insert(with_id(b.id, "mine"))
            .exec_with_returning(&acme)
            .await;
        assert_not_leaked(t, "Entity::insert with their key", &result);

        assert_eq!(all_posts(t).await, before, "{t}: globex's row changed");
    })
    .await;
}

fn slug(slug: &str, body: &str) -> handle::ActiveModel {
    handle::ActiveModel {
        slug: Set(slug.to_owned()),
        body: Set(body.to_owned()),
        ..Default::default()
    }
}

/// Rules 3 and 5 on a unique column besides the key: SeaORM re-reads by
/// `last_insert_id` where there is no `RETURNING`, which after an upsert
/// need not be the upserted row's id.
#[tokio::test]
async fn rule3_rule5_plain_upsert_on_a_unique_column() {
    each_backend(async |t| {
        let mut planted = slug("globex-home", "secret");
        planted.tenant_id = Set("globex".into());
        let theirs = planted.insert(&t.db).await.expect("plant");
        let Shared { acme, .. } = shared(t).await;

        let txn = acme.begin().await.expect("begin");
        let mine = slug("acme-home", "v1").insert(&txn).await.expect("own");
        for (what, on_conflict) in [
            (
                "update_column(Body)",
                OnConflict::column(handle::Column::Slug)
                    .update_column(handle::Column::Body)
                    .to_owned(),
            ),
            (
                "do_nothing()",
                OnConflict::column(handle::Column::Slug)
                    .do_nothing()
                    .to_owned(),
            ),
        ] {
            // In a savepoint: an upsert that fails must not end the
            // transaction (Postgres aborts it on any error).
            let attempt = txn.begin().await.expect("savepoint");
            let result = handle::Entity::insert(slug("globex-home", "pwned"))
                .on_conflict(on_conflict)
                .exec_with_returning(&attempt)
                .await;
            if let Ok(row) = &result {
                assert_ne!(row.id, theirs.id, "{t}: {what}: returned globex's row");
                assert_eq!(row.tenant_id, "acme", "{t}: {what}: {row:?}");
                attempt.commit().await.expect("release savepoint");
            } else {
                attempt.rollback().await.expect("rollback to savepoint");
            }
        }
        let own = handle::Entity::insert(slug("acme-home", "v2"))
            .on_conflict(
                OnConflict::column(handle::Column::Slug)
                    .update_column(handle::Column::Body)
                    .to_owned(),
            )
            .exec_with_returning(&txn)
            .await;
        if let Ok(row) = &own {
            assert_eq!(row.tenant_id, "acme", "{t}: own upsert returned {row:?}");
        }
        txn.commit().await.expect("commit");

        let stored = handle::Entity::find_by_id(theirs.id).one(&t.db).await;
        assert_eq!(stored, Ok(Some(theirs)), "{t}: globex's row changed");
        let stored = handle::Entity::find_by_id(mine.id).one(&t.db).await;
        let body = stored.ok().flatten().map(|r| r.body);
        assert_eq!(body, Some("v2".into()), "{t}: own row not updated");
    })
    .await;
}

// ---------------------------------------------------------------------------
// Rule 5.

#[tokio::test]
async fn rule5_plain_upsert_never_overwrites_another_tenants_row() {
    each_backend(async |t| {
        let b = add_post(t, &globex(), "theirs").await;
        let Shared { acme, .. } = shared(t).await;
        let before = all_posts(t).await;

        for (what, on_conflict) in title_upserts() {
            let _ = post::Entity::insert(with_id(b.id, "overwritten"))
                .on_conflict(on_conflict.clone())
                .exec(&acme)
                .await;
            let _ = post::Entity::insert(with_id(b.id, "overwritten"))
                .on_conflict(on_conflict.clone())
                .exec_without_returning(&acme)
                .await;
            let _ = post::Entity::insert_many([with_id(b.id, "overwritten")])
                .on_conflict(on_conflict)
                .exec_without_returning(&acme)
                .await;
            assert_eq!(all_posts(t).await, before, "{t}: {what}: globex's row");
        }
        let mine = post::Entity::find().all(&acme).await;
        assert_eq!(mine, Ok(vec![]), "{t}: acme sees a row");
    })
    .await;
}

#[tokio::test]
async fn rule5_plain_upsert_cannot_write_the_tenant_column() {
    each_backend(async |t| {
        let a = add_post(t, &acme(), "mine").await;
        let b = add_post(t, &globex(), "theirs").await;
        let Shared { acme, .. } = shared(t).await;
        let before = all_posts(t).await;

        for id in [a.id, b.id] {
            for (what, on_conflict) in [
                (
                    "update_column(TenantId)",
                    OnConflict::column(post::Column::Id)
                        .update_column(post::Column::TenantId)
                        .to_owned(),
                ),
                (
                    "value(TenantId, 'acme')",
                    OnConflict::column(post::Column::Id)
                        .value(post::Column::TenantId, Expr::value("acme"))
                        .to_owned(),
                ),
                (
                    "value(TenantId, 'globex')",
                    OnConflict::column(post::Column::Id)
                        .value(post::Column::TenantId, Expr::value("globex"))
                        .to_owned(),
                ),
            ] {
                let err = post::Entity::insert(with_id(id, "moved"))
                    .on_conflict(on_conflict)
                    .exec(&acme)
                    .await
                    .expect_err(what);
                assert!(refused(&err), "{t}: {what} on {id}: {err}");
            }
        }
        assert_eq!(all_posts(t).await, before, "{t}: the table changed");
    })
    .await;
}

#[tokio::test]
async fn rule5_plain_upsert_on_own_row_updates_it() {
    each_backend(async |t| {
        let a = add_post(t, &acme(), "old").await;
        let b = add_post(t, &globex(), "theirs").await;
        let Shared { acme, .. } = shared(t).await;
        let upsert = || {
            OnConflict::column(post::Column::Id)
                .update_column(post::Column::Title)
                .to_owned()
        };

        post::Entity::insert(with_id(a.id, "new"))
            .on_conflict(upsert())
            .exec(&acme)
            .await
            .unwrap_or_else(|err| panic!("{t}: upsert: {err}"));
        let fresh = b.id + 100;
        post::Entity::insert(with_id(fresh, "fresh"))
            .on_conflict(upsert())
            .exec(&acme)
            .await
            .unwrap_or_else(|err| panic!("{t}: upsert without conflict: {err}"));

        let rows = all_posts(t).await;
        let by_id = |id: i32| rows.iter().find(|r| r.id == id).cloned();
        assert_eq!(by_id(a.id).map(|r| r.title), Some("new".into()), "{t}");
        let fresh = by_id(fresh).map(|r| (r.tenant_id, r.title));
        assert_eq!(fresh, Some(("acme".into(), "fresh".into())), "{t}");
        assert_eq!(by_id(b.id), Some(b), "{t}: globex's row changed");
    })
    .await;
}

// ---------------------------------------------------------------------------
// Rule 10.

#[tokio::test]
async fn rule10_plain_calls_of_a_case_twin_reach_none_of_acmes_rows() {
    each_backend(async |t| {
        let secret = add_post(t, &acme(), "acme's secret").await;
        let mut h = slug("acme-home", "acme's");
        h.tenant_id = Set("acme".into());
        let h = h.insert(&t.db).await.expect("handle");
        let tenancy = shared_tenancy(t);
        connect(t, &tenancy, &acme()).await;
        let before = (all_posts(t).await, handle::Entity::find().all(&t.db).await);

        for twin in ["ACME", "Acme"] {
            let twin = TenantId::parse(twin).expect("a valid id");
            let conn = connect(t, &tenancy, &twin).await;
            assert_eq!(
                post::Entity::find().all(&conn).await,
                Ok(vec![]),
                "{t}/{twin}"
            );
            let count = post::Entity::find().count(&conn).await;
            assert_eq!(count, Ok(0), "{t}/{twin}: count");
            let by_id = post::Entity::find_by_id(secret.id).one(&conn).await;
            assert_eq!(by_id, Ok(None), "{t}/{twin}: find_by_id");
            // `handle`'s tenant column has the table's collation
            // (case-insensitive on MariaDB by default).
            let theirs = handle::Entity::find().all(&conn).await;
            assert_eq!(theirs, Ok(vec![]), "{t}/{twin}: handle");
            let by_id = handle::Entity::find_by_id(h.id).one(&conn).await;
            assert_eq!(by_id, Ok(None), "{t}/{twin}: handle by id");

            let touched = post::Entity::update_many()
                .col_expr(post::Column::Title, Expr::value("pwned"))
                .exec(&conn)
                .await;
            assert_eq!(touched.map(|r| r.rows_affected), Ok(0), "{t}/{twin}");
            let touched = handle::Entity::update_many()
                .col_expr(handle::Column::Body, Expr::value("pwned"))
                .exec(&conn)
                .await;
            assert_eq!(touched.map(|r| r.rows_affected), Ok(0), "{t}/{twin}");
            let forged = post::ActiveModel {
                id: Unchanged(secret.id),
                title: Set("pwned".into()),
                ..Default::default()
            };
            assert!(forged.update(&conn).await.is_err(), "{t}/{twin}: update");
            let _ = post::Entity::insert(with_id(secret.id, "pwned"))
                .on_conflict(
                    OnConflict::column(post::Column::Id)
                        .update_column(post::Column::Title)
                        .to_owned(),
                )
                .exec_without_returning(&conn)
                .await;
            let _ = handle::Entity::insert(slug("acme-home", "pwned"))
                .on_conflict(
                    OnConflict::column(handle::Column::Slug)
                        .update_column(handle::Column::Body)
                        .to_owned(),
                )
                .exec_without_returning(&conn)
                .await;
            let gone = post::Entity::delete_many().exec(&conn).await;
            assert_eq!(gone.map(|r| r.rows_affected), Ok(0), "{t}/{twin}");
            let gone = handle::Entity::delete_many().exec(&conn).await;
            assert_eq!(gone.map(|r| r.rows_affected), Ok(0), "{t}/{twin}");
        }
        let after = (all_posts(t).await, handle::Entity::find().all(&t.db).await);
        assert_eq!(after, before, "{t}: acme's rows changed");
    })
    .await;
}

#[tokio::test]
async fn rule10_plain_calls_of_an_integer_alias_reach_nothing_of_tenant_7() {
    each_backend(async |t| {
        let row = ledger::ActiveModel {
            tenant_id: Set(7),
            amount: Set(100),
            ..Default::default()
        }
        .insert(&t.db)
        .await
        .expect("ledger row");
        let tenancy = shared_tenancy(t).tenant_table::<ledger::Entity>();

        for alias in ["07", "007", "+7"] {
            // Refusing the alias a connection at all is fine too.
            let alias = TenantId::from(alias);
            if tenancy.provision(&alias).await.is_err() {
                continue;
            }
            let Ok(conn) = tenancy.connection(&alias).await else {
                continue;
            };
            let seen = ledger::Entity::find().all(&conn).await;
            assert!(
                matches!(&seen, Ok(rows) if rows.is_empty()) || seen.is_err(),
                "{t}/{alias}: find: {seen:?}"
            );
            let touched = ledger::Entity::update_many()
                .col_expr(ledger::Column::Amount, Expr::value(0))
                .exec(&conn)
                .await;
            assert!(
                matches!(touched, Ok(ref r) if r.rows_affected == 0) || touched.is_err(),
                "{t}/{alias}: update_many: {touched:?}"
            );
            let gone = ledger::Entity::delete_many().exec(&conn).await;
            assert!(
                matches!(gone, Ok(ref r) if r.rows_affected == 0) || gone.is_err(),
                "{t}/{alias}: delete_many: {gone:?}"
            );
        }
        let seven = connect(t, &tenancy, &TenantId::from(7_i64)).await;
        let seen = ledger::Entity::find().all(&seven).await;
        assert_eq!(seen, Ok(vec![row.clone()]), "{t}: tenant 7 reads its row");
        let stored = ledger::Entity::find().all(&t.db).await;
        assert_eq!(stored, Ok(vec![row]), "{t}: the ledger changed");
    })
    .await;
}

// ---------------------------------------------------------------------------
// Rule 11.

#[tokio::test]
async fn rule11_plain_writes_cannot_reference_another_tenants_row() {
    each_backend(async |t| {
        let secret = add_post(t, &acme(), "acme's secret").await;
        let own = add_post(t, &globex(), "globex's").await;
        let acme_tag = tag::ActiveModel {
            tenant_id: Set("acme".into()),
            name: Set("internal".into()),
            ..Default::default()
        }
        .insert(&t.db)
        .await
        .expect("tag");
        let Shared { globex, .. } = shared(t).await;
        let comment_on = |post_id: i32| comment::ActiveModel {
            post_id: Set(post_id),
            body: Set("from globex".into()),
            ..Default::default()
        };

        let plain = comment_on(secret.id).insert(&globex).await;
        assert!(plain.is_err(), "{t}: comment on acme's post: {plain:?}");
        let mine = comment_on(own.id).insert(&globex).await;
        let mine = mine.unwrap_or_else(|err| panic!("{t}: own comment: {err}"));
        assert_eq!(mine.tenant_id, "globex", "{t}");
        let mut moved = mine.into_active_model();
        moved.post_id = Set(secret.id);
        let moved = moved.update(&globex).await;
        assert!(moved.is_err(), "{t}: moved onto acme's post: {moved:?}");
        let link = post_tag::Entity::insert(post_tag::ActiveModel {
            post_id: Set(secret.id),
            tag_id: Set(acme_tag.id),
            ..Default::default()
        })
        .exec_without_returning(&globex)
        .await;
        assert!(link.is_err(), "{t}: junction row across tenants: {link:?}");

        let comments = comment::Entity::find().all(&t.db).await.expect("comments");
        assert!(
            comments.iter().all(|c| c.post_id == own.id),
            "{t}: {comments:?}"
        );
        let links = post_tag::Entity::find().count(&t.db).await;
        assert_eq!(links, Ok(0), "{t}: links");
    })
    .await;
}

#[tokio::test]
async fn rule11_plain_joins_from_another_tenant_do_not_probe_acmes_rows() {
    each_backend(async |t| {
        let secret = add_post(t, &acme(), "acme's secret").await;
        common::add_comment(t, &acme(), secret.id, "acme's note").await;
        let own = add_post(t, &globex(), "globex's").await;
        common::add_comment(t, &globex(), own.id, "globex's note").await;
        let Shared { globex, .. } = shared(t).await;

        let pairs = comment::Entity::find()
            .find_also_related(post::Entity)
            .all(&globex)
            .await
            .expect("find_also_related");
        let posts: Vec<Option<i32>> = pairs
            .iter()
            .map(|(_, p)| p.as_ref().map(|p| p.id))
            .collect();
        assert_eq!(posts, [Some(own.id)], "{t}: {pairs:?}");
        let probe = comment::Entity::find()
            .inner_join(post::Entity)
            .filter(post::Column::Title.contains("secret"))
            .count(&globex)
            .await;
        assert_eq!(probe, Ok(0), "{t}: inner_join probed acme's post");
        let probe = comment::Entity::find()
            .join(JoinType::InnerJoin, comment::Relation::Post.def())
            .filter(comment::Column::Body.contains("acme"))
            .count(&globex)
            .await;
        assert_eq!(probe, Ok(0), "{t}: join by hand probed acme's comment");
        assert_eq!(posts_of(t, &acme()).await, [secret], "{t}");
    })
    .await;
}
