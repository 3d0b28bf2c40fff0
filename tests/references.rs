//! Rule 11: no cross-tenant references.
//!
//! The doc entities declare their references with the tenant in them
//! (`comment (post_id, tenant_id) -> post (id, tenant_id)`, likewise
//! `post_tag`), so SeaORM creates composite foreign keys and its own joins
//! pair the tenant columns. A row of one tenant can then never point at
//! another tenant's row, whichever way it is written, and SeaORM's own
//! join methods on a scoped select cannot reach another tenant through a
//! reference.

mod common;

use common::{TestDb, acme, add_post, each_backend, globex};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, JoinType, PaginatorTrait,
    QueryFilter, QuerySelect, RelationTrait,
};
use sea_orm_tenant::doc_entities::{comment, post, post_tag, tag};
use sea_orm_tenant::prelude::*;

fn comment_on(post_id: i32, body: &str) -> comment::ActiveModel {
    comment::ActiveModel {
        post_id: Set(post_id),
        body: Set(body.into()),
        ..Default::default()
    }
}

async fn comment_count(t: &TestDb) -> u64 {
    comment::Entity::find().count(&t.db).await.unwrap()
}

/// Rule 11: globex cannot attach a comment (or a tag link) to acme's rows:
/// not through the scoped insert, not through plain SeaORM, not by moving
/// its own comment with an update, and on MySQL not as `ACME` either.
#[tokio::test]
async fn rule11_a_row_cannot_reference_another_tenants_row() {
    each_backend(async |t| {
        let secret = add_post(t, &acme(), "acme's secret").await;
        let own = add_post(t, &globex(), "globex's").await;

        let scoped = comment::Entity::scoped(&globex())
            .insert(comment_on(secret.id, "scoped"))
            .exec(&t.db)
            .await;
        assert!(scoped.is_err(), "{t}: scoped insert accepted: {scoped:?}");

        let mut plain = comment_on(secret.id, "plain SeaORM");
        plain.tenant_id = Set("globex".into());
        let plain = plain.insert(&t.db).await;
        assert!(plain.is_err(), "{t}: plain insert accepted: {plain:?}");

        let twin = comment::Entity::scoped(&TenantId::from("ACME"))
            .insert(comment_on(secret.id, "case twin"))
            .exec(&t.db)
            .await;
        assert!(
            twin.is_err(),
            "{t}: ACME's comment on acme's post: {twin:?}"
        );

        // globex's own comment, moved onto acme's post by an update.
        let mine = comment::Entity::scoped(&globex())
            .insert(comment_on(own.id, "own"))
            .exec_with_returning(&t.db)
            .await
            .unwrap();
        let mut moved = mine.clone().into_active_model();
        moved.post_id = Set(secret.id);
        let moved = comment::Entity::scoped(&globex())
            .update(moved)
            .exec(&t.db)
            .await;
        assert!(moved.is_err(), "{t}: update onto acme's post: {moved:?}");
        assert_eq!(comment_count(t).await, 1, "{t}");

        // The junction: globex links acme's post to acme's tag.
        let acme_tag = tag::Entity::scoped(&acme())
            .insert(tag::ActiveModel {
                name: Set("internal".into()),
                ..Default::default()
            })
            .exec_with_returning(&t.db)
            .await
            .unwrap();
        let link = post_tag::Entity::scoped(&globex())
            .insert(post_tag::ActiveModel {
                post_id: Set(secret.id),
                tag_id: Set(acme_tag.id),
                ..Default::default()
            })
            .exec_without_returning(&t.db)
            .await;
        assert!(link.is_err(), "{t}: junction row across tenants: {link:?}");
        assert_eq!(post_tag::Entity::find().count(&t.db).await.unwrap(), 0);
    })
    .await;
}

/// Rule 11, then the join by hand: SeaORM's own `find_also_related` and
/// `inner_join` on a scoped select of globex's comments pair the tenant
/// columns, so they neither return nor probe acme's post.
#[tokio::test]
async fn rule11_seaorm_joins_on_a_scoped_select_stay_in_the_tenant() {
    each_backend(async |t| {
        let secret = add_post(t, &acme(), "acme's secret").await;
        let own = add_post(t, &globex(), "globex's").await;
        // The attempt of the test above; refused here too.
        let _ = comment::Entity::scoped(&globex())
            .insert(comment_on(secret.id, "planted"))
            .exec(&t.db)
            .await;
        comment::Entity::scoped(&globex())
            .insert(comment_on(own.id, "own"))
            .exec(&t.db)
            .await
            .unwrap();
        let scoped = comment::Entity::scoped(&globex());

        let pairs = scoped
            .find()
            .find_also_related(post::Entity)
            .all(&t.db)
            .await
            .unwrap();
        assert_eq!(pairs.len(), 1, "{t}: {pairs:?}");
        assert!(
            pairs.iter().all(|(_, p)| p.as_ref() == Some(&own)),
            "{t}: {pairs:?}"
        );

        let probe = scoped
            .find()
            .inner_join(post::Entity)
            .filter(post::Column::Title.contains("secret"))
            .count(&t.db)
            .await
            .unwrap();
        assert_eq!(probe, 0, "{t}: inner_join probed acme's post");

        // The relation's own join condition, written by hand, pairs them too.
        let by_hand = scoped
            .find()
            .join(JoinType::InnerJoin, comment::Relation::Post.def())
            .filter(post::Column::Title.contains("secret"))
            .count(&t.db)
            .await
            .unwrap();
        assert_eq!(by_hand, 0, "{t}: join(Relation::Post) probed acme's post");
    })
    .await;
}

