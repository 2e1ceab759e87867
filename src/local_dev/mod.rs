//! Local-development token refresh: a new `VERCEL_OIDC_TOKEN` from the Vercel API with
//! the Vercel CLI's login, as `@vercel/oidc` does it, made safe.
//!
//! After `vercel link` and `vercel env pull`, `.env.local` holds a token that expires after 12
//! hours. [`LocalDevRefresher`] is the default refresh hook of [`crate::VercelTokenSource`] (and so
//! of [`crate::get_vercel_oidc_token`]); when the chain finds no token, or only an expired one, it:
//!
//! 1. finds the project: `.vercel/project.json` in the start directory or the nearest parent
//!    (`projectId`, `orgId`), with the `project` / `team` options overriding or filling in;
//! 2. returns the cached token `<data dir>/com.vercel.token/<projectId>.json` (the file
//!    `@vercel/oidc` shares) while it is not expired within the buffer and was minted for the
//!    same team and API base (recorded in the file as `teamId` and `apiUrl`; a file without them,
//!    as the npm package writes it, counts only for the default API and, when a team is asked
//!    for, only if the token's `owner_id` is that team);
//! 3. otherwise, holding an advisory lock (`com.vercel.token/.refresh.lock`) so that two
//!    processes never refresh at once, and sharing one refresh among the tasks of this process:
//!    - keyring / DPoP login (`VERCEL_TOKEN_STORAGE` or `config.json` `credStorage` is
//!      `keyring`, or `__VERCEL_FF_DPOP=1`): runs `vercel project token <projectId>
//!      --format=json [--scope <team>]`, with a timeout;
//!    - otherwise reads the CLI token from `auth.json`, renews it with the refresh token
//!      through Vercel's OAuth token endpoint when it is expired, and mints a token with
//!      `POST {api}/v1/projects/<projectId>/token?source=vercel-oidc-refresh[&teamId=<team>]`;
//! 4. writes the cache (a token that is already expired when it arrives is an error, never
//!    cached).
//!
//! # What is safer than the npm package
//! - `auth.json` is never emptied, truncated or deleted. Its write is prepared (the temporary
//!   file created) before the OAuth grant, so a file that cannot be written costs no refresh
//!   token; it is written only after a successful OAuth response, by merging into the file as it
//!   is then, or, when it cannot be re-read, into the object read at the start (every field
//!   kept; the old `refreshToken` kept when the response has none), atomically.
//! - Every file read (`.vercel/project.json`, `auth.json`, `config.json`, the cache) must be a
//!   regular file of at most 1 MiB: a FIFO, a device (`project.json -> /dev/zero`) or a larger
//!   file is an error (or, for `config.json` and the cache, ignored) at once, never a hang.
//!   Response bodies are capped at 256 KiB.
//! - The OAuth `token_endpoint` of the discovery document passes the same URL check as the
//!   configured bases (https, or http on a loopback host; no user info, query or fragment)
//!   before the refresh token is sent to it.
//! - Every file is written atomically (temporary file in the same directory, flushed, renamed)
//!   with mode `0600`; directories we create are `0700`.
//! - One refresh at a time: in-process single flight per project, plus the file lock across
//!   processes, re-checking the cache once the lock is held. The refresh runs as a task of its
//!   own: a caller that gives up (a dropped future) does not leave the lock held.
//! - The CLI call has a timeout; it runs in a process group of its own, and the whole group is
//!   killed when the timeout expires or the call is dropped; project and team ids
//!   are checked against `^[A-Za-z0-9][A-Za-z0-9._-]*$` before they become a file name, a URL
//!   segment (percent-encoded as well) or a command argument.
//! - Each failure is its own [`LocalDevErrorKind`], with a `vercel link` / `vercel login` hint
//!   where that is the fix; no error or log line contains a token.
//!
//! # Environment variables
//! All are read through the [`Env`] of the request, never by mutating the process environment.
//!
//! | variable | required | meaning |
//! |---|---|---|
//! | `HOME` (`USERPROFILE` on Windows) | yes, unless [`LocalDevRefresherBuilder::home_dir`] | home directory |
//! | `XDG_DATA_HOME` | optional | data directory (token cache, CLI login) |
//! | `APPDATA`, `LOCALAPPDATA` | optional (Windows) | CLI login, token cache |
//! | `PATH` | keyring mode | where `vercel` is found, unless [`LocalDevRefresherBuilder::vercel_executable`] |
//! | `VERCEL_TOKEN_STORAGE` | optional | `file`, `keyring` or `auto` (overrides `config.json`) |
//! | `__VERCEL_FF_DPOP` | optional | `1`: the CLI uses DPoP, ask it for the token |
//! | `VERCEL_OIDC_API_URL` | optional | API base (default `https://api.vercel.com`) |
//! | `VERCEL_OIDC_OAUTH_URL` | optional | OAuth base, of the discovery document (default `https://vercel.com`) |
//! | `VERCEL_OIDC_CA_FILE` | optional | extra PEM trust roots |
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use vercel_oidc::local_dev::LocalDevRefresher;
//! use vercel_oidc::{TokenSource, VercelTokenSource};
//!
//! # async fn f() -> Result<(), vercel_oidc::Error> {
//! let refresher = LocalDevRefresher::builder()
//!     .start_dir("/home/me/my-app")
//!     .cli_timeout(Duration::from_secs(10))
//!     .build()?;
//! let source = VercelTokenSource::builder()
//!     .project("prj_123")
//!     .refresher(refresher)
//!     .build();
//! let token = source.token().await?;
//! # let _ = token; Ok(()) }
//! ```

