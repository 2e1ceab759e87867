//! The rest of `@vercel/functions` for Rust.
//!
//! `vercel-oidc` gives a Rust function on Vercel its OIDC token and credentials; this crate
//! gives it what `@vercel/functions` gives a Node function next to them:
//!
//! - [`VercelFunctionsLayer`]: one tower layer for every request, for both shapes of the
//!   official runtime (`vercel_runtime::run` with a bare handler or with its axum adapter) and
//!   for plain `http::Request` services. It sets the core's request context (the request's OIDC
//!   header, the freshest-token slot) and this crate's request scope.
//! - [`wait_until`]: work after the response, registered with the invocation so the platform
//!   does not freeze the instance under it; [`get_deadline`].
//! - [`get_cache`] / [`RuntimeCache`]: the Vercel Runtime Cache, with an in-memory fallback.
//! - [`invalidate_by_tag`], [`dangerously_delete_by_tag`], [`invalidate_by_src_image`],
//!   [`dangerously_delete_by_src_image`]: purging over the Vercel REST API; [`add_cache_tag`]:
//!   tagging the current response (`Vercel-Cache-Tag`) for those purges.
//! - [`attach_database_pool`]: keeping the invocation alive while a pool's idle connections
//!   close (sqlx, deadpool, bb8 behind features, or your own [`DatabasePool`]).
//! - [`ip_address`], [`geolocation`], [`get_env`]: the request helpers (re-exported from
//!   `vercel-oidc`, their one home).
//!
//! # Quick start
//!
//! A complete function: the layer around a `vercel_runtime` handler that answers from the
//! Runtime Cache and refreshes it after the response.
//!
//! ```no_run
//! use tower::Layer;
//! use vercel_functions::{CacheOptions, SetOptions, VercelFunctionsLayer, get_cache, wait_until};
//! use vercel_runtime::{Error, Request, Response, ResponseBody};
//!
//! async fn handler(_req: Request) -> Result<Response<ResponseBody>, Error> {
//!     let cache = get_cache(CacheOptions::default());
//!     let greeting: Option<String> = cache.get("greeting").await?;
//!     let greeting = greeting.unwrap_or_else(|| "hello".to_owned());
//!     let refreshed = greeting.clone();
//!     // Runs after the response; the invocation ends when it has settled.
//!     wait_until(async move {
//!         let _ = cache.set("greeting", &refreshed, SetOptions::default()).await;
//!     })?;
//!     // The request's OIDC token, for the AWS/Azure/GCP providers or your own API:
//!     let _token = vercel_oidc::get_vercel_oidc_token().await;
//!     Ok(Response::new(ResponseBody::from(greeting)))
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Error> {
//!     vercel_runtime::run(VercelFunctionsLayer::new().layer(vercel_runtime::service_fn(handler))).await
//! }
//! ```
//!
//! # Features
//! | feature | default | adds |
//! |---|---|---|
//! | `local-dev` | yes | the core's local-dev token refresh; purge calls use the Vercel CLI's login when no token is given |
//! | `sqlx` | no | [`DatabasePool`] for `sqlx::Pool` |
//! | `deadpool` | no | [`DatabasePool`] for `deadpool::managed::Pool` |
//! | `bb8` | no | [`DatabasePool`] for `bb8::Pool` |
//!
//! # Security
//! - The Runtime Cache's credentials (`RUNTIME_CACHE_HEADERS`) and the purge token are sent as
//!   sensitive headers, never logged, never in an error or `Debug` output; endpoints that
//!   receive them must be https (or http on a loopback host).
//! - Request headers are attacker-controlled unless Vercel's proxy sets them; see
//!   `vercel_oidc::RequestContextLayer` for how the OIDC header is treated.
//! - Cached values come back as they were stored; the Runtime Cache is shared by every
//!   deployment of a project and environment: do not cache one user's data under a key
//!   another user can ask for.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod cache;
mod error;
mod layer;
pub mod pool;
pub mod purge;
mod scope;
mod tags;

pub use cache::{
    CacheOptions, DEFAULT_NAMESPACE_SEPARATOR, DEFAULT_TIMEOUT, FALLBACK_CAPACITY, KeyHashFn,
    LoggingRuntimeCache, MAX_ITEM_SIZE, RuntimeCache, SetOptions, default_key_hash, get_cache,
};
pub use error::{CacheError, PurgeError, TagError, WaitUntilError};
pub use layer::{
    BackgroundTasks, CACHE_TAG_HEADER, ResponseFuture, VercelFunctionsLayer, VercelFunctionsService,
};
pub use pool::{DEFAULT_IDLE_TIMEOUT, DatabasePool, IdleTimeout, attach_database_pool};
pub use purge::{
    DEFAULT_API_URL, MAX_SRC_IMAGE_LEN, PurgeOptions, PurgeTarget, dangerously_delete_by_src_image,
    dangerously_delete_by_tag, invalidate_by_src_image, invalidate_by_tag,
};
pub use scope::{add_cache_tag, get_deadline, wait_until};
pub use tags::{MAX_TAG_LEN, MAX_TAGS};

/// The official Rust runtime this crate is built on (`vercel_runtime` 2.4), re-exported so a
/// function can name `vercel_functions::vercel_runtime::run` without a second dependency line
/// that could drift to another version.
pub use vercel_runtime;

/// The request helpers of `@vercel/functions` (`ipAddress`, `geolocation`, `getEnv`), from
/// `vercel-oidc`.
pub use vercel_oidc::{Geo, VercelEnv, geolocation, get_env, ip_address};

/// The examples of `docs/functions.md` compile as doctests, exactly as a reader sees them.
#[cfg(doctest)]
#[doc = include_str!("../../docs/functions.md")]
pub struct DocsFunctionsDoctests;
