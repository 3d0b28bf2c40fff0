//! Rule 4: joins, `find_also_related`, `find_with_related`, loaders and
//! junction tables are scoped on every tenant table they touch.
//!
//! The attacks: tenant B writes rows that point at tenant A's rows (a
//! comment on A's post, a `post_tag` junction row linking A's post to A's
//! tag). The doc entities' references carry the tenant (rule 11), so there
//! the database refuses such rows (`tests/references.rs`); these tests run
//! on the `legacy` copies, whose foreign keys check ids only, as in a
//! schema made before rule 11, and A's reads must not return the rows.

mod common;

use common::legacy::{comment, post, post_tag, tag};
use common::{TestDb, acme, each_backend, globex};
use sea_orm::ActiveValue::Set;
use sea_orm::{LoaderTrait, QueryOrder};
use sea_orm_tenant::prelude::*;

async fn add_post(t: &TestDb, tenant: &TenantId, title: &str) -> post::Model {
    post::Entity::scoped(tenant)
        .insert(post::ActiveModel {
            title: Set(title.to_owned()),
            ..Default::default()
        })
        .exec_with_returning(&t.db)
        .await
        .unwrap_or_else(|err| panic!("{t}: inserting post {title:?} for {tenant}: {err}"))
}

async fn add_comment(t: &TestDb, tenant: &TenantId, post_id: i32, body: &str) -> comment::Model {
    comment::Entity::scoped(tenant)
        .insert(comment::ActiveModel {
            post_id: Set(post_id),
            body: Set(body.to_owned()),
            ..Default::default()
        })
        .exec_with_returning(&t.db)
        .await
        .unwrap_or_else(|err| panic!("{t}: inserting comment {body:?} for {tenant}: {err}"))
}

/// A's posts `p1` (no comment of A's) and `p2` (A's comment `c`); B
/// commented on both.
struct Comments {
    p1: post::Model,
    p2: post::Model,
    c: comment::Model,
}

async fn comments_fixture(t: &TestDb) -> Comments {
    let p1 = add_post(t, &acme(), "p1").await;
    let p2 = add_post(t, &acme(), "p2").await;
    let c = add_comment(t, &acme(), p2.id, "own").await;
    add_comment(t, &globex(), p1.id, "from globex on p1").await;
    add_comment(t, &globex(), p2.id, "from globex on p2").await;
    Comments { p1, p2, c }
}

/// Rule 4: `find_also_related` puts the tenant on the joined table, in the
/// join's ON: B's comment does not come back, A's post still does.
#[tokio::test]
async fn rule4_find_also_related_hides_another_tenants_rows() {
    each_backend(async |t| {
        let Comments { p1, p2, c } = comments_fixture(t).await;

        let rows = post::Entity::scoped(&acme())
            .find_also_related(comment::Entity)
            .order_by_asc(post::Column::Id)
            .all(&t.db)
            .await
            .unwrap();
        assert_eq!(rows, [(p1, None), (p2, Some(c))], "{t}");
    })
    .await;
}

/// Rule 4: `find_with_related` likewise (LEFT JOIN semantics kept).
#[tokio::test]
async fn rule4_find_with_related_hides_another_tenants_rows() {
    each_backend(async |t| {
        let Comments { p1, p2, c } = comments_fixture(t).await;

        let rows = post::Entity::scoped(&acme())
            .find_with_related(comment::Entity)
            .order_by_asc(post::Column::Id)
            .all(&t.db)
            .await
            .unwrap();
        assert_eq!(rows, [(p1, vec![]), (p2, vec![c])], "{t}");

        // globex has comments but no posts: its join starts from nothing.
        let theirs = post::Entity::scoped(&globex())
            .find_with_related(comment::Entity)
            .all(&t.db)
            .await
            .unwrap();
        assert!(
            theirs.is_empty(),
            "{t}: globex sees acme's posts: {theirs:?}"
        );
    })
    .await;
}

/// Rule 4, the other direction (belongs_to): A's comment that points at B's
/// post does not bring B's post along.
#[tokio::test]
async fn rule4_belongs_to_join_hides_another_tenants_parent() {
    each_backend(async |t| {
        let theirs = add_post(t, &globex(), "globex's post").await;
        let c = add_comment(t, &acme(), theirs.id, "acme on globex's post").await;

        let rows = comment::Entity::scoped(&acme())
            .find_also_related(post::Entity)
            .all(&t.db)
            .await
            .unwrap();
        assert_eq!(rows, [(c, None)], "{t}");
    })
    .await;
}

/// A's post `p` with A's tags `t1` (linked by A) and `t2` (linked by B's
/// junction row); A also linked B's tag `bt`.
struct Tags {
    p: post::Model,
    t1: tag::Model,
}

