//! Several database servers behind one [`Tenancy`](super::Tenancy):
//! [`Server`], a server tenants may live on, and [`Location`], where one
//! tenant lives (its placement on a server), the value the registry keeps.

use std::fmt;
use std::sync::Arc;

use sea_orm::DatabaseConnection;

use super::{Placement, UrlFor};
use crate::{TenantError, TenantId};

/// The server a tenancy's own database is on: every tenant that names no
/// other server lives here, and the registry is kept here.
pub const MAIN_SERVER: &str = "main";

/// Longest server name.
const MAX_SERVER_NAME: usize = 32;

/// Checks a server name: 1 to 32 bytes of `[a-z0-9_]`.
fn check_server_name(name: &str) -> Result<(), TenantError> {
    let reason = if name.is_empty() {
        Some("a server name is empty")
    } else if name.len() > MAX_SERVER_NAME {
        Some("a server name is longer than 32 bytes")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        Some("a server name is made of a-z, 0-9 and _ only")
    } else {
        None
    };
    match reason {
        None => Ok(()),
        Some(reason) => Err(TenantError::UnsafeName {
            input: name.chars().take(80).collect(),
            reason,
        }),
    }
}

/// Another database server tenants may live on, beside the tenancy's own
/// ([`MAIN_SERVER`]): its database (for shared tenants, in its own shared
/// tables, and for tenant schemas) and, optionally, how to reach a
/// database per tenant on it.
///
/// The registry stays on the main server; each server has its own pools,
/// and a tenant's connection goes to its server only.
///
/// ```
/// use sea_orm::DatabaseConnection;
/// use sea_orm_tenant::{Server, TenantError};
///
/// let eu2 = Server::new("eu2", DatabaseConnection::default())?
///     .with_databases(|t| format!("postgres://app@eu2.internal/tenant_{t}"));
/// assert_eq!(eu2.name(), "eu2");
/// assert!(Server::new("EU 2", DatabaseConnection::default()).is_err());
/// # Ok::<_, TenantError>(())
/// ```
#[derive(Clone)]
pub struct Server {
    name: Arc<str>,
    pub(super) db: DatabaseConnection,
    pub(super) url_for: Option<UrlFor>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("name", &self.name)
            .field("databases", &self.url_for.is_some())
            .finish()
    }
}

impl Server {
    /// A server named `name` (1 to 32 bytes of `[a-z0-9_]`, not
    /// [`MAIN_SERVER`]), reached through `db`.
    pub fn new(name: &str, db: DatabaseConnection) -> Result<Self, TenantError> {
        check_server_name(name)?;
        if name == MAIN_SERVER {
            return Err(TenantError::UnsafeName {
                input: name.to_owned(),
                reason: "`main` is the tenancy's own server",
            });
        }
        Ok(Server {
            name: name.into(),
            db,
            url_for: None,
        })
    }

    /// Databases per tenant on this server: `url_for` gives a tenant's
    /// database URL, as [`Tenancy::with_databases`](super::Tenancy::with_databases)
    /// does on the main server.
    pub fn with_databases(
        mut self,
        url_for: impl Fn(&TenantId) -> String + Send + Sync + 'static,
    ) -> Self {
        self.url_for = Some(Arc::new(url_for));
        self
    }

    /// The server's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Where one tenant lives: its [`Placement`] on a server.
///
/// ```
/// use sea_orm_tenant::{Location, Placement};
///
/// let here = Location::new(Placement::SchemaPerTenant);
/// assert_eq!(here.server(), "main");
/// let there = Location::on("eu2", Placement::DatabasePerTenant)?;
/// assert_eq!(there.to_string(), "database_per_tenant on eu2");
/// # Ok::<_, sea_orm_tenant::TenantError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Location {
    placement: Placement,
    server: Arc<str>,
}

impl Location {
    /// `placement` on the main server.
    pub fn new(placement: Placement) -> Self {
        Location {
            placement,
            server: MAIN_SERVER.into(),
        }
    }

    /// `placement` on the server named `server` (checked as
    /// [`Server::new`] checks it; `main` is the main server).
    pub fn on(server: &str, placement: Placement) -> Result<Self, TenantError> {
        check_server_name(server)?;
        Ok(Location {
            placement,
            server: server.into(),
        })
    }

    /// The placement.
    pub fn placement(&self) -> Placement {
        self.placement
    }

    /// The server's name ([`MAIN_SERVER`] for the tenancy's own).
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Whether it is on the main server.
    pub fn is_main(&self) -> bool {
        &*self.server == MAIN_SERVER
    }
}

impl From<Placement> for Location {
    fn from(placement: Placement) -> Self {
        Location::new(placement)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on {}", self.placement, self.server)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_are_checked() {
        for bad in ["", "EU", "eu-2", "a\"b", "x".repeat(33).as_str(), "é"] {
            assert!(Location::on(bad, Placement::SharedSchema).is_err(), "{bad}");
        }
        assert!(Server::new("main", DatabaseConnection::default()).is_err());
        assert!(Location::on("main", Placement::SharedSchema).is_ok_and(|l| l.is_main()));
    }
}
