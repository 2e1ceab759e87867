//! The AWS side of the trust: what IAM must hold for a token, and what an STS rejection means.
//!
//! STS answers every trust-policy mismatch with the same `AccessDenied` ("Not authorized to
//! perform sts:AssumeRoleWithWebIdentity"), and a missing identity provider or audience with an
//! `InvalidIdentityToken` whose message few people can place. Only the token and the role's
//! configuration tell which condition failed: [`AwsTrust`] writes the configuration a token
//! satisfies (`vercel-oidc trust aws` prints it) and [`explain_rejection`] turns an STS error
//! into the likely cause and its fix, naming the claim and the value IAM must match (never the
//! token itself). The provider's [`Error::Rejected`](crate::Error::Rejected) carries the same
//! explanation.
//!
//! # The IAM side of a Vercel token
//!
//! * An IAM **OIDC identity provider** whose URL is the token's issuer exactly — team mode
//!   `https://oidc.vercel.com/<team>`, global mode `https://oidc.vercel.com` — and whose audience
//!   (client id) list holds the token's `aud` (by default `https://vercel.com/<team>`).
//! * A **role** whose trust policy allows `sts:AssumeRoleWithWebIdentity` for the `Federated`
//!   principal `arn:aws:iam::<account>:oidc-provider/<issuer without https://>`, with
//!   `StringEquals` on `<issuer without https://>:aud` and `StringEquals` (one environment) or
//!   `StringLike` (a project, or the whole team) on `<issuer without https://>:sub`.

use serde_json::{Value, json};
use vercel_oidc::{Explanation, IdentityError, IssuerMode, SubjectRule, TokenIdentity, TrustScope};

/// The IAM configuration that admits a token: identity provider and role trust policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsTrust {
    account_id: String,
    identity: TokenIdentity,
    subject: SubjectRule,
    scope: TrustScope,
}

impl AwsTrust {
    /// The configuration for `identity` in the AWS account `account_id`, admitting the tokens
    /// of `scope` (this environment, this project, or the team).
    ///
    /// # Errors
    /// If `scope` is broader than the exact subject and the token's `sub` is not in Vercel's
    /// `owner:…:project:…:environment:…` form.
    ///
    /// ```
    /// use vercel_oidc::{Claims, TokenIdentity, TrustScope};
    /// use vercel_oidc_aws::AwsTrust;
    ///
    /// let claims = Claims::from_json_object(serde_json::from_str(r#"{
    ///     "iss": "https://oidc.vercel.com/acme", "aud": "https://vercel.com/acme",
    ///     "sub": "owner:acme:project:web:environment:production"}"#).unwrap()).unwrap();
    /// let identity = TokenIdentity::from_claims(&claims).unwrap();
    /// let trust = AwsTrust::new(&identity, "123456789012", TrustScope::Project).unwrap();
    /// assert_eq!(
    ///     trust.provider_arn(),
    ///     "arn:aws:iam::123456789012:oidc-provider/oidc.vercel.com/acme"
    /// );
    /// let policy = trust.trust_policy();
    /// assert_eq!(
    ///     policy["Statement"][0]["Condition"]["StringLike"]["oidc.vercel.com/acme:sub"],
    ///     "owner:acme:project:web:environment:*"
    /// );
    /// ```
    pub fn new(
        identity: &TokenIdentity,
        account_id: &str,
        scope: TrustScope,
    ) -> Result<Self, IdentityError> {
        Ok(Self {
            account_id: account_id.to_owned(),
            subject: identity.subject_rule(scope)?,
            identity: identity.clone(),
            scope,
        })
    }

    /// The identity provider's URL: the token's issuer.
    pub fn provider_url(&self) -> &str {
        self.identity.issuer()
    }

    /// The audience the identity provider must list (the token's first `aud`).
    pub fn audience(&self) -> &str {
        self.identity.audience()
    }

    /// `arn:aws:iam::<account>:oidc-provider/<issuer without scheme>`.
    pub fn provider_arn(&self) -> String {
        format!(
            "arn:aws:iam::{}:oidc-provider/{}",
            self.account_id,
            self.identity.issuer_host_path()
        )
    }

    /// The scope the subject condition was written for.
    pub fn scope(&self) -> TrustScope {
        self.scope
    }

