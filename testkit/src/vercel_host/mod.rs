//! `VercelHost`: a local stand-in for the Vercel platform that runs a real function binary built
//! on `vercel_runtime` (2.4) the way the platform does.
//!
//! [`VercelHostBuilder::start`]
//!
//! 1. creates a unix socket in a fresh temporary directory and passes its path as
//!    `VERCEL_IPC_PATH`, picks a free loopback port and passes it as `VERCEL_DEV_PORT`, and
//!    sets `VERCEL=1`, `VERCEL_ENV=production`, `VERCEL_REGION` (the host's region) and
//!    `VERCEL_URL=testkit-host.vercel.app` (each overridable with
//!    [`VercelHostBuilder::env`], removable with [`VercelHostBuilder::env_remove`]);
//! 2. starts the binary (`tokio::process`, killed if the host is dropped), its stdout and
//!    stderr captured ([`VercelHost::stdout`], [`VercelHost::stderr`], the first 1 MiB each);
//! 3. accepts the runtime's IPC connection and waits for its
//!    `{"type":"server-started","payload":{"initDuration","httpPort"}}` message.
//!
//! From then on it reads every NUL-terminated JSON message the runtime sends, each capped at
//! [`VercelHostBuilder::max_message_bytes`], and records it with its arrival time on tokio's
//! clock ([`VercelHost::messages`]): the per-invocation `end` messages ([`EndRecord`]), `log`
//! messages with their base64 text decoded ([`LogRecord`]), and anything else.
//!
//! [`VercelHost::invoke`] sends one HTTP request to the function with the platform's headers:
//!
//! | header | value |
//! |---|---|
//! | `x-vercel-internal-invocation-id` | a fresh random id per invocation ([`HostResponse::invocation_id`]) |
//! | `x-vercel-internal-request-id` | 1, 2, 3, … per host ([`HostResponse::request_id`]) |
//! | `x-vercel-oidc-token` | minted per invocation (a distinct `jti` each) by the host's [`Issuer`] ([`VercelHostBuilder::issuer`], [`VercelHostBuilder::mint_with`]) or given per request ([`HostRequest::oidc_token`]); absent without either |
//! | `x-vercel-id` | `<region>::<random>-<unix ms>-<hex>` ([`VercelHostBuilder::region`], default `iad1`) |
//! | `x-real-ip`, `x-forwarded-for`, `x-vercel-forwarded-for` | the client ip ([`VercelHostBuilder::client_ip`], default `203.0.113.7`) |
//! | `x-vercel-ip-country`, `-country-region`, `-city`, `-latitude`, `-longitude`, `-postal-code`, `-timezone` | `US`, `CA`, `San%20Francisco`, `37.7749`, `-122.4194`, `94103`, `America/Los_Angeles` ([`VercelHostBuilder::platform_header`] replaces or adds one; [`VercelHostBuilder::without_platform_header`] drops one) |
//!
//! A header on the [`HostRequest`] replaces the platform's header of the same name.
//! [`VercelHost::wait_for_end`] then waits for the invocation's `end` message, which the runtime
//! sends only once the request's `AppState::wait_until` work has settled.
//!
//! [`VercelHost::freeze`] and [`VercelHost::thaw`] stop and continue the process with `SIGSTOP`
//! and `SIGCONT`, as the platform suspends an idle instance; [`VercelHost::shutdown`] sends
//! `SIGTERM` (the runtime then drains all pending `wait_until` work and exits), waits for the
//! exit and for the last IPC message.
//!
//! Every wait is bounded by [`VercelHostBuilder::timeout`] (30 s by default) and fails with
//! [`HostError::Timeout`]. The function runs in real time: do not use a paused tokio clock in
//! a test that drives a host (the waits would time out at once); keep the function's own delays
//! small and assert the order of events ([`EndRecord::at`], [`EndRecord::seq`],
//! [`HostResponse::responded_at`]) rather than durations.
//!
//! Unix only (the IPC is a unix socket and freezing uses signals).
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use vercel_oidc_testkit::Issuer;
//! use vercel_oidc_testkit::vercel_host::{HostRequest, VercelHost, example_binary};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let issuer = Arc::new(Issuer::start().await?);
//! // An `[[example]]` of the crate under test, built by `cargo test`.
//! let mut host = VercelHost::builder(example_binary("my_function")?)
//!     .env("RUST_LOG", "debug")
//!     .issuer(Arc::clone(&issuer))
//!     .start()
//!     .await?;
//!
//! let response = host.invoke(HostRequest::get("/api/hello")).await?;
//! assert_eq!(response.status, 200);
//! let end = host.wait_for_end(&response.invocation_id).await?;
//! assert!(end.at >= response.responded_at);
//! assert_eq!(end.error, None);
//!
//! host.freeze()?; // the instance is suspended between invocations
//! host.thaw()?;
//! let status = host.shutdown().await?; // SIGTERM: pending work drains
//! assert!(status.success());
//! # Ok(()) }
//! ```

