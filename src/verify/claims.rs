//! The claim checks after the signature: issuer, audience, `exp` / `nbf` / `iat` with leeway,
//! and the `project_id`, `environment` and `owner_id` constraints; and [`VerifiedClaims`], the
//! proof that they passed.

use std::ops::Deref;
use std::sync::Arc;

use super::config::Constraint;
use super::jwks::Jwks;
use super::{ConstrainedClaim, VerifyError};
use crate::token::Claims;

/// Claims that a [`VerifyLayer`](super::VerifyLayer) verified, in the request's extensions.
///
/// Only the verifier creates it, so a handler that finds one knows the token was verified (a
/// plain [`Claims`] in the extensions could have been put there by anything). Derefs to
/// [`Claims`].
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedClaims(Claims);

impl VerifiedClaims {
    /// Wraps claims that passed every check.
    pub(super) fn new(claims: Claims) -> Self {
        Self(claims)
    }

    /// The claims.
    pub fn into_inner(self) -> Claims {
        self.0
    }
}

impl Deref for VerifiedClaims {
    type Target = Claims;

    fn deref(&self) -> &Claims {
        &self.0
    }
}

/// One issuer a verifier accepts, with its own key set.
#[derive(Debug)]
pub(super) struct AcceptedIssuer {
    /// `iss` must equal this exactly.
    pub(super) issuer: Box<str>,
    /// The `owner` (team slug) a token of this issuer must have; `None`: not checked.
    pub(super) owner: Option<Box<str>>,
    /// `{issuer}/.well-known/jwks`, cached.
    pub(super) jwks: Arc<Jwks>,
}

/// What a token's claims must satisfy besides the issuer; built by the builder, checked for
/// every token.
#[derive(Debug)]
pub(super) struct ClaimRules {
    pub(super) audience: Box<str>,
    pub(super) project_id: Constraint,
    pub(super) environment: Constraint,
    pub(super) owner_id: Constraint,
    pub(super) leeway_ms: i128,
}

