//! The Azure side of the trust: the federated identity credential a token satisfies, and what an
//! Entra rejection means.
//!
//! An Entra app registration (or user-assigned managed identity) trusts a Vercel token through a
//! **federated identity credential** whose issuer, subject and audience equal the token's `iss`,
//! `sub` and `aud` *exactly*: Entra has no partial match, so a one-character difference is an
//! `AADSTS700211` (issuer), `AADSTS700213` (subject) or `AADSTS70021` (no record matching all
//! three). Azure's default audience `api://AzureADTokenExchange` differs from Vercel's default
//! `https://vercel.com/<team>`: register Vercel's audience in the credential, or exchange the
//! token for Azure's audience first ([`AzureCredentialBuilder::audience`](crate::AzureCredentialBuilder::audience)).
//!
//! [`AzureFederation`] writes the credential for a token (`vercel-oidc trust azure` prints it)
//! and [`explain_entra_error`] turns an AADSTS code into the likely cause and fix, naming the
//! claim and the value the credential must match (never the token itself).

use serde_json::{Value, json};
use vercel_oidc::{Explanation, IdentityError, TokenIdentity, TrustScope};

/// The federated identity credential that admits a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureFederation {
    identity: TokenIdentity,
}

/// Entra matches subjects exactly, so only [`TrustScope::Environment`] can be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FederationError {
    /// A broader scope than one subject was asked for.
    #[error(
        "Entra federated credentials match the subject exactly: write one credential per \
         project and environment (scope `environment`), not one for a {0}"
    )]
    ScopeTooBroad(&'static str),
    /// The token lacks a claim the credential is written from.
    #[error(transparent)]
    Identity(#[from] IdentityError),
}

impl AzureFederation {
    /// The credential for `identity` at `scope` (only [`TrustScope::Environment`]: Entra has
    /// no wildcard subjects).
    ///
    /// ```
    /// use vercel_oidc::{Claims, TokenIdentity, TrustScope};
    /// use vercel_oidc_azure::AzureFederation;
    ///
    /// let claims = Claims::from_json_object(serde_json::from_str(r#"{
    ///     "iss": "https://oidc.vercel.com/acme", "aud": "https://vercel.com/acme",
    ///     "sub": "owner:acme:project:web:environment:production"}"#).unwrap()).unwrap();
    /// let identity = TokenIdentity::from_claims(&claims).unwrap();
    /// let federation = AzureFederation::new(&identity, TrustScope::Environment).unwrap();
    /// assert_eq!(federation.credential()["subject"], "owner:acme:project:web:environment:production");
    /// assert!(AzureFederation::new(&identity, TrustScope::Project).is_err());
    /// ```
    pub fn new(identity: &TokenIdentity, scope: TrustScope) -> Result<Self, FederationError> {
        match scope {
            TrustScope::Environment => Ok(Self {
                identity: identity.clone(),
            }),
            other => Err(FederationError::ScopeTooBroad(other.as_str())),
        }
    }

    /// The issuer the credential names: the token's `iss`.
    pub fn issuer(&self) -> &str {
        self.identity.issuer()
    }

    /// The subject the credential names: the token's `sub`.
    pub fn subject(&self) -> &str {
        self.identity.subject()
    }

    /// The audience the credential names: the token's first `aud`.
    pub fn audience(&self) -> &str {
        self.identity.audience()
    }

    /// The credential as `az ad app federated-credential create --parameters` takes it.
    pub fn credential(&self) -> Value {
        let name = match (self.identity.project(), self.identity.environment()) {
            (Some(project), Some(environment)) => format!("vercel-{project}-{environment}"),
            _ => "vercel".to_owned(),
        };
        json!({
            "name": name,
            "issuer": self.issuer(),
            "subject": self.subject(),
            "audiences": [self.audience()],
            "description": "Vercel OIDC federation",
        })
    }

    /// The Azure CLI command that creates the credential on the app `client_id`.
    pub fn create_command(&self, client_id: &str) -> String {
        format!(
            "az ad app federated-credential create --id {client_id} --parameters '{}'",
            self.credential()
        )
    }
}

/// Explains an Entra rejection (its AADSTS codes) of a client assertion carrying a token of
/// `identity`, for the app `client_id` in `tenant_id`. `None` for codes the trust does not
/// explain (throttling, outages).
///
/// ```
/// use vercel_oidc::{Claims, TokenIdentity};
/// use vercel_oidc_azure::explain_entra_error;
///
/// let claims = Claims::from_json_object(serde_json::from_str(r#"{
///     "iss": "https://oidc.vercel.com/acme", "aud": "https://vercel.com/acme",
///     "sub": "owner:acme:project:web:environment:production"}"#).unwrap()).unwrap();
/// let identity = TokenIdentity::from_claims(&claims).unwrap();
/// let why = explain_entra_error(&[700213], "00000000-0000-0000-0000-000000000001", "tenant", &identity).unwrap();
/// assert_eq!(why.mismatch, "subject");
/// assert!(why.fix.contains("owner:acme:project:web:environment:production"));
/// ```
pub fn explain_entra_error(
    codes: &[u32],
    client_id: &str,
    tenant_id: &str,
    identity: &TokenIdentity,
) -> Option<Explanation> {
    let iss = identity.issuer();
    let sub = identity.subject();
    let aud = identity.audience();
    let code = codes.iter().copied().find(|c| {
        matches!(
            c,
            70021 | 700211 | 700212 | 700213 | 700024 | 50027 | 700016 | 90002
        )
    })?;
    let exactly = "Entra compares exactly: no wildcards, case and trailing slashes count";
    Some(match code {
        700211 => Explanation {
            mismatch: "issuer",
            cause: format!(
                "no federated credential of app {client_id} names the token's issuer (iss) {iss} \
                 ({})",
                identity.mode()
            ),
            fix: format!(
                "set the federated credential's issuer to {iss}{} ({exactly})",
                identity
                    .other_mode_issuer()
                    .map(|o| format!(", not {o}"))
                    .unwrap_or_default()
            ),
        },
        700213 => Explanation {
            mismatch: "subject",
            cause: format!(
                "app {client_id} has a federated credential for issuer {iss}, but none for the \
                 token's subject (sub) {sub}"
            ),
            fix: format!(
                "set the federated credential's subject to {sub} ({exactly}; one credential \
                 per project and environment)"
            ),
        },
        700212 | 70021 => Explanation {
            mismatch: "audience",
            cause: format!(
                "app {client_id} has no federated credential matching issuer {iss}, subject \
                 {sub} and audience (aud) {aud} together (with the issuer and subject right, \
                 the audience is what differs)"
            ),
            fix: format!(
                "list {aud} in the credential's audiences, or exchange the token for the \
                 credential's audience first (Azure's default is api://AzureADTokenExchange: \
                 `.audience(\"api://AzureADTokenExchange\")` on the builder)"
            ),
        },
        700016 => Explanation {
            mismatch: "client",
            cause: format!("tenant {tenant_id} has no application with client id {client_id}"),
            fix: "set AZURE_CLIENT_ID (or --client-id) to the application (client) id of the \
                  app registration or managed identity that holds the federated credential"
                .into(),
        },
        90002 => Explanation {
            mismatch: "tenant",
            cause: format!("Entra has no tenant {tenant_id}"),
            fix: "set AZURE_TENANT_ID (or --tenant-id) to the directory (tenant) id".into(),
        },
        700024 => Explanation {
            mismatch: "clock",
            cause: "Entra considers the token (the client assertion) expired or not yet valid"
                .into(),
            fix: "get a fresh token and check this machine's clock".into(),
        },
        _ => Explanation {
            mismatch: "token",
            cause: "Entra could not read the client assertion as a JWT".into(),
            fix: "pass the Vercel OIDC token itself as the assertion".into(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vercel_oidc::Claims;

    fn identity() -> TokenIdentity {
        let claims = Claims::from_json_object(
            json!({
                "iss": "https://oidc.vercel.com/acme",
                "aud": "https://vercel.com/acme",
                "sub": "owner:acme:project:web:environment:preview",
            })
            .as_object()
            .cloned()
            .expect("object"),
        )
        .expect("claims");
        TokenIdentity::from_claims(&claims).expect("identity")
    }

    #[test]
    fn credential_and_command() {
        let f = AzureFederation::new(&identity(), TrustScope::Environment).expect("exact");
        let c = f.credential();
        assert_eq!(c["name"], "vercel-web-preview");
        assert_eq!(c["issuer"], "https://oidc.vercel.com/acme");
        assert_eq!(c["audiences"], json!(["https://vercel.com/acme"]));
        assert!(
            f.create_command("app-1")
                .starts_with("az ad app federated-credential create --id app-1 --parameters '{")
        );
        assert_eq!(
            AzureFederation::new(&identity(), TrustScope::Team),
            Err(FederationError::ScopeTooBroad("team"))
        );
    }

    #[test]
    fn each_code_names_its_mismatch() {
        let id = identity();
        for (codes, mismatch) in [
            (&[700211][..], "issuer"),
            (&[700213][..], "subject"),
            (&[70021][..], "audience"),
            (&[700212][..], "audience"),
            (&[700016][..], "client"),
            (&[90002][..], "tenant"),
            (&[700024][..], "clock"),
            (&[50027][..], "token"),
            (&[9999, 700213][..], "subject"),
        ] {
            let why = explain_entra_error(codes, "app", "t", &id).expect("explained");
            assert_eq!(why.mismatch, mismatch, "{codes:?}");
        }
        assert!(explain_entra_error(&[50196], "app", "t", &id).is_none());
        let issuer = explain_entra_error(&[700211], "app", "t", &id).expect("issuer");
        assert!(
            issuer.fix.contains("not https://oidc.vercel.com "),
            "{issuer}"
        );
    }
}
