//! Citus readiness against real Postgres. Citus itself is not installed
//! here: the key check reads the plain Postgres catalogs (which Citus
//! shares), and the emitted statements run against stand-in functions with
//! Citus's leading parameters that record what they were given.

mod common;
mod pg_support;

use common::Kind;
use pg_support::PgEnv;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sea_orm_migration::SchemaManager;
use sea_orm_tenant::citus::{self, KeyKind};
use sea_orm_tenant::doc_entities::{country, post};
use sea_orm_tenant::prelude::*;

/// A schema with tenant tables whose keys are fine, tenant tables whose
/// keys Citus would refuse, and a global table.
fn tables(s: &str) -> String {
    format!(
        r#"
        CREATE SCHEMA "{s}";
        -- good: the tenant column leads the primary key and the unique key
        CREATE TABLE "{s}".account (tenant_id text, id bigint, email text,
            PRIMARY KEY (tenant_id, id), UNIQUE (tenant_id, email));
        -- good: a partial unique index over an expression, with the tenant column
        CREATE UNIQUE INDEX account_lower_email ON "{s}".account (tenant_id, lower(email))
            WHERE email IS NOT NULL;
        -- bad: the primary key is the id alone
        CREATE TABLE "{s}".post (id serial PRIMARY KEY, tenant_id text NOT NULL, title text);
        -- bad: a unique constraint without the tenant column, and a unique index
        -- that only INCLUDEs it (not a key column)
        CREATE TABLE "{s}".handle (tenant_id text, id int, slug text UNIQUE, code text,
            PRIMARY KEY (id, tenant_id));
        CREATE UNIQUE INDEX handle_code ON "{s}".handle (code) INCLUDE (tenant_id);
        -- bad: a unique expression index; the name needs quoting
        CREATE TABLE "{s}"."Odd Name" (tenant_id text, name text);
        CREATE UNIQUE INDEX "odd lower" ON "{s}"."Odd Name" (lower(name));
        -- global: not a tenant table, any key is fine
        CREATE TABLE "{s}".country (code text PRIMARY KEY, name text UNIQUE);
        -- foreign keys: good (tenant columns paired), to a global table (fine),
        -- bad (tenant column not paired), and from a global table to a tenant one
        CREATE TABLE "{s}".invoice (tenant_id text, id int, account_id bigint, country text
            REFERENCES "{s}".country, PRIMARY KEY (tenant_id, id),
            FOREIGN KEY (tenant_id, account_id) REFERENCES "{s}".account (tenant_id, id));
        CREATE TABLE "{s}".line (tenant_id text, id int, invoice_id int, other_tenant text,
            PRIMARY KEY (tenant_id, id),
            CONSTRAINT line_invoice FOREIGN KEY (other_tenant, invoice_id)
                REFERENCES "{s}".invoice (tenant_id, id));
        CREATE TABLE "{s}".audit (id int PRIMARY KEY, post_id int REFERENCES "{s}".post);
        -- a dropped tenant column makes no tenant table
        CREATE TABLE "{s}".legacy (id int PRIMARY KEY, tenant_id text);
        ALTER TABLE "{s}".legacy DROP COLUMN tenant_id;
        -- another schema is not looked at
        CREATE TABLE public.elsewhere (id int PRIMARY KEY, tenant_id text);
        "#
    )
}

#[tokio::test]
async fn catalog_key_check_lists_the_offending_keys() {
    let Some(env) = PgEnv::new("catalog_key_check_lists_the_offending_keys").await else {
        return;
    };
    let schema = common::unique_name();
    env.admin_sql(&tables(&schema)).await;

    let report = citus::check_keys(&env.admin, &schema, "tenant_id")
        .await
        .expect("check");
    assert_eq!(
        report.tables,
        ["Odd Name", "account", "handle", "invoice", "line", "post"]
    );
    assert!(!report.is_ok());
    let lines: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            format!("`{schema}`.`Odd Name`: unique key `odd lower` ((expression))"),
            format!("`{schema}`.`handle`: unique key `handle_code` (code)"),
            format!("`{schema}`.`handle`: unique key `handle_slug_key` (slug)"),
            format!("`{schema}`.`post`: primary key `post_pkey` (id)"),
            format!(
                "`{schema}`.`audit`: foreign key `audit_post_id_fkey` (post_id) references `post` \
                 without pairing the tenant columns"
            ),
            format!(
                "`{schema}`.`line`: foreign key `line_invoice` (other_tenant, invoice_id) \
                 references `invoice` without pairing the tenant columns"
            ),
        ]
    );
    assert_eq!(report.problems[3].kind, KeyKind::PrimaryKey);
    assert_eq!(report.problems[5].kind, KeyKind::ForeignKey);
    assert_eq!(
        report.to_string().lines().next(),
        Some(
            "Citus key check: 6 key(s) lack the tenant column `tenant_id` (6 tenant table(s) checked):"
        )
    );

    // Fixed the way Citus wants it: the tenant column in every key.
    env.admin_sql(&format!(
        r#"
        DROP TABLE "{schema}".audit;
        ALTER TABLE "{schema}".post DROP CONSTRAINT post_pkey, ADD PRIMARY KEY (tenant_id, id);
        ALTER TABLE "{schema}".handle DROP CONSTRAINT handle_slug_key, ADD UNIQUE (tenant_id, slug);
        DROP INDEX "{schema}".handle_code;
        CREATE UNIQUE INDEX handle_code ON "{schema}".handle (code, tenant_id);
        DROP INDEX "{schema}"."odd lower";
        ALTER TABLE "{schema}".line DROP CONSTRAINT line_invoice,
            ADD FOREIGN KEY (tenant_id, invoice_id) REFERENCES "{schema}".invoice (tenant_id, id);
        "#
    ))
    .await;
    let report = citus::check_keys(&env.admin, &schema, "tenant_id")
        .await
        .expect("check");
    assert!(report.is_ok(), "{report}");
    assert_eq!(
        report.to_string(),
        "Citus key check: no key lacks the tenant column `tenant_id` (6 tenant table(s) checked)"
    );

    // Another tenant column name: no tenant tables, nothing to report.
    let none = citus::check_keys(&env.admin, &schema, "org_id")
        .await
        .expect("check");
    assert!(none.tables.is_empty() && none.is_ok());
    env.cleanup().await;
}

