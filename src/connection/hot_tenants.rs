//! [`HotTenants`], the limits of the tenant-keeping connections of a
//! [`Tenancy`](crate::Tenancy) (Postgres; see [`keeper`](super::keeper)).

use std::time::Duration;

/// Limits of the tenant-keeping connections of a
/// [`Tenancy`](crate::Tenancy)
/// ([`Tenancy::hot_tenants`](crate::Tenancy::hot_tenants)): connections of
/// a pool the tenancy owns, each holding one tenant's session settings
/// between its statements.
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
    /// How many connections may be kept idle in total, across tenants.
    /// They come from the tenancy's own pool (the size of the
    /// application's), never from the application's pool, and one that a
    /// statement of another tenant needs is switched to that tenant rather
    /// than waited for. `None`: all of them.
    pub max_parked: Option<usize>,
    /// How many connections one tenant may keep idle.
    pub per_tenant: usize,
    /// A connection kept idle for longer goes back to the tenancy's pool
    /// (and is set again at its next use).
    pub max_idle: Duration,
}

impl HotTenants {
    /// Keeps nothing: every statement that needs a setting opens its own
    /// transaction and sets it there (`SET LOCAL`), on the application's
    /// pool.
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

    /// Whether these limits keep anything at all.
    #[cfg_attr(not(feature = "sqlx-postgres"), allow(dead_code))]
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