pub(crate) mod auth;
mod cli;
pub(crate) mod files;
pub(crate) mod http;
pub(crate) mod paths;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, SystemTime};

use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, Shared};
use secrecy::{ExposeSecret, SecretString};

pub use crate::error::{HttpFailure, LocalDevErrorKind, RefreshStep};
pub use http::VERCEL_CLI_CLIENT_ID;

use crate::config::OidcConfig;
use crate::env::Env;
use crate::error::Error;
use crate::http::ExtraRoots;
use crate::source::TokenFuture;
use crate::source::{RefreshOidcToken, RefreshRequest};
use crate::time::{Clock, SharedClock};
use crate::token::OidcToken;
use files::{FileLock, JsonFile};
use paths::ProjectIds;

/// The env var that overrides the Vercel API base URL.
pub const API_URL_ENV: &str = "VERCEL_OIDC_API_URL";
/// The default Vercel API base URL.
pub const DEFAULT_API_URL: &str = "https://api.vercel.com";
/// The env var that overrides the Vercel OAuth base URL (of the discovery document).
pub const OAUTH_URL_ENV: &str = "VERCEL_OIDC_OAUTH_URL";
/// The default Vercel OAuth base URL.
pub const DEFAULT_OAUTH_URL: &str = "https://vercel.com";
/// How long `vercel project token` may run by default.
pub const DEFAULT_CLI_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait by default for another process's refresh.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(90);

/// The local-dev refresh hook (see the [module docs](self)). Cheap to clone; clones share the
/// HTTP client and the discovered OAuth endpoint.
#[derive(Clone)]
pub struct LocalDevRefresher {
    inner: Arc<Inner>,
}

struct Inner {
    api_url: Option<String>,
    oauth_url: Option<String>,
    start_dir: Option<PathBuf>,
    home_dir: Option<PathBuf>,
    vercel: Option<PathBuf>,
    cli_timeout: Duration,
    lock_timeout: Duration,
    clock: SharedClock,
    roots: Option<ExtraRoots>,
    given_client: Option<reqwest::Client>,
    client: OnceLock<Result<reqwest::Client, Error>>,
    /// (OAuth base, discovered token endpoint).
    token_endpoint: Mutex<Option<(String, String)>>,
}

impl fmt::Debug for LocalDevRefresher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("LocalDevRefresher")
            .field("api_url", &i.api_url)
            .field("oauth_url", &i.oauth_url)
            .field("start_dir", &i.start_dir)
            .field("home_dir", &i.home_dir)
            .field("vercel", &i.vercel)
            .field("cli_timeout", &i.cli_timeout)
            .field("lock_timeout", &i.lock_timeout)
            .finish_non_exhaustive()
    }
}

impl Default for LocalDevRefresher {
    fn default() -> Self {
        Self::builder().build_unchecked()
    }
}

/// Builder for [`LocalDevRefresher`].
#[derive(Debug, Default)]
pub struct LocalDevRefresherBuilder {
    api_url: Option<String>,
    oauth_url: Option<String>,
    start_dir: Option<PathBuf>,
    home_dir: Option<PathBuf>,
    vercel: Option<PathBuf>,
    cli_timeout: Option<Duration>,
    lock_timeout: Option<Duration>,
    clock: SharedClock,
    roots: Option<ExtraRoots>,
    client: Option<reqwest::Client>,
}

