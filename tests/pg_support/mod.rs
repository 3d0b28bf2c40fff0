//! Postgres fixtures for the connection and RLS tests: a fresh database and
//! a fresh application role (neither superuser nor table owner) per test.
#![allow(dead_code)]

use std::str::FromStr;

use sea_orm::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sea_orm::{ConnectionTrait, DatabaseConnection, SqlxPostgresConnector};
use sea_orm_tenant::{HotTenants, Tenancy, TenantId};

/// One test's database and role, dropped at the end.
pub struct PgEnv {
    pub db_name: String,
    pub role: String,
    /// A superuser connection to the test database (owner of the tables).
    pub admin: DatabaseConnection,
    base: PgConnectOptions,
    cleaned: bool,
}

fn required() -> bool {
    std::env::var("SEA_ORM_TENANT_REQUIRE_DBS").is_ok_and(|v| v == "1")
}

impl PgEnv {
    /// `None` (after printing why) when DATABASE_URL is unset and not required.
    pub async fn new(test: &str) -> Option<PgEnv> {
        let Ok(url) = std::env::var("DATABASE_URL") else {
            assert!(
                !required(),
                "{test}: DATABASE_URL is not set but SEA_ORM_TENANT_REQUIRE_DBS=1"
            );
            println!("skipped: {test} (DATABASE_URL not set)");
            return None;
        };
        let base = PgConnectOptions::from_str(&url).expect("DATABASE_URL is a Postgres URL");
        let suffix = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        let db_name = format!("sot_{suffix}");
        let role = format!("sot_app_{suffix}");
        let server = pool(base.clone(), 1).await;
        server
            .execute_unprepared(&format!("CREATE DATABASE \"{db_name}\""))
            .await
            .expect("create test database");
        server
            .execute_unprepared(&format!(
                "CREATE ROLE \"{role}\" LOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT"
            ))
            .await
            .expect("create test role");
        server.close().await.ok();
        let admin = pool(base.clone().database(&db_name), 2).await;
        Some(PgEnv {
            db_name,
            role,
            admin,
            base,
            cleaned: false,
        })
    }

    /// A pool of `max` connections to the test database as the application role.
    pub async fn app(&self, max: u32) -> DatabaseConnection {
        pool(
            self.base
                .clone()
                .database(&self.db_name)
                .username(&self.role),
            max,
        )
        .await
    }

    /// Connect options of the application role (for the benches' own pools).
    pub fn app_options(&self) -> PgConnectOptions {
        self.base
            .clone()
            .database(&self.db_name)
            .username(&self.role)
    }

    /// Provisions `tenants` in `tenancy` (shared schema, on a pool of the
    /// application role), first letting the role create the tenant
    /// registry in `public`: a tenancy keeps its registry in its own
    /// database, through its own connection.
    pub async fn provisioned(&self, tenancy: Tenancy, tenants: &[&str]) -> Tenancy {
        self.admin_sql(&format!(
            "GRANT CREATE ON SCHEMA public TO \"{}\"",
            self.role
        ))
        .await;
        for t in tenants {
            tenancy
                .provision(&TenantId::from(*t))
                .await
                .unwrap_or_else(|e| panic!("provision {t}: {e}"));
        }
        tenancy
    }

    /// The application role's shared-schema tenancy over `app` both ways:
    /// hot tenants off (every statement opens its own transaction) and on
    /// (the defaults), with `tenants` provisioned in each.
    pub async fn tenancies(&self, app: &DatabaseConnection, tenants: &[&str]) -> [Tenancy; 2] {
        self.tenancies_with(app, tenants, |tenancy| tenancy).await
    }

    /// [`tenancies`](Self::tenancies), each built through `declare` (the
    /// tables and functions the test's statements name, rule 12).
    pub async fn tenancies_with(
        &self,
        app: &DatabaseConnection,
        tenants: &[&str],
        declare: impl Fn(Tenancy) -> Tenancy,
    ) -> [Tenancy; 2] {
        [
            self.provisioned(
                declare(Tenancy::shared_schema(app.clone()).hot_tenants(HotTenants::off())),
                tenants,
            )
            .await,
            self.provisioned(declare(Tenancy::shared_schema(app.clone())), tenants)
                .await,
        ]
    }

    /// Runs admin SQL, panicking on error (test setup).
    pub async fn admin_sql(&self, sql: &str) {
        self.admin
            .execute_unprepared(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    pub async fn cleanup(mut self) {
        self.cleaned = true;
        drop_all(self.base.clone(), &self.db_name, &self.role).await;
    }
}

impl Drop for PgEnv {
    fn drop(&mut self) {
        if self.cleaned {
            return;
        }
        // A failed test: clean up on a runtime of our own.
        let (base, db, role) = (self.base.clone(), self.db_name.clone(), self.role.clone());
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(drop_all(base, &db, &role));
            }
        })
        .join();
    }
}

async fn drop_all(base: PgConnectOptions, db: &str, role: &str) {
    let Ok(pool) = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(base)
        .await
    else {
        return;
    };
    let server = SqlxPostgresConnector::from_sqlx_postgres_pool(pool);
    let _ = server
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"))
        .await;
    let _ = server
        .execute_unprepared(&format!("DROP ROLE IF EXISTS \"{role}\""))
        .await;
    let _ = server.close().await;
}

pub async fn pool(options: PgConnectOptions, max: u32) -> DatabaseConnection {
    let pool = PgPoolOptions::new()
        .max_connections(max)
        .connect_with(options)
        .await
        .expect("connect to Postgres");
    SqlxPostgresConnector::from_sqlx_postgres_pool(pool)
}
