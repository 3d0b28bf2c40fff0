//! Rule 10: one tenant, one identity.
//!
//! - Case twins: `ACME` is not `acme`, on every backend, whatever the
//!   tenant column's collation (MariaDB's default `utf8mb4_general_ci`
//!   matches them), in the scoped builders, the upsert guard and the
//!   registry of `Tenancy`.
//! - Aliases: `007` is not a second name for tenant 7, nor an upper-case or
//!   unhyphenated UUID a second name for a UUID tenant.
//! - The tenant column under another spelling (`TENANT_ID`) is the tenant
//!   column, where the backend resolves it so (rule 2).

mod common;

use common::{TestDb, add_post, all_posts, document, each_backend, handle, ledger};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Alias, Expr};
use sea_orm::{DbErr, EntityTrait, IntoActiveModel, PaginatorTrait};
use sea_orm_tenant::doc_entities::post;
use sea_orm_tenant::prelude::*;
use uuid::Uuid;

fn acme() -> TenantId {
    TenantId::from("acme")
}

/// Every scoped path of tenant `twin` against acme's one post: nothing seen,
/// nothing changed.
async fn twin_reaches_nothing(t: &TestDb, twin: &TenantId) {
    let mine = post::Entity::scoped(twin);
    let theirs = all_posts(t).await;
    let target = &theirs[0];

    assert_eq!(
        mine.find().all(&t.db).await.unwrap(),
        [],
        "{t}/{twin}: find"
    );
    assert_eq!(
        mine.find().count(&t.db).await.unwrap(),
        0,
        "{t}/{twin}: count"
    );
    assert_eq!(
        mine.find_by_id(target.id).one(&t.db).await.unwrap(),
        None,
        "{t}/{twin}: find_by_id"
    );
    let touched = mine
        .update_many()
        .col_expr(post::Column::Title, Expr::value("pwned"))
        .exec(&t.db)
        .await
        .unwrap();
    assert_eq!(touched.rows_affected, 0, "{t}/{twin}: update_many");
    let forged = post::ActiveModel {
        id: Set(target.id),
        title: Set("pwned".into()),
        ..Default::default()
    };
    let err = mine.update(forged).exec(&t.db).await.unwrap_err();
    assert_eq!(err, DbErr::RecordNotUpdated, "{t}/{twin}: update by id");
    let upsert = post::ActiveModel {
        id: Set(target.id),
        title: Set("pwned".into()),
        ..Default::default()
    };
    let _ = mine
        .insert(upsert)
        .on_conflict(
            ScopedOnConflict::column(post::Column::Id)
                .update_column(post::Column::Title)
                .to_owned(),
        )
        .exec_without_returning(&t.db)
        .await;
    let gone = mine.delete_by_id(target.id).exec(&t.db).await.unwrap();
    assert_eq!(gone.rows_affected, 0, "{t}/{twin}: delete_by_id");
    let gone = mine.delete_many().exec(&t.db).await.unwrap();
    assert_eq!(gone.rows_affected, 0, "{t}/{twin}: delete_many");

    assert_eq!(
        all_posts(t).await,
        theirs,
        "{t}/{twin}: acme's post changed"
    );
}

/// Rule 10: `ACME` (and `acme ` with a trailing space, equal under MySQL's
/// `PAD SPACE` collations) reads, updates, upserts and deletes none of
/// `acme`'s rows.
#[tokio::test]
async fn rule10_case_twins_reach_none_of_each_others_rows() {
    each_backend(async |t| {
        add_post(t, &acme(), "acme's secret").await;
        twin_reaches_nothing(t, &TenantId::parse("ACME").unwrap()).await;
        twin_reaches_nothing(t, &TenantId::from("Acme")).await;
        twin_reaches_nothing(t, &TenantId::from("acme ")).await;

        // And acme itself still reaches its row.
        let own = post::Entity::scoped(&acme())
            .find()
            .all(&t.db)
            .await
            .unwrap();
        assert_eq!(own.len(), 1, "{t}");
    })
    .await;
}

