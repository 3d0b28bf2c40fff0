//! A second Postgres server (another cluster, `SECOND_DATABASE_URL`,
//! 127.0.0.1:5433 on the CI machine) for tests that spread tenants over
//! two servers. Started by `.ci/pg-second.sh start` when it is set but does
//! not answer; skipped (or, under `SEA_ORM_TENANT_REQUIRE_DBS=1`, failed)
//! when unset.

use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};

use super::{require_dbs, unique_name, with_database};

/// A fresh database on the second server.
pub struct SecondDb {
    pub db: DatabaseConnection,
    pub url: String,
    admin: DatabaseConnection,
    name: String,
}

impl SecondDb {
    /// A fresh database there, or `None` after one `skipped:` line.
    pub async fn new() -> Option<SecondDb> {
        let Some(url) = std::env::var("SECOND_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
        else {
            assert!(
                !require_dbs(),
                "the second-server tests are required (SEA_ORM_TENANT_REQUIRE_DBS=1) but SECOND_DATABASE_URL is not set \
                 (.ci/pg-second.sh start; SECOND_DATABASE_URL=postgres://postgres@127.0.0.1:5433/test)"
            );
            eprintln!("skipped: second-server tests (SECOND_DATABASE_URL not set)");
            return None;
        };
        let admin = match admin(&url).await {
            Ok(admin) => admin,
            Err(_) => {
                // The tests' own setup: start the cluster, then try again.
                let script = concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/pg-second.sh");
                let started = tokio::process::Command::new(script)
                    .arg("start")
                    .status()
                    .await;
                match admin(&url).await {
                    Ok(admin) => admin,
                    Err(e) => panic!(
                        "the second Postgres server at {url} does not answer ({e}); `.ci/pg-second.sh start` gave {started:?}"
                    ),
                }
            }
        };
        let name = unique_name();
        admin
            .execute_unprepared(&format!(r#"CREATE DATABASE "{name}""#))
            .await
            .expect("creating a database on the second server");
        let url = with_database(&url, &name);
        let db = Database::connect(options(url.clone(), 8))
            .await
            .expect("connecting to the second server's database");
        Some(SecondDb {
            db,
            url,
            admin,
            name,
        })
    }

    /// Drops the database.
    pub async fn cleanup(self) {
        let _ = self.db.close().await;
        let _ = self
            .admin
            .execute_unprepared(&format!(
                r#"DROP DATABASE IF EXISTS "{}" WITH (FORCE)"#,
                self.name
            ))
            .await;
        let _ = self.admin.close().await;
    }
}

fn options(url: String, max: u32) -> ConnectOptions {
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(max)
        .min_connections(0)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false);
    options
}

async fn admin(url: &str) -> Result<DatabaseConnection, sea_orm::DbErr> {
    Database::connect(options(url.to_owned(), 1)).await
}
