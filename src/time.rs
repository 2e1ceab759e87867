//! Injectable wall-clock time.
//!
//! Everything in this crate that compares against an expiry takes a [`SharedClock`], so tests
//! can cover expiry without sleeping: [`ManualClock`] is set by hand, and
//! [`TokioClock`] follows tokio's clock, so `tokio::time::pause()` and `advance()` move it
//! (and the cache's background timers with it).
//!
//! The default, [`SystemClock`], reads the coarse real-time clock on Linux
//! (`CLOCK_REALTIME_COARSE`, a few nanoseconds, millisecond resolution): the cached credential path
//! reads the clock on every call, and a precise clock would cost as much as the rest of that path.

// The clock module is the one place that reads the system time (see clippy.toml).
#![allow(clippy::disallowed_methods)]

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of wall-clock time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The system clock (coarse on Linux; see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(coarse_now_ms())
    }
}

/// The system clock's time (what [`SystemClock`] returns).
pub(crate) fn system_now() -> SystemTime {
    SystemClock.now()
}

/// Milliseconds since the unix epoch from the cheapest adequate clock.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn coarse_now_ms() -> u64 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
    (ts.tv_sec.max(0) as u64)
        .saturating_mul(1000)
        .saturating_add((ts.tv_nsec.max(0) as u64) / 1_000_000)
}

/// Milliseconds since the unix epoch from the cheapest adequate clock.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn coarse_now_ms() -> u64 {
    system_time_to_ms(SystemTime::now())
}

/// The longest lifetime a credential from a service may claim: 7 days. Vercel's OIDC tokens live
/// 12 hours at most, STS credentials 12 hours, Entra ID access tokens about a day; a longer
/// lifetime (or an expiry that cannot be represented, past year 9999) is an invalid response.
pub const MAX_SERVICE_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// `now + lifetime`, or `None` when `lifetime` is longer than [`MAX_SERVICE_LIFETIME`] (or the
/// sum cannot be represented). For lifetimes that come from a service (`expires_in`).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use vercel_oidc::time::{MAX_SERVICE_LIFETIME, service_expiry};
/// let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// assert_eq!(service_expiry(now, Duration::from_secs(3600)), Some(now + Duration::from_secs(3600)));
/// assert_eq!(service_expiry(now, MAX_SERVICE_LIFETIME + Duration::from_secs(1)), None);
/// assert_eq!(service_expiry(now, Duration::MAX), None);
/// ```
pub fn service_expiry(now: SystemTime, lifetime: Duration) -> Option<SystemTime> {
    if lifetime > MAX_SERVICE_LIFETIME {
        return None;
    }
    now.checked_add(lifetime)
}

/// `true` when `expires_at` is at most [`MAX_SERVICE_LIFETIME`] after `now` (an expiry in the
/// past is within it). For absolute expiries that come from a service (STS `Expiration`).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use vercel_oidc::time::{MAX_SERVICE_LIFETIME, within_service_lifetime};
/// let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// assert!(within_service_lifetime(now, now + MAX_SERVICE_LIFETIME));
/// assert!(within_service_lifetime(now, UNIX_EPOCH));
/// assert!(!within_service_lifetime(now, now + MAX_SERVICE_LIFETIME + Duration::from_secs(1)));
/// ```
pub fn within_service_lifetime(now: SystemTime, expires_at: SystemTime) -> bool {
    expires_at
        .duration_since(now)
        .map_or(true, |ahead| ahead <= MAX_SERVICE_LIFETIME)
}

pub(crate) fn system_time_to_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A clock set by hand, for tests.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use vercel_oidc::time::{ManualClock, Clock};
///
/// let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_000));
/// clock.advance(Duration::from_secs(5));
/// assert_eq!(clock.now(), UNIX_EPOCH + Duration::from_secs(1_005));
/// ```
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<SystemTime>,
}

impl ManualClock {
    /// A clock that reads `start` until moved.
    pub fn new(start: SystemTime) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// Sets the time.
    pub fn set(&self, now: SystemTime) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) = now;
    }

    /// Moves the time forward (unchanged if the result cannot be represented).
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(later) = now.checked_add(by) {
            *now = later;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Wall-clock time that follows tokio's clock: `SystemTime::now()` at creation plus the tokio
/// time elapsed since. Under `tokio::time::pause()` it only moves when tokio's clock does.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    base: SystemTime,
    start: tokio::time::Instant,
}

impl TokioClock {
    /// Starts at the current system time. Call it inside a runtime when the clock is paused.
    pub fn new() -> Self {
        Self::starting_at(SystemTime::now())
    }

    /// Starts at `base`.
    pub fn starting_at(base: SystemTime) -> Self {
        Self {
            base,
            start: tokio::time::Instant::now(),
        }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TokioClock {
    fn now(&self) -> SystemTime {
        let elapsed = self.start.elapsed();
        self.base.checked_add(elapsed).unwrap_or(self.base)
    }
}

/// A cloneable, type-erased [`Clock`]; the default is [`SystemClock`].
#[derive(Clone, Default)]
pub struct SharedClock(Option<Arc<dyn Clock>>);

impl SharedClock {
    /// The identity of the wrapped clock (0: the system clock); clones share it.
    pub(crate) fn identity(&self) -> usize {
        self.0.as_ref().map_or(0, crate::object_id::arc_identity)
    }

    /// Wraps a time source.
    pub fn new(source: impl Clock + 'static) -> Self {
        Self(Some(Arc::new(source)))
    }

    /// Wraps an already shared time source.
    pub fn from_arc(source: Arc<dyn Clock>) -> Self {
        Self(Some(source))
    }

    /// Milliseconds since the unix epoch. The system default takes the coarse clock directly.
    #[inline]
    pub(crate) fn now_ms(&self) -> u64 {
        match &self.0 {
            None => coarse_now_ms(),
            Some(source) => system_time_to_ms(source.now()),
        }
    }
}

impl Clock for SharedClock {
    fn now(&self) -> SystemTime {
        match &self.0 {
            None => SystemClock.now(),
            Some(source) => source.now(),
        }
    }
}

impl fmt::Debug for SharedClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("SharedClock(SystemClock)"),
            Some(s) => f.debug_tuple("SharedClock").field(s).finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarse_clock_is_close_to_system_time() {
        let precise = system_time_to_ms(SystemTime::now());
        let coarse = coarse_now_ms();
        assert!(precise.abs_diff(coarse) < 1_000, "{precise} vs {coarse}");
    }

    #[tokio::test(start_paused = true)]
    async fn tokio_time_source_follows_paused_clock() {
        let base = UNIX_EPOCH + Duration::from_secs(10);
        let clock = TokioClock::starting_at(base);
        assert_eq!(clock.now(), base);
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(clock.now(), base + Duration::from_secs(3));
        let shared = SharedClock::new(clock);
        assert_eq!(shared.now_ms(), 13_000);
    }
}
