//! A Postgres database of a bench's own, dropped at the end (also after a
//! panic), and the pools the migration benches open on it.

use std::str::FromStr;

use sea_orm::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sea_orm::{ConnectionTrait, DatabaseConnection, SqlxPostgresConnector};

/// The bench's database, dropped at the end (also after a panic).
pub struct BenchDb {
    server: PgConnectOptions,
    name: String,
}

impl BenchDb {
    /// Creates the database `name` on `server`.
    pub async fn create(server: &PgConnectOptions, name: String) -> BenchDb {
        let admin = pool(server.clone(), 1).await;
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("create the bench database");
        admin.close().await.ok();
        BenchDb {
            server: server.clone(),
            name,
        }
    }

    /// How to connect to it.
    pub fn options(&self) -> PgConnectOptions {
        self.server.clone().database(&self.name)
    }
}

impl Drop for BenchDb {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        // A runtime of our own: this may run while the bench's is unwinding.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                let admin = pool(server, 1).await;
                let _ = admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await;
                admin.close().await.ok();
            });
        })
        .join();
    }
}

/// A pool of `max` connections.
pub async fn pool(options: PgConnectOptions, max: u32) -> DatabaseConnection {
    let pool = PgPoolOptions::new()
        .max_connections(max)
        .connect_with(options)
        .await
        .expect("connect to Postgres");
    SqlxPostgresConnector::from_sqlx_postgres_pool(pool)
}

/// The environment variable `name`, parsed, or `default`.
pub fn env_or<T: FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
