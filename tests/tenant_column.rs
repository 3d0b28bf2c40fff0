//! Shared-schema migrations: a real sea-orm-migration `MigratorTrait` that
//! turns a single-tenant schema into a multi-tenant one with
//! `AddTenantColumn` (constant and parent backfills) and `RlsPolicy`, on
//! Postgres; the same step on MariaDB; the refusal on SQLite.

mod common;
mod pg_support;

use common::Kind;
use pg_support::PgEnv;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use sea_orm_migration::prelude::*;
use sea_orm_tenant::doc_entities::{comment, post};
use sea_orm_tenant::migration::{AddTenantColumn, Backfill};
use sea_orm_tenant::prelude::*;
use sea_orm_tenant::rls::RlsPolicy;

// ---------------------------------------------------------------------------
// The application's migrations, as a user writes them.

/// The legacy single-tenant schema, with its data.
struct M1Legacy;

impl MigrationName for M1Legacy {
    fn name(&self) -> &str {
        "m1_legacy"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M1Legacy {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE TABLE post (id serial PRIMARY KEY, title text NOT NULL);
             CREATE TABLE comment (id serial PRIMARY KEY, post_id int NOT NULL, body text NOT NULL);
             INSERT INTO post (title) VALUES ('one'), ('two');
             INSERT INTO comment (post_id, body) VALUES (1, 'a'), (2, 'b'), (2, 'c');",
        )
        .await?;
        Ok(())
    }
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE comment; DROP TABLE post;")
            .await?;
        Ok(())
    }
}

/// Every existing post belonged to the one customer, `acme`.
struct M2PostTenant;

impl MigrationName for M2PostTenant {
    fn name(&self) -> &str {
        "m2_post_tenant"
    }
}

fn post_step() -> AddTenantColumn {
    AddTenantColumn::for_entity::<post::Entity>()
        .backfill(Backfill::constant("acme"))
        .default_from_setting()
}

#[async_trait::async_trait]
impl MigrationTrait for M2PostTenant {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(post_step().up(manager).await?)
    }
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(post_step().down(manager).await?)
    }
}

/// A comment takes the tenant of its post.
struct M3CommentTenant;

impl MigrationName for M3CommentTenant {
    fn name(&self) -> &str {
        "m3_comment_tenant"
    }
}

fn comment_step() -> Result<AddTenantColumn, DbErr> {
    Ok(AddTenantColumn::for_entity::<comment::Entity>()
        .backfill(Backfill::from_related::<comment::Entity, post::Entity>()?)
        .default_from_setting())
}

#[async_trait::async_trait]
impl MigrationTrait for M3CommentTenant {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(comment_step()?.up(manager).await?)
    }
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(comment_step()?.down(manager).await?)
    }
}

/// Row-level security on both tables, for the application role.
struct M4Rls;

impl MigrationName for M4Rls {
    fn name(&self) -> &str {
        "m4_rls"
    }
}

/// The application role of this test database (the harness names it after
/// the database); an application would use its configured role name.
async fn app_role(manager: &SchemaManager<'_>) -> Result<String, DbErr> {
    let row = manager
        .get_connection()
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT replace(current_database(), 'sot_', 'sot_app_') AS role",
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("no current_database".into()))?;
    row.try_get("", "role")
}

#[async_trait::async_trait]
impl MigrationTrait for M4Rls {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let role = app_role(manager).await?;
        RlsPolicy::for_entity::<post::Entity>()
            .grant_to(&role)
            .up(manager)
            .await?;
        RlsPolicy::for_entity::<comment::Entity>()
            .grant_to(&role)
            .up(manager)
            .await?;
        Ok(())
    }
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let role = app_role(manager).await?;
        RlsPolicy::for_entity::<comment::Entity>()
            .grant_to(&role)
            .down(manager)
            .await?;
        RlsPolicy::for_entity::<post::Entity>()
            .grant_to(&role)
            .down(manager)
            .await?;
        Ok(())
    }
}

struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(M1Legacy),
            Box::new(M2PostTenant),
            Box::new(M3CommentTenant),
            Box::new(M4Rls),
        ]
    }
}

// ---------------------------------------------------------------------------
// Helpers.

