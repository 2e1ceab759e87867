//! [`GcpBuilder`]: the emulated workload identity pool providers and service accounts, and
//! starting the server.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::{Gcp, GcpState, Shared, routes};
use crate::Issuer;
use crate::faults::Faults;
use crate::relying_party::JwksVerifier;
use crate::server::{Counters, Server};

/// A workload identity pool provider of the emulated project: which tokens STS accepts.
///
/// A token is accepted when its `iss` equals [`issuer_uri`](Self::issuer_uri), its `aud`
/// contains one of the allowed audiences (with none listed, Google's default: the provider's
/// canonical resource name with or without `https:`), it is within its lifetime, its signature
/// verifies against `{issuer_uri}/.well-known/jwks`, and every attribute condition holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadIdentityProvider {
    /// The project number.
    pub project_number: String,
    /// The pool id.
    pub pool_id: String,
    /// The provider id.
    pub provider_id: String,
    /// The OIDC issuer, e.g. `https://oidc.vercel.com/<team>`.
    pub issuer_uri: String,
    /// The allowed audiences; empty means Google's default (the provider's resource name).
    pub allowed_audiences: Vec<String>,
    /// Claim equalities every token must satisfy (the emulator's form of an attribute
    /// condition such as `assertion.project == 'web'`).
    pub conditions: Vec<(String, String)>,
}

impl WorkloadIdentityProvider {
    /// A provider for tokens of `issuer_uri`, with no allowed audiences and no condition.
    pub fn new(
        project_number: impl Into<String>,
        pool_id: impl Into<String>,
        provider_id: impl Into<String>,
        issuer_uri: impl Into<String>,
    ) -> Self {
        Self {
            project_number: project_number.into(),
            pool_id: pool_id.into(),
            provider_id: provider_id.into(),
            issuer_uri: issuer_uri.into().trim_end_matches('/').to_owned(),
            allowed_audiences: Vec::new(),
            conditions: Vec::new(),
        }
    }

    /// The provider Vercel's guide sets up for `issuer`: project `123456789012`, pool
    /// `vercel`, provider `vercel`, the team issuer, and the allowed audience
    /// `https://vercel.com/<team>` (the audience of the issuer's default tokens).
    pub fn for_issuer(issuer: &Issuer) -> Self {
        Self::new("123456789012", "vercel", "vercel", issuer.team_issuer())
            .allowed_audience(issuer.default_audience())
    }

    /// Adds an allowed audience.
    pub fn allowed_audience(mut self, audience: impl Into<String>) -> Self {
        self.allowed_audiences.push(audience.into());
        self
    }

    /// Adds the attribute condition `assertion.<claim> == '<value>'`.
    pub fn condition(mut self, claim: impl Into<String>, value: impl Into<String>) -> Self {
        self.conditions.push((claim.into(), value.into()));
        self
    }

    /// `//iam.googleapis.com/projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>`:
    /// the STS `audience` naming this provider.
    pub fn resource_name(&self) -> String {
        format!(
            "//iam.googleapis.com/projects/{}/locations/global/workloadIdentityPools/{}/providers/{}",
            self.project_number, self.pool_id, self.provider_id
        )
    }

    /// The principal of a federated identity with subject `sub` in this provider's pool, as IAM
    /// policies name it.
    pub fn principal(&self, sub: &str) -> String {
        format!(
            "principal://iam.googleapis.com/projects/{}/locations/global/workloadIdentityPools/{}/subject/{sub}",
            self.project_number, self.pool_id
        )
    }

    /// The audiences a token may carry.
    pub(super) fn accepted_audiences(&self) -> Vec<String> {
        if self.allowed_audiences.is_empty() {
            let name = self.resource_name();
            vec![format!("https:{name}"), name]
        } else {
            self.allowed_audiences.clone()
        }
    }

