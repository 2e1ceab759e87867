//! The verifier's configuration: the expected issuer, the claim constraints, the limits and
//! [`VerifierBuilder`], which checks all of it before a [`Verifier`] exists.

use std::time::Duration;

use super::claims::ClaimRules;
use super::jwks::Jwks;
use super::{ConstrainedClaim, Verifier, VerifierConfigError};
use crate::config::OidcConfig;
use crate::env::Env;
use crate::http::ExtraRoots;
use crate::time::SharedClock;
use crate::token::Environment;

/// Default allowed clock skew for `exp`, `nbf` and `iat`: 60 seconds.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);
/// Default largest token accepted, in bytes. Vercel's tokens are about 1 KiB.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 8 * 1024;
/// Default age after which the key set is refreshed in the background: 10 minutes.
pub const DEFAULT_JWKS_MAX_AGE: Duration = Duration::from_secs(600);
/// Default least time between two key-set fetches triggered by unknown `kid`s: 30 seconds.
pub const DEFAULT_JWKS_COOLDOWN: Duration = Duration::from_secs(30);

/// The largest leeway [`VerifierBuilder::leeway`] accepts: 10 minutes.
const MAX_LEEWAY: Duration = Duration::from_secs(600);

/// Which issuer a token must come from.
///
/// The `iss` claim must equal the issuer *exactly*: `{base}/{team_slug}` in team mode,
/// `{base}` in global mode, where `{base}` is `https://oidc.vercel.com` unless overridden
/// ([`VerifierBuilder::issuer_base_url`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpectedIssuer {
    /// Team mode: `https://oidc.vercel.com/<team_slug>`.
    Team(String),
    /// Global mode: `https://oidc.vercel.com`.
    Global,
}

impl ExpectedIssuer {
    /// Team mode for `team_slug`.
    pub fn team(team_slug: impl Into<String>) -> Self {
        Self::Team(team_slug.into())
    }

    /// Global mode.
    pub fn global() -> Self {
        Self::Global
    }
}

/// The values a constrained claim (`project_id`, `environment`, `owner_id`) may take.
///
/// There is no default: each constraint must be decided, and "any value" must be said with
/// [`Constraint::Any`].
///
/// ```
/// use vercel_oidc::verify::Constraint;
/// let one: Constraint = "prj_123".into();
/// assert!(one.allows(Some("prj_123")) && !one.allows(Some("prj_456")) && !one.allows(None));
/// let list = Constraint::one_of(["production", "preview"]);
/// assert!(list.allows(Some("preview")));
/// assert!(Constraint::Any.allows(None));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Constraint {
    /// Any value, or none: the claim is not checked.
    Any,
    /// The claim must be present and equal to one of these.
    OneOf(Vec<String>),
}

impl Constraint {
    /// Exactly `value`.
    pub fn one(value: impl Into<String>) -> Self {
        Self::OneOf(vec![value.into()])
    }

    /// Any of `values` (an empty list, or an empty value, is a configuration error when
    /// building).
    pub fn one_of<I>(values: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        Self::OneOf(values.into_iter().map(Into::into).collect())
    }

    /// `true` when a claim with this value (`None`: absent) passes.
    pub fn allows(&self, value: Option<&str>) -> bool {
        match self {
            Self::Any => true,
            Self::OneOf(list) => value.is_some_and(|v| list.iter().any(|a| a == v)),
        }
    }
}

impl From<&str> for Constraint {
    fn from(value: &str) -> Self {
        Self::one(value)
    }
}

impl From<String> for Constraint {
    fn from(value: String) -> Self {
        Self::one(value)
    }
}

impl From<Environment> for Constraint {
    fn from(value: Environment) -> Self {
        Self::one(match value {
            Environment::Production => "production",
            Environment::Preview => "preview",
            Environment::Development => "development",
        })
    }
}

/// Builder for [`Verifier`]; see [`Verifier::builder`].
#[derive(Debug, Clone)]
pub struct VerifierBuilder {
    issuer: ExpectedIssuer,
    audience: String,
    project_id: Option<Constraint>,
    environment: Option<Constraint>,
    owner_id: Option<Constraint>,
    config: OidcConfig,
    leeway: Duration,
    max_token_len: usize,
    jwks_max_age: Duration,
    jwks_cooldown: Duration,
}