mod error;
mod ipc;
mod request;

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, TcpListener as StdTcpListener};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use rustix::process::{Pid, Signal};
use tokio::io::{AsyncRead, AsyncReadExt as _};
use tokio::net::UnixListener;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use error::HostError;
pub use ipc::{EndRecord, IpcMessage, IpcRecord, LogRecord};
pub use request::{HostRequest, HostResponse};

use crate::issuer::Issuer;
use ipc::Inbox;
use request::OidcChoice;

/// How much of the process's stdout and stderr is kept, each.
const OUTPUT_CAP: usize = 1024 * 1024;
/// How many times a start is retried when the runtime could not bind the chosen port.
const PORT_ATTEMPTS: usize = 3;

/// Mints the `x-vercel-oidc-token` of one invocation.
type MintFn = Arc<dyn Fn(&Issuer, &MintContext) -> String + Send + Sync>;

/// The invocation a token is minted for ([`VercelHostBuilder::mint_with`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MintContext {
    /// Its `x-vercel-internal-invocation-id`.
    pub invocation_id: String,
    /// Its `x-vercel-internal-request-id`.
    pub request_id: u64,
}

/// Settings of a [`VercelHost`]; [`VercelHostBuilder::start`] starts the function.
pub struct VercelHostBuilder {
    binary: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, Option<OsString>)>,
    env_clear: bool,
    issuer: Option<Arc<Issuer>>,
    mint: Option<MintFn>,
    region: String,
    client_ip: String,
    platform_headers: Vec<(String, Option<String>)>,
    timeout: Duration,
    max_message_bytes: usize,
    max_response_bytes: usize,
}

