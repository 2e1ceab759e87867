//! The refresh-ahead cache every provider uses (SPEC §6).
//!
//! [`RefreshAheadCache`] holds one value with an expiry and a loader that fetches a new one:
//!
//! - **Fresh**: a caller gets the value with an atomic load, a coarse clock read and a clone.
//! - **Refresh window** (default 5 min before expiry, plus up to 20 % jitter): the first caller,
//!   or the background timer, starts exactly one background refresh; everyone keeps getting the
//!   still-valid value. Nobody waits on the network while a valid value exists.
//! - **No valid value**: callers wait, and all concurrent callers share one in-flight load.
//! - **Failed background refresh**: the valid value keeps being served, and the refresh is retried
//!   with exponential backoff (1 s, 2 s, 4 s … up to 60 s). Once the value has expired, callers
//!   wait for a load and get its error.
//! - **Timer**: each load arms a tokio timer for the next refresh point, so the refresh starts at
//!   the window's start even when no caller comes (SDK caches in front of ours call late). The
//!   timer task holds the cache weakly; dropping the last handle ends it. Outside a tokio runtime
//!   there is no timer and no background task: callers get the valid value until it expires,
//!   then load it themselves.
//! - **Short lifetimes**: a value that arrives already inside the window is refreshed no sooner
//!   than 1 s after its load; while new values keep arriving inside the window the gap doubles
//!   (1 s, 2 s, 4 s …, at most half the remaining life), so a short lifetime never causes a
//!   refresh storm.
//!
//! The loader is responsible for rejecting a value that arrives already expired: the cache never
//! hands out a value at or past its expiry.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use vercel_oidc::cache::RefreshAheadCache;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let cache = RefreshAheadCache::builder()
//!     .refresh_window(Duration::from_secs(300))
//!     .build(|| async {
//!         // e.g. call STS; return the value and when it expires
//!         Ok::<_, String>(("credentials", SystemTime::now() + Duration::from_secs(3600)))
//!     });
//! assert_eq!(cache.get().await, Ok("credentials"));
//! assert_eq!(cache.try_get(), Some("credentials")); // no await, no network
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, Shared};

use crate::time::{SharedTimeSource, TimeSource, system_time_to_ms};

/// Default refresh window: refresh this long before expiry.
pub const DEFAULT_REFRESH_WINDOW: Duration = Duration::from_secs(300);
/// Default jitter: up to this fraction of the window is added to it, at random.
pub const DEFAULT_JITTER: f64 = 0.2;
const MIN_IN_WINDOW_GAP_MS: u64 = 1_000;
const RETRY_BASE_MS: u64 = 1_000;
const RETRY_MAX_MS: u64 = 60_000;

type LoadFn<T, E> =
    dyn Fn() -> BoxFuture<'static, Result<(T, SystemTime), E>> + Send + Sync + 'static;
type SharedLoad<T, E> = Shared<BoxFuture<'static, Result<T, E>>>;

/// A cache that serves one value and refreshes it in the background before it expires.
///
/// Clones share the cache. See the [module docs](self) for the rules.
pub struct RefreshAheadCache<T, E> {
    inner: Arc<Inner<T, E>>,
}

impl<T, E> Clone for RefreshAheadCache<T, E> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T, E> fmt::Debug for RefreshAheadCache<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entry = self.inner.current.load();
        f.debug_struct("RefreshAheadCache")
            .field("has_value", &entry.is_some())
            .field("expires_at_ms", &entry.as_ref().map(|e| e.expires_ms))
            .field(
                "next_check_ms",
                &self.inner.next_check_ms.load(Ordering::Relaxed),
            )
            .field("refresh_window", &self.inner.config.window)
            .finish_non_exhaustive()
    }
}

struct Entry<T> {
    value: T,
    expires_ms: u64,
}

struct Config {
    window: Duration,
    jitter: f64,
    clock: SharedTimeSource,
}

struct State<T, E> {
    inflight: Option<(u64, SharedLoad<T, E>)>,
    load_seq: u64,
    in_window_streak: u32,
    failures: u32,
    last_error: Option<E>,
    timer: Option<tokio::task::AbortHandle>,
}

struct Inner<T, E> {
    current: ArcSwapOption<Entry<T>>,
    /// Until this time (ms since epoch) callers take the fast path without looking further.
    next_check_ms: AtomicU64,
    state: Mutex<State<T, E>>,
    loader: Box<LoadFn<T, E>>,
    config: Config,
}