async fn scalar<C: ConnectionTrait>(c: &C, sql: &str) -> i64 {
    c.query_one_raw(Statement::from_string(c.get_database_backend(), sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .expect("a row")
        .try_get_by_index::<i64>(0)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn texts<C: ConnectionTrait>(c: &C, sql: &str) -> Vec<String> {
    c.query_all_raw(Statement::from_string(c.get_database_backend(), sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|r| r.try_get_by_index::<String>(0).expect("text"))
        .collect()
}

async fn pg_has_column(db: &DatabaseConnection, table: &str, column: &str) -> bool {
    scalar(
        db,
        &format!(
            "SELECT count(*) FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name = '{table}' AND column_name = '{column}'"
        ),
    )
    .await
        == 1
}

// ---------------------------------------------------------------------------
// Postgres.

#[tokio::test]
async fn postgres_migrator_adds_tenant_columns_and_rls() {
    let Some(env) = PgEnv::new("postgres_migrator_adds_tenant_columns_and_rls").await else {
        return;
    };
    let admin = &env.admin;
    Migrator::up(admin, Some(2)).await.expect("m1, m2");
    // Between two deploys, a second customer arrived (through the new column).
    admin
        .execute_unprepared(
            "INSERT INTO post (title, tenant_id) VALUES ('three', 'globex');
             INSERT INTO comment (post_id, body) VALUES (3, 'g');",
        )
        .await
        .expect("globex rows");
    Migrator::up(admin, None).await.expect("m3, m4");

    assert_eq!(
        texts(
            admin,
            "SELECT tenant_id || ':' || body FROM comment ORDER BY id"
        )
        .await,
        ["acme:a", "acme:b", "acme:c", "globex:g"],
        "each comment took its post's tenant"
    );
    for table in ["post", "comment"] {
        assert_eq!(
            texts(
                admin,
                &format!(
                    "SELECT is_nullable::text FROM information_schema.columns \
                     WHERE table_name = '{table}' AND column_name = 'tenant_id'"
                )
            )
            .await,
            ["NO"],
            "{table}.tenant_id is NOT NULL"
        );
        assert_eq!(
            scalar(
                admin,
                &format!("SELECT count(*) FROM pg_indexes WHERE indexname = '{table}_tenant_id_tenant_idx'")
            )
            .await,
            1,
            "{table} has its tenant index"
        );
    }

    // The application role, through RLS and the column default. The first
    // wall (the confinement) is off: it would fill in the tenant itself and
    // refuse the undeclared `comment`; the migrator's RLS and default are
    // what is under test.
    let app = env.app(2).await;
    let acme = TenantConnection::new(app.clone(), TenantId::from("acme")).__unconfined();
    let globex = TenantConnection::new(app.clone(), TenantId::from("globex")).__unconfined();
    assert_eq!(scalar(&acme, "SELECT count(*) FROM comment").await, 3);
    assert_eq!(scalar(&globex, "SELECT count(*) FROM comment").await, 1);
    globex
        .execute_unprepared("INSERT INTO comment (post_id, body) VALUES (3, 'raw insert')")
        .await
        .expect("a raw insert gets the tenant from the setting");
    assert_eq!(
        texts(
            &globex,
            "SELECT tenant_id FROM comment WHERE body = 'raw insert'"
        )
        .await,
        ["globex"]
    );
    assert_eq!(scalar(&acme, "SELECT count(*) FROM comment").await, 3);
    let err = app
        .execute_unprepared("INSERT INTO post (title) VALUES ('no tenant')")
        .await
        .expect_err("no tenant, no row");
    assert!(
        err.to_string()
            .contains(r#"violates row-level security policy for table "post""#),
        "{err}"
    );

    // And all the way down again: the legacy schema, data intact.
    Migrator::down(admin, Some(3)).await.expect("down to m1");
    assert!(!pg_has_column(admin, "post", "tenant_id").await);
    assert!(!pg_has_column(admin, "comment", "tenant_id").await);
    assert_eq!(scalar(admin, "SELECT count(*) FROM comment").await, 5);
    Migrator::down(admin, None).await.expect("down");
    drop((acme, globex, app));
    env.cleanup().await;
}

#[tokio::test]
async fn postgres_refuses_rows_the_backfill_cannot_fill_and_changes_nothing() {
    let Some(env) = PgEnv::new("postgres_refuses_rows_the_backfill_cannot_fill").await else {
        return;
    };
    let admin = &env.admin;
    Migrator::up(admin, Some(2)).await.expect("m1, m2");
    // A comment whose post is gone (no foreign key in the legacy schema).
    admin
        .execute_unprepared("INSERT INTO comment (post_id, body) VALUES (99, 'orphan')")
        .await
        .expect("orphan");

    let err = Migrator::up(admin, None).await.expect_err("refused");
    assert!(TenantError::is_tenant_error(&err), "{err}");
    assert_eq!(
        err.to_string(),
        "Error converting `TenantError` into `DbErr`: tenant: cannot add tenant column `comment`.`tenant_id`: 1 row(s) would \
         stay NULL after the backfill; nothing was changed"
    );
    assert!(!pg_has_column(admin, "comment", "tenant_id").await);
    assert_eq!(
        Migrator::get_pending_migrations(admin)
            .await
            .expect("status")
            .len(),
        2,
        "m3 and m4 are still pending"
    );

    // Fixed by hand, the rerun finishes.
    admin
        .execute_unprepared("DELETE FROM comment WHERE post_id = 99")
        .await
        .expect("fix");
    Migrator::up(admin, None).await.expect("rerun");
    assert_eq!(
        scalar(
            admin,
            "SELECT count(*) FROM comment WHERE tenant_id = 'acme'"
        )
        .await,
        3
    );

    // Without a backfill, a table with rows is refused too.
    admin
        .execute_unprepared("CREATE TABLE note (id int); INSERT INTO note VALUES (1), (2)")
        .await
        .expect("note");
    let manager = SchemaManager::new(admin);
    let err = AddTenantColumn::new("note", "tenant_id")
        .up(&manager)
        .await
        .expect_err("rows and no backfill");
    assert!(
        err.to_string().contains("2 row(s) would stay NULL"),
        "{err}"
    );
    // A constant that does not fit the column type: refused before any change.
    let err = AddTenantColumn::new("note", "org")
        .of_type(ColumnType::Integer)
        .backfill(Backfill::constant("acme"))
        .up(&manager)
        .await
        .expect_err("acme is no integer");
    assert!(err.to_string().contains("does not fit"), "{err}");
    assert!(!pg_has_column(admin, "note", "tenant_id").await);
    assert!(!pg_has_column(admin, "note", "org").await);
    // A failure after ADD COLUMN (here: the index name is taken) rolls the
    // whole step back.
    admin
        .execute_unprepared("CREATE INDEX note_tenant_id_tenant_idx ON note (id)")
        .await
        .expect("index");
    admin
        .execute_unprepared("DELETE FROM note")
        .await
        .expect("empty note");
    let err = AddTenantColumn::new("note", "tenant_id")
        .up(&manager)
        .await
        .expect_err("index name taken");
    assert!(err.to_string().contains("already exists"), "{err}");
    assert!(!pg_has_column(admin, "note", "tenant_id").await);
    // An integer constant into an integer column, in a schema of its own.
    admin
        .execute_unprepared(
            "CREATE SCHEMA billing; CREATE TABLE billing.invoice (id int PRIMARY KEY); \
             INSERT INTO billing.invoice VALUES (1), (2)",
        )
        .await
        .expect("invoice");
    AddTenantColumn::new("invoice", "org_id")
        .schema("billing")
        .of_type(ColumnType::BigInteger)
        .backfill(Backfill::constant(42_i64))
        .up(&manager)
        .await
        .expect("integer tenant");
    assert_eq!(
        scalar(admin, "SELECT sum(org_id)::bigint FROM billing.invoice").await,
        84
    );
    env.cleanup().await;
}

// ---------------------------------------------------------------------------
// MariaDB / MySQL.

async fn mysql_has_column(db: &DatabaseConnection, table: &str, column: &str) -> bool {
    scalar(
        db,
        &format!(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = database() \
             AND table_name = '{table}' AND column_name = '{column}'"
        ),
    )
    .await
        == 1
}

#[tokio::test]
async fn mysql_backfills_constant_and_from_parent() {
    for t in common::backends_of(&[Kind::MySql]).await {
        let db = &t.db;
        db.execute_unprepared(
            "CREATE TABLE post (id int AUTO_INCREMENT PRIMARY KEY, title varchar(100) NOT NULL)",
        )
        .await
        .expect("post");
        db.execute_unprepared(
            "CREATE TABLE comment (id int AUTO_INCREMENT PRIMARY KEY, post_id int NOT NULL, body varchar(100) NOT NULL)",
        )
        .await
        .expect("comment");
        db.execute_unprepared("INSERT INTO post (title) VALUES ('one'), ('two')")
            .await
            .expect("posts");
        db.execute_unprepared(
            "INSERT INTO comment (post_id, body) VALUES (1, 'a'), (2, 'b'), (99, 'orphan')",
        )
        .await
        .expect("comments");
        let manager = SchemaManager::new(db);

        // Parents first: the comment step finds the posts without a tenant.
        let comments = AddTenantColumn::for_entity::<comment::Entity>()
            .backfill(Backfill::from_parent("post", "post_id", "id"));
        let err = comments
            .up(&manager)
            .await
            .expect_err("posts have no tenant yet");
        assert!(err.to_string().contains("post.tenant_id"), "{t}: {err}");
        assert!(!mysql_has_column(db, "comment", "tenant_id").await, "{t}");

        AddTenantColumn::for_entity::<post::Entity>()
            .backfill(Backfill::constant("acme"))
            .default_from_setting()
            .up(&manager)
            .await
            .unwrap_or_else(|e| panic!("{t}: post: {e}"));
        let nullable = texts(
            db,
            "SELECT is_nullable FROM information_schema.columns WHERE table_schema = database() \
             AND table_name = 'post' AND column_name = 'tenant_id'",
        )
        .await;
        assert_eq!(nullable, ["NO"], "{t}");
        assert_eq!(
            scalar(
                db,
                "SELECT count(*) FROM information_schema.statistics WHERE table_schema = database() \
                 AND table_name = 'post' AND index_name = 'post_tenant_id_tenant_idx'"
            )
            .await,
            1,
            "{t}: the tenant index"
        );
        assert!(
            db.execute_unprepared("INSERT INTO post (title) VALUES ('no tenant')")
                .await
                .is_err(),
            "{t}: NOT NULL, and no default from a setting on MySQL"
        );

        // The orphan comment still cannot be filled: refused, nothing changed.
        let err = comments.up(&manager).await.expect_err("orphan");
        assert!(
            err.to_string().contains("1 row(s) would stay NULL"),
            "{t}: {err}"
        );
        assert!(!mysql_has_column(db, "comment", "tenant_id").await, "{t}");

        db.execute_unprepared("DELETE FROM comment WHERE post_id = 99")
            .await
            .expect("fix");
        db.execute_unprepared("INSERT INTO post (title, tenant_id) VALUES ('three', 'globex')")
            .await
            .expect("globex post");
        db.execute_unprepared("INSERT INTO comment (post_id, body) VALUES (3, 'g')")
            .await
            .expect("globex comment");
        comments
            .up(&manager)
            .await
            .unwrap_or_else(|e| panic!("{t}: comment: {e}"));
        assert_eq!(
            texts(
                db,
                "SELECT concat(tenant_id, ':', body) FROM comment ORDER BY id"
            )
            .await,
            ["acme:a", "acme:b", "globex:g"],
            "{t}"
        );

        // A failure after ADD COLUMN (here: the index name is taken) drops
        // the column again, since MySQL DDL cannot be rolled back.
        db.execute_unprepared("CREATE TABLE tag (id int PRIMARY KEY, name varchar(50))")
            .await
            .expect("tag");
        db.execute_unprepared("INSERT INTO tag VALUES (1, 'x')")
            .await
            .expect("tag row");
        db.execute_unprepared("CREATE INDEX tag_tenant_id_tenant_idx ON tag (name)")
            .await
            .expect("index");
        let err = AddTenantColumn::new("tag", "tenant_id")
            .backfill(Backfill::constant("acme"))
            .up(&manager)
            .await
            .expect_err("index name taken");
        assert!(
            err.to_string().contains("tag_tenant_id_tenant_idx"),
            "{t}: {err}"
        );
        assert!(
            !mysql_has_column(db, "tag", "tenant_id").await,
            "{t}: undone"
        );

        comments
            .down(&manager)
            .await
            .unwrap_or_else(|e| panic!("{t}: down: {e}"));
        assert!(!mysql_has_column(db, "comment", "tenant_id").await, "{t}");
        assert_eq!(scalar(db, "SELECT count(*) FROM comment").await, 3, "{t}");
        t.cleanup().await;
    }
}

// ---------------------------------------------------------------------------
// SQLite.

#[tokio::test]
async fn sqlite_is_refused_clearly_and_nothing_changes() {
    for t in common::backends_of(&[Kind::Sqlite]).await {
        let db = &t.db;
        db.execute_unprepared("CREATE TABLE post (id integer PRIMARY KEY, title text NOT NULL)")
            .await
            .expect("post");
        let manager = SchemaManager::new(db);
        let err = AddTenantColumn::for_entity::<post::Entity>()
            .backfill(Backfill::constant("acme"))
            .up(&manager)
            .await
            .expect_err("SQLite");
        assert!(matches!(err, TenantError::Unsupported(_)), "{err}");
        assert!(
            err.to_string()
                .contains("tenant: unsupported: adding tenant column `post`.`tenant_id` on SQLite"),
            "{err}"
        );
        assert_eq!(
            scalar(
                db,
                "SELECT count(*) FROM pragma_table_info('post') WHERE name = 'tenant_id'"
            )
            .await,
            0
        );
        t.cleanup().await;
    }
}
