//! The Entra emulator's public data: the federated credentials it trusts and its faults.

use std::time::Duration;

use serde_json::Value;

use crate::Issuer;

/// A federated identity credential of the emulated app registration: an assertion is accepted
/// when its `iss`, `sub` and `aud` equal these exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederatedCredential {
    /// The issuer, e.g. `https://oidc.vercel.com/<team>`; its key set is fetched from
    /// `{issuer}/.well-known/jwks`.
    pub issuer: String,
    /// The subject, e.g. `owner:<team>:project:<project>:environment:production`.
    pub subject: String,
    /// The audience, e.g. `https://vercel.com/<team>` or `api://AzureADTokenExchange`.
    pub audience: String,
}

impl FederatedCredential {
    /// A credential for exactly this issuer, subject and audience.
    pub fn new(
        issuer: impl Into<String>,
        subject: impl Into<String>,
        audience: impl Into<String>,
    ) -> Self {
        Self {
            issuer: issuer.into(),
            subject: subject.into(),
            audience: audience.into(),
        }
    }

    /// The credential matching the tokens `issuer` mints by default: its team issuer, its
    /// default subject and its default audience (`https://vercel.com/<team>`), as Vercel's
    /// Azure guide registers them.
    pub fn for_issuer(issuer: &Issuer) -> Self {
        let payload = issuer.token().payload();
        let subject = payload
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        Self::new(issuer.team_issuer(), subject, issuer.default_audience())
    }

    /// The same credential with another audience (e.g. `api://AzureADTokenExchange`).
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = audience.into();
        self
    }
}

/// An Entra-specific fault, injected with [`Entra::inject`](super::Entra::inject).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EntraFault {
    /// Answer `429 Too Many Requests` with `Retry-After: <seconds, rounded up>` and
    /// `retry-after-ms: <milliseconds>` (the precise form Azure services add) and an AADSTS-shaped
    /// body (`AADSTS50196`-style throttling), without checking the request.
    Throttle {
        /// How long the client should wait.
        retry_after: Duration,
    },
    /// Check the request normally and, if it is valid, issue a token with `expires_in: 0`
    /// (already expired when it arrives).
    ExpiredToken,
}
