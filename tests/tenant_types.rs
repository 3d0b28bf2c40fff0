//! Tenant ids of every column type (text in `post`, INTEGER in `ledger`,
//! UUID in `document`), ids that do not fit the column (rule 1: reads find
//! nothing, writes are refused), and validation of untrusted ids (rule 8).

mod common;

use common::{TestDb, document, each_backend, ledger};
use sea_orm::ActiveValue::{Set, Unchanged};
use sea_orm::sea_query::Expr;
use sea_orm::{DbErr, EntityTrait, IntoActiveModel, PaginatorTrait};
use sea_orm_tenant::prelude::*;
use uuid::Uuid;

async fn add_entry(t: &TestDb, tenant: &TenantId, amount: i32) -> ledger::Model {
    ledger::Entity::scoped(tenant)
        .insert(ledger::ActiveModel {
            amount: Set(amount),
            ..Default::default()
        })
        .exec_with_returning(&t.db)
        .await
        .unwrap_or_else(|err| panic!("{t}: ledger insert for {tenant}: {err}"))
}

async fn all_entries(t: &TestDb) -> Vec<ledger::Model> {
    ledger::Entity::find().all(&t.db).await.unwrap()
}

#[tokio::test]
async fn integer_tenant_column_is_scoped() {
    each_backend(async |t| {
        let seven = TenantId::from(7_i64);
        let eight = TenantId::from(8_i32);
        let mine = add_entry(t, &seven, 100).await;
        let theirs = add_entry(t, &eight, 200).await;
        assert_eq!(mine.tenant_id, 7, "{t}");

        // "7" as text is the same tenant as 7.
        let as_text = TenantId::from("7");
        let seen = ledger::Entity::scoped(&as_text)
            .find()
            .all(&t.db)
            .await
            .unwrap();
        assert_eq!(seen, std::slice::from_ref(&mine), "{t}: find");
        let other = ledger::Entity::scoped(&seven)
            .find_by_id(theirs.id)
            .one(&t.db)
            .await
            .unwrap();
        assert_eq!(other, None, "{t}: find_by_id of tenant 8's row");

        let mut change = mine.clone().into_active_model();
        change.amount = Set(150);
        let updated = ledger::Entity::scoped(&seven)
            .update(change)
            .exec(&t.db)
            .await
            .unwrap();
        assert_eq!((updated.amount, updated.tenant_id), (150, 7), "{t}");

        // Tenant 8's row, as read, is refused for tenant 7.
        let mut foreign = theirs.clone().into_active_model();
        foreign.amount = Set(0);
        let err = ledger::Entity::scoped(&seven)
            .update(foreign)
            .exec(&t.db)
            .await
            .unwrap_err();
        assert!(TenantError::is_tenant_error(&err), "{t}: {err:?}");

        let deleted = ledger::Entity::scoped(&seven)
            .delete_many()
            .exec(&t.db)
            .await
            .unwrap();
        assert_eq!(deleted.rows_affected, 1, "{t}");
        assert_eq!(all_entries(t).await, [theirs], "{t}");
    })
    .await;
}

#[tokio::test]
async fn uuid_tenant_column_is_scoped() {
    each_backend(async |t| {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let (ta, tb) = (TenantId::from(a), TenantId::from(b));
        let insert = |tenant: &TenantId, name: &str| {
            document::Entity::scoped(tenant).insert(document::ActiveModel {
                name: Set(name.into()),
                ..Default::default()
            })
        };
        let mine = insert(&ta, "a.txt")
            .exec_with_returning(&t.db)
            .await
            .unwrap();
        let theirs = insert(&tb, "b.txt")
            .exec_with_returning(&t.db)
            .await
            .unwrap();
        assert_eq!(mine.tenant_id, a, "{t}");
        assert_eq!(theirs.tenant_id, b, "{t}");

        // The UUID as text is the same tenant.
        let as_text = TenantId::from(a.to_string());
        let seen = document::Entity::scoped(&as_text)
            .find()
            .all(&t.db)
            .await
            .unwrap();
        assert_eq!(seen, std::slice::from_ref(&mine), "{t}: find");

        let updated = document::Entity::scoped(&ta)
            .update(document::ActiveModel {
                id: Unchanged(mine.id),
                name: Set("a2.txt".into()),
                ..Default::default()
            })
            .exec(&t.db)
            .await
            .unwrap();
        assert_eq!(
            (updated.name.as_str(), updated.tenant_id),
            ("a2.txt", a),
            "{t}"
        );

        let err = document::Entity::scoped(&ta)
            .update(document::ActiveModel {
                id: Unchanged(theirs.id),
                name: Set("pwned".into()),
                ..Default::default()
            })
            .exec(&t.db)
            .await
            .unwrap_err();
        assert_eq!(err, DbErr::RecordNotUpdated, "{t}");

        // A model naming tenant b is refused for tenant a.
        let err = document::Entity::scoped(&ta)
            .insert(document::ActiveModel {
                name: Set("sneaky".into()),
                tenant_id: Set(b),
                ..Default::default()
            })
            .exec(&t.db)
            .await
            .unwrap_err();
        assert!(TenantError::is_tenant_error(&err), "{t}: {err:?}");

        let rows = document::Entity::find().all(&t.db).await.unwrap();
        let of_b: Vec<_> = rows.iter().filter(|d| d.tenant_id == b).collect();
        assert_eq!(of_b, [&theirs], "{t}: tenant b's rows changed");
    })
    .await;
}