/// Rule 10 in the registry: a never-provisioned `ACME` is unknown, its
/// deprovision removes nothing of `acme`'s, and both can be provisioned
/// side by side.
#[tokio::test]
async fn rule10_the_registry_tells_case_twins_apart() {
    each_backend(async |t| {
        let tenancy = Tenancy::shared_schema(t.db.clone()).tenant_table::<post::Entity>();
        let twin = TenantId::parse("ACME").unwrap();
        tenancy.provision(&acme()).await.expect("provision acme");
        let conn = tenancy.connection(&acme()).await.expect("acme connects");
        post::Entity::scoped(conn.tenant())
            .insert(post::ActiveModel {
                title: Set("acme's".into()),
                ..Default::default()
            })
            .exec(&conn)
            .await
            .unwrap();

        let unknown = tenancy.connection(&twin).await;
        assert!(
            matches!(unknown, Err(TenantError::UnknownTenant(_))),
            "{t}: ACME got {unknown:?}"
        );
        tenancy.deprovision(&twin).await.expect("deprovision ACME");
        assert_eq!(all_posts(t).await.len(), 1, "{t}: acme's rows deleted");
        // A fresh Tenancy (empty cache) still finds acme in the registry.
        let fresh = Tenancy::shared_schema(t.db.clone()).tenant_table::<post::Entity>();
        fresh
            .connection(&acme())
            .await
            .expect("acme still provisioned");

        tenancy.provision(&twin).await.expect("provision ACME");
        let mut listed: Vec<String> = fresh
            .tenants()
            .await
            .unwrap()
            .into_iter()
            .map(|(id, _)| id.to_string())
            .collect();
        listed.sort();
        assert_eq!(listed, ["ACME", "acme"], "{t}: registry entries");
        tenancy.deprovision(&twin).await.unwrap();
        assert_eq!(
            all_posts(t).await.len(),
            1,
            "{t}: acme's rows after ACME left"
        );
        let fresh = Tenancy::shared_schema(t.db.clone()).tenant_table::<post::Entity>();
        fresh.connection(&acme()).await.expect("acme outlives ACME");
    })
    .await;
}

/// Rule 10: `007` is refused at parse, and written by code it is not
/// tenant 7: it reads nothing of tenant 7's and cannot write.
#[tokio::test]
async fn rule10_integer_aliases_are_not_the_tenant() {
    each_backend(async |t| {
        let seven = TenantId::from(7_i64);
        let row = ledger::Entity::scoped(&seven)
            .insert(ledger::ActiveModel {
                amount: Set(100),
                ..Default::default()
            })
            .exec_with_returning(&t.db)
            .await
            .unwrap();
        for alias in ["07", "007", "+7"] {
            let other = TenantId::from(alias);
            assert_ne!(other, seven);
            let s = ledger::Entity::scoped(&other);
            assert_eq!(s.find().all(&t.db).await.unwrap(), [], "{t}/{alias}: find");
            assert_eq!(s.find_by_id(row.id).one(&t.db).await.unwrap(), None);
            let err = s
                .update_many()
                .col_expr(ledger::Column::Amount, Expr::value(0))
                .exec(&t.db)
                .await
                .unwrap_err();
            assert!(TenantError::is_tenant_error(&err), "{t}/{alias}: {err}");
            let err = s.delete_many().exec(&t.db).await.map(|r| r.rows_affected);
            assert!(matches!(err, Ok(0)), "{t}/{alias}: delete_many {err:?}");
        }
        for alias in ["07", "007", "-0"] {
            assert!(
                matches!(TenantId::parse(alias), Err(TenantError::InvalidId { .. })),
                "{alias} parsed"
            );
        }
        let seen = ledger::Entity::scoped(&TenantId::parse("7").unwrap())
            .find()
            .all(&t.db)
            .await
            .unwrap();
        assert_eq!(seen, [row], "{t}: the canonical spelling is tenant 7");
    })
    .await;
}