impl LocalDevRefresherBuilder {
    /// The shared settings: the clock, explicit extra roots and the HTTP client. (The refresh
    /// reads env vars from each [`RefreshRequest`]'s [`Env`], which the token chain fills from
    /// its own configuration.)
    pub fn configure(mut self, config: &OidcConfig) -> Self {
        self.clock = config.clock().clone();
        if let Some(roots) = &config.explicit_roots {
            self.roots = Some(roots.clone());
        }
        if let Some(client) = &config.explicit_client {
            self.client = Some(client.clone());
        }
        self
    }

    /// The Vercel API base URL. Defaults to `VERCEL_OIDC_API_URL`, else `https://api.vercel.com`.
    pub fn api_url(mut self, url: impl Into<String>) -> Self {
        self.api_url = Some(url.into());
        self
    }

    /// The Vercel OAuth base URL (`{url}/.well-known/openid-configuration` is fetched).
    /// Defaults to `VERCEL_OIDC_OAUTH_URL`, else `https://vercel.com`.
    pub fn oauth_url(mut self, url: impl Into<String>) -> Self {
        self.oauth_url = Some(url.into());
        self
    }

    /// Where the search for `.vercel` starts. Defaults to the process's current directory.
    pub fn start_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.start_dir = Some(dir.into());
        self
    }

    /// The home directory. Defaults to `HOME` (`USERPROFILE` on Windows) from the [`Env`].
    pub fn home_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.home_dir = Some(dir.into());
        self
    }

    /// The `vercel` executable for keyring/DPoP mode. Defaults to the first `vercel` on the
    /// [`Env`]'s `PATH`.
    pub fn vercel_executable(mut self, path: impl Into<PathBuf>) -> Self {
        self.vercel = Some(path.into());
        self
    }

    /// How long `vercel project token` may run before it is killed. Defaults to
    /// [`DEFAULT_CLI_TIMEOUT`] (30 s).
    pub fn cli_timeout(mut self, timeout: Duration) -> Self {
        self.cli_timeout = Some(timeout);
        self
    }

    /// How long to wait for another process's refresh (the file lock). Defaults to
    /// [`DEFAULT_LOCK_TIMEOUT`] (90 s).
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = Some(timeout);
        self
    }

    /// The clock token expiry and `expiresAt` are checked against. Defaults to the system clock.
    pub fn time_source(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Extra trust roots. Defaults to `VERCEL_OIDC_CA_FILE` of the first request's [`Env`].
    pub fn extra_roots(mut self, roots: ExtraRoots) -> Self {
        self.roots = Some(roots);
        self
    }

    /// Builds the refresher. Fails when an explicit URL is not an http(s) URL. Nothing is read
    /// and no HTTP client is built until the first refresh.
    pub fn build(self) -> Result<LocalDevRefresher, Error> {
        for (name, url) in [("api_url", &self.api_url), ("oauth_url", &self.oauth_url)] {
            if let Some(url) = url {
                check_base_url(name, url)?;
            }
        }
        Ok(self.build_unchecked())
    }

    fn build_unchecked(self) -> LocalDevRefresher {
        LocalDevRefresher {
            inner: Arc::new(Inner {
                api_url: self.api_url.map(|u| u.trim_end_matches('/').to_owned()),
                oauth_url: self.oauth_url.map(|u| u.trim_end_matches('/').to_owned()),
                start_dir: self.start_dir,
                home_dir: self.home_dir,
                vercel: self.vercel,
                cli_timeout: self.cli_timeout.unwrap_or(DEFAULT_CLI_TIMEOUT),
                lock_timeout: self.lock_timeout.unwrap_or(DEFAULT_LOCK_TIMEOUT),
                clock: self.clock,
                roots: self.roots,
                given_client: self.client,
                client: OnceLock::new(),
                token_endpoint: Mutex::new(None),
            }),
        }
    }
}

fn base_from(
    configured: Option<&str>,
    env: &Env,
    var: &str,
    default: &str,
) -> Result<String, Error> {
    if let Some(url) = configured {
        return Ok(url.to_owned());
    }
    match env.get_non_empty(var) {
        Some(url) => {
            check_base_url(var, &url)?;
            Ok(url.trim_end_matches('/').to_owned())
        }
        None => Ok(default.to_owned()),
    }
}

