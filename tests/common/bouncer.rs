//! PgBouncer in transaction mode in front of the test Postgres, for the
//! pooler tests (`tests/pgbouncer.rs`).
//!
//! `.ci/pgbouncer.sh start` runs it on 127.0.0.1:6432 (`pool_mode =
//! transaction`, two server connections per database/user pair, a wildcard
//! database entry) and `.ci/run` exports
//! `PGBOUNCER_URL=postgres://postgres@127.0.0.1:6432/test`. Without
//! `PGBOUNCER_URL` (or `DATABASE_URL`, through which the fresh databases
//! are made) the tests print one `skipped:` line per test binary; with
//! `SEA_ORM_TENANT_REQUIRE_DBS=1` they fail instead.

use std::collections::HashMap;
use std::io::Write;
use std::sync::OnceLock;
use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};

use super::{require_dbs, unique_name, with_database};

/// The script that starts, stops and restarts the test PgBouncer.
pub const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/pgbouncer.sh");

/// How many client connections a test's pool opens to PgBouncer: far more
/// than the two server connections PgBouncer has for the database.
pub const CLIENT_CONNECTIONS: u32 = 24;

/// The PgBouncer URL (`PGBOUNCER_URL`) and the direct Postgres URL
/// (`DATABASE_URL`), or `None` after one `skipped:` line per test binary.
///
/// # Panics
///
/// When either is unset and `SEA_ORM_TENANT_REQUIRE_DBS=1`.
pub fn urls() -> Option<(String, String)> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    match (var("PGBOUNCER_URL"), var("DATABASE_URL")) {
        (Some(bouncer), Some(direct)) => Some((bouncer, direct)),
        (bouncer, _) => {
            let missing = if bouncer.is_none() {
                "PGBOUNCER_URL"
            } else {
                "DATABASE_URL"
            };
            skip(&format!("{missing} not set"));
            None
        }
    }
}

/// The PgBouncer URL from `PGBOUNCER_URL`, or `None` after one `skipped:`
/// line (a panic under `SEA_ORM_TENANT_REQUIRE_DBS=1`).
pub fn url() -> Option<String> {
    urls().map(|(bouncer, _)| bouncer)
}

fn skip(why: &str) {
    if require_dbs() {
        panic!(
            "PgBouncer tests are required (SEA_ORM_TENANT_REQUIRE_DBS=1) but cannot run: {why} \
             (.ci/pgbouncer.sh start, then PGBOUNCER_URL=postgres://postgres@127.0.0.1:6432/test)"
        );
    }
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let _ = writeln!(std::io::stderr(), "skipped: PgBouncer tests ({why})");
    });
}

/// Many client connections, none kept idle; nothing else changed from
/// SeaORM's defaults (sqlx's statement cache included: what a user who
/// puts PgBouncer in front of an application gets).
pub fn client_options(url: String, max: u32) -> ConnectOptions {
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(max)
        .min_connections(0)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false);
    options
}

/// A fresh database (`sot_<random>`), made through the direct Postgres
/// URL, with a connection to it straight to Postgres (for DDL and for
/// checking what really is in the tables) and one through PgBouncer (for
/// the tenant traffic).
pub struct Bounced {
    /// The database's name: PgBouncer's `SHOW POOLS` lists it under it.
    pub name: String,
    /// Straight to Postgres (127.0.0.1:5432).
    pub direct: DatabaseConnection,
    /// Through PgBouncer in transaction mode, [`CLIENT_CONNECTIONS`] clients.
    pub pooled: DatabaseConnection,
    /// The PgBouncer URL of this database, for more pools.
    pub pooled_url: String,
    admin: DatabaseConnection,
}