/// A tenant id that cannot be stored in the tenant column (text in an
/// INTEGER column, an out-of-range integer, a non-UUID in a UUID column):
/// reads match nothing, writes are refused before anything is sent.
#[tokio::test]
async fn tenant_id_that_does_not_fit_the_column_reads_nothing_and_cannot_write() {
    each_backend(async |t| {
        let entry = add_entry(t, &TenantId::from(7_i64), 100).await;
        let before = all_entries(t).await;

        for bad in [TenantId::from("acme"), TenantId::from(i64::MAX)] {
            let s = ledger::Entity::scoped(&bad);
            let what = format!("{t}: tenant {bad} on an INTEGER column");

            assert!(
                s.find().all(&t.db).await.unwrap().is_empty(),
                "{what}: find"
            );
            assert_eq!(s.find().count(&t.db).await.unwrap(), 0, "{what}: count");
            let by_id = s.find_by_id(entry.id).one(&t.db).await.unwrap();
            assert_eq!(by_id, None, "{what}: find_by_id");

            let model = || ledger::ActiveModel {
                amount: Set(1),
                ..Default::default()
            };
            let errors = [
                ("insert", s.insert(model()).exec(&t.db).await.map(|_| ())),
                (
                    "insert_many",
                    s.insert_many([model()]).exec(&t.db).await.map(|_| ()),
                ),
                (
                    "update",
                    s.update(ledger::ActiveModel {
                        id: Unchanged(entry.id),
                        amount: Set(0),
                        ..Default::default()
                    })
                    .exec(&t.db)
                    .await
                    .map(|_| ()),
                ),
                (
                    "update_many",
                    s.update_many()
                        .col_expr(ledger::Column::Amount, Expr::value(0))
                        .exec(&t.db)
                        .await
                        .map(|_| ()),
                ),
                (
                    "delete",
                    s.delete(entry.clone().into_active_model())
                        .exec(&t.db)
                        .await
                        .map(|_| ()),
                ),
            ];
            for (op, result) in errors {
                let err = result.expect_err(&format!("{what}: {op} succeeded"));
                assert!(TenantError::is_tenant_error(&err), "{what}: {op}: {err:?}");
                assert!(
                    err.to_string().contains("does not fit"),
                    "{what}: {op}: {err}"
                );
            }

            // SeaORM's own delete builders cannot fail early: they match nothing.
            let gone = s.delete_by_id(entry.id).exec(&t.db).await.unwrap();
            assert_eq!(gone.rows_affected, 0, "{what}: delete_by_id");
            let gone = s.delete_many().exec(&t.db).await.unwrap();
            assert_eq!(gone.rows_affected, 0, "{what}: delete_many");
        }
        assert_eq!(all_entries(t).await, before, "{t}: the table changed");

        // Text that is not a UUID, on the UUID column.
        let s = document::Entity::scoped(&TenantId::from("acme"));
        assert!(s.find().all(&t.db).await.unwrap().is_empty(), "{t}");
        let err = s
            .insert(document::ActiveModel {
                name: Set("x".into()),
                ..Default::default()
            })
            .exec(&t.db)
            .await
            .unwrap_err();
        assert!(TenantError::is_tenant_error(&err), "{t}: {err:?}");
        assert_eq!(
            document::Entity::find().count(&t.db).await.unwrap(),
            0,
            "{t}"
        );
    })
    .await;
}

/// Rule 8: ids from outside are validated.
#[test]
fn parse_rejects_bad_tenant_ids() {
    let long = "a".repeat(64);
    for bad in [
        "",
        long.as_str(),
        "acme'",
        "ac\"me",
        "acme'; DROP TABLE post; --",
        "ac\nme",
        "ac\0me",
        "\t",
        "acmé",
        "日本",
        "../x",
        "a/b",
        "a.b",
        " acme",
        "acme ",
    ] {
        let result = TenantId::parse(bad);
        assert!(
            matches!(result, Err(TenantError::InvalidId { .. })),
            "{bad:?} was accepted: {result:?}"
        );
    }

    for good in ["acme", "ACME-eu_1", "42", &"a".repeat(63)] {
        let id = TenantId::parse(good).unwrap_or_else(|err| panic!("{good:?}: {err}"));
        assert_eq!(id.to_string(), good);
    }
}