impl fmt::Debug for VercelHostBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VercelHostBuilder")
            .field("binary", &self.binary)
            .field("region", &self.region)
            .field("has_issuer", &self.issuer.is_some())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl VercelHostBuilder {
    /// An argument for the binary. May be called more than once. Defaults to none.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Sets an environment variable of the function process, replacing the host's own value
    /// for the same name (except `VERCEL_IPC_PATH` and `VERCEL_DEV_PORT`, which the host
    /// always sets). May be called more than once. Defaults to the test process's environment
    /// plus the platform's variables (see the module docs).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    /// Removes an environment variable from the function process (also one the host would set,
    /// such as `VERCEL_URL`). Defaults to removing none.
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.env.push((key.as_ref().to_owned(), None));
        self
    }

    /// Starts the function with an empty environment plus the platform's variables and those
    /// set with [`VercelHostBuilder::env`]. Defaults to inheriting the test process's
    /// environment.
    pub fn env_clear(mut self) -> Self {
        self.env_clear = true;
        self
    }

    /// The issuer that mints each invocation's `x-vercel-oidc-token` (its default token, or
    /// what [`VercelHostBuilder::mint_with`] makes). Defaults to none: no token header unless
    /// a request gives one.
    pub fn issuer(mut self, issuer: impl Into<Arc<Issuer>>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// How each invocation's token is minted from the issuer, e.g.
    /// `|issuer, _| issuer.token().audience("sts.amazonaws.com").sign()`. Defaults to the
    /// issuer's default claims and lifetime plus `jti` set to the invocation id, so that every
    /// invocation's token is distinct (two tokens minted in the same second with the same
    /// claims would otherwise be identical).
    pub fn mint_with<F>(mut self, mint: F) -> Self
    where
        F: Fn(&Issuer, &MintContext) -> String + Send + Sync + 'static,
    {
        self.mint = Some(Arc::new(mint));
        self
    }

    /// The region in `x-vercel-id` and `VERCEL_REGION`. Defaults to `iad1`.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    /// The client ip in `x-real-ip`, `x-forwarded-for` and `x-vercel-forwarded-for`. Defaults
    /// to `203.0.113.7`.
    pub fn client_ip(mut self, ip: impl Into<String>) -> Self {
        self.client_ip = ip.into();
        self
    }

    /// Sets a header on every invocation, replacing the platform's default of the same name
    /// (e.g. `x-vercel-ip-country`). Defaults: see the module docs.
    pub fn platform_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.platform_headers
            .push((name.into().to_ascii_lowercase(), Some(value.into())));
        self
    }

    /// Sends no header `name` by default (a geo header, say). Defaults to dropping none.
    pub fn without_platform_header(mut self, name: impl Into<String>) -> Self {
        self.platform_headers
            .push((name.into().to_ascii_lowercase(), None));
        self
    }

    /// The limit of every wait: for `server-started`, a response, an `end` message, the exit.
    /// Defaults to 30 seconds.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest IPC message read; a larger one is skipped and recorded as
    /// [`IpcMessage::Invalid`]. Defaults to 1 MiB.
    pub fn max_message_bytes(mut self, limit: usize) -> Self {
        self.max_message_bytes = limit;
        self
    }

    /// The largest response body read ([`HostError::ResponseTooLarge`] beyond). Defaults to
    /// 16 MiB.
    pub fn max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = limit;
        self
    }

    /// Starts the function and waits for its `server-started` message.
    ///
    /// # Errors
    /// [`HostError::BinaryNotFound`], [`HostError::Setup`], [`HostError::Spawn`],
    /// [`HostError::ExitedBeforeStart`] (with the tail of its stderr) or
    /// [`HostError::Timeout`].
    pub async fn start(self) -> Result<VercelHost, HostError> {
        if !self.binary.is_file() {
            return Err(HostError::BinaryNotFound {
                path: self.binary,
                hint: "build the function binary first",
            });
        }
        let config = Arc::new(Config {
            headers: self.platform_header_list(),
            region: self.region.clone(),
            issuer: self.issuer.clone(),
            mint: self.mint.clone(),
            timeout: self.timeout,
            max_response_bytes: self.max_response_bytes,
        });
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.start_once(Arc::clone(&config)).await {
                Err(HostError::ExitedBeforeStart {
                    status,
                    stderr_tail,
                }) => {
                    let port_taken = stderr_tail.contains("AddrInUse")
                        || stderr_tail.contains("Address already in use");
                    if !port_taken || attempt >= PORT_ATTEMPTS {
                        return Err(HostError::ExitedBeforeStart {
                            status,
                            stderr_tail,
                        });
                    }
                    tracing::debug!("vercel-oidc-testkit: the function's port was taken; retrying");
                }
                other => return other,
            }
        }
    }

    fn platform_header_list(&self) -> Vec<(String, String)> {
        let ip = self.client_ip.clone();
        let mut headers: Vec<(String, String)> = [
            ("x-real-ip", ip.as_str()),
            ("x-forwarded-for", ip.as_str()),
            ("x-vercel-forwarded-for", ip.as_str()),
            ("x-vercel-ip-country", "US"),
            ("x-vercel-ip-country-region", "CA"),
            ("x-vercel-ip-city", "San%20Francisco"),
            ("x-vercel-ip-latitude", "37.7749"),
            ("x-vercel-ip-longitude", "-122.4194"),
            ("x-vercel-ip-postal-code", "94103"),
            ("x-vercel-ip-timezone", "America/Los_Angeles"),
        ]
        .into_iter()
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
        for (name, value) in &self.platform_headers {
            headers.retain(|(n, _)| n != name);
            if let Some(value) = value {
                headers.push((name.clone(), value.clone()));
            }
        }
        headers
    }

    async fn start_once(&self, config: Arc<Config>) -> Result<VercelHost, HostError> {
        let dir = tempfile::Builder::new()
            .prefix("vercel-host")
            .tempdir()
            .map_err(|source| HostError::Setup {
                what: "IPC socket directory",
                source,
            })?;
        let socket_path = dir.path().join("ipc.sock");
        let listener = UnixListener::bind(&socket_path).map_err(|source| HostError::Setup {
            what: "IPC socket",
            source,
        })?;
        let port = free_port().map_err(|source| HostError::Setup {
            what: "port",
            source,
        })?;

        let mut command = Command::new(&self.binary);
        command.args(&self.args);
        if self.env_clear {
            command.env_clear();
        }
        command
            .env("VERCEL", "1")
            .env("VERCEL_ENV", "production")
            .env("VERCEL_REGION", &self.region)
            .env("VERCEL_URL", "testkit-host.vercel.app");
        for (key, value) in &self.env {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        command
            .env("VERCEL_IPC_PATH", &socket_path)
            .env("VERCEL_DEV_PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|source| HostError::Spawn {
            path: self.binary.clone(),
            source,
        })?;
        let pid = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .and_then(Pid::from_raw);
        let stdout = Output::default();
        let stderr = Output::default();
        if let Some(out) = child.stdout.take() {
            tokio::spawn(capture(out, stdout.clone()));
        }
        let mut stderr_done = child
            .stderr
            .take()
            .map(|err| tokio::spawn(capture(err, stderr.clone())));

        let inbox = Arc::new(Inbox::default());
        let deadline = Instant::now() + self.timeout;
        let timeout = HostError::Timeout {
            what: "server-started",
            after: self.timeout,
        };
        // 1. The runtime connects to the socket.
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(source) => return Err(HostError::Setup { what: "IPC socket", source }),
            },
            status = child.wait() => return Err(exited(status, &stderr, stderr_done.as_mut()).await),
            () = tokio::time::sleep_until(deadline) => return Err(timeout),
        };
        let reader = tokio::spawn(ipc::read_messages(
            stream,
            Arc::clone(&inbox),
            self.max_message_bytes,
        ));
        // 2. It sends server-started.
        let http_port = loop {
            let notified = inbox.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let started = inbox.records().iter().find_map(|r| match r.message {
                IpcMessage::ServerStarted { http_port, .. } => Some(http_port),
                _ => None,
            });
            if let Some(port) = started {
                break port;
            }
            tokio::select! {
                () = &mut notified => {}
                status = child.wait() => return Err(exited(status, &stderr, stderr_done.as_mut()).await),
                () = tokio::time::sleep_until(deadline) => return Err(timeout),
            }
        };
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(self.timeout)
            .build()
            .map_err(|e| HostError::Http(Box::new(e)))?;
        tracing::debug!(http_port, "vercel-oidc-testkit: function started");
        Ok(VercelHost {
            child: Some(child),
            pid,
            exit_status: None,
            base_url: format!("http://127.0.0.1:{http_port}"),
            http_port,
            inbox,
            reader: Some(reader),
            stdout,
            stderr,
            frozen: AtomicBool::new(false),
            next_request_id: AtomicU64::new(1),
            client,
            config,
            binary: self.binary.clone(),
            _dir: dir,
        })
    }
}