impl<T, E> Drop for Inner<T, E> {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(timer) = state.timer.take() {
            timer.abort();
        }
    }
}

/// Builder for [`RefreshAheadCache`].
#[derive(Debug)]
pub struct RefreshAheadCacheBuilder {
    window: Duration,
    jitter: f64,
    clock: SharedTimeSource,
}

impl Default for RefreshAheadCacheBuilder {
    fn default() -> Self {
        Self {
            window: DEFAULT_REFRESH_WINDOW,
            jitter: DEFAULT_JITTER,
            clock: SharedTimeSource::default(),
        }
    }
}

impl RefreshAheadCacheBuilder {
    /// How long before expiry the background refresh starts. Defaults to 5 minutes.
    pub fn refresh_window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Up to this fraction of the window is added to it at random, per value, so that many
    /// processes do not refresh at the same moment. Clamped to `0.0..=1.0`. Defaults to `0.2`.
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = if fraction.is_finite() {
            fraction.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self
    }

    /// The clock expiry is compared against. Defaults to the system clock.
    pub fn time_source(mut self, clock: SharedTimeSource) -> Self {
        self.clock = clock;
        self
    }

    /// Builds the cache around `loader`, which returns a value and its expiry.
    pub fn build<T, E, F, Fut>(self, loader: F) -> RefreshAheadCache<T, E>
    where
        T: Clone + Send + Sync + 'static,
        E: Clone + Send + Sync + 'static,
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(T, SystemTime), E>> + Send + 'static,
    {
        RefreshAheadCache {
            inner: Arc::new(Inner {
                current: ArcSwapOption::empty(),
                next_check_ms: AtomicU64::new(0),
                state: Mutex::new(State {
                    inflight: None,
                    load_seq: 0,
                    in_window_streak: 0,
                    failures: 0,
                    last_error: None,
                    timer: None,
                }),
                loader: Box::new(move || loader().boxed()),
                config: Config {
                    window: self.window,
                    jitter: self.jitter,
                    clock: self.clock,
                },
            }),
        }
    }
}

impl RefreshAheadCache<(), ()> {
    /// A builder with the defaults (5 min window, 20 % jitter, system clock).
    pub fn builder() -> RefreshAheadCacheBuilder {
        RefreshAheadCacheBuilder::default()
    }
}

impl<T, E> RefreshAheadCache<T, E>
where
    T: Clone + Send + Sync + 'static,
    E: Clone + Send + Sync + 'static,
{
    /// The valid value without waiting, or `None` when there is none.
    ///
    /// Inside the refresh window this also starts the background refresh (once). This is the
    /// path every cached call takes: an atomic load, a coarse clock read and a clone.
    #[inline]
    pub fn try_get(&self) -> Option<T> {
        let now = self.inner.config.clock.now_ms();
        if now < self.inner.next_check_ms.load(Ordering::Acquire)
            && let Some(entry) = &*self.inner.current.load()
        {
            return Some(entry.value.clone());
        }
        self.inner.try_get_slow(now)
    }

    /// The valid value, or waits for the (shared) load when there is none.
    pub async fn get(&self) -> Result<T, E> {
        if let Some(value) = self.try_get() {
            return Ok(value);
        }
        let load = Inner::join_or_start_load(&self.inner);
        load.await
    }

    /// The error of the most recent failed load, if the last load failed.
    pub fn last_error(&self) -> Option<E> {
        self.inner.lock().last_error.clone()
    }

    /// When the cached value expires, if there is one.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.inner
            .current
            .load()
            .as_ref()
            .map(|e| SystemTime::UNIX_EPOCH + Duration::from_millis(e.expires_ms))
    }

    /// Drops the cached value: the next caller loads a new one. Use it when the value was
    /// rejected by its consumer (for example, revoked credentials).
    pub fn invalidate(&self) {
        self.inner.next_check_ms.store(0, Ordering::Release);
        self.inner.current.store(None);
    }
}

