//! `AssumeRoleWithWebIdentity`: the injected faults, the token's verification, IAM's decision
//! and the credentials issued.

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value};

use super::protocol::AssumeParams;
use super::responses::{Assumed, AwsError};
use super::{IssuedCredentials, Shared, StsFault};
use crate::format::{random_b64, random_upper};
use crate::iam::Refusal;
use crate::jwt;
use crate::relying_party::require_rs256;

/// How long before the emulator's now credentials from [`StsFault::ExpiredCredentials`] expired.
const ALREADY_EXPIRED: Duration = Duration::from_secs(60);
/// How far in the future a token's `nbf` may be (clock skew).
const NBF_LEEWAY: i64 = 60;

impl Shared {
    pub(super) async fn assume(&self, form: &[(String, String)], request_id: &str) -> Response {
        if self.over_rate_limit() {
            return AwsError::bad("Throttling", "Rate exceeded").into_response(request_id);
        }
        let fault = self.take_fault();
        if let Some(fault) = &fault {
            tracing::debug!(?fault, "vercel-oidc-testkit: sts injecting fault");
        }
        if let Some(error) = fault.as_ref().and_then(early_error) {
            return error.into_response(request_id);
        }
        match self.issue(form, fault).await {
            Ok(assumed) => assumed.into_response(request_id),
            Err(error) => error.into_response(request_id),
        }
    }

    /// Whether this request is beyond the configured rate (and so throttled).
    fn over_rate_limit(&self) -> bool {
        let Some(limit) = self.config.rate_limit else {
            return false;
        };
        let now = tokio::time::Instant::now();
        let mut state = self.lock();
        let window = match state.rate_window {
            Some((start, taken)) if now.duration_since(start) < Duration::from_secs(1) => {
                (start, taken)
            }
            _ => (now, 0),
        };
        if window.1 >= limit {
            state.rate_window = Some(window);
            state.throttled += 1;
            return true;
        }
        state.rate_window = Some((window.0, window.1 + 1));
        false
    }

    /// Validates, verifies and issues.
    async fn issue(
        &self,
        form: &[(String, String)],
        fault: Option<StsFault>,
    ) -> Result<Assumed, AwsError> {
        let params = AssumeParams::parse(form, self.config.max_session)?;
        let claims = self
            .verify(params.token, params.role_arn, &params.account)
            .await?;
        if let Some(iam) = &self.config.iam {
            iam.authorize(params.role_arn, &params.account, &claims)
                .map_err(AwsError::refusal)?;
        }
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if let Some(trusted) = &self.config.subject
            && *trusted != subject
        {
            return Err(AwsError::access_denied());
        }

        let now = self.now();
        let expiration = match fault {
            Some(StsFault::ExpiredCredentials) => now.checked_sub(ALREADY_EXPIRED),
            Some(StsFault::ShortLivedCredentials(life)) => now.checked_add(life),
            _ => now.checked_add(Duration::from_secs(params.duration)),
        }
        .ok_or_else(|| AwsError::validation("The credentials' expiration is out of range"))?;
        let (account, role_name, session) =
            (params.account, params.role_name, params.session.to_owned());
        let credentials = IssuedCredentials {
            access_key_id: format!("ASIA{}", random_upper(16)),
            secret_access_key: random_b64(30),
            session_token: format!("FwoGZXIvYXdzE{}", random_b64(180)),
            expiration,
            assumed_role_arn: format!("arn:aws:sts::{account}:assumed-role/{role_name}/{session}"),
        };
        self.lock().issued.push(credentials.clone());
        let provider = params
            .provider_id
            .map_or_else(|| self.config.issuer_url.clone(), str::to_owned);
        let audience = match (&self.config.iam, claims.get("aud")) {
            (Some(_), Some(Value::String(aud))) => aud.clone(),
            _ => self.config.audience.clone(),
        };
        Ok(Assumed {
            subject,
            audience,
            account,
            role_name,
            session,
            role_id: format!("AROA{}", random_upper(17)),
            provider,
            credentials,
        })
    }

    /// Verifies the token: its algorithm, its issuer (trusted, or an OIDC provider of the role's
    /// account with IAM), its signature against the issuer's JWKS fetched now over HTTP, then
    /// `exp`, `nbf` and (without IAM) the audience.
    async fn verify(
        &self,
        token: &str,
        role_arn: &str,
        account: &str,
    ) -> Result<Map<String, Value>, AwsError> {
        let parsed = jwt::parse(token)
            .map_err(|_| AwsError::invalid_token("The web identity token is not a valid JWT"))?;
        require_rs256(&parsed).map_err(AwsError::key_check)?;
        let iss = parsed
            .payload
            .get("iss")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let trusted_issuer = match &self.config.iam {
            Some(iam) => iam
                .provider_for(role_arn, account, iss)
                .map_err(AwsError::refusal)?,
            None if iss == self.config.issuer_url => iss.to_owned(),
            None => return Err(AwsError::refusal(Refusal::NoProvider(iss.to_owned()))),
        };
        self.jwks
            .verify(&trusted_issuer, &parsed)
            .await
            .map_err(AwsError::key_check)?;
        let claims = parsed.payload;
        let now = jwt::unix_seconds(self.now());
        match claims.get("exp").and_then(Value::as_f64) {
            None => {
                return Err(AwsError::invalid_token(
                    "The web identity token has no expiration",
                ));
            }
            Some(exp) if exp <= now as f64 => {
                return Err(AwsError::bad(
                    "ExpiredTokenException",
                    format!(
                        "Token expired: current date/time {now} must be before the \
                         expiration date/time {exp}"
                    ),
                ));
            }
            Some(_) => {}
        }
        if claims
            .get("nbf")
            .and_then(Value::as_f64)
            .is_some_and(|nbf| nbf > now.saturating_add(NBF_LEEWAY) as f64)
        {
            return Err(AwsError::invalid_token(
                "The web identity token is not valid yet",
            ));
        }
        if self.config.iam.is_some() {
            // IAM checks the audience against the provider's client ids.
            return Ok(claims);
        }
        let aud_ok = match claims.get("aud") {
            Some(Value::String(aud)) => *aud == self.config.audience,
            Some(Value::Array(list)) => list
                .iter()
                .any(|a| a.as_str() == Some(self.config.audience.as_str())),
            _ => false,
        };
        if !aud_ok {
            return Err(AwsError::invalid_token("Incorrect token audience"));
        }
        Ok(claims)
    }
}

/// The answer of a fault that stops the request before it is checked (`None` for the faults
/// that change the credentials issued).
fn early_error(fault: &StsFault) -> Option<AwsError> {
    Some(match fault {
        StsFault::Throttling => AwsError::bad("Throttling", "Rate exceeded"),
        StsFault::IdpCommunicationError => AwsError::idp_unreachable(),
        StsFault::KeyRetrievalFailure => AwsError::invalid_token(
            "Couldn't retrieve verification key from your identity provider,  please \
             reference AssumeRoleWithWebIdentity documentation for requirements",
        ),
        StsFault::InvalidIdentityToken => AwsError::invalid_token(
            "The web identity token that was passed could not be validated by AWS",
        ),
        StsFault::ExpiredToken => AwsError::bad(
            "ExpiredTokenException",
            "Token expired: the web identity token has expired (injected)",
        ),
        StsFault::AccessDenied => AwsError::access_denied(),
        StsFault::IdpRejectedClaim => AwsError::new(
            StatusCode::FORBIDDEN,
            "IDPRejectedClaim",
            "The identity provider rejected the claim",
        ),
        StsFault::ExpiredCredentials | StsFault::ShortLivedCredentials(_) => return None,
    })
}