impl ClaimRules {
    /// Checks `claims` of a token from `issuer` at `now_ms` (Unix milliseconds).
    ///
    /// # Errors
    /// The [`VerifyError`] of the first failed check, in the order: `iss`, `owner` (when the
    /// issuer pins it), `aud`, `exp`, `nbf`, `iat`, then the constraints.
    pub(super) fn check(
        &self,
        issuer: &AcceptedIssuer,
        claims: &Claims,
        now_ms: u64,
    ) -> Result<(), VerifyError> {
        match claims.iss.as_deref() {
            None => return Err(VerifyError::MissingClaim { claim: "iss" }),
            Some(iss) if iss != &*issuer.issuer => return Err(VerifyError::IssuerMismatch),
            Some(_) => {}
        }
        if let Some(owner) = &issuer.owner
            && claims.owner.as_deref() != Some(&**owner)
        {
            return Err(VerifyError::TeamMismatch);
        }
        match &claims.aud {
            None => return Err(VerifyError::MissingClaim { claim: "aud" }),
            Some(aud) if !aud.contains(&self.audience) => {
                return Err(VerifyError::AudienceMismatch);
            }
            Some(_) => {}
        }
        // i128 milliseconds: no i64 claim value times 1000 plus the leeway can overflow.
        let now = i128::from(now_ms);
        let ms = |secs: i64| i128::from(secs) * 1000;
        let exp = claims
            .exp
            .ok_or(VerifyError::MissingClaim { claim: "exp" })?;
        if now >= ms(exp) + self.leeway_ms {
            return Err(VerifyError::Expired);
        }
        if let Some(nbf) = claims.nbf
            && now + self.leeway_ms < ms(nbf)
        {
            return Err(VerifyError::NotYetValid);
        }
        if let Some(iat) = claims.iat
            && now + self.leeway_ms < ms(iat)
        {
            return Err(VerifyError::IssuedInFuture);
        }
        for (constraint, value, claim) in [
            (
                &self.project_id,
                claims.project_id.as_deref(),
                ConstrainedClaim::ProjectId,
            ),
            (
                &self.environment,
                claims.environment.as_deref(),
                ConstrainedClaim::Environment,
            ),
            (
                &self.owner_id,
                claims.owner_id.as_deref(),
                ConstrainedClaim::OwnerId,
            ),
        ] {
            if !constraint.allows(value) {
                return Err(VerifyError::ClaimNotAllowed { claim });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Env;
    use crate::time::{ManualClock, SharedClock};
    use crate::token::Environment;
    use crate::verify::{ExpectedIssuer, Verifier, VerifierBuilder};
    use std::time::{Duration, UNIX_EPOCH};

    fn builder() -> VerifierBuilder {
        Verifier::builder(ExpectedIssuer::team("acme"), "https://api.example.com")
            .env(Env::from_pairs::<&str, &str>([]))
    }

    fn claims(json: serde_json::Value) -> Claims {
        match json {
            serde_json::Value::Object(map) => Claims::from_json_object(map).expect("claims"),
            _ => Claims::default(),
        }
    }

    #[test]
    fn claim_checks_use_the_injected_clock_and_leeway() {
        let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_000_000));
        let v = builder()
            .project_id(Constraint::one_of(["prj_1", "prj_2"]))
            .environment(Environment::Production)
            .owner_id("team_1")
            .time_source(SharedClock::new(clock))
            .build()
            .expect("verifier");
        let now = 1_000_000_000u64;
        let base = serde_json::json!({
            "iss": "https://oidc.vercel.com/acme", "aud": ["x", "https://api.example.com"],
            "exp": 1_000_100, "nbf": 999_900, "iat": 999_900,
            "project_id": "prj_2", "environment": "production", "owner_id": "team_1",
        });
        v.rules()
            .check(v.accepted(0), &claims(base.clone()), now)
            .expect("valid");
        let with = |k: &str, val: serde_json::Value| {
            let mut j = base.clone();
            j[k] = val;
            claims(j)
        };
        let without = |k: &str| {
            let mut j = base.clone();
            if let Some(m) = j.as_object_mut() {
                m.remove(k);
            }
            claims(j)
        };
        let check = |c: Claims| v.rules().check(v.accepted(0), &c, now);
        // Expiry: within the 60 s leeway passes, beyond fails.
        check(with("exp", 999_941.into())).expect("within leeway");
        assert!(matches!(
            check(with("exp", 999_940.into())),
            Err(VerifyError::Expired)
        ));
        check(with("nbf", 1_000_060.into())).expect("within leeway");
        assert!(matches!(
            check(with("nbf", 1_000_061.into())),
            Err(VerifyError::NotYetValid)
        ));
        assert!(matches!(
            check(with("iat", 1_000_061.into())),
            Err(VerifyError::IssuedInFuture)
        ));
        check(with("iat", 1_000_060.into())).expect("iat at the leeway's edge");
        check(without("nbf")).expect("nbf optional");
        for (claim, want) in [("iss", "iss"), ("aud", "aud"), ("exp", "exp")] {
            assert!(
                matches!(check(without(claim)), Err(VerifyError::MissingClaim { claim: c }) if c == want),
                "{claim}"
            );
        }
        for iss in [
            "https://oidc.vercel.com/acme/",
            "https://oidc.vercel.com",
            "https://oidc.vercel.com/other",
            "https://oidc.vercel.com.evil.example/acme",
            "https://OIDC.vercel.com/acme",
        ] {
            assert!(
                matches!(
                    check(with("iss", iss.into())),
                    Err(VerifyError::IssuerMismatch)
                ),
                "{iss}"
            );
        }
        assert!(matches!(
            check(with("aud", "https://vercel.com/acme".into())),
            Err(VerifyError::AudienceMismatch)
        ));
        for (claim, value, want) in [
            ("project_id", "prj_3", ConstrainedClaim::ProjectId),
            ("environment", "preview", ConstrainedClaim::Environment),
            ("owner_id", "team_2", ConstrainedClaim::OwnerId),
        ] {
            assert!(
                matches!(check(with(claim, value.into())), Err(VerifyError::ClaimNotAllowed { claim: c }) if c == want),
                "{claim}"
            );
            assert!(
                matches!(check(without(claim)), Err(VerifyError::ClaimNotAllowed { claim: c }) if c == want),
                "{claim} absent"
            );
        }
    }

    #[test]
    fn verified_claims_deref() {
        let c = claims(serde_json::json!({"project": "web"}));
        let v = VerifiedClaims(c.clone());
        assert_eq!(v.project.as_deref(), Some("web"));
        assert_eq!(v.into_inner(), c);
    }
}