/// The error for a process that exited before `server-started`.
async fn exited(
    status: io::Result<ExitStatus>,
    stderr: &Output,
    stderr_done: Option<&mut JoinHandle<()>>,
) -> HostError {
    match status {
        Err(source) => HostError::Wait(source),
        Ok(status) => {
            // The pipe closes with the process (unless it left children holding it): let the
            // reader take everything it wrote.
            if let Some(done) = stderr_done {
                let _ = tokio::time::timeout(Duration::from_secs(2), done).await;
            }
            HostError::ExitedBeforeStart {
                status,
                stderr_tail: stderr.tail(2048),
            }
        }
    }
}

/// A free loopback port: bound, read and released (the runtime binds it a moment later; a
/// start that loses the race is retried).
fn free_port() -> io::Result<u16> {
    let listener = StdTcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// The first [`OUTPUT_CAP`] bytes of one output stream.
#[derive(Debug, Clone, Default)]
struct Output(Arc<Mutex<Vec<u8>>>);

impl Output {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }

    fn tail(&self, n: usize) -> String {
        let text = self.text();
        let mut start = text.len().saturating_sub(n);
        while !text.is_char_boundary(start) {
            start += 1;
        }
        text[start..].to_owned()
    }
}

async fn capture(mut stream: impl AsyncRead + Unpin, output: Output) {
    let mut chunk = vec![0u8; 8192];
    loop {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let mut buf = output.0.lock().unwrap_or_else(PoisonError::into_inner);
                let room = OUTPUT_CAP.saturating_sub(buf.len());
                buf.extend_from_slice(&chunk[..n.min(room)]);
            }
        }
    }
}

