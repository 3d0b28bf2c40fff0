//! A connection whose tenant moved follows it: once a move has switched
//! and its pause is lifted, the statements and transactions of a
//! connection handed out before go to the tenant's new place, as a
//! connection handed out now would, with what was declared on this one
//! (tables, functions, statement timeout, metric callback).
//!
//! During the pause a single statement that reads goes on at the old
//! place (the life is frozen, see [`Life`](crate::tenancy::Life)) on
//! Postgres and SQLite; anything else (a write, a transaction, a stream,
//! any statement on MySQL) waits here for the pause to end, at most the
//! pause and a second.

use sea_orm::DbErr;

use super::TenantConnection;
use crate::tenancy::Stage;

impl TenantConnection {
    /// Waits while a move pauses the tenant, unless this is a `read`
    /// (see [`reads_in_pause`](Self::reads_in_pause)): at most the pause
    /// and a second, then `Moved`. The stage the tenant's life is in then.
    pub(crate) async fn settle(&self, read: bool) -> Result<Stage, DbErr> {
        loop {
            match self.life.stage() {
                Stage::Frozen if !read => self.life.lifted(&self.tenant).await?,
                // Lifted: alive again (the move gave up), or moved.
                stage => return Ok(stage),
            }
        }
    }

    /// Whether a statement that begins with `SELECT` reads at the old
    /// place during a move's pause on this backend: on Postgres (in a
    /// `READ ONLY` transaction whose statement timeout is at most the
    /// pause) and SQLite (whose `SELECT` writes through no function of
    /// the database's own, and whose removal of the old place waits for
    /// no reader). Not on MySQL, which has no per-statement time limit
    /// the crate can set without session state: a long read there would
    /// hold the move's removal of the old place (a metadata lock), so it
    /// waits with the writes.
    pub(crate) fn reads_in_pause(&self) -> bool {
        self.db.get_database_backend() != sea_orm::DbBackend::MySql
    }

    /// The connection to run on instead of this one: `None` to go on here
    /// (the tenant lives here, or is paused and this is a `read`); the
    /// tenant's connection at its new place once a move switched. Work
    /// that may write waits while the tenant is paused. `Moved` when the
    /// pause outlasts its limit, or the tenant cannot be reached where it
    /// went.
    pub(crate) async fn successor(&self, read: bool) -> Result<Option<TenantConnection>, DbErr> {
        if self.settle(read).await? != Stage::Moved {
            return Ok(None);
        }
        let Some(tenancy) = self.life.follow() else {
            return Ok(None);
        };
        self.life.lifted(&self.tenant).await?;
        // Boxed: a cold path, kept out of every statement's future (its
        // size, and the depth of its layout).
        let next = Box::pin(tenancy.connection(&self.tenant)).await?;
        Ok(Some(next.adopting(self)))
    }

    /// `self` (a new connection of the same tenant) with what was
    /// declared on `old`: its confiner (the tenancy's declarations and
    /// the connection's own), statement timeout and metric callback. The
    /// schema boundary, road and pool stay `self`'s: those of the new
    /// place.
    fn adopting(mut self, old: &TenantConnection) -> Self {
        self.confinement.adopt(&old.confinement);
        if let Some(timeout) = old.timeout
            && self.timeout != Some(timeout)
        {
            self = self.statement_timeout(timeout);
        }
        if old.observer.is_on() {
            self.observer = old.observer.clone();
            self.observer.install(&mut self.db);
        }
        self
    }
}
