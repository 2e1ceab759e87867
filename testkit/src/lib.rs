//! Local emulators of Vercel's OIDC services on `127.0.0.1`, for tests: ours and yours.
//!
//! [`Issuer`] is a running emulator of Vercel's OIDC issuer on an ephemeral loopback port. It
//!
//! - mints Vercel-shaped tokens with chosen claims and lifetimes ([`Issuer::token`],
//!   [`TokenBuilder`]), including malformed and malicious ones (`alg: none`, HS256 keyed with
//!   the RSA public key, an unknown signing key, a lying header);
//! - serves its discovery document and key set in team form (`{base_url}/{team}/.well-known/…`,
//!   the issuer `https://oidc.vercel.com/<team>`) and global form (`{base_url}/.well-known/…`);
//! - answers the audience exchange `POST {issuer}/~token` (JSON `{"token", "aud", "jti"?}` in,
//!   `{"token", "expiry"}` out), verifying the subject token;
//! - rotates and retires signing keys ([`Issuer::rotate_key`], [`Issuer::retire_old_keys`]);
//! - counts requests per [`Endpoint`] and injects [`Fault`]s: status codes, delays, dropped
//!   connections, garbage and truncated bodies, always or for the next N requests ([`Faults`]).
//!
//! Beside it: [`VercelApi`] (the token mint and the OAuth refresh of local development),
//! [`Sts`] (AWS STS `AssumeRoleWithWebIdentity`, with [`Iam`] trust policies) and
//! [`Entra`] (Microsoft Entra ID's client-credentials grant with a federated client assertion)
//! and [`Gcp`] (Google's STS token exchange and IAM Credentials, for workload identity federation).
//! For the rest of a Vercel function's platform: [`RuntimeCache`] (the Runtime Cache HTTP
//! protocol behind `RUNTIME_CACHE_ENDPOINT`/`RUNTIME_CACHE_HEADERS`, with TTLs, tags and fault
//! injection) and [`PurgeApi`] (the REST API's `/v1/edge-cache/…` purge endpoints, recording
//! exactly what was sent). [`VercelHost`] (unix) runs a real function binary built on
//! `vercel_runtime` as the platform does: the IPC socket and its `server-started`/`end`/`log`
//! messages, per-invocation platform headers with an OIDC token from an [`Issuer`], freeze and
//! thaw (`SIGSTOP`/`SIGCONT`) and a `SIGTERM` shutdown.
//! STS and Entra act as relying parties: they fetch the issuer's key set over HTTP and verify
//! each token they are given, as the real services do.
//!
//! The emulators share no code with the `vercel-oidc` crate: they build, sign and check JWTs
//! themselves (serde_json, base64url, aws-lc-rs), so a misreading of the protocol in the client
//! cannot cancel itself out in the emulator.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use vercel_oidc_testkit::{Endpoint, Fault, Issuer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let issuer = Issuer::builder().team_slug("acme").start().await?;
//!
//! // A token as a Vercel function would see it, for a custom audience, valid for 10 minutes.
//! let token = issuer
//!     .token()
//!     .audience("sts.amazonaws.com")
//!     .lifetime(Duration::from_secs(600))
//!     .sign();
//! assert_eq!(token.split('.').count(), 3);
//!
//! // Point the code under test at the issuer; its key set is at
//! // `{team_issuer}/.well-known/jwks`.
//! assert_eq!(issuer.team_issuer(), format!("{}/acme", issuer.base_url()));
//!
//! // The next JWKS fetch fails with 503, the one after succeeds.
//! issuer.faults().next(Endpoint::Jwks, 1, Fault::Status(503));
//! assert_eq!(issuer.requests(Endpoint::Jwks), 0);
//! # Ok(())
//! # }
//! ```
//!
//! # Keys
//!
//! Keys are RSA 2048, generated once per process and pooled: an issuer borrows keys from the
//! pool and returns them when it (and every request it is serving) is gone, so a test binary
//! generates only as many keys as issuers are alive at once. Two issuers alive at the same time
//! never share a key. Key ids are `{kid_prefix}-{n}`.
//!
//! # Security
//!
//! This crate is for tests only. Its private keys live unprotected in process memory and are
//! reused across issuers, its servers are plain HTTP (Entra, and STS on request, serve HTTPS
//! with a certificate from a CA generated per emulator and trusted by nothing else), and it is
//! built to hand out tokens that must be rejected. Never point production code at it or trust a
//! token it minted outside a test.

mod faults;
mod format;
mod issuer;
mod jwt;
mod keys;
mod logs;
mod relying_party;
mod server;
mod tls;
mod token;

pub mod entra;
pub mod gcp;
pub mod iam;
pub mod purge;
pub mod runtime_cache;
pub mod sts;
pub mod vercel_api;
#[cfg(unix)]
pub mod vercel_host;

pub use entra::{Entra, EntraBuilder, EntraFault, FederatedCredential};
pub use faults::{Endpoint, Fault, Faults};
pub use gcp::{Gcp, GcpBuilder, ServiceAccount, WorkloadIdentityProvider};
pub use iam::Iam;
pub use issuer::{Issuer, IssuerBuilder, IssuerMode};
pub use logs::{LogCapture, LogCaptureWriter, capture_logs};
pub use purge::{PurgeApi, PurgeApiBuilder, PurgeRequest, PurgeRoute};
pub use runtime_cache::{CacheEntry, CacheOp, CacheRequest, RuntimeCache, RuntimeCacheBuilder};
pub use sts::{IssuedCredentials, Sts, StsBuilder, StsFault, StsRequest};
pub use token::TokenBuilder;
pub use vercel_api::{VercelApi, VercelApiBuilder};
#[cfg(unix)]
pub use vercel_host::{
    EndRecord, HostError, HostRequest, HostResponse, LogRecord, MintContext, VercelHost,
    VercelHostBuilder,
};