impl Bounced {
    /// A fresh database, or `None` after a `skipped:` line when PgBouncer
    /// or Postgres is not configured.
    ///
    /// # Panics
    ///
    /// When the database cannot be made or reached (through either path).
    pub async fn new() -> Option<Self> {
        let (bouncer, direct_url) = urls()?;
        let mut admin_options = client_options(direct_url.clone(), 1);
        admin_options.acquire_timeout(Duration::from_secs(10));
        let admin = Database::connect(admin_options)
            .await
            .unwrap_or_else(|e| panic!("Postgres at DATABASE_URL: {e}"));
        let name = unique_name();
        admin
            .execute_unprepared(&format!(r#"CREATE DATABASE "{name}""#))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        let direct = Database::connect(client_options(with_database(&direct_url, &name), 4))
            .await
            .unwrap_or_else(|e| panic!("Postgres, database {name}: {e}"));
        let pooled_url = with_database(&bouncer, &name);
        let pooled = Database::connect(client_options(pooled_url.clone(), CLIENT_CONNECTIONS))
            .await
            .unwrap_or_else(|e| {
                panic!("PgBouncer at PGBOUNCER_URL, database {name}: {e} (.ci/pgbouncer.sh start)")
            });
        Some(Bounced {
            name,
            direct,
            pooled,
            pooled_url,
            admin,
        })
    }

    /// Closes both pools and drops the database.
    pub async fn cleanup(self) {
        let _ = self.pooled.close().await;
        let _ = self.direct.close().await;
        let drop = format!(r#"DROP DATABASE IF EXISTS "{}" WITH (FORCE)"#, self.name);
        if let Err(err) = self.admin.execute_unprepared(&drop).await {
            let _ = writeln!(
                std::io::stderr(),
                "Postgres: could not drop database {}: {err}",
                self.name
            );
        }
        let _ = self.admin.close().await;
    }

    /// PgBouncer's `SHOW POOLS` row of this database (user postgres), if
    /// it has one: `cl_active`, `sv_active`, `sv_idle`, `pool_mode`, …
    pub async fn pool_stats(&self) -> Option<HashMap<String, String>> {
        let name = self.name.clone();
        admin("SHOW POOLS")
            .await
            .into_iter()
            .find(|row| row.get("database") == Some(&name))
    }
}

/// Marks `tenancy` as running behind a transaction-mode pooler.
pub fn pooled(tenancy: sea_orm_tenant::Tenancy) -> sea_orm_tenant::Tenancy {
    tenancy.behind_pooler()
}

/// Runs `.ci/pgbouncer.sh restart`: PgBouncer stops (every client and
/// server connection is cut), starts again, and answers before this
/// returns.
///
/// # Panics
///
/// When the script fails.
pub async fn restart() {
    script("restart").await;
}

/// Runs `.ci/pgbouncer.sh <command>` (start, stop, restart, status).
///
/// # Panics
///
/// When the script fails.
pub async fn script(command: &'static str) {
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(SCRIPT).arg(command).output()
    })
    .await
    .expect("the script's task")
    .unwrap_or_else(|e| panic!("{SCRIPT} {command}: {e}"));
    assert!(
        out.status.success(),
        "{SCRIPT} {command} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A command on PgBouncer's admin console (`SHOW POOLS`, `SHOW SERVERS`,
/// `SHOW CLIENTS`), through psql (the console speaks only the simple query
/// protocol): one map of column name to value per row.
///
/// # Panics
///
/// When psql fails.
pub async fn admin(command: &str) -> Vec<HashMap<String, String>> {
    let command = command.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("psql")
            .args([
                "-w",
                "-X",
                "-A",
                "-F",
                "\t",
                "-P",
                "footer=off",
                "-h",
                "127.0.0.1",
                "-p",
                "6432",
                "-U",
                "postgres",
                "-d",
                "pgbouncer",
                "-c",
            ])
            .arg(&command)
            .env("PGCONNECT_TIMEOUT", "5")
            .output()
    })
    .await
    .expect("psql's task")
    .expect("psql");
    assert!(
        out.status.success(),
        "psql on the PgBouncer console: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
    lines
        .map(|line| {
            header
                .iter()
                .zip(line.split('\t'))
                .map(|(k, v)| ((*k).to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}
