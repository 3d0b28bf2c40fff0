//! The statement futures of a `TenantConnection` stay within twice the
//! size of SeaORM's own `DatabaseConnection` futures (issue 22): a future
//! is moved and held across every `.await` of the caller, so its size is
//! stack and memory on the hot path of every request. The sizes are the
//! compiler's, whatever the backend, so no server is needed.

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, Statement, StreamTrait, TransactionTrait,
};
use sea_orm_tenant::prelude::*;

fn stmt() -> Statement {
    Statement::from_string(DbBackend::Postgres, "SELECT 1")
}

#[test]
fn statement_futures_stay_within_twice_seaorms() {
    let db = DatabaseConnection::default();
    let conn = TenantConnection::new(db.clone(), TenantId::from("acme"));
    let pairs = [
        (
            "query_one_raw",
            std::mem::size_of_val(&*conn.query_one_raw(stmt())),
            std::mem::size_of_val(&*db.query_one_raw(stmt())),
        ),
        (
            "query_all_raw",
            std::mem::size_of_val(&*conn.query_all_raw(stmt())),
            std::mem::size_of_val(&*db.query_all_raw(stmt())),
        ),
        (
            "execute_raw",
            std::mem::size_of_val(&*conn.execute_raw(stmt())),
            std::mem::size_of_val(&*db.execute_raw(stmt())),
        ),
        (
            "execute_unprepared",
            std::mem::size_of_val(&*conn.execute_unprepared("SELECT 1")),
            std::mem::size_of_val(&*db.execute_unprepared("SELECT 1")),
        ),
        (
            "begin",
            std::mem::size_of_val(&*conn.begin()),
            std::mem::size_of_val(&*db.begin()),
        ),
        (
            "stream_raw",
            std::mem::size_of_val(&*conn.stream_raw(stmt())),
            std::mem::size_of_val(&*db.stream_raw(stmt())),
        ),
    ];
    for (call, ours, seaorm) in pairs {
        println!("{call}: TenantConnection {ours} bytes, DatabaseConnection {seaorm} bytes");
    }
    for (call, ours, seaorm) in pairs {
        assert!(
            ours <= 2 * seaorm,
            "{call}: {ours} bytes against SeaORM's {seaorm}"
        );
    }
}