impl<T, E> Inner<T, E>
where
    T: Clone + Send + Sync + 'static,
    E: Clone + Send + Sync + 'static,
{
    fn lock(&self) -> MutexGuard<'_, State<T, E>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[cold]
    fn try_get_slow(self: &Arc<Self>, now: u64) -> Option<T> {
        let entry = self.current.load_full()?;
        if now >= entry.expires_ms {
            return None;
        }
        if now >= self.next_check_ms.load(Ordering::Acquire) {
            self.start_background_refresh(now);
        }
        Some(entry.value.clone())
    }

    /// Starts one background refresh if one is due and none is running (needs a runtime).
    fn start_background_refresh(self: &Arc<Self>, now: u64) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut state = self.lock();
        if state.inflight.is_some() || now < self.next_check_ms.load(Ordering::Acquire) {
            return;
        }
        // Until the refresh completes, callers take the fast path until expiry.
        let expires = self.current.load().as_ref().map_or(0, |e| e.expires_ms);
        self.next_check_ms.store(expires, Ordering::Release);
        let load = self.new_load(&mut state);
        drop(state);
        tracing::debug!("refresh-ahead cache: starting background refresh");
        handle.spawn(load.map(drop));
    }

    fn join_or_start_load(self: &Arc<Self>) -> SharedLoad<T, E> {
        let mut state = self.lock();
        if let Some((_, load)) = &state.inflight {
            return load.clone();
        }
        // A load may have completed between the caller's check and this lock.
        if let Some(entry) = &*self.current.load()
            && self.config.clock.now_ms() < entry.expires_ms
        {
            let value = entry.value.clone();
            return futures_util::future::ready(Ok(value)).boxed().shared();
        }
        let load = self.new_load(&mut state);
        drop(state);
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            // Drive it to completion even if every caller gives up, so the cache is filled.
            handle.spawn(load.clone().map(drop));
        }
        load
    }

    fn new_load(self: &Arc<Self>, state: &mut State<T, E>) -> SharedLoad<T, E> {
        state.load_seq += 1;
        let seq = state.load_seq;
        let fut = (self.loader)();
        let weak = Arc::downgrade(self);
        let load = async move {
            let result = fut.await;
            match weak.upgrade() {
                Some(inner) => inner.complete(seq, result),
                None => result.map(|(value, _)| value),
            }
        }
        .boxed()
        .shared();
        state.inflight = Some((seq, load.clone()));
        load
    }

    fn complete(self: &Arc<Self>, seq: u64, result: Result<(T, SystemTime), E>) -> Result<T, E> {
        let now = self.config.clock.now_ms();
        let mut state = self.lock();
        if matches!(&state.inflight, Some((s, _)) if *s == seq) {
            state.inflight = None;
        }
        match result {
            Ok((value, expires_at)) => {
                let expires_ms = system_time_to_ms(expires_at);
                state.failures = 0;
                state.last_error = None;
                let window_ms = self.jittered_window_ms();
                let next = if expires_ms.saturating_sub(window_ms) > now {
                    state.in_window_streak = 0;
                    expires_ms - window_ms
                } else {
                    // Arrived inside the window: back off instead of refreshing on every call.
                    let doubling =
                        MIN_IN_WINDOW_GAP_MS.saturating_mul(1u64 << state.in_window_streak.min(20));
                    state.in_window_streak = state.in_window_streak.saturating_add(1);
                    let half_life = expires_ms.saturating_sub(now) / 2;
                    now + doubling.min(half_life).max(MIN_IN_WINDOW_GAP_MS)
                };
                self.current.store(Some(Arc::new(Entry {
                    value: value.clone(),
                    expires_ms,
                })));
                self.next_check_ms.store(next, Ordering::Release);
                self.arm_timer(&mut state, now, next);
                tracing::debug!(
                    expires_in_ms = expires_ms.saturating_sub(now),
                    refresh_in_ms = next.saturating_sub(now),
                    "refresh-ahead cache: loaded"
                );
                Ok(value)
            }
            Err(err) => {
                state.last_error = Some(err.clone());
                state.failures = state.failures.saturating_add(1);
                let expires = self.current.load().as_ref().map_or(0, |e| e.expires_ms);
                if expires > now {
                    let delay = crate::retry::equal_jitter(
                        state.failures,
                        Duration::from_millis(RETRY_BASE_MS),
                        Duration::from_millis(RETRY_MAX_MS),
                    );
                    let delay = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
                    let next = (now + delay).min(expires);
                    self.next_check_ms.store(next, Ordering::Release);
                    self.arm_timer(&mut state, now, next);
                    tracing::warn!(
                        failures = state.failures,
                        retry_in_ms = next - now,
                        "refresh-ahead cache: background refresh failed; serving the cached value"
                    );
                } else {
                    tracing::debug!("refresh-ahead cache: load failed");
                }
                Err(err)
            }
        }
    }

    fn jittered_window_ms(&self) -> u64 {
        let window = u64::try_from(self.config.window.as_millis()).unwrap_or(u64::MAX);
        let extra = if self.config.jitter > 0.0 {
            (window as f64 * self.config.jitter * fastrand::f64()) as u64
        } else {
            0
        };
        window.saturating_add(extra)
    }

    /// Arms the background timer for `next` (replacing the previous one), when in a runtime.
    fn arm_timer(self: &Arc<Self>, state: &mut State<T, E>, now: u64, next: u64) {
        if let Some(old) = state.timer.take() {
            old.abort();
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let delay = Duration::from_millis(next.saturating_sub(now));
        let weak: Weak<Self> = Arc::downgrade(self);
        let task = handle.spawn(async move {
            tokio::time::sleep(delay).await;
            if let Some(inner) = weak.upgrade() {
                let now = inner.config.clock.now_ms();
                if inner.current.load().is_some() {
                    inner.start_background_refresh(now);
                }
            }
        });
        state.timer = Some(task.abort_handle());
    }
}

