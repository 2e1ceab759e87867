//! The refresh-ahead cache every provider uses.
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
//!   than 1 s after its load (or at its expiry, if that comes first); while new values keep
//!   arriving inside the window the gap doubles (1 s, 2 s, 4 s …, at most half the remaining
//!   life), so a short lifetime never causes a refresh storm.
//! - **A panicking loader** does not poison the cache: the panic is caught, every caller waiting
//!   on that load gets the error `E::from(LoadPanicked)`, and the next call loads again (the
//!   panic message itself goes to the panic hook, as for any panic, never into the error).
//! - **Request context**: a load runs inside the [`RequestContext`] of the caller that started
//!   it, every attempt of it, whichever task ends up polling it (the cache drives each load on
//!   a task of its own, so that it completes even when every caller gives up). A refresh started
//!   by the background timer runs outside any request.
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
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, Shared};

use crate::context::RequestContext;
use crate::time::{Clock, SharedClock, system_time_to_ms};

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

/// What a load fails with when its loader panicked; the cache's error type is built from it
/// (`E: From<LoadPanicked>`), so every caller waiting on that load gets a typed error.
///
/// It carries no panic message (that went to the panic hook): a message could hold anything the
/// loader had at hand, secrets included.
///
/// ```
/// use std::time::SystemTime;
/// use vercel_oidc::cache::{LoadPanicked, RefreshAheadCache};
///
/// #[derive(Debug, Clone, PartialEq)]
/// enum MyError {
///     Panicked,
/// }
/// impl From<LoadPanicked> for MyError {
///     fn from(_: LoadPanicked) -> Self {
///         MyError::Panicked
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let cache = RefreshAheadCache::builder().build(|| async {
///     if true {
///         panic!("a bug in the loader");
///     }
///     Ok::<(u8, SystemTime), MyError>((1, SystemTime::now()))
/// });
/// # let hook = std::panic::take_hook(); std::panic::set_hook(Box::new(|_| {}));
/// assert_eq!(cache.get().await, Err(MyError::Panicked));
/// assert_eq!(cache.get().await, Err(MyError::Panicked)); // loaded again, not poisoned
/// # std::panic::set_hook(hook);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct LoadPanicked;

impl fmt::Display for LoadPanicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the loader panicked (a bug); the load was dropped and the next call loads again",
        )
    }
}

impl std::error::Error for LoadPanicked {}

impl From<LoadPanicked> for String {
    fn from(panicked: LoadPanicked) -> Self {
        panicked.to_string()
    }
}

impl From<LoadPanicked> for () {
    fn from(_: LoadPanicked) -> Self {}
}

impl From<LoadPanicked> for std::io::Error {
    fn from(panicked: LoadPanicked) -> Self {
        std::io::Error::other(panicked)
    }
}

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
    clock: SharedClock,
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
    /// `E::from`, captured where `E: From<LoadPanicked>` is known.
    on_panic: fn(LoadPanicked) -> E,
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
    clock: SharedClock,
}

