//! Verification of incoming Vercel OIDC tokens: for your own API that a Vercel function calls
//! with its token as a bearer (send it with [`crate::bearer::BearerAuth`]).
//!
//! - [`Verifier`] checks one token: RS256 signature against the issuer's key set, issuer pinned
//!   exactly, audience, `exp` / `nbf` / `iat` with leeway, and the `project_id`, `environment`
//!   and `owner_id` constraints. Each failed check is its own [`VerifyError`] variant.
//! - [`VerifyLayer`] is a tower layer (axum-compatible) that verifies the `Authorization: Bearer`
//!   header of every request, puts [`VerifiedClaims`] into the request's extensions, and answers
//!   `401` with `WWW-Authenticate: Bearer …` otherwise.
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
//! let claims = verifier.verify(token).await?;
//! println!("call from {:?}", claims.project);
//! # Ok(()) }
//! ```
//!
//! With axum:
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
//! # Environment variables
//! | variable | required | meaning |
//! |---|---|---|
//! | `VERCEL_OIDC_ISSUER_URL` | optional | issuer base URL (default `https://oidc.vercel.com`); for test issuers |
//! | `VERCEL_OIDC_CA_FILE` | optional | extra PEM trust roots for the key-set fetch |
//!
//! # Security
//! - Only `RS256` is accepted: `alg: none`, HMAC (including HS256 keyed with the RSA public key)
//!   and every other algorithm are rejected before any key is used.
//! - The issuer is compared exactly: `https://oidc.vercel.com/acme/`,
//!   `https://oidc.vercel.com.evil.example` and another team's issuer are all rejected.
//! - The issuer base must be `https`, except `http` on a loopback host (test issuers).
//! - There is no implicit "any": building without deciding each constraint fails with
//!   [`VerifierConfigError::Undecided`].
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