async fn add_tag(t: &TestDb, tenant: &TenantId, name: &str) -> tag::Model {
    tag::Entity::scoped(tenant)
        .insert(tag::ActiveModel {
            name: Set(name.into()),
            ..Default::default()
        })
        .exec_with_returning(&t.db)
        .await
        .unwrap_or_else(|err| panic!("{t}: inserting tag {name}: {err}"))
}

async fn link(t: &TestDb, tenant: &TenantId, post_id: i32, tag_id: i32) {
    post_tag::Entity::scoped(tenant)
        .insert(post_tag::ActiveModel {
            post_id: Set(post_id),
            tag_id: Set(tag_id),
            ..Default::default()
        })
        .exec_without_returning(&t.db)
        .await
        .unwrap_or_else(|err| panic!("{t}: linking post {post_id} to tag {tag_id}: {err}"));
}

async fn tags_fixture(t: &TestDb) -> Tags {
    let p = add_post(t, &acme(), "p").await;
    let t1 = add_tag(t, &acme(), "t1").await;
    let t2 = add_tag(t, &acme(), "t2").await;
    let bt = add_tag(t, &globex(), "globex's tag").await;
    link(t, &acme(), p.id, t1.id).await;
    link(t, &globex(), p.id, t2.id).await; // B's junction row between A's rows
    link(t, &acme(), p.id, bt.id).await; // A's junction row to B's tag
    Tags { p, t1 }
}

/// Rule 4: many-to-many through a tenant-owned junction table: the tenant
/// is on the post, on `post_tag` and on `tag`.
#[tokio::test]
async fn rule4_many_to_many_via_junction_is_scoped_on_every_table() {
    each_backend(async |t| {
        let Tags { p, t1 } = tags_fixture(t).await;

        let rows = post::Entity::scoped(&acme())
            .find_with_related_via(tag::Entity, post_tag::Entity)
            .all(&t.db)
            .await
            .unwrap();
        assert_eq!(rows, [(p, vec![t1])], "{t}");
    })
    .await;
}

/// Rule 4: `find_with_related` over a many-to-many relation: SeaORM joins
/// the junction table from `Related::via`, and that join must carry the
/// tenant too, or B's junction row links A's post to A's tag `t2`.
#[tokio::test]
async fn rule4_find_with_related_many_to_many_scopes_the_junction() {
    each_backend(async |t| {
        let Tags { p, t1 } = tags_fixture(t).await;

        let rows = post::Entity::scoped(&acme())
            .find_with_related(tag::Entity)
            .all(&t.db)
            .await
            .unwrap();
        assert_eq!(rows, [(p, vec![t1])], "{t}");
    })
    .await;
}

/// Rule 4 for SeaORM's loader: `LoaderTrait::load_many` takes any
/// `Select<R>` (`S: EntityOrSelect<R>`), so a scoped select can be given to
/// it, and what it loads is scoped.
#[tokio::test]
async fn rule4_loader_given_a_scoped_select_is_scoped() {
    each_backend(async |t| {
        let Comments { p1, p2, c } = comments_fixture(t).await;

        let posts = post::Entity::scoped(&acme())
            .find()
            .order_by_asc(post::Column::Id)
            .all(&t.db)
            .await
            .unwrap();
        assert_eq!(posts, [p1, p2], "{t}");
        let comments = posts
            .load_many(comment::Entity::scoped(&acme()).find(), &t.db)
            .await
            .unwrap();
        assert_eq!(comments, [vec![], vec![c.clone()]], "{t}: load_many");

        // belongs_to: A's comment pointing at B's post loads no post.
        let theirs = add_post(t, &globex(), "globex's post").await;
        let stray = add_comment(t, &acme(), theirs.id, "acme on globex's post").await;
        let mine = vec![c, stray];
        let parents = mine
            .load_one(post::Entity::scoped(&acme()).find(), &t.db)
            .await
            .unwrap();
        assert_eq!(parents.len(), 2, "{t}");
        assert!(parents[0].is_some(), "{t}: own parent not loaded");
        assert_eq!(parents[1], None, "{t}: load_one returned globex's post");
    })
    .await;
}

/// Rule 4 for the loader over a junction: `load_many` on a many-to-many
/// relation joins `post_tag` itself, so the select given to it is
/// `find_via(post_tag::Entity)`, which scopes the junction too, and B's
/// junction row does not link A's post to A's tag `t2`.
#[tokio::test]
async fn rule4_loader_many_to_many_scopes_the_junction() {
    each_backend(async |t| {
        let Tags { p, t1 } = tags_fixture(t).await;

        let tags = vec![p]
            .load_many(
                tag::Entity::scoped(&acme()).find_via(post_tag::Entity),
                &t.db,
            )
            .await
            .unwrap();
        assert_eq!(tags, [vec![t1]], "{t}");
    })
    .await;
}
