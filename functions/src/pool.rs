//! [`attach_database_pool`]: the Fluid-compute keep-alive of `@vercel/functions` for Rust pools.
//!
//! A Vercel instance is suspended once its invocations have ended. A pooled database
//! connection that is idle at that moment stays open on the server until the instance thaws,
//! and the database sees it as leaked. `@vercel/functions` therefore keeps the invocation alive
//! (through `waitUntil`) after a connection is released, for the pool's idle timeout plus 100 ms,
//! so the pool closes its idle connections before the instance is suspended.
//!
//! Here the same happens when a request served behind [`crate::VercelFunctionsLayer`] ends
//! while an attached pool has open connections (a connection used by the request is back in
//! the pool by then, or about to be): the request's `wait_until` gets a keep-alive of
//! `min(idle_timeout + 100 ms, max(100 ms, remaining))`, where `remaining` is the time to the
//! request's deadline less 1 s ([`crate::get_deadline`], when the layer knows the function's
//! maximum duration), else 15 min − 1 s. Each new keep-alive replaces (ends) the pending one, as
//! in `@vercel/functions`. Only one is pending per process.
//!
//! The idle timeout is what [`DatabasePool::idle_timeout`] says: for `sqlx::Pool` that is its
//! `idle_timeout` plus one period of sqlx's reaper, which closes idle connections only when it
//! runs (every `min(idle_timeout, max_lifetime)`).
//!
//! Inert unless both `VERCEL_URL` and `VERCEL_REGION` are set (on Vercel at run time; not during
//! builds or locally).

use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;
use vercel_oidc::Env;

use crate::scope::RequestScope;

/// The idle timeout assumed for a pool that does not say (as `@vercel/functions` does).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Added to the idle timeout: the pool's reaper needs a moment to close the connections.
const GRACE: Duration = Duration::from_millis(100);
/// The shortest keep-alive.
const MIN_WAIT: Duration = Duration::from_millis(100);
/// The keep-alive cap without a deadline: Vercel's longest function duration (15 min) less 1 s.
const MAX_WAIT: Duration = Duration::from_secs(15 * 60 - 1);
/// Kept free before the deadline.
const DEADLINE_MARGIN: Duration = Duration::from_secs(1);

/// A database connection pool [`attach_database_pool`] can watch.
///
/// Implemented for `sqlx::Pool` (feature `sqlx`), `deadpool::managed::Pool` (feature
/// `deadpool`) and `bb8::Pool` (feature `bb8`); [`IdleTimeout`] overrides what a pool says
/// about its idle timeout. Implement it for any other pool: the two methods are all it takes.
pub trait DatabasePool: Send + Sync + 'static {
    /// How long the pool keeps an idle connection open before it closes it; `None` when the
    /// pool does not say ([`DEFAULT_IDLE_TIMEOUT`] is assumed).
    fn idle_timeout(&self) -> Option<Duration>;

    /// How many connections are open now, idle or in use.
    fn open_connections(&self) -> usize;
}

/// A pool with a stated idle timeout, for pools that do not expose theirs (`bb8::Pool`) or
/// that close idle connections on a schedule of their own.
///
/// ```
/// use std::time::Duration;
/// use vercel_functions::{DatabasePool, IdleTimeout};
///
/// struct MyPool;
/// impl DatabasePool for MyPool {
///     fn idle_timeout(&self) -> Option<Duration> { None }
///     fn open_connections(&self) -> usize { 1 }
/// }
/// let pool = IdleTimeout::new(MyPool, Duration::from_secs(5));
/// assert_eq!(pool.idle_timeout(), Some(Duration::from_secs(5)));
/// ```
#[derive(Debug, Clone)]
pub struct IdleTimeout<P> {
    pool: P,
    idle_timeout: Duration,
}

impl<P> IdleTimeout<P> {
    /// `pool`, whose idle connections close after `idle_timeout`.
    pub fn new(pool: P, idle_timeout: Duration) -> Self {
        Self { pool, idle_timeout }
    }
}

impl<P: DatabasePool> DatabasePool for IdleTimeout<P> {
    fn idle_timeout(&self) -> Option<Duration> {
        Some(self.idle_timeout)
    }

    fn open_connections(&self) -> usize {
        self.pool.open_connections()
    }
}

#[cfg(feature = "sqlx")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlx")))]
impl<DB: sqlx::Database> DatabasePool for sqlx::Pool<DB> {
    /// The longest an idle connection of this pool stays open: `PoolOptions::idle_timeout`
    /// (sqlx's default is 10 min) plus one period of sqlx's reaper. The reaper runs every
    /// `min(idle_timeout, max_lifetime)` and closes the connections idle for longer than
    /// `idle_timeout`, so a connection released just after a run is closed up to one period
    /// after its idle timeout.
    fn idle_timeout(&self) -> Option<Duration> {
        let options = self.options();
        let idle = options.get_idle_timeout()?;
        let period = options
            .get_max_lifetime()
            .map_or(idle, |lifetime| lifetime.min(idle));
        Some(idle.saturating_add(period))
    }

    fn open_connections(&self) -> usize {
        usize::try_from(self.size()).unwrap_or(usize::MAX)
    }
}