/// The CLI login and the mint's bearer go to these URLs: https only (http on loopback).
fn check_base_url(name: &str, url: &str) -> Result<(), Error> {
    crate::http::check_base_url(url)
        .map(drop)
        .map_err(|reason| {
            Error::config(format!(
                "{name} {:?}: {reason}",
                crate::http::redact_url(url)
            ))
        })
}

/// Everything one refresh needs, resolved before the single flight starts.
#[derive(Debug, Clone)]
struct Plan {
    env: Env,
    start: PathBuf,
    ids: ProjectIds,
    home: PathBuf,
    token_dir: PathBuf,
    cache_path: PathBuf,
    /// The API base the token is minted at (also recorded in the cache).
    api_base: String,
    buffer: Duration,
}

impl LocalDevRefresher {
    /// A builder.
    pub fn builder() -> LocalDevRefresherBuilder {
        LocalDevRefresherBuilder::default()
    }

    /// The default refresher with a given configuration (what [`crate::VercelTokenSource`]
    /// installs).
    pub(crate) fn with_config(config: &OidcConfig) -> Self {
        Self::builder().configure(config).build_unchecked()
    }

    /// A fresh token for `request` (see the [module docs](self)).
    pub async fn refresh(&self, request: &RefreshRequest) -> Result<OidcToken, Error> {
        let plan = self.inner.plan(request)?;
        let now = self.inner.clock.now();
        if let Some(token) = read_cache(&plan, now) {
            tracing::debug!(project = %plan.ids.project_id, "local-dev refresh: cached token");
            return Ok(token);
        }
        let key = format!(
            "{}\0{}\0{}",
            plan.cache_path.display(),
            plan.ids.team_id.as_deref().unwrap_or_default(),
            plan.api_base
        );
        let inner = Arc::clone(&self.inner);
        single_flight(key, move || inner.refresh_locked(plan).boxed()).await
    }
}

impl LocalDevRefresher {
    /// The Vercel CLI's own login token (`auth.json`'s `token`), renewed through Vercel's OAuth
    /// token endpoint when it is expired (within 60 s), exactly as the refresh renews it: under
    /// the same file lock, merging the new token into `auth.json`. For calls to the Vercel REST
    /// API in local development (e.g. `vercel-functions`' purge). Env vars (`HOME`,
    /// `XDG_DATA_HOME`, `VERCEL_OIDC_OAUTH_URL`, `VERCEL_OIDC_CA_FILE`, …) are read from `env`.
    ///
    /// Errors: [`LocalDevErrorKind::NotLoggedIn`] without a login (also in keyring mode, where
    /// the CLI keeps its token in the system keyring and only `vercel` can use it),
    /// [`LocalDevErrorKind::NoRefreshToken`] when it is expired and cannot be renewed.
    ///
    /// # Security
    /// The token is the user's whole Vercel account credential: send it only to the Vercel
    /// API, never log it.
    pub async fn cli_login_token(&self, env: &Env) -> Result<SecretString, Error> {
        let home = paths::home_dir(env, self.inner.home_dir.as_deref())?;
        let cli_dir = paths::cli_dir(env, &home);
        let buffer = Duration::from_secs(60);
        if let Some(token) = auth::read_auth(&cli_dir)?.valid_token(self.inner.clock.now(), buffer)
        {
            return Ok(token.clone());
        }
        let token_dir = paths::data_dir(env, &home).join("com.vercel.token");
        files::ensure_private_dir(&token_dir, true)?;
        let _lock =
            FileLock::acquire(token_dir.join(".refresh.lock"), self.inner.lock_timeout).await?;
        let client = self.inner.client(env)?;
        self.inner.cli_token(&client, env, buffer, &cli_dir).await
    }
}

impl RefreshOidcToken for LocalDevRefresher {
    fn refresh_oidc_token<'a>(&'a self, request: &'a RefreshRequest) -> TokenFuture<'a> {
        TokenFuture::new(self.refresh(request))
    }
}