impl<T, E> RefreshAheadCache<T, E> {
    /// The clock this cache compares expiry against.
    pub fn time_source(&self) -> &SharedTimeSource {
        &self.inner.config.clock
    }

    /// The current time by this cache's clock.
    pub fn now(&self) -> SystemTime {
        self.inner.config.clock.now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::TokioTimeSource;
    use std::sync::atomic::AtomicUsize;

    const HOUR: Duration = Duration::from_secs(3600);

    struct Harness {
        cache: RefreshAheadCache<u64, String>,
        loads: Arc<AtomicUsize>,
        fail: Arc<std::sync::atomic::AtomicBool>,
    }

    /// A cache whose loader takes `delay`, counts its calls, returns the call number with a
    /// lifetime of `life`, and fails while `fail` is set.
    fn harness(delay: Duration, life: Duration) -> Harness {
        let clock = SharedTimeSource::new(TokioTimeSource::new());
        let loads = Arc::new(AtomicUsize::new(0));
        let fail = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (l, f, c) = (loads.clone(), fail.clone(), clock.clone());
        let cache = RefreshAheadCache::builder()
            .jitter(0.0)
            .time_source(clock)
            .build(move || {
                let n = l.fetch_add(1, Ordering::SeqCst) as u64 + 1;
                let failing = f.load(Ordering::SeqCst);
                let c = c.clone();
                async move {
                    tokio::time::sleep(delay).await;
                    if failing {
                        Err(format!("load {n} failed"))
                    } else {
                        Ok((n, c.now() + life))
                    }
                }
            });
        Harness { cache, loads, fail }
    }

    #[tokio::test(start_paused = true)]
    async fn ten_thousand_cold_callers_share_one_load() {
        let h = harness(Duration::from_millis(250), HOUR);
        let mut tasks = Vec::new();
        for _ in 0..10_000 {
            let c = h.cache.clone();
            tasks.push(tokio::spawn(async move { c.get().await }));
        }
        for t in tasks {
            assert_eq!(t.await.expect("join"), Ok(1));
        }
        assert_eq!(h.loads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn refresh_window_serves_without_waiting_and_refreshes_once() {
        let h = harness(Duration::from_millis(250), HOUR);
        assert_eq!(h.cache.get().await, Ok(1));
        // Into the window (5 min before expiry) but still valid.
        tokio::time::advance(HOUR - Duration::from_secs(200)).await;
        for _ in 0..1_000 {
            // `try_get` never waits: every caller is answered from the cache.
            assert_eq!(h.cache.try_get(), Some(1));
            // and `get` resolves on its first poll.
            let got = h.cache.get().now_or_never().expect("did not wait");
            assert_eq!(got, Ok(1));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(h.loads.load(Ordering::SeqCst), 2);
        assert_eq!(h.cache.try_get(), Some(2));
    }

    #[tokio::test(start_paused = true)]
    async fn timer_refreshes_at_window_start_without_callers() {
        let h = harness(Duration::from_millis(10), HOUR);
        assert_eq!(h.cache.get().await, Ok(1));
        tokio::time::sleep(HOUR - Duration::from_secs(301)).await;
        assert_eq!(h.loads.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(
            h.loads.load(Ordering::SeqCst),
            2,
            "timer refreshed at the window start"
        );
        assert_eq!(h.cache.try_get(), Some(2));
    }

    #[tokio::test(start_paused = true)]
    async fn failing_refresh_keeps_serving_until_expiry_then_errors() {
        let h = harness(Duration::from_millis(100), HOUR);
        assert_eq!(h.cache.get().await, Ok(1));
        h.fail.store(true, Ordering::SeqCst);
        tokio::time::advance(HOUR - Duration::from_secs(299)).await;
        // Walk through the whole window in 1 s steps: never an error, bounded loads.
        for _ in 0..298 {
            assert_eq!(h.cache.get().now_or_never(), Some(Ok(1)));
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let loads = h.loads.load(Ordering::SeqCst);
        assert!(
            (2..=20).contains(&loads),
            "backoff bounds retries, got {loads}"
        );
        assert!(h.cache.last_error().is_some());
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(h.cache.try_get(), None);
        let err = h.cache.get().await.expect_err("expired and failing");
        assert!(err.ends_with("failed"), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn failing_cold_load_is_shared_and_typed() {
        let h = harness(Duration::from_millis(100), HOUR);
        h.fail.store(true, Ordering::SeqCst);
        let calls: Vec<_> = (0..100)
            .map(|_| {
                let c = h.cache.clone();
                tokio::spawn(async move { c.get().await })
            })
            .collect();
        for c in calls {
            assert_eq!(c.await.expect("join"), Err("load 1 failed".to_owned()));
        }
        assert_eq!(h.loads.load(Ordering::SeqCst), 1);
        h.fail.store(false, Ordering::SeqCst);
        assert_eq!(h.cache.get().await, Ok(2));
    }

    /// The race the AWS cold-callers bench found: a caller misses the fast path, the in-flight
    /// load completes, then the caller takes the slow path. It must get the new value, not start
    /// a second load.
    #[tokio::test(start_paused = true)]
    async fn slow_path_after_a_completed_load_does_not_load_again() {
        let h = harness(Duration::from_millis(10), HOUR);
        assert_eq!(h.cache.get().await, Ok(1));
        // What a caller that missed just before completion does next:
        let joined = Inner::join_or_start_load(&h.cache.inner).await;
        assert_eq!(joined, Ok(1));
        assert_eq!(h.loads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn short_lifetimes_back_off_instead_of_storming() {
        // Lifetime 60 s, window 300 s: every value arrives inside the window.
        let h = harness(Duration::ZERO, Duration::from_secs(60));
        assert_eq!(h.cache.get().await, Ok(1));
        for _ in 0..60 {
            let _ = h.cache.try_get();
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        // 30 s of callers every 0.5 s: gaps of 1, 2, 4, 8, 16 s → at most 6 loads.
        let loads = h.loads.load(Ordering::SeqCst);
        assert!((4..=6).contains(&loads), "got {loads}");
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_the_cache_ends_the_timer() {
        let h = harness(Duration::ZERO, HOUR);
        assert_eq!(h.cache.get().await, Ok(1));
        let weak = Arc::downgrade(&h.cache.inner);
        drop(h.cache);
        assert!(
            weak.upgrade().is_none(),
            "timer task must not keep the cache alive"
        );
        tokio::time::sleep(2 * HOUR).await;
        assert_eq!(h.loads.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn works_without_a_runtime() {
        let cache = RefreshAheadCache::builder()
            .build(|| async { Ok::<_, ()>((7u8, SystemTime::now() + HOUR)) });
        assert_eq!(cache.try_get(), None);
        assert_eq!(cache.get().now_or_never(), Some(Ok(7)));
        assert_eq!(cache.try_get(), Some(7));
        cache.invalidate();
        assert_eq!(cache.try_get(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn expired_value_is_never_served() {
        let h = harness(Duration::from_secs(10), Duration::from_secs(600));
        assert_eq!(h.cache.get().await, Ok(1));
        h.fail.store(true, Ordering::SeqCst);
        tokio::time::advance(Duration::from_secs(600)).await;
        assert_eq!(h.cache.try_get(), None);
    }
}
