//! The tower layer that sets the request context from each request.

use std::sync::Arc;
#[cfg(feature = "verifier")]
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use tower::{Layer, Service};

use super::{ExpectedIdentity, FreshestTokenSlot, RequestContext, ResponseFuture};
use crate::config::OidcConfig;
use crate::env::Env;
use crate::time::{Clock, SharedClock};
use crate::token::OidcToken;
#[cfg(feature = "verifier")]
use crate::verify::Verifier;

/// A tower [`Layer`] that makes each request's OIDC token header visible to
/// [`crate::get_vercel_oidc_token`] while the request is handled, and, on Vercel, records the
/// newest plausible header token in the process-wide [`FreshestTokenSlot`] for background
/// work.
///
/// It serves both request shapes of Vercel's Rust runtime: `http::Request<B>` (an axum
/// `Router`) and `(S, http::Request<B>)` (`vercel_runtime::run` with `(AppState, Request)`).
///
/// ```
/// use tower::ServiceBuilder;
/// use vercel_oidc::RequestContextLayer;
///
/// let svc = ServiceBuilder::new()
///     .layer(RequestContextLayer::new())
///     .service_fn(|_req: http::Request<String>| async {
///         // The token of *this* request:
///         let token = vercel_oidc::get_vercel_oidc_token().await;
///         Ok::<_, std::convert::Infallible>(http::Response::new(format!("{}", token.is_ok())))
///     });
/// # let _ = svc;
/// ```
///
/// # Recording into the slot
/// By default the layer records only when the process runs on Vercel (`VERCEL=1`), where
/// Vercel's proxy sets the header; [`RequestContextLayer::record_freshest`] and
/// [`RequestContextLayer::slot`] decide explicitly. A header token enters the slot only when it
/// is plausible for this deployment: its issuer, team, project and environment match the
/// claims of `VERCEL_OIDC_TOKEN` (else `VERCEL_ORG_ID` / `VERCEL_PROJECT_ID`, when set) and
/// those of the first token the slot recorded; it lives at most 24 h, was not issued in the
/// future, and is newer (larger `iat`) than the one held. See [`FreshestTokenSlot`] for the
/// full rules. The environment is read when the service is built ([`Layer::layer`]).
///
/// The slot itself checks no signatures. With [`RequestContextLayer::verifier`], each new
/// header token that would enter the slot is first verified (signature against the issuer's
/// cached key set, issuer, audience and the verifier's constraints); a forged token then never
/// enters, even one that copies a genuine token's claims.
///
/// # Environment variables
/// | variable | required | meaning |
/// |---|---|---|
/// | `VERCEL` | optional | `1` on Vercel: turns recording on by default |
/// | `VERCEL_OIDC_TOKEN` | optional | its `iss`, `owner_id`, `project_id` and `environment` are the identity recorded tokens must have |
/// | `VERCEL_ORG_ID` | optional | the `owner_id` recorded tokens must have, when `VERCEL_OIDC_TOKEN` does not say |
/// | `VERCEL_PROJECT_ID` | optional | the `project_id` recorded tokens must have, when `VERCEL_OIDC_TOKEN` does not say |
#[derive(Debug, Clone)]
pub struct RequestContextLayer {
    slot: Arc<FreshestTokenSlot>,
    /// `None`: record only on Vercel.
    record: Option<bool>,
    env: Env,
    clock: SharedClock,
    #[cfg(feature = "verifier")]
    verifier: Option<Verifier>,
}

impl Default for RequestContextLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl RequestContextLayer {
    /// A layer that, on Vercel, records into the process-wide slot.
    pub fn new() -> Self {
        Self {
            slot: Arc::clone(FreshestTokenSlot::global()),
            record: None,
            env: Env::real(),
            clock: SharedClock::default(),
            #[cfg(feature = "verifier")]
            verifier: None,
        }
    }

    /// The shared settings: where `VERCEL`, `VERCEL_OIDC_TOKEN`, `VERCEL_ORG_ID` and
    /// `VERCEL_PROJECT_ID` are read, and the clock header tokens are checked against.
    pub fn configure(mut self, config: &OidcConfig) -> Self {
        self.env = config.env().clone();
        self.clock = config.clock().clone();
        self
    }

    /// Whether to record the newest plausible header token for work outside requests.
    /// Defaults to `true` on Vercel (`VERCEL=1` in [`RequestContextLayer::env`]) and `false`
    /// elsewhere. Leave it off when clients can reach this server without Vercel's proxy in
    /// front; turn it on off Vercel only where the first request's header can be trusted when
    /// the environment names no identity (see [`FreshestTokenSlot`]).
    pub fn record_freshest(mut self, record: bool) -> Self {
        self.record = Some(record);
        self
    }

    /// Records into `slot` instead of the process-wide one, and turns recording on (as
    /// `record_freshest(true)` does; a later `record_freshest(false)` turns it off again).
    /// Defaults to [`FreshestTokenSlot::global`].
    pub fn slot(mut self, slot: Arc<FreshestTokenSlot>) -> Self {
        self.slot = slot;
        self.record = Some(true);
        self
    }

    /// Where `VERCEL`, `VERCEL_OIDC_TOKEN`, `VERCEL_ORG_ID` and `VERCEL_PROJECT_ID` are read.
    /// Defaults to the process environment.
    pub fn env(mut self, env: Env) -> Self {
        self.env = env;
        self
    }

