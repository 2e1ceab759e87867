//! The verifier's configuration: the expected issuer, the claim constraints, the limits and
//! [`VerifierBuilder`], which checks all of it before a [`Verifier`] exists.

use std::time::Duration;

use std::sync::Arc;

use super::claims::{AcceptedIssuer, ClaimRules};
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

/// The deployment's project id, set by Vercel (read by [`VerifierBuilder::defaults_from_env`]).
const PROJECT_ID_ENV: &str = "VERCEL_PROJECT_ID";
/// The deployment's target environment (custom environments included), set by Vercel.
const TARGET_ENV_ENV: &str = "VERCEL_TARGET_ENV";
/// The deployment's environment (`production`, `preview`, `development`), set by Vercel.
const VERCEL_ENV_ENV: &str = "VERCEL_ENV";

/// Which issuer a token must come from.
///
/// The `iss` claim must equal the issuer *exactly*: `{base}/{team_slug}` in team mode,
/// `{base}` in global mode, where `{base}` is `https://oidc.vercel.com` unless overridden
/// ([`VerifierBuilder::issuer_base_url`]). Look-alikes such as
/// `https://oidc.vercel.com.evil.example`, `https://oidc.vercel.com/acme/` or another team's
/// issuer never match.
///
/// Each issuer has its own key set (`{issuer}/.well-known/jwks`): a token is verified only with
/// the keys of the issuer its `iss` names, never with the other issuer's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExpectedIssuer {
    /// Team mode: `https://oidc.vercel.com/<team_slug>`.
    Team(String),
    /// Global mode: `https://oidc.vercel.com`.
    Global,
    /// Either form, for a project whose issuer mode may change (or a receiver of several
    /// projects of one team): `https://oidc.vercel.com/<team_slug>`, or
    /// `https://oidc.vercel.com` with the `owner` claim equal to `<team_slug>` (the global
    /// issuer is every team's, so its tokens are pinned to the team by `owner`; another
    /// team's global token fails with [`VerifyError::TeamMismatch`](super::VerifyError::TeamMismatch)).
    TeamOrGlobal(String),
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

    /// Team or global mode for `team_slug`; see [`ExpectedIssuer::TeamOrGlobal`].
    ///
    /// ```
    /// use vercel_oidc::verify::{Constraint, ExpectedIssuer, Verifier};
    /// let verifier = Verifier::builder(ExpectedIssuer::team_or_global("acme"), "https://api.example.com")
    ///     .project_id("prj_123")
    ///     .environment(Constraint::Any)
    ///     .owner_id(Constraint::Any)
    ///     .build()?;
    /// assert_eq!(
    ///     verifier.issuers().collect::<Vec<_>>(),
    ///     ["https://oidc.vercel.com/acme", "https://oidc.vercel.com"]
    /// );
    /// # Ok::<(), vercel_oidc::verify::VerifierConfigError>(())
    /// ```
    pub fn team_or_global(team_slug: impl Into<String>) -> Self {
        Self::TeamOrGlobal(team_slug.into())
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

/// The `project_id`, `environment` and `owner_id` decisions (`None`: undecided).
type Decisions = (Option<Constraint>, Option<Constraint>, Option<Constraint>);

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
    /// [`VerifierBuilder::defaults_from_env`] was called.
    defaults_from_env: bool,
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
            defaults_from_env: false,
        }
    }

    /// Takes the constraints this deployment implies from its environment, as
    /// `verifyVercelOidcToken` of `@vercel/oidc` does: tokens of *this* Vercel project and
    /// environment (a service called by its own deployment's functions).
    ///
    /// When [`build`](Self::build) runs, each constraint not set explicitly (explicit setters
    /// win, whatever their order) is read through the builder's [`Env`]:
    ///
    /// | constraint | variable | required |
    /// |---|---|---|
    /// | `project_id` | `VERCEL_PROJECT_ID` | yes |
    /// | `environment` | `VERCEL_TARGET_ENV`, else `VERCEL_ENV` | yes |
    /// | `owner_id` | none: [`Constraint::Any`] when `project_id` is pinned (a project id belongs to one team) | |
    ///
    /// A missing or empty variable is [`VerifierConfigError::MissingEnv`] naming it; it never
    /// turns into "any". A wildcard project (`.project_id(Constraint::Any)`) leaves `owner_id`
    /// undecided, so it must be pinned (or said to be `Any`) explicitly; the audience is always
    /// pinned. Defaults to off: every constraint must be set.
    ///
    /// ```
    /// use vercel_oidc::Env;
    /// use vercel_oidc::verify::{ExpectedIssuer, Verifier, VerifierConfigError};
    /// let env = Env::from_pairs([("VERCEL_PROJECT_ID", "prj_123"), ("VERCEL_ENV", "preview")]);
    /// let verifier = Verifier::builder(ExpectedIssuer::team("acme"), "https://api.example.com")
    ///     .env(env)
    ///     .defaults_from_env()
    ///     .build()?;
    /// # let _ = verifier;
    /// let err = Verifier::builder(ExpectedIssuer::team("acme"), "https://api.example.com")
    ///     .env(Env::from_pairs([("VERCEL_ENV", "preview")]))
    ///     .defaults_from_env()
    ///     .build()
    ///     .unwrap_err();
    /// assert!(matches!(err, VerifierConfigError::MissingEnv { variable: "VERCEL_PROJECT_ID", .. }));
    /// # Ok::<(), VerifierConfigError>(())
    /// ```
    pub fn defaults_from_env(mut self) -> Self {
        self.defaults_from_env = true;
        self
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
        let (project_id, environment, owner_id) = self.constraints_from_env()?;
        let project_id = decided(project_id, ConstrainedClaim::ProjectId)?;
        let environment = decided(environment, ConstrainedClaim::Environment)?;
        let owner_id = decided(owner_id, ConstrainedClaim::OwnerId)?;
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
        let team_issuer = |slug: &str| {
            let path_safe = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
            if slug.is_empty() || slug.starts_with('.') || !slug.chars().all(path_safe) {
                return Err(VerifierConfigError::InvalidTeamSlug);
            }
            Ok(format!("{base}/{slug}"))
        };
        // (issuer, the `owner` a token of it must have)
        let issuers: Vec<(String, Option<&str>)> = match &self.issuer {
            ExpectedIssuer::Global => vec![(base.to_owned(), None)],
            ExpectedIssuer::Team(slug) => vec![(team_issuer(slug)?, None)],
            ExpectedIssuer::TeamOrGlobal(slug) => vec![
                (team_issuer(slug)?, None),
                (base.to_owned(), Some(slug.as_str())),
            ],
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
        let issuers = issuers
            .into_iter()
            .map(|(issuer, owner)| AcceptedIssuer {
                // Each issuer's own key set: a global token is never checked with the team's
                // keys, nor the reverse.
                jwks: Arc::new(Jwks::new(
                    format!("{issuer}/.well-known/jwks"),
                    client.clone(),
                    clock.clone(),
                    self.jwks_max_age,
                    self.jwks_cooldown,
                )),
                issuer: issuer.into_boxed_str(),
                owner: owner.map(Into::into),
            })
            .collect();
        let rules = ClaimRules {
            audience: self.audience.into_boxed_str(),
            project_id,
            environment,
            owner_id,
            // At most 600 000 (checked above).
            leeway_ms: i128::try_from(self.leeway.as_millis()).unwrap_or(i128::MAX),
        };
        Ok(Verifier::from_parts(
            issuers,
            rules,
            self.max_token_len,
            clock,
        ))
    }

    /// The three constraints, with those left unset taken from the environment when
    /// [`Self::defaults_from_env`] was called.
    fn constraints_from_env(&self) -> Result<Decisions, VerifierConfigError> {
        let (mut project_id, mut environment, mut owner_id) = (
            self.project_id.clone(),
            self.environment.clone(),
            self.owner_id.clone(),
        );
        if !self.defaults_from_env {
            return Ok((project_id, environment, owner_id));
        }
        let env = self.config.env();
        if project_id.is_none() {
            let value =
                env.get_non_empty(PROJECT_ID_ENV)
                    .ok_or(VerifierConfigError::MissingEnv {
                        variable: PROJECT_ID_ENV,
                        claim: ConstrainedClaim::ProjectId,
                    })?;
            project_id = Some(Constraint::one(value));
        }
        if environment.is_none() {
            let value = env
                .get_non_empty(TARGET_ENV_ENV)
                .or_else(|| env.get_non_empty(VERCEL_ENV_ENV))
                .ok_or(VerifierConfigError::MissingEnv {
                    variable: "VERCEL_TARGET_ENV or VERCEL_ENV",
                    claim: ConstrainedClaim::Environment,
                })?;
            environment = Some(Constraint::one(value));
        }
        // A pinned project pins its team; a wildcard project does not, so then the owner stays
        // a decision of the caller.
        if owner_id.is_none() && matches!(project_id, Some(Constraint::OneOf(_))) {
            owner_id = Some(Constraint::Any);
        }
        Ok((project_id, environment, owner_id))
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
