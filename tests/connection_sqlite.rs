//! TenantConnection on SQLite: no RLS there, so it carries the tenant, runs
//! the scoped builders, and passes everything else through unchanged.

mod common;

use common::entities::org_ledger;
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, Database, DatabaseConnection, DbBackend, EntityTrait,
    Statement, TransactionTrait,
};
use sea_orm_tenant::doc_entities::{self, comment, post};
use sea_orm_tenant::prelude::*;

async fn db() -> DatabaseConnection {
    let db = Database::connect("sqlite::memory:").await.expect("sqlite");
    for create in [
        doc_entities::create_table(&db, post::Entity).await,
        doc_entities::create_table(&db, comment::Entity).await,
    ] {
        create.expect("create table");
    }
    db
}

fn title(t: &str) -> post::ActiveModel {
    post::ActiveModel {
        title: Set(t.into()),
        ..Default::default()
    }
}

#[tokio::test]
async fn scoped_builders_through_the_connection() {
    let db = db().await;
    let tenants = Tenancy::shared_schema(db.clone()).tenant_table::<post::Entity>();
    let (acme, globex) = (TenantId::from("acme"), TenantId::from("globex"));
    tenants.provision(&acme).await.expect("provision");
    tenants.provision(&globex).await.expect("provision");
    let acme = tenants.connection(&acme).await.expect("conn");
    let globex = tenants.connection(&globex).await.expect("conn");
    assert_eq!(tenants.parked(), 0, "nothing is parked on SQLite");

    let row = acme
        .scoped::<post::Entity>()
        .insert(title("hello"))
        .exec_with_returning(&acme)
        .await
        .expect("insert");
    assert_eq!(row.tenant_id, "acme");
    globex
        .scoped::<post::Entity>()
        .insert(title("hi"))
        .exec(&globex)
        .await
        .expect("insert");

    let mine = acme
        .scoped::<post::Entity>()
        .find()
        .all(&acme)
        .await
        .expect("find");
    assert_eq!(mine.len(), 1);
    assert!(
        globex
            .scoped::<post::Entity>()
            .find_by_id(row.id)
            .one(&globex)
            .await
            .expect("find")
            .is_none()
    );
    // The same through the entity and the connection's tenant.
    let same = post::Entity::scoped(acme.tenant())
        .find()
        .all(&acme)
        .await
        .expect("find");
    assert_eq!(same, mine);
}

#[tokio::test]
async fn raw_sql_is_not_guarded_on_sqlite() {
    let db = db().await;
    // No RLS on SQLite: the connection's confinement is the only wall. Before
    // issue 21 a table the connection did not know passed through unconfined
    // (raw SQL and unscoped builders saw every tenant); rule 12 now refuses a
    // table declared nowhere, so a forgotten declaration is not a leak.
    let acme = TenantConnection::new(db.clone(), TenantId::from("acme"));
    db.execute_unprepared(
        "INSERT INTO post (tenant_id, title) VALUES ('acme', 'a'), ('globex', 'g')",
    )
    .await
    .expect("insert");
    let err = acme
        .execute_unprepared("INSERT INTO post (tenant_id, title) VALUES ('globex', 'g2')")
        .await
        .expect_err("an undeclared table is refused");
    assert!(TenantError::is_refused(&err), "{err}");
    let err = post::Entity::find()
        .all(&acme)
        .await
        .expect_err("an undeclared table is refused");
    assert!(TenantError::is_refused(&err), "{err}");
    let err = acme
        .query_all_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT * FROM post",
        ))
        .await
        .expect_err("an undeclared table is refused");
    assert!(TenantError::is_refused(&err), "{err}");
    assert_eq!(
        post::Entity::find().all(&db).await.expect("find").len(),
        2,
        "nothing was sent: globex's second row was never written"
    );
    // Declared, the same raw SQL and unscoped builder see only acme's row.
    let acme = acme.tenant_table::<post::Entity>();
    let mine = post::Entity::find().all(&acme).await.expect("find");
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].tenant_id, "acme");
    let rows = acme
        .query_all_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT * FROM post",
        ))
        .await
        .expect("raw");
    assert_eq!(rows.len(), 1);
}

#[tokio::test]
async fn transactions_keep_seaorm_semantics() {
    let db = db().await;
    let acme =
        TenantConnection::new(db.clone(), TenantId::from("acme")).tenant_table::<post::Entity>();
    let txn = acme.begin().await.expect("begin");
    assert_eq!(txn.tenant().to_string(), "acme");
    txn.scoped::<post::Entity>()
        .insert(title("kept"))
        .exec(&txn)
        .await
        .expect("insert");
    let nested = txn.begin().await.expect("savepoint");
    nested
        .scoped::<post::Entity>()
        .insert(title("undone"))
        .exec(&nested)
        .await
        .expect("insert");
    nested.rollback().await.expect("rollback");
    txn.commit().await.expect("commit");
    let all = acme
        .scoped::<post::Entity>()
        .find()
        .all(&acme)
        .await
        .expect("find");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].title, "kept");

    let failed = acme
        .transaction::<_, (), DbErr>(|txn| {
            Box::pin(async move {
                txn.scoped::<post::Entity>()
                    .insert(title("gone"))
                    .exec(txn)
                    .await?;
                Err(DbErr::Custom("boom".into()))
            })
        })
        .await;
    assert!(failed.is_err());
    assert_eq!(
        acme.scoped::<post::Entity>()
            .find()
            .all(&acme)
            .await
            .expect("find")
            .len(),
        1
    );
}

use sea_orm::DbErr;

#[tokio::test]
async fn ids_that_do_not_fit_the_column_are_refused() {
    let db = db().await;
    let ints = Tenancy::shared_schema(db.clone())
        .hot_tenants(HotTenants::off())
        .tenant_table::<org_ledger::Entity>();
    assert!(matches!(
        ints.provision(&TenantId::from("acme")).await,
        Err(TenantError::ColumnType { .. })
    ));
    assert!(matches!(
        ints.connection(&TenantId::from("acme")).await,
        Err(TenantError::ColumnType { .. })
    ));
    ints.provision(&TenantId::from("42")).await.expect("fits");
    assert!(ints.connection(&TenantId::from("42")).await.is_ok());
    let text = Tenancy::shared_schema(db).tenant_table::<post::Entity>();
    text.provision(&TenantId::from("acme")).await.expect("fits");
    assert!(text.connection(&TenantId::from("acme")).await.is_ok());
}