impl VerifierBuilder {
    /// The defaults: every constraint undecided; see [`Verifier::builder`].
    pub(super) fn new(issuer: ExpectedIssuer, audience: String) -> Self {
        Self {
            issuer,
            audience,
            project_id: None,
            environment: None,
            owner_id: None,
            config: OidcConfig::default(),
            leeway: DEFAULT_LEEWAY,
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
            jwks_max_age: DEFAULT_JWKS_MAX_AGE,
            jwks_cooldown: DEFAULT_JWKS_COOLDOWN,
        }
    }

    /// Allowed `project_id`s. **Required decision** (no default): a value, a list
    /// ([`Constraint::one_of`]) or [`Constraint::Any`].
    pub fn project_id(mut self, constraint: impl Into<Constraint>) -> Self {
        self.project_id = Some(constraint.into());
        self
    }

    /// Allowed `environment`s (`production`, `preview`, `development`). **Required decision**
    /// (no default): a value, a list or [`Constraint::Any`].
    pub fn environment(mut self, constraint: impl Into<Constraint>) -> Self {
        self.environment = Some(constraint.into());
        self
    }

    /// Allowed `owner_id`s (team ids). **Required decision** (no default): a value, a list or
    /// [`Constraint::Any`].
    pub fn owner_id(mut self, constraint: impl Into<Constraint>) -> Self {
        self.owner_id = Some(constraint.into());
        self
    }

    /// The issuer base URL, without the team segment. Defaults to `VERCEL_OIDC_ISSUER_URL`,
    /// else `https://oidc.vercel.com`. Must be `https`, or `http` on a loopback host (for a
    /// local test issuer such as `vercel_oidc_testkit::Issuer`).
    pub fn issuer_base_url(mut self, url: impl Into<String>) -> Self {
        self.config = self.config.with_issuer_url(url);
        self
    }

    /// The settings shared with every vercel-oidc builder: where `VERCEL_OIDC_ISSUER_URL` and
    /// `VERCEL_OIDC_CA_FILE` are read, the clock, extra trust roots, the issuer base URL and the
    /// HTTP client of the key-set fetch (given as is; else one of ours with a 10 s timeout).
    pub fn configure(mut self, config: &OidcConfig) -> Self {
        self.config = config.clone();
        self
    }

    /// Where `VERCEL_OIDC_ISSUER_URL` and `VERCEL_OIDC_CA_FILE` are read (shorthand for the
    /// [`OidcConfig`] field). Defaults to the process environment.
    pub fn env(mut self, env: Env) -> Self {
        self.config = self.config.with_env(env);
        self
    }

    /// Extra trust roots for the key-set fetch (shorthand for the [`OidcConfig`] field).
    /// Defaults to `VERCEL_OIDC_CA_FILE`, if set.
    pub fn extra_roots(mut self, roots: ExtraRoots) -> Self {
        self.config = self.config.with_extra_roots(roots);
        self
    }

    /// Allowed clock skew for `exp`, `nbf` and `iat`. Defaults to [`DEFAULT_LEEWAY`] (60 s); at
    /// most 10 minutes.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Largest token accepted, in bytes. Defaults to [`DEFAULT_MAX_TOKEN_LEN`] (8 KiB); at most
    /// [`crate::MAX_TOKEN_LEN`].
    pub fn max_token_len(mut self, max: usize) -> Self {
        self.max_token_len = max;
        self
    }

    /// Age after which the key set is refreshed in the background. Defaults to
    /// [`DEFAULT_JWKS_MAX_AGE`] (10 minutes).
    pub fn jwks_max_age(mut self, max_age: Duration) -> Self {
        self.jwks_max_age = max_age;
        self
    }

    /// Least time between key-set fetches triggered by unknown `kid`s (and between retries of
    /// a failing refresh). Defaults to [`DEFAULT_JWKS_COOLDOWN`] (30 s).
    pub fn jwks_cooldown(mut self, cooldown: Duration) -> Self {
        self.jwks_cooldown = cooldown;
        self
    }

    /// The clock for `exp` / `nbf` / `iat` and the key-set schedule. Defaults to the system
    /// clock.
    pub fn time_source(mut self, clock: SharedClock) -> Self {
        self.config = self.config.with_clock(clock);
        self
    }

