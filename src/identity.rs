//! What a token says about who it is, in the terms the cloud side's trust is written in.
//!
//! Every federation (an AWS IAM OIDC provider and role trust policy, an Entra federated identity
//! credential, a GCP workload identity pool provider) matches three claims exactly: the issuer
//! (`iss`, team mode `https://oidc.vercel.com/<team>` or global mode `https://oidc.vercel.com`),
//! the audience (`aud`, by default `https://vercel.com/<team>`) and the subject (`sub`,
//! `owner:<team>:project:<project>:environment:<environment>`). [`TokenIdentity`] reads them from
//! a token's (unverified) claims, so `vercel-oidc trust` can print the configuration a token
//! satisfies and `vercel-oidc doctor` and the providers' errors can say which side differs.

use std::fmt;

use crate::token::Claims;

/// Which of Vercel's two issuer forms a token carries.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IssuerMode {
    /// `https://oidc.vercel.com/<team_slug>`: the issuer names the team.
    Team(String),
    /// `https://oidc.vercel.com`: one issuer for every team.
    Global,
}

impl fmt::Display for IssuerMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Team(slug) => write!(f, "team mode (team {slug})"),
            Self::Global => f.write_str("global mode"),
        }
    }
}

/// How broad a trust rule is: which tokens of the team it admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TrustScope {
    /// Only this project's tokens in this environment (the subject matches exactly).
    #[default]
    Environment,
    /// This project's tokens in every environment.
    Project,
    /// Every project of the team.
    Team,
}

impl TrustScope {
    /// `environment`, `project` or `team`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Environment => "environment",
            Self::Project => "project",
            Self::Team => "team",
        }
    }
}

impl std::str::FromStr for TrustScope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "environment" => Ok(Self::Environment),
            "project" => Ok(Self::Project),
            "team" => Ok(Self::Team),
            other => Err(format!(
                "unknown scope {other:?}: expected project, environment or team"
            )),
        }
    }
}

/// A subject rule: an exact subject or a pattern with `*` wildcards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectRule {
    /// The subject must equal this.
    Exact(String),
    /// The subject must match this pattern (`*`: any run of characters).
    Pattern(String),
}

impl SubjectRule {
    /// The subject or pattern text.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Exact(s) | Self::Pattern(s) => s,
        }
    }
}

/// The likely cause of a failed exchange and the exact fix, in plain words: what the providers'
/// explanations of a cloud rejection (an STS `AccessDenied`, an `AADSTS70021`, …) give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// Which part of the trust the evidence points at (`issuer`, `audience`, `subject`,
    /// `subject or role`, `client`, `tenant`, `clock`, `token`).
    pub mismatch: &'static str,
    /// What is most likely wrong.
    pub cause: String,
    /// What to change.
    pub fix: String,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} Fix: {}", self.cause, self.fix)
    }
}

/// The token's issuer, audiences and subject, and the parts of the subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenIdentity {
    issuer: String,
    mode: IssuerMode,
    audiences: Vec<String>,
    subject: String,
    owner: Option<String>,
    project: Option<String>,
    environment: Option<String>,
}

/// A token that lacks what a trust rule is written from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The token has no such claim (or it is empty).
    #[error("the token has no `{0}` claim")]
    MissingClaim(&'static str),
    /// The `iss` claim is not an `https://host[/team]` URL.
    #[error("the token's issuer is not an issuer URL with at most one path segment")]
    UnusualIssuer,
    /// A scope broader than the exact subject needs the subject's parts, which this token's
    /// `sub` does not have.
    #[error(
        "the token's subject is not `owner:<team>:project:<project>:environment:<env>`, so \
         only an exact-subject (environment) rule can be written for it"
    )]
    UnusualSubject,
}

impl TokenIdentity {
    /// Reads the identity from a token's claims (decoded, not verified: for configuration and
    /// diagnosis only, never for a trust decision).
    pub fn from_claims(claims: &Claims) -> Result<Self, IdentityError> {
        let issuer = claims
            .iss
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or(IdentityError::MissingClaim("iss"))?
            .trim_end_matches('/')
            .to_owned();
        let rest = issuer
            .split_once("://")
            .map(|(_, rest)| rest)
            .ok_or(IdentityError::UnusualIssuer)?;
        let mode = match rest.split_once('/') {
            None => IssuerMode::Global,
            Some((_, slug)) if !slug.is_empty() && !slug.contains('/') => {
                IssuerMode::Team(slug.to_owned())
            }
            Some(_) => return Err(IdentityError::UnusualIssuer),
        };
        let audiences: Vec<String> = claims
            .aud
            .as_ref()
            .map(|aud| aud.iter().map(str::to_owned).collect())
            .unwrap_or_default();
        if audiences.is_empty() {
            return Err(IdentityError::MissingClaim("aud"));
        }
        let subject = claims
            .sub
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or(IdentityError::MissingClaim("sub"))?
            .to_owned();
        let parts: Vec<&str> = subject.split(':').collect();
        let (owner, project, environment) = match parts.as_slice() {
            [
                "owner",
                owner,
                "project",
                project,
                "environment",
                environment,
            ] => (
                Some((*owner).to_owned()),
                Some((*project).to_owned()),
                Some((*environment).to_owned()),
            ),
            _ => (None, None, None),
        };
        Ok(Self {
            issuer,
            mode,
            audiences,
            subject,
            owner,
            project,
            environment,
        })
    }