    /// The conditions as CEL, for error messages.
    pub(super) fn condition_text(&self) -> String {
        self.conditions
            .iter()
            .map(|(claim, value)| format!("assertion.{claim} == '{value}'"))
            .collect::<Vec<_>>()
            .join(" && ")
    }

    /// `true` when every condition holds for `claims`.
    pub(super) fn conditions_hold(&self, claims: &serde_json::Map<String, Value>) -> bool {
        self.conditions
            .iter()
            .all(|(claim, value)| claims.get(claim).and_then(Value::as_str) == Some(value))
    }
}

/// A service account of the emulated project, and who may impersonate it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccount {
    /// Its email.
    pub email: String,
    /// The federated subjects (`sub` claims) granted `roles/iam.workloadIdentityUser`; `None`
    /// grants the whole pool (`principalSet://…/*`).
    pub allowed_subjects: Option<Vec<String>>,
}

impl ServiceAccount {
    /// A service account every federated identity of the pool may impersonate.
    pub fn new(email: impl Into<String>) -> Self {
        Self {
            email: email.into(),
            allowed_subjects: None,
        }
    }

    /// Grants only this subject (call again for more).
    pub fn allow_subject(mut self, subject: impl Into<String>) -> Self {
        self.allowed_subjects
            .get_or_insert_with(Vec::new)
            .push(subject.into());
        self
    }

    pub(super) fn allows(&self, subject: &str) -> bool {
        self.allowed_subjects
            .as_ref()
            .is_none_or(|subjects| subjects.iter().any(|s| s == subject))
    }
}

/// Settings of a [`Gcp`] emulator; [`GcpBuilder::start`] starts it.
#[derive(Debug, Clone)]
pub struct GcpBuilder {
    pub(super) providers: Vec<WorkloadIdentityProvider>,
    pub(super) service_accounts: Vec<ServiceAccount>,
    pub(super) federated_lifetime: Duration,
    pub(super) max_lifetime: Duration,
}

impl Default for GcpBuilder {
    fn default() -> Self {
        Self {
            providers: Vec::new(),
            service_accounts: Vec::new(),
            federated_lifetime: Duration::from_secs(3600),
            max_lifetime: Duration::from_secs(3600),
        }
    }
}

impl GcpBuilder {
    /// Adds a workload identity pool provider. Defaults to none: every exchange is
    /// `invalid_target`.
    pub fn provider(mut self, provider: WorkloadIdentityProvider) -> Self {
        self.providers.push(provider);
        self
    }

    /// Adds a service account. Defaults to none: every impersonation is `NOT_FOUND`.
    pub fn service_account(mut self, account: ServiceAccount) -> Self {
        self.service_accounts.push(account);
        self
    }

    /// The longest life of a federated token (it never outlives its subject token). Defaults
    /// to 1 h, as Google's STS.
    pub fn federated_lifetime(mut self, lifetime: Duration) -> Self {
        self.federated_lifetime = lifetime;
        self
    }

    /// The longest `lifetime` `generateAccessToken` grants. Defaults to 1 h (Google's limit
    /// without the organization policy that allows 12 h).
    pub fn max_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_lifetime = lifetime;
        self
    }

    /// Binds `127.0.0.1:0` and serves plain HTTP on the current tokio runtime.
    ///
    /// # Errors
    /// If the port cannot be bound or the key-set client cannot be built.
    pub async fn start(self) -> io::Result<Gcp> {
        let listener = Server::bind().await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let shared = Arc::new(Shared {
            config: self,
            base_url,
            // No timeout: the emulator's clock follows tokio's (see `Sts`).
            jwks: JwksVerifier::new(None)?,
            clock: (SystemTime::now(), tokio::time::Instant::now()),
            faults: Faults::new(),
            counters: Counters::default(),
            state: Mutex::new(GcpState::default()),
        });
        let server = Server::serve(listener, routes::router(Arc::clone(&shared)))?;
        tracing::debug!(addr = %server.addr(), "vercel-oidc-testkit: Google STS + IAM Credentials started");
        Ok(Gcp { shared, server })
    }
}
