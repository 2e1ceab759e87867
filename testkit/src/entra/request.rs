//! The token endpoint: the form of a client-credentials request, Entra's checks of it, and of
//! the federated client assertion it carries.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use serde_json::Value;

use super::responses::{self, Rejection};
use super::{EntraFault, FederatedCredential, Shared};
use crate::faults::Endpoint;
use crate::jwt::{self, unix_seconds};

/// The only `client_assertion_type` Entra accepts for a JWT assertion.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token_endpoint))
        .with_state(shared)
}

async fn token_endpoint(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response {
    shared.serve(&tenant, &body).await
}

/// The form fields (the last value wins for a repeated name), or `None` if the body is not a form.
fn parse_form(body: &[u8]) -> Option<HashMap<String, String>> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()
        .map(|pairs| pairs.into_iter().collect())
}

impl Shared {
    async fn serve(&self, tenant: &str, body: &[u8]) -> Response {
        self.counters.hit(Endpoint::Entra);
        let form = parse_form(body);
        if let Some(scope) = form.as_ref().and_then(|f| f.get("scope")) {
            *self.scopes().entry(scope.clone()).or_default() += 1;
        }
        let answer = async {
            match &form {
                Some(form) => self
                    .token(tenant, form)
                    .await
                    .unwrap_or_else(Rejection::into_response),
                None => Rejection::bad(
                    "invalid_request",
                    900144,
                    "The request body must contain the following parameter: 'grant_type'.",
                )
                .into_response(),
            }
        };
        self.faults.respond(Endpoint::Entra, answer).await
    }

    /// The injected fault, then the request's checks in Entra's order, then the token.
    async fn token(
        &self,
        tenant: &str,
        form: &HashMap<String, String>,
    ) -> Result<Response, Rejection> {
        let fault = self.take_injected();
        if let Some(EntraFault::Throttle { retry_after }) = &fault {
            return Ok(responses::throttled(*retry_after));
        }
        let config = &self.config;
        if tenant != config.tenant_id {
            return Err(Rejection::bad(
                "invalid_request",
                90002,
                format!("Tenant '{tenant}' not found."),
            ));
        }
        let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
        match field("grant_type") {
            "" => {
                return Err(Rejection::bad(
                    "invalid_request",
                    900144,
                    "The request body must contain the following parameter: 'grant_type'.",
                ));
            }
            "client_credentials" => {}
            _ => {
                return Err(Rejection::bad(
                    "unsupported_grant_type",
                    70003,
                    "The app requested an unsupported grant type.",
                ));
            }
        }
        if field("client_id") != config.client_id {
            return Err(Rejection::bad(
                "unauthorized_client",
                700016,
                format!(
                    "Application with identifier '{}' was not found in the directory.",
                    field("client_id")
                ),
            ));
        }
        let scope = field("scope");
        if scope.is_empty() {
            return Err(Rejection::bad(
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'scope'.",
            ));
        }
        if !scope.split(' ').all(|s| s.ends_with("/.default")) {
            return Err(Rejection::bad(
                "invalid_scope",
                1002012,
                "The provided value for scope is not valid. Client credential flows must have a \
                 scope value with /.default suffixed to the resource identifier.",
            ));
        }
        if field("client_assertion_type") != JWT_BEARER {
            return Err(Rejection::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or \
                 'client_secret'.",
            ));
        }
        self.check_assertion(field("client_assertion")).await?;

        let expires_in = match fault {
            Some(EntraFault::ExpiredToken) => 0,
            _ => config.token_lifetime.as_secs(),
        };
        Ok(responses::issued(
            &config.tenant_id,
            &config.client_id,
            scope,
            expires_in,
        ))
    }

    /// Entra's checks of a federated client assertion (see the module docs for the order).
    async fn check_assertion(&self, assertion: &str) -> Result<(), Rejection> {
        let parsed = jwt::parse(assertion).map_err(|_| {
            Rejection::bad(
                "invalid_request",
                50027,
                "JWT token is invalid or malformed.",
            )
        })?;
        let claims = &parsed.payload;
        let now = unix_seconds(SystemTime::now()) as f64;
        let exp = claims.get("exp").and_then(Value::as_f64);
        let nbf = claims.get("nbf").and_then(Value::as_f64);
        if exp.is_none_or(|exp| exp <= now) || nbf.is_some_and(|nbf| nbf > now) {
            return Err(Rejection::bad(
                "invalid_client",
                700024,
                "Client assertion is not within its valid time range.",
            ));
        }
        let text = |name: &str| claims.get(name).and_then(Value::as_str).unwrap_or_default();
        let (iss, sub) = (text("iss"), text("sub"));
        let audiences: Vec<&str> = match claims.get("aud") {
            Some(Value::String(aud)) => vec![aud.as_str()],
            Some(Value::Array(auds)) => auds.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let federated = &self.config.federated;
        let by_issuer: Vec<&FederatedCredential> =
            federated.iter().filter(|f| f.issuer == iss).collect();
        if by_issuer.is_empty() {
            return Err(Rejection::bad(
                "invalid_request",
                700211,
                format!(
                    "No matching federated identity record found for presented assertion issuer '{iss}'. Please note that the matching is done using a case-sensitive comparison. Check your federated identity credential Subject, Audience and Issuer against the presented assertion."
                ),
            ));
        }
        let by_subject: Vec<&FederatedCredential> =
            by_issuer.into_iter().filter(|f| f.subject == sub).collect();
        if by_subject.is_empty() {
            return Err(Rejection::bad(
                "invalid_request",
                700213,
                format!(
                    "No matching federated identity record found for presented assertion subject '{sub}'. Please note that the matching is done using a case-sensitive comparison. Check your federated identity credential Subject, Audience and Issuer against the presented assertion."
                ),
            ));
        }
        if !by_subject
            .iter()
            .any(|f| audiences.contains(&f.audience.as_str()))
        {
            return Err(Rejection::bad(
                "invalid_request",
                70021,
                format!(
                    "No matching federated identity record found for presented assertion. Assertion Issuer: '{iss}'. Assertion Subject: '{sub}'. Assertion Audience: '{}'.",
                    audiences.join(",")
                ),
            ));
        }
        self.jwks
            .verify(iss, &parsed)
            .await
            .map_err(|check| Rejection::key_check(check, iss))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_parsing_keeps_escapes() {
        let form = parse_form(b"a=1&scope=https%3A%2F%2Fx%2F.default+y").expect("form");
        assert_eq!(form["scope"], "https://x/.default y");
        // Not UTF-8: decoded lossily, never a panic, and no field appears from nowhere.
        let odd = parse_form(&[0xff, 0xfe]);
        assert!(odd.is_none_or(|f| !f.contains_key("grant_type")));
        let bare = parse_form(b"grant_type").expect("a bare name is a field");
        assert_eq!(bare["grant_type"], "");
    }
}
