//! Rule 12 with rule 4, through plain SeaORM: on a shared-schema
//! `TenantConnection`, related rows are confined on every tenant table a
//! statement touches, not only its root: `find_related`,
//! `find_also_related`, `find_with_related` (one-to-many, belongs-to and
//! many-to-many through the junction), joins written by hand (a LEFT JOIN
//! stays LEFT), the loaders of `LoaderTrait` (`load_one`, `load_many`,
//! `load_many_to_many`, given entities rather than scoped selects) and
//! SeaORM 2.0's entity loader (`Entity::load().with(..)`).
//!
//! The rows across tenants (globex's comments on acme's posts, globex's
//! junction row between acme's post and tag, acme's comment on globex's
//! post) are planted in the `legacy_*` tables, whose foreign keys check ids
//! only. Postgres runs as a superuser without RLS policies.

mod common;

use common::confine::{Related, Shared, related, shared, shared_tenancy, shared_with};
use common::{TestDb, acme, each_backend, globex, legacy};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, JoinType, LoaderTrait, ModelTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, RelationTrait,
};
use sea_orm_tenant::prelude::*;

#[tokio::test]
async fn rule4_plain_find_related_returns_only_its_tenants_rows() {
    each_backend(async |t| {
        let Related {
            p1, p2, c, stray, ..
        } = related(t).await;
        let Shared { acme, .. } = shared(t).await;

        let on_p1 = p1.find_related(legacy::comment::Entity).all(&acme).await;
        assert_eq!(on_p1, Ok(vec![]), "{t}: globex's comment on acme's p1");
        let on_p2 = p2.find_related(legacy::comment::Entity).all(&acme).await;
        assert_eq!(on_p2, Ok(vec![c]), "{t}: comments on p2");
        let parent = stray.find_related(legacy::post::Entity).one(&acme).await;
        assert_eq!(parent, Ok(None), "{t}: the parent of acme's stray comment");
        let tags = p2.find_related(legacy::tag::Entity).all(&acme).await;
        let names: Vec<String> = tags.expect("tags").into_iter().map(|t| t.name).collect();
        assert_eq!(names, ["t1"], "{t}: tags of p2 through the junction");
    })
    .await;
}

#[tokio::test]
async fn rule4_plain_find_also_and_with_related_return_only_its_tenants_rows() {
    each_backend(async |t| {
        let Related {
            p1,
            p2,
            c,
            stray,
            t1,
        } = related(t).await;
        let Shared { acme, .. } = shared(t).await;

        let also = legacy::post::Entity::find()
            .find_also_related(legacy::comment::Entity)
            .order_by_asc(legacy::post::Column::Id)
            .all(&acme)
            .await;
        let expected = vec![(p1.clone(), None), (p2.clone(), Some(c.clone()))];
        assert_eq!(also, Ok(expected), "{t}: find_also_related");

        let with = legacy::post::Entity::find()
            .find_with_related(legacy::comment::Entity)
            .order_by_asc(legacy::post::Column::Id)
            .all(&acme)
            .await;
        let expected = vec![(p1.clone(), vec![]), (p2.clone(), vec![c.clone()])];
        assert_eq!(with, Ok(expected), "{t}: find_with_related");

        let with_tags = legacy::post::Entity::find()
            .find_with_related(legacy::tag::Entity)
            .order_by_asc(legacy::post::Column::Id)
            .all(&acme)
            .await;
        let expected = vec![(p1, vec![]), (p2, vec![t1])];
        assert_eq!(
            with_tags,
            Ok(expected),
            "{t}: many-to-many via the junction"
        );

        let parents = legacy::comment::Entity::find()
            .find_also_related(legacy::post::Entity)
            .filter(legacy::comment::Column::Id.eq(stray.id))
            .all(&acme)
            .await;
        assert_eq!(parents, Ok(vec![(stray, None)]), "{t}: belongs_to");
    })
    .await;
}

#[tokio::test]
async fn rule4_plain_joins_written_by_hand_stay_in_the_tenant() {
    each_backend(async |t| {
        let Related { p1, .. } = related(t).await;
        let Shared { acme, .. } = shared(t).await;

        // LEFT JOIN stays LEFT: p1 has no comment of acme's, so it is the
        // one post without a comment (globex's comment on it is not joined).
        let uncommented = legacy::post::Entity::find()
            .join(JoinType::LeftJoin, legacy::post::Relation::Comment.def())
            .filter(legacy::comment::Column::Id.is_null())
            .all(&acme)
            .await;
        assert_eq!(uncommented, Ok(vec![p1]), "{t}: LEFT JOIN ... IS NULL");

        let probe = legacy::post::Entity::find()
            .join(JoinType::InnerJoin, legacy::post::Relation::Comment.def())
            .filter(legacy::comment::Column::Body.contains("globex"))
            .count(&acme)
            .await;
        assert_eq!(probe, Ok(0), "{t}: joined to globex's comments");

        let probe = legacy::comment::Entity::find()
            .join(JoinType::InnerJoin, legacy::comment::Relation::Post.def())
            .filter(legacy::post::Column::Title.contains("secret"))
            .count(&acme)
            .await;
        assert_eq!(probe, Ok(0), "{t}: joined to globex's post");

        let probe = legacy::comment::Entity::find()
            .left_join(legacy::post::Entity)
            .filter(legacy::post::Column::TenantId.eq("globex"))
            .count(&acme)
            .await;
        assert_eq!(probe, Ok(0), "{t}: left_join filtered on globex");
    })
    .await;
}