    /// Builds the verifier. Does not fetch anything (see [`Verifier::refresh_keys`] to warm the
    /// key cache at startup).
    ///
    /// # Errors
    /// [`VerifierConfigError::Undecided`] when a constraint was never set, and the other
    /// variants for an empty audience or constraint list, a bad team slug or issuer URL, an
    /// out-of-range setting, or an unreadable CA file.
    pub fn build(self) -> Result<Verifier, VerifierConfigError> {
        let decided = |c: Option<Constraint>, claim| match c {
            None => Err(VerifierConfigError::Undecided { claim }),
            Some(Constraint::OneOf(list))
                if list.is_empty() || list.iter().any(String::is_empty) =>
            {
                Err(VerifierConfigError::EmptyConstraint { claim })
            }
            Some(c) => Ok(c),
        };
        let project_id = decided(self.project_id, ConstrainedClaim::ProjectId)?;
        let environment = decided(self.environment, ConstrainedClaim::Environment)?;
        let owner_id = decided(self.owner_id, ConstrainedClaim::OwnerId)?;
        if self.audience.is_empty() {
            return Err(VerifierConfigError::EmptyAudience);
        }
        if self.leeway > MAX_LEEWAY {
            return Err(VerifierConfigError::InvalidSetting {
                setting: "leeway",
                reason: "must be at most 10 minutes",
            });
        }
        if self.max_token_len == 0 || self.max_token_len > crate::MAX_TOKEN_LEN {
            return Err(VerifierConfigError::InvalidSetting {
                setting: "max_token_len",
                reason: "must be between 1 and vercel_oidc::MAX_TOKEN_LEN",
            });
        }
        let base = self.config.issuer_url();
        let base = check_base_url(&base)?;
        let issuer = match &self.issuer {
            ExpectedIssuer::Global => base.to_owned(),
            ExpectedIssuer::Team(slug) => {
                let path_safe = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
                if slug.is_empty() || slug.starts_with('.') || !slug.chars().all(path_safe) {
                    return Err(VerifierConfigError::InvalidTeamSlug);
                }
                format!("{base}/{slug}")
            }
        };
        let roots = self
            .config
            .extra_roots()
            .map_err(VerifierConfigError::Client)?;
        let client = match self.config.custom_http_client() {
            Some(client) => client.clone(),
            // Key sets are small: a short total timeout.
            None => crate::http::http_client(roots.as_ref(), Duration::from_secs(10))
                .map_err(VerifierConfigError::Client)?,
        };
        let clock = self.config.clock().clone();
        let jwks = Jwks::new(
            format!("{issuer}/.well-known/jwks"),
            client,
            clock.clone(),
            self.jwks_max_age,
            self.jwks_cooldown,
        );
        let rules = ClaimRules {
            issuer: issuer.into_boxed_str(),
            audience: self.audience.into_boxed_str(),
            project_id,
            environment,
            owner_id,
            // At most 600 000 (checked above).
            leeway_ms: i128::try_from(self.leeway.as_millis()).unwrap_or(i128::MAX),
        };
        Ok(Verifier::from_parts(rules, self.max_token_len, clock, jwks))
    }
}