impl Default for RefreshAheadCacheBuilder {
    fn default() -> Self {
        Self {
            window: DEFAULT_REFRESH_WINDOW,
            jitter: DEFAULT_JITTER,
            clock: SharedClock::default(),
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
    pub fn time_source(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Builds the cache around `loader`, which returns a value and its expiry.
    ///
    /// A loader that panics makes its load fail with `E::from(LoadPanicked)` (see
    /// [`LoadPanicked`]); `String`, `()` and `std::io::Error` already convert.
    pub fn build<T, E, F, Fut>(self, loader: F) -> RefreshAheadCache<T, E>
    where
        T: Clone + Send + Sync + 'static,
        E: Clone + Send + Sync + From<LoadPanicked> + 'static,
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
                on_panic: E::from,
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

    /// Starts the first load in the background, so the first caller finds it done or under
    /// way (a function's init overlaps the exchange). Returns whether a load was started:
    /// `false` when a valid value is cached, a load is already running, or there is no tokio
    /// runtime to run it on.
    pub fn prefetch(&self) -> bool {
        if self.try_get().is_some() || tokio::runtime::Handle::try_current().is_err() {
            return false;
        }
        if self.inner.lock().inflight.is_some() {
            return false;
        }
        drop(Inner::join_or_start_load(&self.inner));
        true
    }

    /// The error of the most recent failed load, if the last load failed.
    pub fn last_error(&self) -> Option<E> {
        self.inner.lock().last_error.clone()
    }

    /// When the cached value expires, if there is one.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.inner.current.load().as_ref().map(|e| {
            SystemTime::UNIX_EPOCH
                .checked_add(Duration::from_millis(e.expires_ms))
                .unwrap_or(SystemTime::UNIX_EPOCH)
        })
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
        let on_panic = self.on_panic;
        // Every attempt of this load runs in the context of the caller that started it: a retry
        // may well be polled by the task the cache spawned, which has no context of its own.
        let context = RequestContext::current();
        // A panic in the loader (starting it or polling it) becomes this load's error, so the
        // load completes like any other: waiters get an error and the next call loads again.
        let started = std::panic::catch_unwind(AssertUnwindSafe(|| (self.loader)()));
        let weak = Arc::downgrade(self);
        let load = async move {
            let result = match started {
                Ok(fut) => {
                    let caught = AssertUnwindSafe(fut).catch_unwind();
                    let caught = match context {
                        Some(context) => context.scope(caught).await,
                        None => caught.await,
                    };
                    caught.unwrap_or_else(|_| Err(panicked(on_panic)))
                }
                Err(_) => Err(panicked(on_panic)),
            };
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
                    // Never past the expiry: the fast path serves until this point unchecked.
                    now.saturating_add(doubling.min(half_life).max(MIN_IN_WINDOW_GAP_MS))
                        .min(expires_ms)
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
                    let next = now.saturating_add(delay).min(expires);
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

fn panicked<E>(on_panic: fn(LoadPanicked) -> E) -> E {
    tracing::error!("refresh-ahead cache: the loader panicked; failing this load");
    on_panic(LoadPanicked)
}

impl<T, E> RefreshAheadCache<T, E> {
    /// The clock this cache compares expiry against.
    pub fn time_source(&self) -> &SharedClock {
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
    use crate::time::TokioClock;
    use std::sync::atomic::AtomicUsize;

    const HOUR: Duration = Duration::from_secs(3600);
    /// A whole second, so expiries survive the cache's millisecond storage exactly.
    fn epoch_start() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    struct Harness {
        cache: RefreshAheadCache<u64, String>,
        loads: Arc<AtomicUsize>,
        fail: Arc<std::sync::atomic::AtomicBool>,
    }

    /// A cache whose loader takes `delay`, counts its calls, returns the call number with a
    /// lifetime of `life`, and fails while `fail` is set.
    fn harness(delay: Duration, life: Duration) -> Harness {
        let clock = SharedClock::new(TokioClock::starting_at(epoch_start()));
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

    /// What one load of a [`scripted`] cache does: wait, then succeed with a lifetime or fail.
    #[derive(Clone, Copy)]
    enum Step {
        Ok { delay: Duration, life: Duration },
        Fail { delay: Duration },
    }

    struct Scripted {
        cache: RefreshAheadCache<u64, String>,
        /// When each load started, in ms of tokio time since the harness was made.
        starts: Arc<Mutex<Vec<u64>>>,
    }

    impl Scripted {
        fn starts(&self) -> Vec<u64> {
            self.starts.lock().expect("lock").clone()
        }
    }

    /// A cache (no jitter, 5 min window) whose load number `n` (from 1) does `script(n)`.
    fn scripted(script: impl Fn(u64) -> Step + Send + Sync + 'static) -> Scripted {
        let clock = SharedClock::new(TokioClock::starting_at(epoch_start()));
        let origin = tokio::time::Instant::now();
        let starts = Arc::new(Mutex::new(Vec::new()));
        let (s, c) = (starts.clone(), clock.clone());
        let count = AtomicUsize::new(0);
        let cache = RefreshAheadCache::builder()
            .jitter(0.0)
            .time_source(clock)
            .build(move || {
                let n = count.fetch_add(1, Ordering::SeqCst) as u64 + 1;
                s.lock()
                    .expect("lock")
                    .push(origin.elapsed().as_millis() as u64);
                let step = script(n);
                let c = c.clone();
                async move {
                    match step {
                        Step::Ok { delay, life } => {
                            tokio::time::sleep(delay).await;
                            Ok((n, c.now() + life))
                        }
                        Step::Fail { delay } => {
                            tokio::time::sleep(delay).await;
                            Err(format!("load {n} failed"))
                        }
                    }
                }
            });
        Scripted { cache, starts }
    }

    fn ok(life: Duration) -> Step {
        Step::Ok {
            delay: Duration::ZERO,
            life,
        }
    }

    const FAIL: Step = Step::Fail {
        delay: Duration::ZERO,
    };

    fn quiet_panics<R>(f: impl FnOnce() -> R) -> R {
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let out = f();
        std::panic::set_hook(hook);
        out
    }

    /// Issue 19, item 1: a panic in the loader used to poison the shared load for good ("inner
    /// future panicked during poll" on every later call).
    #[test]
    fn a_panicking_loader_fails_every_waiter_and_the_next_call_loads_again() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("runtime");
        quiet_panics(|| {
            runtime.block_on(async {
                let loads = Arc::new(AtomicUsize::new(0));
                let l = loads.clone();
                let cache = RefreshAheadCache::builder().build(move || {
                    let n = l.fetch_add(1, Ordering::SeqCst) + 1;
                    async move {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        if n == 1 {
                            panic!("a bug in the loader");
                        }
                        Ok::<_, String>((n, SystemTime::now() + HOUR))
                    }
                });
                let waiters: Vec<_> = (0..20)
                    .map(|_| {
                        let c = cache.clone();
                        tokio::spawn(async move { c.get().await })
                    })
                    .collect();
                let message = LoadPanicked.to_string();
                assert!(message.contains("panicked"), "{message}");
                for w in waiters {
                    let got = w.await.expect("a waiter must not panic");
                    assert_eq!(got, Err(message.clone()));
                }
                assert_eq!(
                    loads.load(Ordering::SeqCst),
                    1,
                    "the waiters shared the load"
                );
                assert_eq!(cache.last_error(), Some(LoadPanicked.to_string()));
                assert_eq!(cache.get().await, Ok(2), "the next call loads again");
            });
        });
    }

    /// The same when the loader closure itself panics, before it returns a future.
    #[test]
    fn a_loader_that_panics_before_its_future_fails_the_load() {
        quiet_panics(|| {
            let calls = Arc::new(AtomicUsize::new(0));
            let c = calls.clone();
            let cache = RefreshAheadCache::builder().build(move || {
                if c.fetch_add(1, Ordering::SeqCst) == 0 {
                    panic!("a bug in the loader");
                }
                async { Ok::<_, ()>((7u8, SystemTime::now() + HOUR)) }
            });
            assert_eq!(cache.get().now_or_never(), Some(Err(())));
            assert_eq!(cache.get().now_or_never(), Some(Ok(7)));
        });
    }

    /// Issue 19, item 9: a value arriving with less than 1 s to live was served unchecked up to
    /// 1 s past its expiry (the in-window gap's 1 s floor was not capped at the expiry).
    #[tokio::test(start_paused = true)]
    async fn a_value_with_less_than_a_second_left_is_never_served_after_expiry() {
        let s = scripted(|n| match n {
            1 => ok(Duration::from_millis(500)),
            _ => Step::Fail {
                delay: Duration::from_secs(10),
            },
        });
        assert_eq!(s.cache.get().await, Ok(1));
        tokio::time::advance(Duration::from_millis(499)).await;
        assert_eq!(s.cache.try_get(), Some(1));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(s.cache.try_get(), None, "served at its expiry");
        tokio::time::advance(Duration::from_millis(100)).await;
        assert_eq!(s.cache.try_get(), None, "served after its expiry");
    }

    /// Issue 19, item 15: the load runs in the request context of the caller that started it,
    /// even when the cache's own task polls it (here: the caller gave up after one poll).
    #[tokio::test(start_paused = true)]
    async fn a_load_runs_in_the_request_context_of_the_caller_that_started_it() {
        let cache = RefreshAheadCache::builder().build(|| async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let seen = RequestContext::current().and_then(|c| {
                c.token()
                    .and_then(Result::ok)
                    .map(|t| t.expose_secret().to_owned())
            });
            Ok::<_, String>((seen, SystemTime::now() + HOUR))
        });
        let raw = crate::test_util::jwt_expiring_in(600);
        let token = crate::OidcToken::parse(raw.clone()).expect("valid");
        let caller = RequestContext::with_token(token).scope(cache.get());
        assert!(
            tokio::time::timeout(Duration::from_millis(10), caller)
                .await
                .is_err(),
            "the caller gives up"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(cache.try_get(), Some(Some(raw)));
        // A load started outside any request sees none.
        cache.invalidate();
        assert_eq!(cache.get().await, Ok(None));
    }

    /// A failed refresh is retried with equal-jitter backoff (0.5–1 s, 1–2 s, 2–4 s …), the
    /// count resets after a success, and the last retry is at the expiry, never later.
    #[tokio::test(start_paused = true)]
    async fn failed_refreshes_are_retried_on_schedule_until_the_expiry() {
        let s = scripted(|n| match n {
            1 | 5 => ok(HOUR),
            _ => FAIL,
        });
        assert_eq!(s.cache.get().await, Ok(1));
        // The timer refreshes at 3300 s; loads 2–4 fail; load 5 succeeds.
        tokio::time::sleep(Duration::from_secs(3300)).await;
        tokio::time::sleep(Duration::from_secs(10)).await;
        let starts = s.starts();
        assert_eq!(starts.len(), 5, "{starts:?}");
        assert_eq!(starts[1], 3_300_000);
        let gaps: Vec<u64> = starts.windows(2).map(|w| w[1] - w[0]).collect();
        assert!((500..=1_000).contains(&gaps[1]), "{gaps:?}");
        assert!((1_000..=2_000).contains(&gaps[2]), "{gaps:?}");
        assert!((2_000..=4_000).contains(&gaps[3]), "{gaps:?}");
        assert_eq!(s.cache.try_get(), Some(5));
        assert_eq!(s.cache.last_error(), None, "a success clears the error");

        // Load 5's value expires 3600 s after it; from its window on, every refresh fails.
        let expiry_ms = starts[4] + 3_600_000;
        tokio::time::sleep(Duration::from_secs(3600)).await;
        let starts = s.starts();
        let last = *starts.last().expect("loads");
        assert_eq!(
            last, expiry_ms,
            "the last retry is at the expiry: {starts:?}"
        );
        assert!(starts.iter().all(|t| *t <= expiry_ms));
        // After a success the backoff starts over at 0.5–1 s.
        let first_retry = starts[6] - starts[5];
        assert!((500..=1_000).contains(&first_retry), "{starts:?}");
        // Retries back off up to 60 s: about a dozen in the 300 s window, not hundreds.
        assert!((8..=20).contains(&(starts.len() - 5)), "{starts:?}");
        // Expired and failed: no timer keeps loading without callers.
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert_eq!(s.starts().len(), starts.len());
        assert!(s.cache.last_error().is_some());
    }

    /// A refresh that fails exactly at the expiry arms no retry: with nothing to serve, the next
    /// caller loads.
    #[tokio::test(start_paused = true)]
    async fn a_refresh_failing_at_the_expiry_arms_no_retry() {
        let s = scripted(|n| match n {
            1 => ok(Duration::from_secs(600)),
            _ => Step::Fail {
                delay: Duration::from_secs(300),
            },
        });
        assert_eq!(s.cache.get().await, Ok(1));
        // Refresh at 300 s, failing at 600 s = the expiry.
        tokio::time::sleep(Duration::from_secs(601)).await;
        assert_eq!(s.starts(), vec![0, 300_000]);
        assert_eq!(s.cache.try_get(), None);
    }

    /// Values arriving inside the window: gaps of 1 s, 2 s, 4 s … but at most half the life left,
    /// never under 1 s, never past the expiry; a value outside the window resets the doubling.
    #[tokio::test(start_paused = true)]
    async fn in_window_gaps_double_up_to_half_the_remaining_life() {
        let s = scripted(|_| ok(Duration::from_secs(6)));
        assert_eq!(s.cache.get().await, Ok(1));
        tokio::time::sleep(Duration::from_millis(12_500)).await;
        // 1 s, 2 s, then 4 s capped at half of the 6 s left: 3 s, 3 s.
        assert_eq!(s.starts(), vec![0, 1_000, 3_000, 6_000, 9_000, 12_000]);

        let s = scripted(|_| ok(Duration::from_millis(1_500)));
        assert_eq!(s.cache.get().await, Ok(1));
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        // Half of 1.5 s is under the 1 s floor: 1 s.
        assert_eq!(s.starts(), vec![0, 1_000, 2_000]);

        let s = scripted(|n| match n {
            2 => ok(HOUR),
            _ => ok(Duration::from_secs(6)),
        });
        assert_eq!(s.cache.get().await, Ok(1));
        tokio::time::sleep(Duration::from_millis(3_302_500)).await;
        // 1 s; then an hour-long value refreshed at its window (3301 s); then 1 s again.
        assert_eq!(s.starts(), vec![0, 1_000, 3_301_000, 3_302_000]);

        // A lifetime of exactly the window arrives inside it: 1 s, not at once.
        let s = scripted(|_| ok(Duration::from_secs(300)));
        assert_eq!(s.cache.get().await, Ok(1));
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(s.starts(), vec![0]);
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(s.starts(), vec![0, 1_000]);
    }

    /// The refresh point is the expiry minus the window plus a random share of `jitter × window`.
    #[tokio::test(start_paused = true)]
    async fn the_jittered_window_stays_within_its_bounds_and_varies() {
        let mut windows = Vec::new();
        for _ in 0..64 {
            let cache = RefreshAheadCache::builder()
                .jitter(0.5)
                .time_source(SharedClock::new(TokioClock::starting_at(epoch_start())))
                .build(|| async { Ok::<_, ()>((1u8, epoch_start() + HOUR)) });
            assert_eq!(cache.get().await, Ok(1));
            let expires = system_time_to_ms(epoch_start() + HOUR);
            let next = cache.inner.next_check_ms.load(Ordering::SeqCst);
            windows.push(expires - next);
        }
        let (min, max) = (windows.iter().min(), windows.iter().max());
        let (min, max) = (*min.expect("some"), *max.expect("some"));
        assert!(min >= 300_000 && max <= 450_000, "{min} {max}");
        assert!(max - min > 50_000, "jitter must vary: {min} {max}");
        // Without jitter: exactly the window.
        let cache = RefreshAheadCache::builder()
            .jitter(0.0)
            .time_source(SharedClock::new(TokioClock::starting_at(epoch_start())))
            .build(|| async { Ok::<_, ()>((1u8, epoch_start() + HOUR)) });
        assert_eq!(cache.get().await, Ok(1));
        assert_eq!(
            system_time_to_ms(epoch_start() + HOUR)
                - cache.inner.next_check_ms.load(Ordering::SeqCst),
            300_000
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_refresh_window_is_configurable() {
        let cache = RefreshAheadCache::builder()
            .jitter(0.0)
            .refresh_window(Duration::from_secs(60))
            .time_source(SharedClock::new(TokioClock::starting_at(epoch_start())))
            .build(|| async { Ok::<_, ()>((1u8, epoch_start() + HOUR)) });
        assert_eq!(cache.get().await, Ok(1));
        let next = cache.inner.next_check_ms.load(Ordering::SeqCst);
        assert_eq!(system_time_to_ms(epoch_start() + HOUR) - next, 60_000);
        assert!(format!("{cache:?}").contains("refresh_window: 60s"));
    }

    #[tokio::test(start_paused = true)]
    async fn expires_at_is_the_loaded_expiry() {
        let h = harness(Duration::ZERO, HOUR);
        assert_eq!(h.cache.expires_at(), None);
        assert_eq!(h.cache.get().await, Ok(1));
        assert_eq!(h.cache.expires_at(), Some(epoch_start() + HOUR));
        h.cache.invalidate();
        assert_eq!(h.cache.expires_at(), None);
    }

    /// One timer task per cache: a new timer replaces the old one, and dropping the cache ends
    /// it at once (not at its deadline).
    #[tokio::test(start_paused = true)]
    async fn one_timer_task_per_cache_and_none_after_drop() {
        let alive = || {
            tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks()
        };
        let h = harness(Duration::ZERO, HOUR);
        assert_eq!(h.cache.get().await, Ok(1));
        tokio::task::yield_now().await;
        assert_eq!(alive(), 1, "the timer");
        h.cache.invalidate();
        assert_eq!(h.cache.get().await, Ok(2));
        tokio::task::yield_now().await;
        assert_eq!(alive(), 1, "the old timer was replaced");
        drop(h.cache);
        tokio::task::yield_now().await;
        assert_eq!(alive(), 0, "dropping the cache ends its timer");
    }

    /// Without a runtime (no timer, no task): at exactly the expiry the value is gone, and the
    /// caller loads a new one itself.
    #[test]
    fn at_the_exact_expiry_callers_load_again() {
        let clock = Arc::new(crate::time::ManualClock::new(epoch_start()));
        let loads = Arc::new(AtomicUsize::new(0));
        let (l, c) = (loads.clone(), clock.clone());
        let cache = RefreshAheadCache::builder()
            .time_source(SharedClock::from_arc(clock.clone()))
            .build(move || {
                let n = l.fetch_add(1, Ordering::SeqCst) + 1;
                let expires = c.now() + Duration::from_secs(10);
                async move { Ok::<_, ()>((n, expires)) }
            });
        assert_eq!(cache.get().now_or_never(), Some(Ok(1)));
        assert_eq!(cache.time_source().now(), epoch_start());
        assert_eq!(cache.now(), epoch_start());
        clock.advance(Duration::from_millis(9_999));
        assert_eq!(cache.try_get(), Some(1));
        assert_eq!(cache.get().now_or_never(), Some(Ok(1)));
        clock.advance(Duration::from_millis(1));
        assert_eq!(cache.try_get(), None);
        assert_eq!(cache.get().now_or_never(), Some(Ok(2)));
        assert_eq!(loads.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn debug_shows_the_state_and_no_value() {
        let cache = RefreshAheadCache::builder()
            .time_source(SharedClock::new(crate::time::ManualClock::new(
                epoch_start(),
            )))
            .build(|| async { Ok::<_, ()>(("secret-value", epoch_start() + HOUR)) });
        let before = format!("{cache:?}");
        assert!(before.starts_with("RefreshAheadCache {"), "{before}");
        assert!(before.contains("has_value: false"), "{before}");
        assert_eq!(cache.get().now_or_never(), Some(Ok("secret-value")));
        let after = format!("{cache:?}");
        assert!(after.contains("has_value: true"), "{after}");
        assert!(after.contains("1700003600000"), "{after}");
        assert!(!after.contains("secret-value"), "{after}");
    }
}
