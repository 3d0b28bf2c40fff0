//! [`HotTenants`], the limits of the parked transactions of hot tenants
//! (Postgres; see [`hot`](super::hot)).

use std::time::Duration;

/// Limits of the hot-tenant cache of a [`Tenancy`](crate::Tenancy)
/// ([`Tenancy::hot_tenants`](crate::Tenancy::hot_tenants)).
///
/// ```
/// use std::time::Duration;
/// use sea_orm_tenant::HotTenants;
///
/// let hot = HotTenants { max_parked: Some(8), per_tenant: 2, max_idle: Duration::from_secs(5) };
/// assert_eq!(HotTenants::default().per_tenant, 2);
/// # let _ = hot;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HotTenants {
    /// How many connections may be parked in total, across tenants. They
    /// are taken from the shared pool, so keep this well below its
    /// `max_connections`. `None`: half of the pool's `max_connections`
    /// (a pool of one parks nothing).
    pub max_parked: Option<usize>,
    /// How many connections one tenant may keep parked.
    pub per_tenant: usize,
    /// A parked connection idle for longer is rolled back and returned to
    /// the pool. Keep it below the server's
    /// `idle_in_transaction_session_timeout`, if one is set.
    pub max_idle: Duration,
}

impl HotTenants {
    /// Parks nothing: every statement opens its own transaction.
    ///
    /// ```
    /// use sea_orm_tenant::HotTenants;
    ///
    /// assert_eq!(HotTenants::off().max_parked, Some(0));
    /// ```
    pub fn off() -> Self {
        HotTenants {
            max_parked: Some(0),
            ..Self::default()
        }
    }

    /// Whether these limits park anything at all.
    pub(crate) fn parks(&self) -> bool {
        self.max_parked != Some(0) && self.per_tenant > 0
    }
}

impl Default for HotTenants {
    fn default() -> Self {
        HotTenants {
            max_parked: None,
            per_tenant: 2,
            max_idle: Duration::from_secs(10),
        }
    }
}
