//! [`Quota`]: how fast one tenant may send requests.

use std::num::NonZeroU32;
use std::time::Duration;

/// A tenant's request rate for [`TenantRateLimit`](super::TenantRateLimit):
/// how many requests it may send per period, and how many at once (its
/// burst), as a token bucket that refills one request at a time (GCRA).
///
/// This crate's own type, so that the rate-limiting crate behind it
/// (governor) can change major versions without changing this crate's API.
///
/// ```
/// use std::num::NonZeroU32;
/// use std::time::Duration;
/// use sea_orm_tenant::http::Quota;
///
/// let ten = NonZeroU32::new(10).unwrap();
/// let q = Quota::per_second(ten);
/// assert_eq!(q.burst_size(), ten);
/// assert_eq!(q.replenish_interval(), Duration::from_millis(100));
///
/// // One request every 2 s, up to 10 at once.
/// let slow = Quota::with_period(Duration::from_secs(2)).unwrap().allow_burst(ten);
/// assert_eq!((slow.burst_size(), slow.replenish_interval()), (ten, Duration::from_secs(2)));
/// assert!(Quota::with_period(Duration::ZERO).is_none());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota(governor::Quota);

impl Quota {
    /// `n` requests per second, all of them at once if need be.
    ///
    /// ```
    /// use std::num::NonZeroU32;
    /// use sea_orm_tenant::http::Quota;
    /// assert_eq!(Quota::per_second(NonZeroU32::MIN).burst_size(), NonZeroU32::MIN);
    /// ```
    pub fn per_second(n: NonZeroU32) -> Self {
        Quota(governor::Quota::per_second(n))
    }

    /// `n` requests per minute, all of them at once if need be.
    ///
    /// ```
    /// use std::num::NonZeroU32;
    /// use std::time::Duration;
    /// use sea_orm_tenant::http::Quota;
    /// let q = Quota::per_minute(NonZeroU32::new(60).unwrap());
    /// assert_eq!(q.replenish_interval(), Duration::from_secs(1));
    /// ```
    pub fn per_minute(n: NonZeroU32) -> Self {
        Quota(governor::Quota::per_minute(n))
    }

    /// `n` requests per hour, all of them at once if need be.
    ///
    /// ```
    /// use std::num::NonZeroU32;
    /// use std::time::Duration;
    /// use sea_orm_tenant::http::Quota;
    /// let q = Quota::per_hour(NonZeroU32::new(3600).unwrap());
    /// assert_eq!(q.replenish_interval(), Duration::from_secs(1));
    /// ```
    pub fn per_hour(n: NonZeroU32) -> Self {
        Quota(governor::Quota::per_hour(n))
    }

    /// One request per `period`, with a burst of one (raise it with
    /// [`allow_burst`](Self::allow_burst)); `None` for a zero period.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sea_orm_tenant::http::Quota;
    /// assert!(Quota::with_period(Duration::from_millis(250)).is_some());
    /// ```
    pub fn with_period(period: Duration) -> Option<Self> {
        governor::Quota::with_period(period).map(Quota)
    }

    /// The same rate, with up to `burst` requests at once.
    ///
    /// ```
    /// use std::num::NonZeroU32;
    /// use sea_orm_tenant::http::Quota;
    /// let five = NonZeroU32::new(5).unwrap();
    /// assert_eq!(Quota::per_second(NonZeroU32::MIN).allow_burst(five).burst_size(), five);
    /// ```
    pub fn allow_burst(self, burst: NonZeroU32) -> Self {
        Quota(self.0.allow_burst(burst))
    }

    /// How many requests may come at once.
    pub fn burst_size(&self) -> NonZeroU32 {
        self.0.burst_size()
    }

    /// How long the bucket takes to refill by one request.
    pub fn replenish_interval(&self) -> Duration {
        self.0.replenish_interval()
    }

    pub(crate) fn to_governor(self) -> governor::Quota {
        self.0
    }
}
