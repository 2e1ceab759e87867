//! Vercel OIDC tokens for Rust.
//!
//! A workload on Vercel holds a short-lived OIDC token (a JWT). This crate finds it, reads its
//! claims, and hands it to whatever turns it into credentials: the AWS provider
//! (`vercel-oidc-aws`), the Azure credential (`vercel-oidc-azure`), or your own API. It is the
//! Rust counterpart of the npm package `@vercel/oidc`. It has no AWS or Azure dependency.
//!
//! # Quick start
//!
//! ```no_run
//! # async fn handler() -> Result<(), vercel_oidc::Error> {
//! // Inside a request handled behind `RequestContextLayer`, or anywhere with
//! // VERCEL_OIDC_TOKEN / VERCEL_OIDC_TOKEN_FILE set:
//! let token = vercel_oidc::get_vercel_oidc_token().await?;
//! let claims = token.unverified_claims(); // not verified: for reading only
//! tracing::info!(project = ?claims.project, environment = ?claims.environment, "token");
//! // `token.expose_secret()` is the bearer string to send to a service that verifies it.
//! # Ok(()) }
//! ```
//!
//! With axum (or any tower stack), make each request's `x-vercel-oidc-token` visible:
//!
//! ```no_run
//! # #[cfg(any())] {
//! let app = axum::Router::new()
//!     .route("/", axum::routing::get(handler))
//!     .layer(vercel_oidc::RequestContextLayer::new());
//! # }
//! ```
//!
//! # What is here
//! - [`OidcToken`] and [`Claims`]: the token, kept secret, and its typed, *unverified* claims.
//! - [`TokenSource`]: the trait every provider takes, with [`VercelTokenSource`] (the chain:
//!   request header, `VERCEL_OIDC_TOKEN_FILE`, the freshest-token slot, `VERCEL_OIDC_TOKEN`,
//!   then the local-dev refresh), [`FileTokenSource`], [`EnvTokenSource`],
//!   [`FixedTokenSource`], [`token_source_fn`] and [`ChainTokenSource`].
//! - [`OidcConfig`]: the settings every builder shares (env, clock, extra roots, issuer, HTTP
//!   client), given once with `.configure(&config)`.
//! - [`RequestContext`], `RequestContextLayer` and the [`FreshestTokenSlot`]: the request scope.
//! - [`ip_address`], [`geolocation`], [`get_env`]: the `@vercel/functions` request helpers.
//! - [`cache::RefreshAheadCache`]: the non-blocking refresh-ahead cache the providers use.
//! - `AudienceExchange`: `POST {issuer}/~token` with an LRU cache.
//! - `local_dev`: refreshing an expired token in local development with the Vercel CLI's login,
//!   without ever losing that login (atomic 0600 writes, merge, file lock, single-flight).
//! - `verify`: the `Verifier` for incoming tokens (team issuer, global issuer or both, pinned
//!   exactly; RS256 only, audience required, deployment defaults from the environment, JWKS
//!   cached with a refetch cooldown), a tower layer answering 401 (or 503 when the token could
//!   not be checked), and an axum extractor.
//! - `bearer`: attaching the token to outgoing requests as a sensitive bearer header: reqwest
//!   (an extension trait), reqwest-middleware, or any tower `http::Request` client.
//!
//! # Features
//! Each job of the crate is a feature, so a build pays only for what it uses.
//!
//! | feature | default | adds | pulls in |
//! |---|---|---|---|
//! | `layer` | yes | `RequestContextLayer` (tower) | tower |
//! | `exchange` | yes | `AudienceExchange`, `ExchangeTokenSource`, `TokenOptions::audience` | reqwest, lru |
//! | `local-dev` | yes | `local_dev`, the chain's default refresh hook | reqwest, fs4, tempfile, tokio/process |
//! | `verifier` | no | `verify`: `Verifier`, `VerifyLayer`, `RequestContextLayer::verifier` | reqwest, aws-lc-rs, tower |
//! | `axum` | no | `verifier`, and `VerifiedClaims` as an axum extractor, `VerifyRejection` | axum-core |
//! | `bearer` | no | `bearer`: `BearerAuth`, `RequestBuilderExt::vercel_oidc_bearer` for reqwest | reqwest |
//! | `bearer-tower` | no | `bearer`: `BearerAuth`, `BearerLayer` for any tower `http::Request` client | tower |
//! | `bearer-reqwest-middleware` | no | `bearer`, and `BearerAuth` as a reqwest-middleware `Middleware` | reqwest-middleware |
//!
//! - A credential user (the AWS or Azure provider, `get_vercel_oidc_token`): the defaults.
//! - A receiving API: `vercel-oidc = { version = "0.1", default-features = false, features =
//!   ["verifier"] }` (nothing of the local-dev refresh); `["axum"]` for the extractor.
//! - A caller of your own API: the defaults plus `bearer` (reqwest), `bearer-reqwest-middleware`
//!   or `bearer-tower` (hyper-util or any tower client; no reqwest type in its API).
//! - Reading the token only: `default-features = false` (no HTTP stack at all; without
//!   `local-dev` the chain has no refresh hook unless you give one).
//!
//! Features whose names start with `__` are internal (the fuzz targets' hooks) and not an API.
//!
//! # Environment variables
//! | variable | meaning |
//! |---|---|
//! | `VERCEL_OIDC_TOKEN` | the token (builds, `vercel env pull`) |
//! | `VERCEL_OIDC_TOKEN_FILE` | a file holding the token, re-read on each call |
//! | `VERCEL_OIDC_ISSUER_URL` | issuer base for `~token` and the verifier's JWKS (default `https://oidc.vercel.com`) |
//! | `VERCEL_OIDC_API_URL` | Vercel API base for the local-dev mint (default `https://api.vercel.com`) |
//! | `VERCEL_OIDC_OAUTH_URL` | base of the OAuth discovery document for the CLI login refresh (default `https://vercel.com`) |
//! | `VERCEL_OIDC_CA_FILE` | extra PEM trust roots added to every HTTP client |
//! | `HOME`, `XDG_DATA_HOME`, `APPDATA`, `LOCALAPPDATA`, `PATH` | where the local-dev refresh finds the CLI login, token cache and `vercel` |
//! | `VERCEL_TOKEN_STORAGE`, `__VERCEL_FF_DPOP` | local-dev refresh through `vercel project token` (keyring/DPoP mode) |
//!
//! # Security
//! - The token is a bearer credential. [`OidcToken`] keeps it in a [`secrecy`] box, zeroized on
//!   drop; `Debug` prints `OidcToken([redacted])`; errors and logs never contain it.
//! - Claims read here are **not verified**; the receiving side must verify the signature against
//!   Vercel's JWKS.
//! - Request headers are attacker-controlled unless Vercel's proxy sets them: parsing is bounded
//!   ([`MAX_TOKEN_LEN`]) and never panics. See `SECURITY.md`.