/// Rule 11 for a schema made before it: `TenantReference` refuses while a
/// reference crosses tenants (changing nothing), then adds the composite
/// foreign key, after which the database refuses a crossing row and the
/// Citus key check finds nothing to report; `down` removes it again.
#[tokio::test]
async fn rule11_tenant_reference_makes_an_old_foreign_key_carry_the_tenant() {
    use common::legacy;
    use sea_orm::ConnectionTrait;
    use sea_orm_migration::SchemaManager;
    use sea_orm_tenant::migration::TenantReference;

    common::each_backend_of(&[common::Kind::Postgres, common::Kind::MySql], async |t| {
        let post_of = async |tenant: &TenantId, title: &str| {
            legacy::post::Entity::scoped(tenant)
                .insert(legacy::post::ActiveModel {
                    title: Set(title.into()),
                    ..Default::default()
                })
                .exec_with_returning(&t.db)
                .await
                .unwrap()
        };
        let comment_of = async |tenant: &TenantId, post_id: i32| {
            legacy::comment::Entity::scoped(tenant)
                .insert(legacy::comment::ActiveModel {
                    post_id: Set(post_id),
                    body: Set("c".into()),
                    ..Default::default()
                })
                .exec(&t.db)
                .await
        };
        let secret = post_of(&acme(), "acme's").await;
        let own = post_of(&globex(), "globex's").await;
        comment_of(&globex(), own.id).await.unwrap();
        comment_of(&globex(), secret.id)
            .await
            .expect("the old key checks ids only");

        let step = TenantReference::for_relation::<legacy::comment::Entity, legacy::post::Entity>()
            .unwrap();
        let manager = SchemaManager::new(&t.db);
        if t.is_mysql() {
            // The legacy tenant columns take the table's case-insensitive
            // collation, where the key would let ACME's row point at acme's.
            let refused = step.up(&manager).await.unwrap_err();
            assert!(
                refused.to_string().contains("utf8mb4_bin"),
                "{t}: {refused}"
            );
            for table in ["legacy_post", "legacy_comment"] {
                t.db.execute_unprepared(&format!(
                    "ALTER TABLE {table} MODIFY tenant_id VARCHAR(255) NOT NULL COLLATE utf8mb4_bin"
                ))
                .await
                .unwrap();
            }
        }
        let refused = step.up(&manager).await.unwrap_err();
        assert!(
            matches!(refused, TenantError::CrossTenantReferences { rows: 1, .. }),
            "{t}: {refused}"
        );
        assert!(refused.to_string().contains("1 row(s)"), "{t}: {refused}");
        assert!(
            !manager
                .has_index("legacy_post", &step.key_name())
                .await
                .unwrap(),
            "{t}: refused, yet the key index was created"
        );

        legacy::comment::Entity::delete_many()
            .filter(legacy::comment::Column::PostId.eq(secret.id))
            .exec(&t.db)
            .await
            .unwrap();
        step.up(&manager)
            .await
            .unwrap_or_else(|e| panic!("{t}: up: {e}"));
        let crossing = comment_of(&globex(), secret.id).await;
        assert!(
            crossing.is_err(),
            "{t}: crossing row accepted: {crossing:?}"
        );
        comment_of(&globex(), own.id).await.expect("own reference");

        if t.kind == common::Kind::Postgres {
            let report = sea_orm_tenant::citus::check_keys(&t.db, "public", "tenant_id")
                .await
                .unwrap();
            let about_it: Vec<_> = report
                .problems
                .iter()
                .filter(|p| p.table == "legacy_comment" && p.references.is_some())
                .map(ToString::to_string)
                .collect();
            // The old single-column key is still there and still reported;
            // the composite one is not.
            assert!(
                about_it
                    .iter()
                    .all(|p| !p.contains(&step.constraint_name())),
                "{t}: {about_it:?}"
            );
        }

        step.down(&manager)
            .await
            .unwrap_or_else(|e| panic!("{t}: down: {e}"));
        comment_of(&globex(), secret.id)
            .await
            .expect("after down the old key again");
    })
    .await;
}

/// SQLite cannot add a constraint to a table: the step says so and changes nothing.
#[tokio::test]
async fn tenant_reference_is_refused_on_sqlite() {
    use sea_orm::DbBackend;
    use sea_orm_tenant::migration::TenantReference;
    let step = TenantReference::for_relation::<comment::Entity, post::Entity>().unwrap();
    let err = step.up_statements(DbBackend::Sqlite).unwrap_err();
    assert!(matches!(err, TenantError::Unsupported(_)), "{err}");
}
