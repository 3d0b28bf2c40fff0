//! The start-up check of rule 12: tables that have a tenant-like column
//! but were never declared are reported, on every backend, so that a
//! global table is a choice and not an accident.

mod common;

use common::{TestDb, each_backend};
use sea_orm::ConnectionTrait;
use sea_orm_tenant::doc_entities::{comment, post, post_tag, tag};
use sea_orm_tenant::prelude::*;

// Declared for the whole binary here (the harness leaves integer and UUID
// tenant tables to each test).
sea_orm_tenant::tenant_entity!(common::ledger::Entity);
sea_orm_tenant::tenant_entity!(common::document::Entity);

#[tokio::test]
async fn undeclared_tables_with_a_tenant_column_are_reported() {
    each_backend(async |t: &TestDb| {
        // The harness made the test tables already.
        t.db.execute_unprepared(
            "CREATE TABLE audit_log (id INTEGER PRIMARY KEY, TENANT_ID VARCHAR(63))",
        )
        .await
        .expect("audit_log");
        // Declared here: the doc entities. Declared with `tenant_entity!`:
        // ledger, document (above), handle (tests/common/entities.rs). Global and
        // without a tenant column: country.
        let tenancy = Tenancy::shared_schema(t.db.clone())
            .tenant_table::<post_tag::Entity>()
            .tenant_table::<comment::Entity>()
            .tenant_table::<tag::Entity>()
            .tenant_table::<post::Entity>();
        let found = tenancy.undeclared_tables().await.expect("catalog");
        assert_eq!(
            found,
            [
                "audit_log",
                "legacy_comment",
                "legacy_post",
                "legacy_post_tag",
                "legacy_tag"
            ],
            "{t}"
        );

        // Once declared, nothing is left to report but the choices made.
        let all = tenancy.tenant_table::<common::legacy::post::Entity>();
        let found = all.undeclared_tables().await.expect("catalog");
        assert!(!found.contains(&"legacy_post".to_owned()), "{t}: {found:?}");
        assert!(found.contains(&"audit_log".to_owned()), "{t}: {found:?}");
    })
    .await;
}