#[tokio::test]
async fn rule4_plain_loaders_load_only_its_tenants_rows() {
    each_backend(async |t| {
        let Related {
            p1,
            p2,
            c,
            stray,
            t1,
        } = related(t).await;
        let Shared { acme, .. } = shared(t).await;
        let posts = vec![p1, p2.clone()];

        let comments = posts.load_many(legacy::comment::Entity, &acme).await;
        assert_eq!(
            comments,
            Ok(vec![vec![], vec![c.clone()]]),
            "{t}: load_many"
        );

        let parents = vec![c, stray].load_one(legacy::post::Entity, &acme).await;
        assert_eq!(parents, Ok(vec![Some(p2), None]), "{t}: load_one");

        let tags = posts
            .load_many_to_many(legacy::tag::Entity, legacy::post_tag::Entity, &acme)
            .await;
        assert_eq!(tags, Ok(vec![vec![], vec![t1]]), "{t}: load_many_to_many");
    })
    .await;
}

// ---------------------------------------------------------------------------
// SeaORM 2.0's entity loader needs entities in the 2.0 ("dense") format.

mod dense {
    pub mod post {
        use sea_orm::entity::prelude::*;

        #[sea_orm::model]
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "dense_post")]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i32,
            pub tenant_id: String,
            pub title: String,
            #[sea_orm(has_many)]
            pub comments: HasMany<super::comment::Entity>,
        }

        impl ActiveModelBehavior for ActiveModel {}

        impl sea_orm_tenant::TenantEntity for Entity {
            fn tenant_column() -> Column {
                Column::TenantId
            }
        }
    }

    pub mod comment {
        use sea_orm::entity::prelude::*;

        #[sea_orm::model]
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "dense_comment")]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i32,
            pub tenant_id: String,
            pub post_id: i32,
            pub body: String,
            #[sea_orm(belongs_to, from = "post_id", to = "id")]
            pub post: BelongsTo<super::post::Entity>,
        }

        impl ActiveModelBehavior for ActiveModel {}

        impl sea_orm_tenant::TenantEntity for Entity {
            fn tenant_column() -> Column {
                Column::TenantId
            }
        }
    }
}

async fn dense_post(t: &TestDb, tenant: &TenantId, title: &str) -> dense::post::Model {
    dense::post::ActiveModel {
        tenant_id: Set(tenant.to_string()),
        title: Set(title.to_owned()),
        ..Default::default()
    }
    .insert(&t.db)
    .await
    .unwrap_or_else(|err| panic!("{t}: planting {title:?}: {err}"))
}

async fn dense_comment(t: &TestDb, tenant: &TenantId, post_id: i32, body: &str) {
    dense::comment::ActiveModel {
        tenant_id: Set(tenant.to_string()),
        post_id: Set(post_id),
        body: Set(body.to_owned()),
        ..Default::default()
    }
    .insert(&t.db)
    .await
    .unwrap_or_else(|err| panic!("{t}: planting {body:?}: {err}"));
}

#[tokio::test]
async fn rule4_entity_loader_loads_only_its_tenants_rows() {
    each_backend(async |t| {
        use sea_orm::EntityLoaderTrait;
        common::create_table(&t.db, dense::post::Entity)
            .await
            .expect("dense_post");
        common::create_table(&t.db, dense::comment::Entity)
            .await
            .expect("dense_comment");
        let (a, g) = (acme(), globex());
        let p1 = dense_post(t, &a, "p1").await;
        let theirs = dense_post(t, &g, "globex secret").await;
        dense_comment(t, &a, p1.id, "own").await;
        dense_comment(t, &g, p1.id, "globex on p1").await;
        dense_comment(t, &a, theirs.id, "acme on globex's post").await;
        let tenancy = shared_tenancy(t)
            .tenant_table::<dense::comment::Entity>()
            .tenant_table::<dense::post::Entity>();
        let Shared { acme, .. } = shared_with(t, tenancy).await;

        let loaded = dense::post::Entity::load()
            .with(dense::comment::Entity)
            .order_by_id_asc()
            .all(&acme)
            .await
            .expect("Entity::load().with(comments)");
        let seen: Vec<(String, Vec<String>)> = loaded
            .iter()
            .map(|p| {
                let bodies = p.comments.iter().map(|c| c.body.clone()).collect();
                (p.title.clone(), bodies)
            })
            .collect();
        assert_eq!(
            seen,
            [("p1".to_owned(), vec!["own".to_owned()])],
            "{t}: load().with(comments)"
        );

        let loaded = dense::comment::Entity::load()
            .with(dense::post::Entity)
            .order_by_id_asc()
            .all(&acme)
            .await
            .expect("Entity::load().with(post)");
        let seen: Vec<(String, Option<String>)> = loaded
            .iter()
            .map(|c| (c.body.clone(), c.post.as_ref().map(|p| p.title.clone())))
            .collect();
        let expected = [
            ("own".to_owned(), Some("p1".to_owned())),
            ("acme on globex's post".to_owned(), None),
        ];
        assert_eq!(seen, expected, "{t}: belongs_to");

        let by_id = dense::post::Entity::load()
            .filter_by_id(theirs.id)
            .one(&acme)
            .await;
        assert_eq!(
            by_id.map(|p| p.is_none()),
            Ok(true),
            "{t}: globex's post by id"
        );
    })
    .await;
}