/// Checks the issuer base URL and returns it without a trailing slash.
fn check_base_url(base: &str) -> Result<&str, VerifierConfigError> {
    crate::http::check_base_url(base)
        .map_err(|reason| VerifierConfigError::InvalidIssuerUrl { reason })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder() -> VerifierBuilder {
        Verifier::builder(ExpectedIssuer::team("acme"), "https://api.example.com")
            .env(Env::from_pairs::<&str, &str>([]))
    }

    #[test]
    fn the_largest_leeway_and_token_length_are_accepted_and_the_audience_kept() {
        let decided = || {
            builder()
                .project_id(Constraint::Any)
                .environment(Constraint::Any)
                .owner_id(Constraint::Any)
        };
        let v = decided()
            .leeway(Duration::from_secs(600))
            .max_token_len(crate::MAX_TOKEN_LEN)
            .build()
            .expect("the maxima are allowed");
        assert_eq!(v.audience(), "https://api.example.com");
    }

    #[test]
    fn every_constraint_must_be_decided() {
        let err = builder().build().expect_err("undecided");
        assert!(matches!(
            err,
            VerifierConfigError::Undecided {
                claim: ConstrainedClaim::ProjectId
            }
        ));
        let err = builder()
            .project_id("prj_1")
            .owner_id(Constraint::Any)
            .build()
            .expect_err("undecided");
        assert!(matches!(
            err,
            VerifierConfigError::Undecided {
                claim: ConstrainedClaim::Environment
            }
        ));
        assert!(err.to_string().contains("environment"), "{err}");
        let err = builder()
            .project_id("prj_1")
            .environment(Environment::Production)
            .build()
            .expect_err("undecided");
        assert!(matches!(
            err,
            VerifierConfigError::Undecided {
                claim: ConstrainedClaim::OwnerId
            }
        ));
        let err = builder()
            .project_id(Constraint::one_of(Vec::<String>::new()))
            .environment(Constraint::Any)
            .owner_id(Constraint::Any)
            .build()
            .expect_err("empty list");
        assert!(matches!(
            err,
            VerifierConfigError::EmptyConstraint {
                claim: ConstrainedClaim::ProjectId
            }
        ));
        // An empty value (say, from an unset env var) is a mistake, not a value.
        let err = builder()
            .project_id(Constraint::Any)
            .environment(Constraint::Any)
            .owner_id(String::new())
            .build()
            .expect_err("empty value");
        assert!(matches!(
            err,
            VerifierConfigError::EmptyConstraint {
                claim: ConstrainedClaim::OwnerId
            }
        ));
        let v = builder()
            .project_id(Constraint::Any)
            .environment(Constraint::Any)
            .owner_id(Constraint::Any)
            .build()
            .expect("decided");
        assert_eq!(v.issuer(), "https://oidc.vercel.com/acme");
        assert_eq!(
            v.jwks_url(),
            "https://oidc.vercel.com/acme/.well-known/jwks"
        );
    }

    fn decided(b: VerifierBuilder) -> VerifierBuilder {
        b.project_id(Constraint::Any)
            .environment(Constraint::Any)
            .owner_id(Constraint::Any)
    }

    #[test]
    fn issuer_forms_and_base_url_rules() {
        let global = decided(Verifier::builder(ExpectedIssuer::global(), "aud"))
            .env(Env::from_pairs::<&str, &str>([]))
            .build()
            .expect("global");
        assert_eq!(global.issuer(), "https://oidc.vercel.com");
        assert_eq!(
            global.jwks_url(),
            "https://oidc.vercel.com/.well-known/jwks"
        );

        let from_env = decided(builder())
            .env(Env::from_pairs([(
                crate::config::ISSUER_URL_ENV,
                "http://127.0.0.1:8080/",
            )]))
            .build()
            .expect("loopback http");
        assert_eq!(from_env.issuer(), "http://127.0.0.1:8080/acme");
        for ok in [
            "http://localhost:3000",
            "http://[::1]:1",
            "https://issuer.example",
        ] {
            decided(builder()).issuer_base_url(ok).build().expect(ok);
        }
        for bad in [
            "http://oidc.vercel.com",
            "ftp://127.0.0.1",
            "not a url",
            "https://user:pw@oidc.vercel.com",
            "https://oidc.vercel.com?x=1",
            "https://oidc.vercel.com#f",
        ] {
            let err = decided(builder())
                .issuer_base_url(bad)
                .build()
                .expect_err(bad);
            assert!(
                matches!(err, VerifierConfigError::InvalidIssuerUrl { .. }),
                "{bad}: {err:?}"
            );
            assert!(!err.to_string().contains("pw"), "{err}");
        }
        for slug in ["", ".", "a/b", "a b", "..", "ü"] {
            let err = decided(Verifier::builder(ExpectedIssuer::team(slug), "aud"))
                .build()
                .expect_err(slug);
            assert!(
                matches!(err, VerifierConfigError::InvalidTeamSlug),
                "{slug}"
            );
        }
        let err = decided(Verifier::builder(ExpectedIssuer::global(), ""))
            .build()
            .expect_err("empty aud");
        assert!(matches!(err, VerifierConfigError::EmptyAudience));
        for (b, setting) in [
            (
                decided(builder()).leeway(Duration::from_secs(601)),
                "leeway",
            ),
            (decided(builder()).max_token_len(0), "max_token_len"),
            (
                decided(builder()).max_token_len(crate::MAX_TOKEN_LEN + 1),
                "max_token_len",
            ),
        ] {
            let err = b.build().expect_err(setting);
            assert!(
                matches!(err, VerifierConfigError::InvalidSetting { setting: s, .. } if s == setting),
                "{err:?}"
            );
        }
    }
}