#[tokio::test]
async fn emitted_statements_reach_the_citus_functions_intact() {
    let Some(env) = PgEnv::new("emitted_statements_reach_the_citus_functions_intact").await else {
        return;
    };
    let schema = common::unique_name();
    // Stand-ins with Citus's leading parameters, recording their arguments.
    env.admin_sql(&format!(
        r#"
        CREATE SCHEMA "{schema}";
        CREATE TABLE "{schema}"."Odd ""Name""" (tenant_id text, id int);
        CREATE TABLE post (id serial PRIMARY KEY, tenant_id text NOT NULL, title text NOT NULL);
        CREATE TABLE country (code text PRIMARY KEY, name text NOT NULL);
        CREATE TABLE calls (fn text, tbl regclass, col text);
        CREATE FUNCTION create_distributed_table(t regclass, col text) RETURNS void
            LANGUAGE sql AS $$ INSERT INTO calls VALUES ('distributed', t, col) $$;
        CREATE FUNCTION create_reference_table(t regclass) RETURNS void
            LANGUAGE sql AS $$ INSERT INTO calls VALUES ('reference', t, NULL) $$;
        "#
    ))
    .await;

    assert!(
        !citus::is_installed(&env.admin).await.expect("is_installed"),
        "Citus is not installed on this server"
    );
    let manager = SchemaManager::new(&env.admin);
    citus::distribute::<post::Entity>(&manager)
        .await
        .expect("distribute");
    citus::make_reference::<country::Entity>(&manager)
        .await
        .expect("reference");
    env.admin
        .execute(&citus::create_distributed_table_named(
            Some(&schema),
            "Odd \"Name\"",
            "tenant_id",
        ))
        .await
        .expect("by name");

    let rows = env
        .admin
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT fn, tbl::oid = 'post'::regclass::oid AS is_post, \
             tbl::oid = 'country'::regclass::oid AS is_country, \
             (SELECT relname::text FROM pg_class WHERE oid = tbl) AS rel, col FROM calls",
        ))
        .await
        .expect("calls");
    let calls: Vec<(String, String, Option<String>)> = rows
        .iter()
        .map(|r| {
            (
                r.try_get::<String>("", "fn").expect("fn"),
                r.try_get::<String>("", "rel").expect("rel"),
                r.try_get::<Option<String>>("", "col").expect("col"),
            )
        })
        .collect();
    assert_eq!(
        calls,
        [
            (
                "distributed".into(),
                "post".into(),
                Some("tenant_id".into())
            ),
            ("reference".into(), "country".into(), None),
            (
                "distributed".into(),
                "Odd \"Name\"".into(),
                Some("tenant_id".into())
            ),
        ]
    );
    assert!(rows[0].try_get::<bool>("", "is_post").expect("bool"));
    assert!(rows[1].try_get::<bool>("", "is_country").expect("bool"));
    env.cleanup().await;
}

#[tokio::test]
async fn without_citus_or_postgres_the_helpers_say_so() {
    let Some(env) = PgEnv::new("without_citus_or_postgres_the_helpers_say_so").await else {
        return;
    };
    env.admin_sql("CREATE TABLE post (id serial PRIMARY KEY, tenant_id text NOT NULL)")
        .await;
    let manager = SchemaManager::new(&env.admin);
    let err = citus::distribute::<post::Entity>(&manager)
        .await
        .expect_err("no Citus here");
    assert!(
        err.to_string()
            .contains("function create_distributed_table(regclass, text) does not exist"),
        "{err}"
    );
    env.cleanup().await;

    for t in common::backends_of(&[Kind::Sqlite]).await {
        let manager = SchemaManager::new(&t.db);
        let err = citus::distribute::<post::Entity>(&manager)
            .await
            .expect_err("SQLite");
        assert!(matches!(err, TenantError::Unsupported(_)), "{err}");
        assert!(
            err.to_string()
                .contains("citus: create_distributed_table needs Postgres with Citus"),
            "{err}"
        );
        assert!(!citus::is_installed(&t.db).await.expect("is_installed"));
        let err = citus::check_keys(&t.db, "main", "tenant_id")
            .await
            .expect_err("SQLite");
        assert!(err.to_string().contains("needs Postgres"), "{err}");
        t.cleanup().await;
    }
}