#![cfg_attr(docsrs, feature(doc_cfg))]
// Tests mint tokens relative to the wall clock; the library takes time from `time::Clock`.
#![cfg_attr(test, allow(clippy::disallowed_methods))]

#[cfg(any(feature = "bearer", feature = "bearer-tower"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "bearer", feature = "bearer-tower"))))]
pub mod bearer;
pub mod cache;
mod chain;
mod config;
mod context;
mod env;
mod error;
#[cfg(feature = "exchange")]
mod exchange;
mod functions;
#[cfg(any(test, feature = "__fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
mod get;
mod http;
mod identity;
mod limits;
#[cfg(feature = "local-dev")]
#[cfg_attr(docsrs, doc(cfg(feature = "local-dev")))]
pub mod local_dev;
mod object_id;
#[doc(hidden)]
pub mod retry;
mod shared;
mod source;
pub mod time;
mod token;
mod tokens;
mod trace;
#[cfg(feature = "verifier")]
#[cfg_attr(docsrs, doc(cfg(feature = "verifier")))]
pub mod verify;

pub use chain::{VercelTokenSource, VercelTokenSourceBuilder};
pub use config::{DEFAULT_ISSUER_URL, ISSUER_URL_ENV, OidcConfig};
pub use context::{
    FreshestTokenSlot, INTERNAL_OIDC_TOKEN_HEADER, OIDC_TOKEN_HEADER, RequestContext,
    freshest_header_token,
};
#[cfg(feature = "layer")]
pub use context::{RequestContextLayer, RequestContextService, ResponseFuture};
pub use env::Env;
pub use error::{Error, ExchangeErrorKind, Lookup, MalformedTokenReason, TokenOrigin};
#[cfg(feature = "exchange")]
#[cfg_attr(docsrs, doc(cfg(feature = "exchange")))]
pub use exchange::{
    AudienceExchange, AudienceExchangeBuilder, EXCHANGE_CACHE_CAPACITY, ExchangeRequest,
    ExchangeTokenSource,
};
pub use functions::{Geo, VercelEnv, geolocation, get_env, ip_address};
pub use get::{
    TokenOptions, get_vercel_oidc_token, get_vercel_oidc_token_sync, get_vercel_oidc_token_with,
};
pub use http::{CA_FILE_ENV, ExtraRoots, InvalidEndpointUrl, check_endpoint_url, redact_url};
pub use identity::{
    Explanation, IdentityError, IssuerMode, SubjectRule, TokenIdentity, TrustScope,
};
pub use source::{
    ChainTokenSource, ENV_TOKEN, ENV_TOKEN_FILE, EnvTokenSource, FileTokenSource, FixedTokenSource,
    FnTokenSource, RefreshOidcToken, RefreshRequest, SharedTokenSource, TokenFuture, TokenSource,
    token_source_fn,
};
pub use token::{Audience, Claims, Environment, MAX_TOKEN_LEN, OidcToken};
pub use tokens::{ResolvedTokens, TokenSetup};

/// Re-exported so users can name the secret types without a direct dependency.
pub use secrecy;

/// Building blocks for this workspace's provider crates (`vercel-oidc-aws`,
/// `vercel-oidc-azure`): not a stable API, may change in any release.
#[doc(hidden)]
pub mod internal {
    #[cfg(feature = "__http")]
    pub use crate::http::{http_client, http_client_builder};
    /// One process-wide provider per full configuration (the one-call forms, `.shared(true)`).
    pub mod shared {
        pub use crate::shared::{MAX_SHARED, SharedKey, process_wide, shared_count};
    }
}

#[cfg(test)]
pub(crate) mod test_util {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use std::time::{SystemTime, UNIX_EPOCH};

    /// An unsigned JWT-shaped token with `payload` (tests of reading, not verifying).
    pub(crate) fn jwt_with_payload(payload: &str) -> String {
        format!(
            "{}.{}.c2lnbmF0dXJl",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT","kid":"k"}"#),
            URL_SAFE_NO_PAD.encode(payload)
        )
    }

    /// A token expiring at `exp` (unix seconds).
    pub(crate) fn jwt_expiring_at(exp: i64) -> String {
        jwt_with_payload(&format!(
            r#"{{"sub":"owner:acme:project:web:environment:production","exp":{exp},"nonce":{}}}"#,
            fastrand::u64(..)
        ))
    }

    /// A token expiring `secs` from now (negative: already expired).
    pub(crate) fn jwt_expiring_in(secs: i64) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        jwt_expiring_at(now + secs)
    }
}