    /// The clock a header token's `exp` and `iat` are checked against when it is offered to the
    /// slot. Defaults to the system clock.
    pub fn time_source(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Verifies each new header token with `verifier` before it may enter the slot (feature
    /// `verifier`). Defaults
    /// to none: the slot's plausibility rules only.
    ///
    /// Only tokens that would enter the slot are checked (one signature check per new, newer
    /// token; the token already held costs nothing). With the key set cached this happens on
    /// the request path, without network. While no key set is cached, one token at a time is
    /// verified in a background task (on the current tokio runtime) that fetches the key set;
    /// other tokens are not recorded meanwhile. The request itself is never delayed or
    /// rejected: this decides only what background work may use.
    ///
    /// ```no_run
    /// use vercel_oidc::RequestContextLayer;
    /// use vercel_oidc::verify::{ExpectedIssuer, Verifier};
    ///
    /// # fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// // The audience Vercel gives function tokens by default: `https://vercel.com/<team>`.
    /// let verifier = Verifier::builder(ExpectedIssuer::team("acme"), "https://vercel.com/acme")
    ///     .project_id("prj_123")
    ///     .environment("production")
    ///     .owner_id("team_abc")
    ///     .build()?;
    /// let layer = RequestContextLayer::new().verifier(verifier);
    /// # let _ = layer; Ok(()) }
    /// ```
    #[cfg(feature = "verifier")]
    #[cfg_attr(docsrs, doc(cfg(feature = "verifier")))]
    pub fn verifier(mut self, verifier: Verifier) -> Self {
        self.verifier = Some(verifier);
        self
    }
}

/// What a service records into, decided when it is built.
#[derive(Debug)]
struct Recorder {
    slot: Arc<FreshestTokenSlot>,
    expected: ExpectedIdentity,
    clock: SharedClock,
    #[cfg(feature = "verifier")]
    verifier: Option<Verifier>,
    /// A background verification (waiting for the key set) is running.
    #[cfg(feature = "verifier")]
    verifying: AtomicBool,
}

impl Recorder {
    fn offer(self: &Arc<Self>, token: &OidcToken) {
        let now = self.clock.now();
        #[cfg(feature = "verifier")]
        if let Some(verifier) = &self.verifier {
            self.offer_verified(verifier, token, now);
            return;
        }
        // The slot logs the reason of a refusal.
        let _ = self.slot.offer_expecting(token, now, &self.expected);
    }

    #[cfg(feature = "verifier")]
    fn offer_verified(
        self: &Arc<Self>,
        verifier: &Verifier,
        token: &OidcToken,
        now: std::time::SystemTime,
    ) {
        if self.slot.would_take(token, now, &self.expected).is_err() {
            return;
        }
        match verifier.verify_cached(token.expose_secret()) {
            Some(Ok(_)) => {
                let _ = self.slot.offer_expecting(token, now, &self.expected);
            }
            Some(Err(error)) => {
                tracing::debug!(%error, "request context: header token not recorded: it does not verify");
            }
            None => self.verify_in_background(token),
        }
    }

    /// Verifies `token` in a task that may fetch the key set; at most one at a time.
    #[cfg(feature = "verifier")]
    fn verify_in_background(self: &Arc<Self>, token: &OidcToken) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::debug!(
                "request context: no key set cached and no tokio runtime; token not recorded"
            );
            return;
        };
        if self.verifying.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = Arc::clone(self);
        let token = token.clone();
        runtime.spawn(async move {
            // Cleared however the task ends.
            let _running = Running(&this.verifying);
            let Some(verifier) = &this.verifier else {
                return;
            };
            match verifier.verify(token.expose_secret()).await {
                Ok(_) => {
                    let _ = this
                        .slot
                        .offer_expecting(&token, this.clock.now(), &this.expected);
                }
                Err(error) => {
                    tracing::debug!(%error, "request context: header token not recorded: it does not verify");
                }
            }
        });
    }
}

/// Clears the "verifying" flag when dropped.
#[cfg(feature = "verifier")]
struct Running<'a>(&'a AtomicBool);

#[cfg(feature = "verifier")]
impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl<S> Layer<S> for RequestContextLayer {
    type Service = RequestContextService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        let record = self.record.unwrap_or_else(|| super::on_vercel(&self.env));
        let recorder = record.then(|| {
            Arc::new(Recorder {
                slot: Arc::clone(&self.slot),
                expected: ExpectedIdentity::from_env(&self.env),
                clock: self.clock.clone(),
                #[cfg(feature = "verifier")]
                verifier: self.verifier.clone(),
                #[cfg(feature = "verifier")]
                verifying: AtomicBool::new(false),
            })
        });
        RequestContextService { inner, recorder }
    }
}

/// The service made by [`RequestContextLayer`].
#[derive(Debug, Clone)]
pub struct RequestContextService<S> {
    inner: S,
    recorder: Option<Arc<Recorder>>,
}

impl<S> RequestContextService<S> {
    fn context(&self, headers: &http::HeaderMap) -> RequestContext {
        let context = RequestContext::from_headers(headers);
        if let Some(recorder) = &self.recorder
            && let Some(Ok(token)) = context.token()
        {
            recorder.offer(token);
        }
        context
    }
}

impl<S, B> Service<http::Request<B>> for RequestContextService<S>
where
    S: Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let context = self.context(request.headers());
        // `call` itself may read the token before returning its future: scope it too.
        let inner = &mut self.inner;
        let future = context.clone().sync_scope(|| inner.call(request));
        ResponseFuture::new(context, future)
    }
}

impl<S, A, B> Service<(A, http::Request<B>)> for RequestContextService<S>
where
    S: Service<(A, http::Request<B>)>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, (state, request): (A, http::Request<B>)) -> Self::Future {
        let context = self.context(request.headers());
        let inner = &mut self.inner;
        let future = context.clone().sync_scope(|| inner.call((state, request)));
        ResponseFuture::new(context, future)
    }
}