impl Inner {
    fn plan(&self, request: &RefreshRequest) -> Result<Plan, Error> {
        let env = request.env.clone();
        let start = match &self.start_dir {
            Some(dir) => dir.clone(),
            None => std::env::current_dir().map_err(|e| {
                Error::local_dev_with(
                    LocalDevErrorKind::Io {
                        action: "read the current directory",
                        path: PathBuf::from("."),
                    },
                    e,
                )
            })?,
        };
        let ids =
            paths::resolve_project(&start, request.project.as_deref(), request.team.as_deref())?;
        paths::check_ids(&ids)?;
        let home = paths::home_dir(&env, self.home_dir.as_deref())?;
        let token_dir = paths::data_dir(&env, &home).join("com.vercel.token");
        let cache_path = token_dir.join(format!("{}.json", ids.project_id));
        let api_base = self.api_base(&env)?;
        Ok(Plan {
            env,
            start,
            ids,
            home,
            token_dir,
            cache_path,
            api_base,
            buffer: request.expiration_buffer,
        })
    }

    /// The API base: the builder's (checked at build), else `VERCEL_OIDC_API_URL` (checked
    /// here, before the CLI token is sent to it), else the default.
    fn api_base(&self, env: &Env) -> Result<String, Error> {
        base_from(self.api_url.as_deref(), env, API_URL_ENV, DEFAULT_API_URL)
    }

    fn oauth_base(&self, env: &Env) -> Result<String, Error> {
        base_from(
            self.oauth_url.as_deref(),
            env,
            OAUTH_URL_ENV,
            DEFAULT_OAUTH_URL,
        )
    }

    fn client(&self, env: &Env) -> Result<reqwest::Client, Error> {
        if let Some(client) = &self.given_client {
            return Ok(client.clone());
        }
        self.client
            .get_or_init(|| {
                let roots = match &self.roots {
                    Some(roots) => Some(roots.clone()),
                    None => ExtraRoots::from_env(env)?,
                };
                crate::http::http_client(roots.as_ref(), crate::http::DEFAULT_HTTP_TIMEOUT)
            })
            .clone()
    }

    /// Steps 3 and 4 of the module docs, under the lock.
    async fn refresh_locked(self: Arc<Self>, plan: Plan) -> Result<OidcToken, Error> {
        let span = tracing::info_span!(
            "vercel_oidc.local_dev_refresh",
            outcome = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
        );
        crate::trace::in_span(span, self.refresh_locked_untraced(plan)).await
    }

    async fn refresh_locked_untraced(self: Arc<Self>, plan: Plan) -> Result<OidcToken, Error> {
        files::ensure_private_dir(&plan.token_dir, true)?;
        let _lock =
            FileLock::acquire(plan.token_dir.join(".refresh.lock"), self.lock_timeout).await?;
        if let Some(token) = read_cache(&plan, self.clock.now()) {
            tracing::debug!("local-dev refresh: another process refreshed the token");
            return Ok(token);
        }
        let cli_dir = paths::cli_dir(&plan.env, &plan.home);
        let cli_mode = auth::uses_cli_command(&plan.env, &cli_dir)?;
        let token = if cli_mode {
            let exe = cli::find_vercel(&plan.env, self.vercel.as_deref())?;
            cli::project_token(&exe, &plan.env, &plan.start, &plan.ids, self.cli_timeout).await?
        } else {
            let client = self.client(&plan.env)?;
            let cli_token = self
                .cli_token(&client, &plan.env, plan.buffer, &cli_dir)
                .await?;
            tracing::debug!(project = %plan.ids.project_id, "local-dev refresh: minting a token");
            http::mint(
                &client,
                &plan.api_base,
                &cli_token,
                &plan.ids.project_id,
                plan.ids.team_id.as_deref(),
            )
            .await?
        };
        // A token that is expired on arrival is not a refresh: caching it would only make every
        // later call mint again, and returning it would hand the caller a dead token.
        if token.is_expired_within_at(Duration::ZERO, self.clock.now()) {
            tracing::debug!(project = %plan.ids.project_id, "local-dev refresh: the new token is already expired");
            return Err(Error::local_dev(if cli_mode {
                LocalDevErrorKind::CliInvalidOutput
            } else {
                LocalDevErrorKind::Http {
                    step: RefreshStep::Mint,
                    failure: HttpFailure::InvalidResponse,
                }
            }));
        }
        write_cache(&plan, &token)?;
        tracing::debug!(project = %plan.ids.project_id, "local-dev refresh: token cached");
        Ok(token)
    }