struct Config {
    headers: Vec<(String, String)>,
    region: String,
    issuer: Option<Arc<Issuer>>,
    mint: Option<MintFn>,
    timeout: Duration,
    max_response_bytes: usize,
}

/// A function process running under the emulated platform. See the [module docs](self).
///
/// Dropping it kills the process (`SIGKILL`) and removes the IPC socket.
pub struct VercelHost {
    child: Option<Child>,
    pid: Option<Pid>,
    exit_status: Option<ExitStatus>,
    base_url: String,
    http_port: u16,
    inbox: Arc<Inbox>,
    reader: Option<JoinHandle<()>>,
    stdout: Output,
    stderr: Output,
    frozen: AtomicBool,
    next_request_id: AtomicU64,
    client: reqwest::Client,
    config: Arc<Config>,
    binary: PathBuf,
    _dir: tempfile::TempDir,
}

impl fmt::Debug for VercelHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VercelHost")
            .field("binary", &self.binary)
            .field("base_url", &self.base_url)
            .field("pid", &self.pid())
            .field("frozen", &self.is_frozen())
            .finish_non_exhaustive()
    }
}

impl VercelHost {
    /// A builder for a host that runs `binary` (a function built on `vercel_runtime`; see
    /// [`example_binary`] for an `[[example]]` of the crate under test).
    pub fn builder(binary: impl Into<PathBuf>) -> VercelHostBuilder {
        VercelHostBuilder {
            binary: binary.into(),
            args: Vec::new(),
            env: Vec::new(),
            env_clear: false,
            issuer: None,
            mint: None,
            region: "iad1".to_owned(),
            client_ip: "203.0.113.7".to_owned(),
            platform_headers: Vec::new(),
            timeout: Duration::from_secs(30),
            max_message_bytes: 1024 * 1024,
            max_response_bytes: 16 * 1024 * 1024,
        }
    }

