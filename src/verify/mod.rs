//! Verification of incoming Vercel OIDC tokens: for your own API that a Vercel function calls
//! with its token as a bearer (send it with `vercel_oidc::bearer::BearerAuth`).
//!
//! - [`Verifier`] checks one token: RS256 signature against the issuer's key set, issuer pinned
//!   exactly, audience, `exp` / `nbf` / `iat` with leeway, and the `project_id`, `environment`
//!   and `owner_id` constraints. Each failed check is its own [`VerifyError`] variant, and
//!   [`VerifyError::is_rejection`] tells "this token is not acceptable" (answer 401) from "it
//!   could not be checked" (the key set is unavailable: answer 503).
//! - [`ExpectedIssuer`] is the team issuer, the global issuer, or both
//!   ([`ExpectedIssuer::team_or_global`], for a project whose issuer mode may change); each
//!   issuer's tokens are verified with that issuer's own key set only.
//! - [`VerifierBuilder::defaults_from_env`] (or [`Verifier::for_this_deployment`]) takes the
//!   project and environment from the deployment (`VERCEL_PROJECT_ID`, `VERCEL_TARGET_ENV` /
//!   `VERCEL_ENV`), as `verifyVercelOidcToken` of `@vercel/oidc` does, but never silently: a
//!   missing variable is an error naming it.
//! - [`VerifyLayer`] is a tower layer (axum-compatible) that verifies the `Authorization: Bearer`
//!   header of every request, puts [`VerifiedClaims`] into the request's extensions, and answers
//!   `401` with `WWW-Authenticate: Bearer …`, or `503` when the token could not be checked.
//! - With the `axum` feature, [`VerifiedClaims`] is an axum extractor: a handler argument
//!   `claims: VerifiedClaims` (the verifier from the router's state), rejections answered like
//!   the layer's (`VerifyRejection`).
//! - The key set (`{issuer}/.well-known/jwks`) is fetched once and cached: refreshed in the
//!   background after [`DEFAULT_JWKS_MAX_AGE`], refetched on an unknown `kid` at most once per
//!   [`DEFAULT_JWKS_COOLDOWN`] (single-flight), and kept when a refresh fails. Keys are parsed
//!   once; a warm verification does not touch the network.
//!
//!
//! # Example
//!
//! ```no_run
//! use vercel_oidc::verify::{Constraint, ExpectedIssuer, Verifier};
//!
//! # async fn run(token: &str) -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = Verifier::builder(ExpectedIssuer::team("acme"), "https://api.example.com")
//!     .project_id("prj_123")                                    // exactly this project
//!     .environment(Constraint::one_of(["production", "preview"])) // either of these
//!     .owner_id(Constraint::Any)                                // explicitly any team id
//!     .build()?;
//! match verifier.verify(token).await {
//!     Ok(claims) => println!("call from {:?}", claims.project),
//!     Err(e) if e.is_rejection() => println!("401: {e}"),
//!     Err(e) => println!("503, try again later: {e}"),
//! }
//! # Ok(()) }
//! ```
//!
//! Tokens of this very deployment, from either issuer form of the team:
//!
//! ```no_run
//! use vercel_oidc::verify::{ExpectedIssuer, Verifier};
//!
//! # fn run() -> Result<(), vercel_oidc::verify::VerifierConfigError> {
//! // Reads VERCEL_PROJECT_ID and VERCEL_TARGET_ENV (else VERCEL_ENV) when it builds.
//! let verifier = Verifier::for_this_deployment(
//!     ExpectedIssuer::team_or_global("acme"),
//!     "https://vercel.com/acme",
//! )
//! .build()?;
//! # let _ = verifier; Ok(()) }
//! ```
//!
//! With axum, behind the layer:
//!
//! ```no_run
//! # #[cfg(any())] {
//! // axum is not a dependency of this crate, so this block is not compiled here; see the
//! // `own_api_server` example for the complete program.
//! use axum::Extension;
//! use vercel_oidc::verify::VerifiedClaims;
//!
//! async fn whoami(Extension(claims): Extension<VerifiedClaims>) -> String {
//!     claims.project.clone().unwrap_or_default()
//! }
//! let app = axum::Router::new()
//!     .route("/whoami", axum::routing::get(whoami))
//!     .layer(verifier.layer());
//! # }
//! ```
//!
//! or with the extractor (feature `axum`; the `axum_extractor_server` example):
//!
//! ```no_run
//! # #[cfg(any())] {
//! async fn whoami(claims: VerifiedClaims) -> String {
//!     claims.project.clone().unwrap_or_default()
//! }
//! let app: axum::Router = axum::Router::new()
//!     .route("/whoami", axum::routing::get(whoami))
//!     .with_state(verifier);
//! # }
//! ```
//!
//! # Environment variables
//! | variable | required | meaning |
//! |---|---|---|
//! | `VERCEL_OIDC_ISSUER_URL` | optional | issuer base URL (default `https://oidc.vercel.com`); for test issuers |
//! | `VERCEL_OIDC_CA_FILE` | optional | extra PEM trust roots for the key-set fetch |
//! | `VERCEL_PROJECT_ID` | with [`VerifierBuilder::defaults_from_env`], unless `project_id` is set | the allowed `project_id` |
//! | `VERCEL_TARGET_ENV`, else `VERCEL_ENV` | with [`VerifierBuilder::defaults_from_env`], unless `environment` is set | the allowed `environment` |
//!
//! # Security
//! - Only `RS256` is accepted: `alg: none`, HMAC (including HS256 keyed with the RSA public key)
//!   and every other algorithm are rejected before any key is used.
//! - The issuer is compared exactly: `https://oidc.vercel.com/acme/`,
//!   `https://oidc.vercel.com.evil.example` and another team's issuer are all rejected, in each
//!   mode and with both. With both, a global-form token must also have the team as `owner`
//!   (the global issuer is every team's), and each form is checked only with its own issuer's
//!   key set. A token naming neither issuer is rejected before any key set is fetched.
//! - The issuer base must be `https`, except `http` on a loopback host (test issuers).
//! - There is no implicit "any": building without deciding each constraint fails with
//!   [`VerifierConfigError::Undecided`], and a deployment default whose variable is missing
//!   with [`VerifierConfigError::MissingEnv`]. A wildcard project never makes the owner
//!   implicit: with `project_id(Constraint::Any)` the `owner_id` must be decided too (the
//!   audience is always pinned).
//! - While the key set cannot be fetched, a token is answered "could not check" (503), never
//!   "not acceptable": a `kid` missing from the cached keys may be the issuer's new key.
//! - Tokens longer than [`DEFAULT_MAX_TOKEN_LEN`] are rejected before any parsing.
//! - Errors and logs never contain the token.
//! - A failed key-set refresh keeps the cached keys (availability over freshness): a key the
//!   issuer withdrew stays trusted until a refresh succeeds. Refreshes are retried once per
//!   cooldown and logged at `warn` while they fail.

mod claims;
mod config;
mod error;
#[cfg(feature = "axum")]
mod extract;
pub(crate) mod jwks;
mod jws;
mod middleware;
mod verifier;

pub use claims::VerifiedClaims;
pub use config::{
    Constraint, DEFAULT_JWKS_COOLDOWN, DEFAULT_JWKS_MAX_AGE, DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_LEN,
    ExpectedIssuer, VerifierBuilder,
};
pub use error::{ConstrainedClaim, JwksErrorKind, VerifierConfigError, VerifyError};
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use extract::VerifyRejection;
pub use middleware::{ResponseFuture, VerifyLayer, VerifyService};
pub use verifier::Verifier;