/// Rule 10: a UUID tenant has one spelling, lower case with hyphens.
#[tokio::test]
async fn rule10_uuid_aliases_are_not_the_tenant() {
    each_backend(async |t| {
        let id = Uuid::new_v4();
        let owner = TenantId::from(id);
        document::Entity::scoped(&owner)
            .insert(document::ActiveModel {
                name: Set("plan".into()),
                ..Default::default()
            })
            .exec(&t.db)
            .await
            .unwrap();
        for alias in [id.to_string().to_uppercase(), id.simple().to_string()] {
            let other = TenantId::from(alias.as_str());
            assert_ne!(other, owner);
            let seen = document::Entity::scoped(&other)
                .find()
                .all(&t.db)
                .await
                .unwrap();
            assert_eq!(seen, [], "{t}/{alias}");
            assert!(TenantId::parse(&alias).is_err(), "{alias} parsed");
        }
        let canonical = TenantId::parse(&id.to_string()).unwrap();
        assert_eq!(canonical, owner);
        let seen = document::Entity::scoped(&canonical)
            .find()
            .all(&t.db)
            .await
            .unwrap();
        assert_eq!(seen.len(), 1, "{t}");
    })
    .await;
}

/// Rule 2 under another spelling: SQLite and MySQL resolve `TENANT_ID` to
/// `tenant_id`, so `col_expr` and the upsert's `value` refuse it, and
/// nothing moves.
#[tokio::test]
async fn rule2_the_tenant_column_in_another_case_is_refused() {
    each_backend(async |t| {
        let row = add_post(t, &acme(), "acme's").await;
        let s = post::Entity::scoped(&acme());
        for name in ["TENANT_ID", "Tenant_Id", "ténant_id"] {
            let moved = s
                .update_many()
                .col_expr(Alias::new(name), Expr::value("globex"))
                .exec(&t.db)
                .await;
            let err = moved.expect_err(name);
            assert!(TenantError::is_tenant_error(&err), "{t}/{name}: {err}");

            let upsert = post::ActiveModel {
                id: Set(row.id),
                title: Set("x".into()),
                ..Default::default()
            };
            let moved = s
                .insert(upsert)
                .on_conflict(
                    ScopedOnConflict::column(post::Column::Id)
                        .value(Alias::new(name), Expr::value("globex"))
                        .to_owned(),
                )
                .exec_without_returning(&t.db)
                .await;
            let err = moved.expect_err(name);
            assert!(TenantError::is_tenant_error(&err), "{t}/{name}: {err}");
        }
        assert_eq!(all_posts(t).await, [row], "{t}");

        // Other columns in other cases are still writable where the backend allows.
        let h = handle::Entity::scoped(&acme())
            .insert(handle::ActiveModel {
                slug: Set("a".into()),
                body: Set("b".into()),
                ..Default::default()
            })
            .exec_with_returning(&t.db)
            .await
            .unwrap();
        let mut edit = h.into_active_model();
        edit.body = Set("c".into());
        handle::Entity::scoped(&acme())
            .update(edit)
            .exec(&t.db)
            .await
            .unwrap();
        assert_eq!(handle::Entity::find().count(&t.db).await.unwrap(), 1);
    })
    .await;
}

/// Rule 10 at the HTTP edge: aliases of tenant 7 are refused, so they get no
/// rate-limit bucket of their own (with a quota of one a minute, tenant 7 is
/// served once, whatever it is called).
#[cfg(feature = "axum")]
#[test]
fn rule10_aliases_get_no_rate_limit_bucket_of_their_own() {
    use sea_orm_tenant::http::{Quota, TenantRateLimit, TenantResolver};
    use std::num::NonZeroU32;

    let limits = TenantRateLimit::new(Quota::per_minute(NonZeroU32::MIN));
    let resolver = TenantResolver::new().header("x-tenant-id");
    let mut served = 0;
    for spelling in ["7", "07", "007", "0007", "7"] {
        let req = http::Request::builder()
            .header("x-tenant-id", spelling)
            .body(())
            .unwrap();
        if let Ok(tenant) = resolver.resolve(&req)
            && limits.check(&tenant).is_ok()
        {
            served += 1;
        }
    }
    assert_eq!(served, 1);
}
