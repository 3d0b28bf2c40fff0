//! A connection whose tenant moved follows it: once a move has switched
//! and its pause is lifted, the statements and transactions of a
//! connection handed out before go to the tenant's new place, as a
//! connection handed out now would, with what was declared on this one
//! (tables, functions, statement timeout, metric callback).
//!
//! During the pause a read goes on at the old place (the life is frozen,
//! see [`Life`](crate::tenancy::Life)) and anything that may write waits
//! here for the pause to end, at most the pause and a second.

use sea_orm::DbErr;

use super::TenantConnection;
use crate::tenancy::Stage;

impl TenantConnection {
    /// The connection to run on instead of this one: `None` to go on here
    /// (the tenant lives here, or is paused and this is a `read`); the
    /// tenant's connection at its new place once a move switched. Work
    /// that may write waits while the tenant is paused. `Moved` when the
    /// pause outlasts its limit, or the tenant cannot be reached where it
    /// went.
    pub(crate) async fn successor(&self, read: bool) -> Result<Option<TenantConnection>, DbErr> {
        loop {
            match self.life.stage() {
                Stage::Alive | Stage::Ended => return Ok(None),
                Stage::Frozen if read => return Ok(None),
                Stage::Frozen => self.life.lifted(&self.tenant).await?,
                Stage::Moved => {
                    let Some(tenancy) = self.life.follow() else {
                        return Ok(None);
                    };
                    self.life.lifted(&self.tenant).await?;
                    // Boxed: a cold path, kept out of every statement's
                    // future (its size, and the depth of its layout).
                    let next = Box::pin(tenancy.connection(&self.tenant)).await?;
                    return Ok(Some(next.adopting(self)));
                }
            }
            // Lifted: alive again (the move gave up), or moved.
        }
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