#[cfg(feature = "deadpool")]
#[cfg_attr(docsrs, doc(cfg(feature = "deadpool")))]
impl<M> DatabasePool for deadpool::managed::Pool<M>
where
    M: deadpool::managed::Manager + Send + Sync + 'static,
    M::Type: Send,
    M::Error: Send,
{
    /// deadpool has no idle timeout of its own (idle connections are dropped by
    /// `Pool::retain`, if you call it): [`DEFAULT_IDLE_TIMEOUT`], unless wrapped in
    /// [`IdleTimeout`].
    fn idle_timeout(&self) -> Option<Duration> {
        None
    }

    fn open_connections(&self) -> usize {
        self.status().size
    }
}

#[cfg(feature = "bb8")]
#[cfg_attr(docsrs, doc(cfg(feature = "bb8")))]
impl<M: bb8::ManageConnection> DatabasePool for bb8::Pool<M> {
    /// `bb8::Pool` does not expose its idle timeout (bb8's default is 10 min):
    /// [`DEFAULT_IDLE_TIMEOUT`] is assumed. Wrap the pool in [`IdleTimeout`] with the value you
    /// gave `Builder::idle_timeout`.
    fn idle_timeout(&self) -> Option<Duration> {
        None
    }

    fn open_connections(&self) -> usize {
        usize::try_from(self.state().connections).unwrap_or(usize::MAX)
    }
}

static POOLS: LazyLock<Mutex<Vec<Arc<dyn DatabasePool>>>> = LazyLock::new(Mutex::default);
/// Ends the pending keep-alive when a new one replaces it.
static PENDING: LazyLock<Mutex<Option<oneshot::Sender<()>>>> = LazyLock::new(Mutex::default);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Keeps invocations alive while `pool`'s idle connections close (see the
/// [module docs](self)). Call it once, where the pool is built; the process keeps a handle to
/// the pool from then on.
///
/// ```no_run
/// # #[cfg(feature = "sqlx")]
/// # async fn f() -> Result<(), sqlx::Error> {
/// let pool = sqlx::postgres::PgPoolOptions::new()
///     .idle_timeout(std::time::Duration::from_secs(5))
///     .connect_lazy("postgres://app@db.example.com/app")?;
/// vercel_functions::attach_database_pool(pool.clone());
/// # Ok(()) }
/// ```
pub fn attach_database_pool(pool: impl DatabasePool) {
    lock(&POOLS).push(Arc::new(pool));
    tracing::debug!("attach_database_pool: pool attached");
}

/// What the layer does when a request ends: a keep-alive, if a pool has open connections.
pub(crate) fn request_ended(scope: &RequestScope, env: &Env) {
    if env.get_non_empty("VERCEL_URL").is_none() || env.get_non_empty("VERCEL_REGION").is_none() {
        return;
    }
    let idle = {
        let pools = lock(&POOLS);
        pools
            .iter()
            .filter(|p| p.open_connections() > 0)
            .map(|p| p.idle_timeout().unwrap_or(DEFAULT_IDLE_TIMEOUT))
            .max()
    };
    let Some(idle) = idle else {
        return;
    };
    let wait = keep_alive(idle, scope.deadline(), Instant::now());
    let (end, ended) = oneshot::channel();
    if let Some(previous) = lock(&PENDING).replace(end) {
        // The previous keep-alive ends now; this one covers the instance from here.
        let _ = previous.send(());
    }
    tracing::debug!(
        wait_ms = wait.as_millis() as u64,
        "database pool keep-alive"
    );
    let keep_alive = async move {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = ended => {}
        }
    };
    if scope.wait_until(Box::pin(keep_alive)).is_err() {
        tracing::debug!("database pool keep-alive: no runtime to run it on");
    }
}

/// `min(idle + 100 ms, max(100 ms, remaining))`, `remaining` = deadline − now − 1 s, else
/// 15 min − 1 s.
fn keep_alive(idle: Duration, deadline: Option<Instant>, now: Instant) -> Duration {
    let remaining = match deadline {
        Some(deadline) => deadline
            .saturating_duration_since(now)
            .saturating_sub(DEADLINE_MARGIN),
        None => MAX_WAIT,
    };
    idle.saturating_add(GRACE).min(remaining.max(MIN_WAIT))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn keep_alive_is_the_idle_timeout_plus_grace_within_the_deadline() {
        let now = Instant::now();
        assert_eq!(keep_alive(MS(5000), None, now), MS(5100));
        assert_eq!(keep_alive(Duration::ZERO, None, now), MS(100));
        // 15 min − 1 s caps it without a deadline.
        assert_eq!(
            keep_alive(Duration::from_secs(3600), None, now),
            Duration::from_secs(899)
        );
        // A deadline 3 s away leaves 2 s.
        assert_eq!(keep_alive(MS(5000), Some(now + MS(3000)), now), MS(2000));
        assert_eq!(keep_alive(MS(500), Some(now + MS(3000)), now), MS(600));
        // Never below 100 ms, even past the deadline.
        assert_eq!(keep_alive(MS(5000), Some(now + MS(1050)), now), MS(100));
        assert_eq!(keep_alive(MS(5000), Some(now), now + MS(10)), MS(100));
        assert_eq!(
            keep_alive(Duration::MAX, None, now),
            Duration::from_secs(899)
        );
    }

    #[test]
    fn idle_timeout_wrapper_overrides() {
        struct P(usize);
        impl DatabasePool for P {
            fn idle_timeout(&self) -> Option<Duration> {
                Some(MS(1))
            }
            fn open_connections(&self) -> usize {
                self.0
            }
        }
        let p = IdleTimeout::new(P(3), MS(7));
        assert_eq!(p.idle_timeout(), Some(MS(7)));
        assert_eq!(p.open_connections(), 3);
    }
}
