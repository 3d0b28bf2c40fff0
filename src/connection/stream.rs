//! Streams of a [`TenantConnection`] and its transactions: rows as they
//! arrive.

use std::future::Future;
use std::pin::Pin;

use futures_util::{Stream, StreamExt};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, QueryResult, Statement, StreamTrait};
use tokio::sync::mpsc::{Sender, channel};

use super::TenantConnection;
#[cfg(feature = "sqlx-postgres")]
use super::execute::Opening;
#[cfg(feature = "sqlx-postgres")]
use super::observe::{Call, DbSpan, Observer};
#[cfg(feature = "sqlx-postgres")]
use super::op::Op;
#[cfg(feature = "sqlx-postgres")]
use super::pg::{self, Lease};
#[cfg(feature = "sqlx-postgres")]
use super::{Keeper, Road};
#[cfg(feature = "sqlx-postgres")]
use tokio::sync::OwnedMutexGuard;

/// The stream of a [`TenantConnection`] or a
/// [`TenantTransaction`](super::TenantTransaction): rows as they arrive.
pub type TenantStream<'a> = Pin<Box<dyn Stream<Item = Result<QueryResult, DbErr>> + Send + 'a>>;

/// Runs `work` on a background task that sends rows through a bounded
/// channel (64 rows), and streams them: memory stays bounded, and when
/// the stream is dropped the task stops at its next row. An error of
/// `work` is the stream's last item.
fn rows_from<F, Fut>(work: F) -> TenantStream<'static>
where
    F: FnOnce(Sender<Result<QueryResult, DbErr>>) -> Fut,
    Fut: Future<Output = Result<(), DbErr>> + Send + 'static,
{
    let (tx, rx) = channel(64);
    let errors = tx.clone();
    let work = work(tx);
    tokio::spawn(async move {
        if let Err(err) = work.await {
            let _ = errors.send(Err(err)).await;
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Box::pin(stream)
}

/// The rows of `stmt`, run on `lease` inside its (open) transaction, which
/// the stream holds until it is finished or dropped; in `span`, and
/// reported to `observer` when it ends.
#[cfg(feature = "sqlx-postgres")]
pub(super) fn stream_lease(
    mut lease: OwnedMutexGuard<Lease>,
    stmt: Statement,
    observer: Observer,
    span: DbSpan,
) -> TenantStream<'static> {
    rows_from(move |tx| async move {
        let op = Op::All(&stmt);
        let rows = async {
            lease
                .stream_into(&stmt, &tx, &mut false)
                .await
                .map(|_| ())
                .map_err(|e| op.convert(e))
        };
        observer.run(span, Some(&stmt), rows).await
    })
}

#[cfg(feature = "sqlx-postgres")]
impl TenantConnection {
    /// The connection a stream runs on, by this connection's road: a
    /// read-write transaction that set the tenant (`Local`, or `Plain`
    /// when the statement is `declared` to possibly change session state;
    /// committed when the stream ends), a connection of the application's
    /// pool in autocommit (`Plain`), or a tenant-keeping one, with its
    /// keeper to give it back to (`Kept`).
    async fn stream_lease(
        &self,
        pool: &sea_orm::sqlx::PgPool,
        declared: bool,
    ) -> Result<(Lease, Option<std::sync::Arc<Keeper>>), DbErr> {
        match &self.road {
            // On the application's pool, what could change session state
            // runs in a transaction whose commit sets it back.
            Road::Plain if !declared => Ok((Lease::acquire(pool, self.unnamed).await?, None)),
            Road::Local | Road::Plain => {
                let lease = self
                    .open_lease(pool, Opening::Statement { read_only: false })
                    .await?;
                Ok((lease, None))
            }
            Road::Kept(keeper) => {
                let lease = keeper.checkout(&self.session, self.unnamed).await?;
                Ok((lease, Some(keeper.clone())))
            }
        }
    }
}

impl StreamTrait for TenantConnection {
    type Stream<'a> = TenantStream<'a>;

    fn get_database_backend(&self) -> DbBackend {
        ConnectionTrait::get_database_backend(&self.db)
    }

    /// On Postgres the statement runs in a transaction of its own on a
    /// background task, which sends rows through a bounded channel (64
    /// rows): memory stays bounded, and dropping the stream rolls the
    /// transaction back and closes its connection.
    ///
    /// Under a per-tenant cap
    /// ([`Tenancy::max_concurrent_per_tenant`](crate::Tenancy::max_concurrent_per_tenant))
    /// the stream holds one of the tenant's permits until it is finished
    /// or dropped; the database-time hook sees the whole stream as one
    /// statement.
    fn stream_raw<'a>(
        &'a self,
        stmt: Statement,
    ) -> Pin<Box<dyn Future<Output = Result<Self::Stream<'a>, DbErr>> + 'a + Send>> {
        Box::pin(async move {
            self.refuse_session_state(&stmt.sql)?;
            let (stmt, declared) = self.confine_marked(stmt)?;
            #[cfg(not(feature = "sqlx-postgres"))]
            let _ = declared;
            // A stream waits while a move pauses the tenant (a reader that
            // keeps it open would hold the old place); it does not follow
            // a moved tenant (it borrows this connection): `Moved`.
            self.settle(false).await?;
            let alive = self.life.enter(&self.tenant, false)?;
            let permit = self.limits.enter(&self.tenant).await?;
            let meter = self.limits.meter(&self.tenant, None);
            #[cfg(feature = "sqlx-postgres")]
            if let Some(pool) = self.pg_pool() {
                let opener = self.clone();
                let pool = pool.clone();
                // Made here, so that it is a child of the caller's span.
                let span = DbSpan::new(Call::Stream, &stmt.sql);
                return Ok(rows_from(move |tx| async move {
                    // Held until the transaction is over, and the permit by the
                    // lease too, until the server has finished (a dropped stream).
                    let _held = (alive, permit.clone(), meter);
                    let op = Op::All(&stmt);
                    let rows = async {
                        // As for a statement (see `pg_unobserved`).
                        let declared = declared || (opener.writes_reset && !op.is_read());
                        let (mut lease, keeper) = opener.stream_lease(&pool, declared).await?;
                        lease.hold(permit.clone());
                        let mut sent = false;
                        let finished = match lease.stream_into(&stmt, &tx, &mut sent).await {
                            // A kept connection that died while idle,
                            // before any row: sent again on a fresh one.
                            Err(err)
                                if !sent
                                    && lease.is_unchecked_failure(&err)
                                    && pg::may_retry(&err, op.is_read()) =>
                            {
                                drop(lease);
                                if let Some(keeper) = &keeper {
                                    keeper.clear();
                                }
                                lease = opener.stream_lease(&pool, declared).await?.0;
                                lease.hold(permit);
                                lease.stream_into(&stmt, &tx, &mut sent).await
                            }
                            other => other,
                        }
                        .map_err(|e| op.convert(e))?;
                        match keeper {
                            // Autocommit: nothing to commit.
                            Some(keeper) => {
                                lease.hold(None);
                                if declared {
                                    lease.forget_session();
                                }
                                keeper.keep(lease);
                            }
                            None if finished && lease.depth() > 0 => {
                                lease.commit().await.map_err(|e| op.convert(e))?;
                            }
                            None => {}
                        }
                        Ok(())
                    };
                    opener.observer.run(span, Some(&stmt), rows).await
                }));
            }
            if permit.is_some() {
                // Under a cap, on a task that holds the permit and, once
                // the stream is dropped, reads the rest: the permit is
                // returned when the server has finished the statement.
                let db = self.db.clone();
                return Ok(rows_from(move |tx| async move {
                    let _held = (alive, permit, meter);
                    let mut rows = db.stream_raw(stmt).await?;
                    let mut reading = true;
                    while let Some(row) = rows.next().await {
                        if reading && tx.send(row).await.is_err() {
                            reading = false;
                        }
                    }
                    Ok(())
                }));
            }
            let stream = self.db.stream_raw(stmt).await?;
            // Held until the stream is dropped.
            let held = (alive, meter);
            let stream = stream.map(move |row| {
                let _ = &held;
                row
            });
            Ok(Box::pin(stream) as TenantStream<'a>)
        })
    }
}