    /// The role trust policy document.
    pub fn trust_policy(&self) -> Value {
        let prefix = self.identity.issuer_host_path();
        let aud_key = format!("{prefix}:aud");
        let sub_key = format!("{prefix}:sub");
        let mut condition = serde_json::Map::new();
        let mut equals = serde_json::Map::new();
        equals.insert(aud_key, Value::String(self.audience().to_owned()));
        match &self.subject {
            SubjectRule::Exact(sub) => {
                equals.insert(sub_key, Value::String(sub.clone()));
                condition.insert("StringEquals".into(), Value::Object(equals));
            }
            SubjectRule::Pattern(pattern) => {
                condition.insert("StringEquals".into(), Value::Object(equals));
                condition.insert("StringLike".into(), json!({ sub_key: pattern }));
            }
        }
        json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Federated": self.provider_arn()},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": condition,
            }]
        })
    }

    /// The AWS CLI command that creates the identity provider.
    pub fn create_provider_command(&self) -> String {
        format!(
            "aws iam create-open-id-connect-provider --url {} --client-id-list {}",
            self.provider_url(),
            self.audience()
        )
    }
}

/// Explains an STS rejection of `AssumeRoleWithWebIdentity` for `role_arn` with a token of
/// `identity`, from STS's error `code` and `message`. `None` for errors the trust does not
/// explain (throttling, validation, outages).
///
/// ```
/// use vercel_oidc::{Claims, TokenIdentity};
/// use vercel_oidc_aws::explain_rejection;
///
/// let claims = Claims::from_json_object(serde_json::from_str(r#"{
///     "iss": "https://oidc.vercel.com/acme", "aud": "https://vercel.com/acme",
///     "sub": "owner:acme:project:web:environment:production"}"#).unwrap()).unwrap();
/// let identity = TokenIdentity::from_claims(&claims).unwrap();
/// let why = explain_rejection(
///     "AccessDenied",
///     Some("Not authorized to perform sts:AssumeRoleWithWebIdentity"),
///     "arn:aws:iam::123456789012:role/app",
///     &identity,
/// )
/// .unwrap();
/// assert!(why.fix.contains("owner:acme:project:web:environment:production"));
/// ```
pub fn explain_rejection(
    code: &str,
    message: Option<&str>,
    role_arn: &str,
    identity: &TokenIdentity,
) -> Option<Explanation> {
    let message = message.unwrap_or_default();
    let iss = identity.issuer();
    let aud = identity.audience();
    let prefix = identity.issuer_host_path();
    let account = role_arn.split(':').nth(4).unwrap_or("<account>");
    match code {
        "InvalidIdentityToken" if message.contains("No OpenIDConnect provider found") => {
            let other = match (identity.mode(), identity.other_mode_issuer()) {
                (IssuerMode::Team(_), Some(other)) => format!(
                    " If the account has a provider for {other}, it was made for global mode; \
                     this token is in team mode."
                ),
                (IssuerMode::Global, Some(other)) => format!(
                    " If the account has a provider for {other}, it was made for team mode; \
                     this token is in global mode."
                ),
                _ => String::new(),
            };
            Some(Explanation {
                mismatch: "issuer",
                cause: format!(
                    "AWS account {account} has no IAM OIDC identity provider for the token's \
                     issuer (iss) {iss} ({}).{other}",
                    identity.mode()
                ),
                fix: format!(
                    "create an IAM OIDC identity provider with URL {iss} and audience {aud} \
                     (aws iam create-open-id-connect-provider --url {iss} --client-id-list \
                     {aud}), or switch the project's issuer mode to match the existing provider"
                ),
            })
        }
        "InvalidIdentityToken" if message.contains("audience") => Some(Explanation {
            mismatch: "audience",
            cause: format!(
                "the IAM OIDC identity provider for {iss} does not list the token's audience \
                 (aud) {aud}"
            ),
            fix: format!(
                "add {aud} to the provider's audiences (aws iam add-client-id-to-open-id-connect-provider \
                 --open-id-connect-provider-arn arn:aws:iam::{account}:oidc-provider/{prefix} \
                 --client-id {aud}), or exchange the token for an audience the provider lists"
            ),
        }),
        "AccessDenied" => Some(Explanation {
            mismatch: "subject or role",
            cause: format!(
                "the role {role_arn} does not exist, or its trust policy does not admit this \
                 token (STS does not say which condition failed)"
            ),
            fix: format!(
                "check that the role exists and that its trust policy allows \
                 sts:AssumeRoleWithWebIdentity for Federated \
                 arn:aws:iam::{account}:oidc-provider/{prefix} with StringEquals {prefix}:aud = \
                 {aud} and a {prefix}:sub condition that matches {sub} (StringEquals for exactly \
                 this subject, StringLike with * for broader ones); `vercel-oidc trust aws` \
                 prints such a policy",
                sub = identity.subject()
            ),
        }),
        "ExpiredTokenException" => Some(Explanation {
            mismatch: "clock",
            cause: "STS considers the token expired: it is, or this machine's clock or AWS's \
                    view of time differs from the token's"
                .into(),
            fix: "get a fresh token (the provider does this once by itself) and check this \
                  machine's clock"
                .into(),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vercel_oidc::Claims;

    const ROLE: &str = "arn:aws:iam::123456789012:role/app";

    fn identity(iss: &str) -> TokenIdentity {
        let claims = Claims::from_json_object(
            json!({
                "iss": iss,
                "aud": "https://vercel.com/acme",
                "sub": "owner:acme:project:web:environment:production",
            })
            .as_object()
            .cloned()
            .expect("object"),
        )
        .expect("claims");
        TokenIdentity::from_claims(&claims).expect("identity")
    }

    #[test]
    fn policies_at_each_scope() {
        let id = identity("https://oidc.vercel.com/acme");
        let exact = AwsTrust::new(&id, "123456789012", TrustScope::Environment).expect("exact");
        let policy = exact.trust_policy();
        let condition = &policy["Statement"][0]["Condition"];
        assert_eq!(
            condition["StringEquals"]["oidc.vercel.com/acme:sub"],
            "owner:acme:project:web:environment:production"
        );
        assert_eq!(
            condition["StringEquals"]["oidc.vercel.com/acme:aud"],
            "https://vercel.com/acme"
        );
        assert!(condition.get("StringLike").is_none());
        assert_eq!(
            policy["Statement"][0]["Principal"]["Federated"],
            "arn:aws:iam::123456789012:oidc-provider/oidc.vercel.com/acme"
        );
        let team = AwsTrust::new(&id, "1", TrustScope::Team).expect("team");
        assert_eq!(
            team.trust_policy()["Statement"][0]["Condition"]["StringLike"]["oidc.vercel.com/acme:sub"],
            "owner:acme:project:*:environment:*"
        );
        assert_eq!(team.scope(), TrustScope::Team);
        assert_eq!(
            team.create_provider_command(),
            "aws iam create-open-id-connect-provider --url https://oidc.vercel.com/acme \
             --client-id-list https://vercel.com/acme"
        );
        let global = AwsTrust::new(
            &identity("https://oidc.vercel.com"),
            "1",
            TrustScope::Environment,
        )
        .expect("global");
        assert!(
            global.trust_policy()["Statement"][0]["Condition"]["StringEquals"]
                .get("oidc.vercel.com:aud")
                .is_some()
        );
    }

    #[test]
    fn each_rejection_names_its_mismatch() {
        let id = identity("https://oidc.vercel.com/acme");
        let no_provider = explain_rejection(
            "InvalidIdentityToken",
            Some(
                "No OpenIDConnect provider found in your account for https://oidc.vercel.com/acme",
            ),
            ROLE,
            &id,
        )
        .expect("issuer");
        assert_eq!(no_provider.mismatch, "issuer");
        assert!(no_provider.cause.contains("team mode"), "{no_provider}");
        assert!(
            no_provider.cause.contains("https://oidc.vercel.com,"),
            "{no_provider}"
        );
        let audience = explain_rejection(
            "InvalidIdentityToken",
            Some("Incorrect token audience"),
            ROLE,
            &id,
        )
        .expect("audience");
        assert_eq!(audience.mismatch, "audience");
        assert!(audience.fix.contains("https://vercel.com/acme"));
        let denied = explain_rejection("AccessDenied", None, ROLE, &id).expect("denied");
        assert_eq!(denied.mismatch, "subject or role");
        assert!(denied.cause.contains(ROLE));
        assert!(
            denied
                .fix
                .contains("owner:acme:project:web:environment:production")
        );
        assert_eq!(
            explain_rejection("ExpiredTokenException", None, ROLE, &id)
                .expect("clock")
                .mismatch,
            "clock"
        );
        assert!(explain_rejection("Throttling", None, ROLE, &id).is_none());
        assert!(
            explain_rejection("InvalidIdentityToken", Some("bad signature"), ROLE, &id).is_none()
        );
    }
}
