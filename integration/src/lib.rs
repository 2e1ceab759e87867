//! Cross-crate tests of the `vercel-oidc` workspace; this library itself is empty.
//!
//! - `tests/fault_matrix.rs`: every testkit fault kind against the AWS provider and the Azure
//!   credential, cold and inside the refresh window.
//! - `tests/secret_scan.rs`: every flow (token chain, local-dev refresh, AWS, Azure, verify)
//!   under a process-global TRACE subscriber, with no secret in the logs, `Debug` or `Display`.
//! - The README's Rust examples compile as doctests of this crate, exactly as a reader sees them
//!   (no hidden lines).

#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
