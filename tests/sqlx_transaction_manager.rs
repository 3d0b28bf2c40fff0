//! Pins what `TenantConnection` relies on in sqlx's `TransactionManager`
//! for Postgres (see the comment on `Tm` in `src/connection/pg.rs`): sqlx
//! documents the trait as not for use outside a driver, so a sqlx release
//! that changes it must fail here, not in production.

mod common;

use common::Kind;
use sea_orm::sqlx::postgres::{PgConnection, Postgres};
use sea_orm::sqlx::{self, AssertSqlSafe, Connection, SqlSafeStr};
use sqlx_core::transaction::TransactionManager;

type Tm = <Postgres as sqlx::Database>::TransactionManager;

async fn setting(conn: &mut PgConnection) -> String {
    sqlx::query_scalar("SELECT coalesce(current_setting('app.tenant_id', true), '')")
        .fetch_one(conn)
        .await
        .expect("current_setting")
}

#[tokio::test]
async fn begin_depth_savepoints_and_a_queued_rollback_behave_as_relied_on() {
    for t in common::backends_of(&[Kind::Postgres]).await {
        let pool = t.db.get_postgres_connection_pool();
        let mut conn = pool.acquire().await.expect("acquire");
        assert_eq!(Tm::get_transaction_depth(&conn), 0);

        // `begin` with a statement of ours sends exactly it: several
        // statements in one simple query, the tenant set in the same trip.
        let opener = "BEGIN READ ONLY; SET LOCAL app.tenant_id = 'acme'";
        Tm::begin(&mut conn, Some(AssertSqlSafe(opener).into_sql_str()))
            .await
            .expect("begin");
        assert_eq!(Tm::get_transaction_depth(&conn), 1);
        assert_eq!(setting(&mut conn).await, "acme");

        // Inside a transaction, a statement of ours is refused unsent.
        let again = Tm::begin(&mut conn, Some(AssertSqlSafe("BEGIN").into_sql_str())).await;
        assert!(
            matches!(again, Err(sqlx::Error::InvalidSavePointStatement)),
            "{again:?}"
        );
        assert_eq!(Tm::get_transaction_depth(&conn), 1);

        // `begin(None)` is a savepoint, `commit` releases it, `rollback`
        // rolls back to it: the depth follows, the tenant stays.
        Tm::begin(&mut conn, None).await.expect("savepoint");
        assert_eq!(Tm::get_transaction_depth(&conn), 2);
        Tm::commit(&mut conn).await.expect("release");
        assert_eq!(Tm::get_transaction_depth(&conn), 1);
        Tm::begin(&mut conn, None).await.expect("savepoint");
        Tm::rollback(&mut conn)
            .await
            .expect("rollback to savepoint");
        assert_eq!(Tm::get_transaction_depth(&conn), 1);
        assert_eq!(setting(&mut conn).await, "acme");

        // `start_rollback` queues the ROLLBACK without a round trip; it is
        // sent ahead of the next message, so the next statement already
        // runs outside the transaction, without the tenant.
        Tm::start_rollback(&mut conn);
        assert_eq!(Tm::get_transaction_depth(&conn), 0);
        assert_eq!(setting(&mut conn).await, "");

        // A connection returned with a queued rollback reaches the next
        // borrower clean.
        Tm::begin(
            &mut conn,
            Some(AssertSqlSafe("BEGIN; SET LOCAL app.tenant_id = 'globex'").into_sql_str()),
        )
        .await
        .expect("begin");
        Tm::start_rollback(&mut conn);
        drop(conn);
        let mut next = pool.acquire().await.expect("acquire again");
        assert_eq!(setting(&mut next).await, "");
        assert!(!next.is_in_transaction());
        drop(next);
        t.cleanup().await;
    }
}