    /// The issuer URL (`iss`, without a trailing slash).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The issuer URL without its scheme (`oidc.vercel.com/acme`): the name AWS gives the
    /// identity provider and the prefix of its condition keys.
    pub fn issuer_host_path(&self) -> &str {
        self.issuer
            .split_once("://")
            .map_or(self.issuer.as_str(), |(_, rest)| rest)
    }

    /// Team or global mode.
    pub fn mode(&self) -> &IssuerMode {
        &self.mode
    }

    /// The issuer of the other mode (for "the provider is for the wrong mode" explanations).
    pub fn other_mode_issuer(&self) -> Option<String> {
        match &self.mode {
            IssuerMode::Team(slug) => self
                .issuer
                .strip_suffix(&format!("/{slug}"))
                .map(str::to_owned),
            IssuerMode::Global => self.owner.as_ref().map(|t| format!("{}/{t}", self.issuer)),
        }
    }

    /// The audiences (`aud`), at least one.
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    /// The first audience: the one a trust rule names.
    pub fn audience(&self) -> &str {
        self.audiences.first().map_or("", String::as_str)
    }

    /// The subject (`sub`).
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The team slug of the subject (`owner:<team>:…`).
    pub fn owner(&self) -> Option<&str> {
        self.owner.as_deref()
    }

    /// The project name of the subject.
    pub fn project(&self) -> Option<&str> {
        self.project.as_deref()
    }

    /// The environment of the subject.
    pub fn environment(&self) -> Option<&str> {
        self.environment.as_deref()
    }

    /// The subject rule that admits this token at `scope`: the exact subject for
    /// [`TrustScope::Environment`], `owner:<team>:project:<project>:environment:*` for a
    /// project, `owner:<team>:project:*:environment:*` for the team.
    pub fn subject_rule(&self, scope: TrustScope) -> Result<SubjectRule, IdentityError> {
        match (scope, &self.owner, &self.project) {
            (TrustScope::Environment, _, _) => Ok(SubjectRule::Exact(self.subject.clone())),
            (TrustScope::Project, Some(owner), Some(project)) => Ok(SubjectRule::Pattern(format!(
                "owner:{owner}:project:{project}:environment:*"
            ))),
            (TrustScope::Team, Some(owner), Some(_)) => Ok(SubjectRule::Pattern(format!(
                "owner:{owner}:project:*:environment:*"
            ))),
            _ => Err(IdentityError::UnusualSubject),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn identity(claims: serde_json::Value) -> Result<TokenIdentity, IdentityError> {
        let claims =
            Claims::from_json_object(claims.as_object().cloned().expect("object")).expect("claims");
        TokenIdentity::from_claims(&claims)
    }

    const SUB: &str = "owner:acme:project:web:environment:production";

    #[test]
    fn team_and_global_issuers_and_subject_rules() {
        let team = identity(json!({"iss": "https://oidc.vercel.com/acme/", "aud": "https://vercel.com/acme", "sub": SUB}))
            .expect("team");
        assert_eq!(team.issuer(), "https://oidc.vercel.com/acme");
        assert_eq!(team.issuer_host_path(), "oidc.vercel.com/acme");
        assert_eq!(team.mode(), &IssuerMode::Team("acme".into()));
        assert_eq!(
            team.other_mode_issuer().as_deref(),
            Some("https://oidc.vercel.com")
        );
        assert_eq!(
            team.subject_rule(TrustScope::Environment),
            Ok(SubjectRule::Exact(SUB.into()))
        );
        assert_eq!(
            team.subject_rule(TrustScope::Project),
            Ok(SubjectRule::Pattern(
                "owner:acme:project:web:environment:*".into()
            ))
        );
        assert_eq!(
            team.subject_rule(TrustScope::Team),
            Ok(SubjectRule::Pattern(
                "owner:acme:project:*:environment:*".into()
            ))
        );

        let global = identity(json!({"iss": "https://oidc.vercel.com", "aud": ["https://vercel.com/acme", "x"], "sub": SUB}))
            .expect("global");
        assert_eq!(global.mode(), &IssuerMode::Global);
        assert_eq!(global.audience(), "https://vercel.com/acme");
        assert_eq!(global.audiences().len(), 2);
        assert_eq!(
            global.other_mode_issuer().as_deref(),
            Some("https://oidc.vercel.com/acme")
        );
    }

    #[test]
    fn missing_and_unusual_claims_are_typed() {
        assert_eq!(
            identity(json!({"aud": "a", "sub": SUB})),
            Err(IdentityError::MissingClaim("iss"))
        );
        assert_eq!(
            identity(json!({"iss": "https://o.example", "sub": SUB})),
            Err(IdentityError::MissingClaim("aud"))
        );
        assert_eq!(
            identity(json!({"iss": "https://o.example", "aud": "a"})),
            Err(IdentityError::MissingClaim("sub"))
        );
        assert_eq!(
            identity(json!({"iss": "https://o.example/a/b", "aud": "a", "sub": SUB})),
            Err(IdentityError::UnusualIssuer)
        );
        assert_eq!(
            identity(json!({"iss": "o.example", "aud": "a", "sub": SUB})),
            Err(IdentityError::UnusualIssuer)
        );
        let odd = identity(json!({"iss": "https://o.example", "aud": "a", "sub": "repo:x"}))
            .expect("odd subject");
        assert_eq!(
            odd.subject_rule(TrustScope::Environment),
            Ok(SubjectRule::Exact("repo:x".into()))
        );
        assert_eq!(
            odd.subject_rule(TrustScope::Project),
            Err(IdentityError::UnusualSubject)
        );
        assert_eq!("team".parse::<TrustScope>(), Ok(TrustScope::Team));
        assert!("org".parse::<TrustScope>().is_err());
    }
}