    /// The CLI token from `auth.json`, renewed through OAuth when it is expired.
    async fn cli_token(
        &self,
        client: &reqwest::Client,
        env: &Env,
        buffer: Duration,
        cli_dir: &Path,
    ) -> Result<SecretString, Error> {
        let now = self.clock.now();
        let auth = auth::read_auth(cli_dir)?;
        if let Some(token) = auth.valid_token(now, buffer) {
            return Ok(token.clone());
        }
        let Some(refresh_token) = &auth.refresh_token else {
            return Err(Error::local_dev(LocalDevErrorKind::NoRefreshToken {
                path: auth.path,
            }));
        };
        tracing::debug!("local-dev refresh: renewing the Vercel CLI token");
        let endpoint = self.token_endpoint(client, &self.oauth_base(env)?).await?;
        // Prepared before the grant: a file that cannot be written must not cost the refresh
        // token (a rotating server revokes it as soon as it answers).
        let write = auth::prepare_merge(&auth)?;
        let tokens = http::refresh_grant(client, &endpoint, refresh_token).await?;
        auth::merge_write(&auth, write, &tokens, self.clock.now())?;
        Ok(tokens.access_token)
    }

    async fn token_endpoint(
        &self,
        client: &reqwest::Client,
        oauth_base: &str,
    ) -> Result<String, Error> {
        if let Some((base, endpoint)) = &*self.lock_endpoint()
            && base == oauth_base
        {
            return Ok(endpoint.clone());
        }
        let endpoint = http::discover_token_endpoint(client, oauth_base).await?;
        *self.lock_endpoint() = Some((oauth_base.to_owned(), endpoint.clone()));
        Ok(endpoint)
    }

    fn lock_endpoint(&self) -> std::sync::MutexGuard<'_, Option<(String, String)>> {
        self.token_endpoint
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The cached token, if the file holds one that is not expired within the buffer and was
/// minted for the plan's team at the plan's API base. A missing, unreadable or malformed cache,
/// or one for another team or API, is simply no cache.
fn read_cache(plan: &Plan, now: SystemTime) -> Option<OidcToken> {
    let path = &plan.cache_path;
    let map = match files::read_json_object(path) {
        JsonFile::Object(map) => map,
        JsonFile::Missing => return None,
        JsonFile::Invalid(_) => {
            tracing::debug!(path = %path.display(), "local-dev refresh: ignoring a broken cache");
            return None;
        }
    };
    let token = http::parse_token_field(map.get(CACHE_TOKEN))
        .filter(|t| !t.is_expired_within_at(plan.buffer, now))?;
    if !cache_matches(&map, &token, plan) {
        tracing::debug!(path = %path.display(), "local-dev refresh: the cache is for another team or API");
        return None;
    }
    Some(token)
}

/// The cache file's fields: `token` is the one `@vercel/oidc` reads and writes; `teamId` (a
/// string, or `null` for none) and `apiUrl` are ours.
const CACHE_TOKEN: &str = "token";
const CACHE_TEAM: &str = "teamId";
const CACHE_API: &str = "apiUrl";

/// Whether a cache object was written for `plan`'s team and API base. A file without our fields
/// (written by `@vercel/oidc`, which always uses the default API) matches the default API only,
/// and a team only when the token's `owner_id` is that team.
fn cache_matches(
    map: &serde_json::Map<String, serde_json::Value>,
    token: &OidcToken,
    plan: &Plan,
) -> bool {
    use serde_json::Value;
    let team = plan.ids.team_id.as_deref();
    let api_ok = match map.get(CACHE_API) {
        Some(Value::String(api)) => *api == plan.api_base,
        None => plan.api_base == DEFAULT_API_URL,
        Some(_) => false,
    };
    let team_ok = match map.get(CACHE_TEAM) {
        Some(Value::String(cached)) => Some(cached.as_str()) == team,
        Some(Value::Null) => team.is_none(),
        None => team.is_none_or(|team| token.unverified_claims().owner_id.as_deref() == Some(team)),
        Some(_) => false,
    };
    api_ok && team_ok
}

fn write_cache(plan: &Plan, token: &OidcToken) -> Result<(), Error> {
    let text = SecretString::from(
        serde_json::json!({
            CACHE_TOKEN: token.expose_secret(),
            CACHE_TEAM: plan.ids.team_id,
            CACHE_API: plan.api_base,
        })
        .to_string(),
    );
    files::write_atomic(
        &plan.cache_path,
        text.expose_secret().as_bytes(),
        "write the token cache",
    )
}

type Flight = Shared<BoxFuture<'static, Result<OidcToken, Error>>>;

/// Runs `flight` as its own task when there is a tokio runtime, so that it finishes (or times
/// out) and releases the cross-process lock even when every caller waiting for it is dropped.
/// Without a runtime it runs in the caller, as before.
fn spawned(
    flight: BoxFuture<'static, Result<OidcToken, Error>>,
) -> BoxFuture<'static, Result<OidcToken, Error>> {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return flight;
    };
    let task = runtime.spawn(flight);
    async move {
        task.await.unwrap_or_else(|e| {
            Err(Error::other(
                "the local-dev refresh task panicked or was cancelled",
                Some(Box::new(e)),
            ))
        })
    }
    .boxed()
}