    /// `http://127.0.0.1:PORT`, the function's own server (requests sent here directly carry
    /// no platform headers).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The `httpPort` of the `server-started` message.
    pub fn http_port(&self) -> u16 {
        self.http_port
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Whether [`VercelHost::freeze`] was called without a [`VercelHost::thaw`] since.
    pub fn is_frozen(&self) -> bool {
        self.frozen.load(Ordering::SeqCst)
    }

    /// Sends one invocation: `request` plus the platform headers (see the module docs), and
    /// reads the whole response. While the process is frozen the response waits for
    /// [`VercelHost::thaw`] (bounded by the host's timeout).
    ///
    /// # Errors
    /// [`HostError::NotRunning`] after [`VercelHost::shutdown`], [`HostError::InvalidRequest`]
    /// for a bad path or header, [`HostError::Http`] when the connection fails,
    /// [`HostError::Timeout`], [`HostError::ResponseTooLarge`].
    pub async fn invoke(&self, request: impl Into<HostRequest>) -> Result<HostResponse, HostError> {
        if self.child.is_none() {
            return Err(HostError::NotRunning);
        }
        let request = request.into();
        if !request.path.starts_with('/') {
            return Err(HostError::InvalidRequest("the path must start with '/'"));
        }
        let invocation_id = crate::format::uuid_like();
        let request_id = self.next_request_id.fetch_add(1, Ordering::SeqCst);
        let vercel_id = format!("{}::{}", self.config.region, vercel_request_id());
        let oidc_token = match &request.oidc {
            OidcChoice::Explicit(token) => Some(token.clone()),
            OidcChoice::None => None,
            OidcChoice::Host => self.config.issuer.as_deref().map(|issuer| {
                let context = MintContext {
                    invocation_id: invocation_id.clone(),
                    request_id,
                };
                match &self.config.mint {
                    Some(mint) => mint(issuer, &context),
                    None => issuer
                        .token()
                        .claim("jti", context.invocation_id.as_str())
                        .sign(),
                }
            }),
        };

        let mut headers: Vec<(String, String)> = vec![
            (
                "x-vercel-internal-invocation-id".to_owned(),
                invocation_id.clone(),
            ),
            (
                "x-vercel-internal-request-id".to_owned(),
                request_id.to_string(),
            ),
            ("x-vercel-id".to_owned(), vercel_id.clone()),
        ];
        if let Some(token) = &oidc_token {
            headers.push(("x-vercel-oidc-token".to_owned(), token.clone()));
        }
        headers.extend(self.config.headers.iter().cloned());
        let mut map = reqwest::header::HeaderMap::new();
        for (name, value) in &headers {
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| HostError::InvalidRequest("a platform header name is not valid"))?;
            let mut value = reqwest::header::HeaderValue::from_str(value)
                .map_err(|_| HostError::InvalidRequest("a platform header value is not valid"))?;
            if name == "x-vercel-oidc-token" {
                value.set_sensitive(true);
            }
            map.insert(name, value);
        }
        let mut replaced = std::collections::HashSet::new();
        for (name, value) in &request.headers {
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| HostError::InvalidRequest("a header name is not valid"))?;
            let value = reqwest::header::HeaderValue::from_str(value)
                .map_err(|_| HostError::InvalidRequest("a header value is not valid"))?;
            if replaced.insert(name.clone()) {
                map.remove(&name);
            }
            map.append(name, value);
        }
        let oidc_token = map
            .get("x-vercel-oidc-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);

        let url = format!("{}{}", self.base_url, request.path);
        let sent_at = Instant::now();
        let send = async {
            let mut response = self
                .client
                .request(request.method.clone(), url)
                .headers(map)
                .body(request.body.clone())
                .send()
                .await
                .map_err(|e| HostError::Http(Box::new(e.without_url())))?;
            let status = response.status();
            let headers = response.headers().clone();
            let mut body = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| HostError::Http(Box::new(e.without_url())))?
            {
                if body.len() + chunk.len() > self.config.max_response_bytes {
                    return Err(HostError::ResponseTooLarge {
                        limit: self.config.max_response_bytes,
                    });
                }
                body.extend_from_slice(&chunk);
            }
            Ok((status, headers, Bytes::from(body)))
        };
        let (status, headers, body) = tokio::time::timeout(self.config.timeout, send)
            .await
            .map_err(|_| HostError::Timeout {
                what: "the response",
                after: self.config.timeout,
            })??;
        Ok(HostResponse {
            status,
            headers,
            body,
            invocation_id,
            request_id,
            vercel_id,
            oidc_token,
            sent_at,
            responded_at: Instant::now(),
        })
    }

    /// Waits for the `end` message of `invocation_id` (already received or still to come).
    ///
    /// # Errors
    /// [`HostError::Timeout`], or [`HostError::NotRunning`] if the process closed its IPC
    /// connection without sending it.
    pub async fn wait_for_end(&self, invocation_id: &str) -> Result<EndRecord, HostError> {
        self.wait_for("the end message", |records| {
            records.iter().find_map(|r| match &r.message {
                IpcMessage::End(end) if end.invocation_id == invocation_id => Some(end.clone()),
                _ => None,
            })
        })
        .await
    }

    /// Waits for a `log` message whose text contains `text`.
    ///
    /// # Errors
    /// As [`VercelHost::wait_for_end`].
    pub async fn wait_for_log(&self, text: &str) -> Result<LogRecord, HostError> {
        self.wait_for("the log message", |records| {
            records.iter().find_map(|r| match &r.message {
                IpcMessage::Log(log) if log.message.contains(text) => Some(log.clone()),
                _ => None,
            })
        })
        .await
    }

    async fn wait_for<T>(
        &self,
        what: &'static str,
        find: impl Fn(&[IpcRecord]) -> Option<T>,
    ) -> Result<T, HostError> {
        let deadline = Instant::now() + self.config.timeout;
        loop {
            let notified = self.inbox.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(found) = find(&self.inbox.records()) {
                return Ok(found);
            }
            if self.reader.as_ref().is_none_or(JoinHandle::is_finished) {
                // The connection is closed: nothing more will arrive.
                if let Some(found) = find(&self.inbox.records()) {
                    return Ok(found);
                }
                return Err(HostError::NotRunning);
            }
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep_until(deadline) => {
                    return Err(HostError::Timeout { what, after: self.config.timeout });
                }
            }
        }
    }

    /// The `end` message of `invocation_id`, if it has arrived.
    pub fn end_for(&self, invocation_id: &str) -> Option<EndRecord> {
        self.ends()
            .into_iter()
            .find(|e| e.invocation_id == invocation_id)
    }

    /// Every `end` message so far, in arrival order.
    pub fn ends(&self) -> Vec<EndRecord> {
        self.inbox
            .records()
            .iter()
            .filter_map(|r| match &r.message {
                IpcMessage::End(end) => Some(end.clone()),
                _ => None,
            })
            .collect()
    }

    /// Every `log` message so far, in arrival order.
    pub fn logs(&self) -> Vec<LogRecord> {
        self.inbox
            .records()
            .iter()
            .filter_map(|r| match &r.message {
                IpcMessage::Log(log) => Some(log.clone()),
                _ => None,
            })
            .collect()
    }

    /// Every IPC message so far (`server-started` first), in arrival order.
    pub fn messages(&self) -> Vec<IpcRecord> {
        self.inbox.records().clone()
    }

    /// What the process wrote to stdout so far (the first 1 MiB, lossy UTF-8).
    pub fn stdout(&self) -> String {
        self.stdout.text()
    }

    /// What the process wrote to stderr so far (the first 1 MiB, lossy UTF-8).
    pub fn stderr(&self) -> String {
        self.stderr.text()
    }

    /// Stops the process with `SIGSTOP`, as the platform suspends an idle instance: nothing
    /// in it runs (not its timers, not its `wait_until` work) until [`VercelHost::thaw`].
    ///
    /// # Errors
    /// [`HostError::NotRunning`] or [`HostError::Signal`].
    ///
    /// The signal is delivered asynchronously; on Linux this returns once `/proc` shows the
    /// process stopped (or after 1 s).
    pub fn freeze(&self) -> Result<(), HostError> {
        self.signal(Signal::STOP, "SIGSTOP")?;
        self.frozen.store(true, Ordering::SeqCst);
        if let Some(pid) = self.pid() {
            wait_until_stopped(pid);
        }
        Ok(())
    }

    /// Continues a frozen process with `SIGCONT`. Its monotonic clock has moved on meanwhile,
    /// so timers that fell due while it was frozen fire at once.
    ///
    /// # Errors
    /// [`HostError::NotRunning`] or [`HostError::Signal`].
    pub fn thaw(&self) -> Result<(), HostError> {
        self.signal(Signal::CONT, "SIGCONT")?;
        self.frozen.store(false, Ordering::SeqCst);
        Ok(())
    }

    fn signal(&self, signal: Signal, name: &'static str) -> Result<(), HostError> {
        let pid = match (&self.child, self.pid) {
            (Some(child), Some(pid)) if child.id().is_some() => pid,
            _ => return Err(HostError::NotRunning),
        };
        rustix::process::kill_process(pid, signal).map_err(|e| HostError::Signal {
            signal: name,
            source: e.into(),
        })
    }

    /// Stops the function as the platform does: `SIGTERM` (and `SIGCONT` if frozen), then waits
    /// for it to exit (the runtime first drains every pending `wait_until` and sends their
    /// `end` messages) and for its IPC connection to close, so every message it sent is in
    /// [`VercelHost::messages`] when this returns. Calling it again returns the same status.
    ///
    /// # Errors
    /// [`HostError::Signal`], [`HostError::Wait`], or [`HostError::Timeout`] (the process is
    /// then killed).
    pub async fn shutdown(&mut self) -> Result<ExitStatus, HostError> {
        if let Some(status) = self.exit_status {
            return Ok(status);
        }
        self.signal(Signal::TERM, "SIGTERM")?;
        if self.is_frozen() {
            self.thaw()?;
        }
        let Some(child) = self.child.as_mut() else {
            return Err(HostError::NotRunning);
        };
        let status = match tokio::time::timeout(self.config.timeout, child.wait()).await {
            Ok(status) => status.map_err(HostError::Wait)?,
            Err(_) => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                return Err(HostError::Timeout {
                    what: "exit",
                    after: self.config.timeout,
                });
            }
        };
        self.exit_status = Some(status);
        if let Some(reader) = self.reader.as_mut() {
            // The socket closes with the process; the reader then records the last messages.
            let _ = tokio::time::timeout(self.config.timeout, reader).await;
        }
        self.child = None;
        tracing::debug!(%status, "vercel-oidc-testkit: function stopped");
        Ok(status)
    }
}