/// Runs `start()`'s future once per `key` at a time: callers that arrive while it runs await
/// the same result. The entry is removed when the future completes.
async fn single_flight(
    key: String,
    start: impl FnOnce() -> BoxFuture<'static, Result<OidcToken, Error>>,
) -> Result<OidcToken, Error> {
    static FLIGHTS: OnceLock<Mutex<HashMap<String, (u64, Flight)>>> = OnceLock::new();
    static NEXT_ID: AtomicU64 = AtomicU64::new(0);
    let flights = FLIGHTS.get_or_init(Default::default);
    let lock = || flights.lock().unwrap_or_else(PoisonError::into_inner);
    let flight = {
        let mut map = lock();
        match map.get(&key) {
            Some((_, flight)) => flight.clone(),
            None => {
                let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
                let inner = start();
                let done_key = key.clone();
                let flight = async move {
                    let result = inner.await;
                    let mut map = flights.lock().unwrap_or_else(PoisonError::into_inner);
                    if map.get(&done_key).is_some_and(|(i, _)| *i == id) {
                        map.remove(&done_key);
                    }
                    result
                }
                .boxed();
                // The whole flight, removal included, runs on its own: a flight whose waiters
                // are all gone must not keep the lock nor leave a stale entry behind.
                let flight = spawned(flight).shared();
                map.insert(key, (id, flight.clone()));
                flight
            }
        }
    };
    flight.await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[tokio::test]
    async fn single_flight_shares_one_run() {
        let runs = Arc::new(AtomicUsize::new(0));
        let token = OidcToken::parse(crate::test_util::jwt_expiring_in(60)).expect("valid");
        let (release, wait) = tokio::sync::oneshot::channel::<()>();
        let wait = wait.shared();
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let (runs, token, wait) = (runs.clone(), token.clone(), wait.clone());
            tasks.push(tokio::spawn(single_flight("k".into(), move || {
                async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    let _ = wait.await;
                    Ok(token)
                }
                .boxed()
            })));
        }
        tokio::task::yield_now().await;
        let _ = release.send(());
        for task in tasks {
            task.await.expect("join").expect("token");
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn builder_rejects_bad_urls() {
        let err = LocalDevRefresher::builder()
            .api_url("ftp://x")
            .build()
            .expect_err("scheme");
        assert!(err.is_invalid_configuration());
        assert!(
            LocalDevRefresher::builder()
                .oauth_url("not a url")
                .build()
                .is_err()
        );
        // The CLI login must not travel in clear text to a remote host.
        let err = LocalDevRefresher::builder()
            .api_url("http://api.example.com")
            .build()
            .expect_err("plain http to a remote host");
        assert!(err.is_invalid_configuration(), "{err}");
        assert!(
            LocalDevRefresher::builder()
                .api_url("http://127.0.0.1:8080/")
                .build()
                .is_ok()
        );
    }

    #[test]
    fn env_urls_are_checked_before_use() {
        let env = Env::from_pairs([(API_URL_ENV, "http://api.example.com")]);
        let err = base_from(None, &env, API_URL_ENV, DEFAULT_API_URL).expect_err("http remote");
        assert!(err.is_invalid_configuration(), "{err}");
        let env = Env::from_pairs([(API_URL_ENV, "https://proxy.example.com/")]);
        assert_eq!(
            base_from(None, &env, API_URL_ENV, DEFAULT_API_URL).expect("ok"),
            "https://proxy.example.com"
        );
        let none = Env::from_pairs::<&str, &str>([]);
        assert_eq!(
            base_from(None, &none, API_URL_ENV, DEFAULT_API_URL).expect("ok"),
            DEFAULT_API_URL
        );
    }
}