/// Polls `/proc/<pid>/stat` (Linux) until the process state is `T` (stopped), for at most 1 s.
/// Without `/proc` it returns at once.
fn wait_until_stopped(pid: u32) {
    let path = format!("/proc/{pid}/stat");
    for _ in 0..1000 {
        let Ok(stat) = std::fs::read_to_string(&path) else {
            return;
        };
        // `pid (comm) S …`: the state follows the last `)`.
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().next());
        if state == Some("T") {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The id part of `x-vercel-id`: `<5 random chars>-<unix ms>-<12 hex>`, as the platform writes.
fn vercel_request_id() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let hex = crate::format::hex(&crate::format::random_bytes(6));
    let prefix: String = crate::format::random_upper(5).to_ascii_lowercase();
    format!("{prefix}-{millis}-{hex}")
}

/// The path of an `[[example]]` of the crate under test: `target/<profile>/examples/<name>`,
/// found from the running test binary (`target/<profile>/deps/<test>`).
///
/// `cargo test` builds every example of the package before it runs the tests (so does
/// `cargo test --workspace`); `cargo test --test <one>` alone does not, and this then answers
/// [`HostError::BinaryNotFound`] with that hint. An example may use the package's
/// dev-dependencies (such as `vercel_runtime`) without making them dependencies of the library.
///
/// # Errors
/// [`HostError::Setup`] if the test binary's path is unknown, [`HostError::BinaryNotFound`] if
/// the example is not built.
pub fn example_binary(name: &str) -> Result<PathBuf, HostError> {
    let exe = std::env::current_exe().map_err(|source| HostError::Setup {
        what: "path of the test binary",
        source,
    })?;
    let profile_dir = exe
        .parent()
        .filter(|dir| dir.file_name().is_some_and(|n| n == "deps"))
        .and_then(Path::parent)
        .or_else(|| exe.parent())
        .unwrap_or_else(|| Path::new("."));
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if path.is_file() {
        Ok(path)
    } else {
        Err(HostError::BinaryNotFound {
            path,
            hint: "examples are built by `cargo test` and `cargo build --examples`, not by `cargo test --test <name>` alone",
        })
    }
}
