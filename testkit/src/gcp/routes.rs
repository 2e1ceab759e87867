//! The endpoints: STS's token exchange and the IAM Credentials methods, with Google's checks
//! and answers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use super::{GcpRequest, IssuedToken, Shared, WorkloadIdentityProvider};
use crate::faults::Endpoint;
use crate::format::{iso8601, random_id};
use crate::jwt::{self, unix_seconds};
use crate::relying_party::KeyCheck;

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const JWT_TYPES: [&str; 2] = [
    "urn:ietf:params:oauth:token-type:jwt",
    "urn:ietf:params:oauth:token-type:id_token",
];
const IAM_SCOPES: [&str; 2] = [
    "https://www.googleapis.com/auth/iam",
    "https://www.googleapis.com/auth/cloud-platform",
];

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/token", post(sts))
        .route("/v1/projects/{project}/serviceAccounts/{name}", post(iam))
        .with_state(shared)
}

/// An OAuth-style STS error.
fn oauth_error(status: StatusCode, error: &str, description: impl Into<String>) -> Response {
    let body = json!({"error": error, "error_description": description.into()});
    (status, axum::Json(body)).into_response()
}

fn invalid_grant(description: impl Into<String>) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", description)
}

/// A Google API error, `{"error": {"code", "message", "status"}}`.
fn google_error(code: StatusCode, status: &str, message: impl Into<String>) -> Response {
    let body = json!({"error": {
        "code": code.as_u16(),
        "message": message.into(),
        "status": status,
    }});
    (code, axum::Json(body)).into_response()
}

fn authorization(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn sts(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    shared.counters.hit(Endpoint::GcpSts);
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    shared.lock().sts.push(GcpRequest {
        path: "/v1/token".into(),
        form: form.clone(),
        json: Value::Null,
        authorization: authorization(&headers),
    });
    let answer = async {
        let fields: HashMap<String, String> = form.into_iter().collect();
        shared.exchange(&fields).await
    };
    shared.faults.respond(Endpoint::GcpSts, answer).await
}

async fn iam(
    State(shared): State<Arc<Shared>>,
    Path((project, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.counters.hit(Endpoint::GcpIamCredentials);
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let bearer = authorization(&headers);
    shared.lock().iam.push(GcpRequest {
        path: format!("/v1/projects/{project}/serviceAccounts/{name}"),
        form: Vec::new(),
        json: json.clone(),
        authorization: bearer.clone(),
    });
    let answer = async { shared.iam(&project, &name, bearer.as_deref(), &json) };
    shared
        .faults
        .respond(Endpoint::GcpIamCredentials, answer)
        .await
}

impl Shared {
    /// STS's checks in Google's order (see the module docs), then a federated token.
    async fn exchange(&self, form: &HashMap<String, String>) -> Response {
        let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
        if field("grant_type") != TOKEN_EXCHANGE {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!("Unsupported grant_type: \"{}\".", field("grant_type")),
            );
        }
        if field("requested_token_type") != ACCESS_TOKEN_TYPE {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Invalid value for \"requested_token_type\".",
            );
        }
        if !JWT_TYPES.contains(&field("subject_token_type")) {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Invalid value for \"subject_token_type\".",
            );
        }
        let scopes: Vec<String> = field("scope")
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if scopes.is_empty() {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                "Scope(s) must be provided.",
            );
        }
        let audience = field("audience");
        let Some(provider) = self
            .config
            .providers
            .iter()
            .find(|p| p.resource_name() == audience)
        else {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_target",
                "The target service indicated by the \"audience\" parameters is invalid. This \
                 might either be because the pool or provider is disabled or deleted or because \
                 it doesn't exist.",
            );
        };
        match self.check_subject(provider, field("subject_token")).await {
            Ok((subject, expires_at)) => {
                let now = self.now();
                let lifetime = expires_at
                    .duration_since(now)
                    .unwrap_or_default()
                    .min(self.config.federated_lifetime);
                let token = format!("ya29.d.testkit-{}", random_id());
                self.lock().issued.push((
                    token.clone(),
                    IssuedToken {
                        subject,
                        service_account: None,
                        scopes,
                        expires_at: now + lifetime,
                    },
                ));
                axum::Json(json!({
                    "access_token": token,
                    "issued_token_type": ACCESS_TOKEN_TYPE,
                    "token_type": "Bearer",
                    "expires_in": lifetime.as_secs(),
                }))
                .into_response()
            }
            Err(response) => response,
        }
    }

    /// The subject token's checks; its `sub` and `exp` when it passes.
    async fn check_subject(
        &self,
        provider: &WorkloadIdentityProvider,
        token: &str,
    ) -> Result<(String, SystemTime), Response> {
        let parsed =
            jwt::parse(token).map_err(|_| invalid_grant("Unable to parse the ID Token."))?;
        let claims = &parsed.payload;
        let text = |name: &str| claims.get(name).and_then(Value::as_str).unwrap_or_default();
        let iss = text("iss");
        if iss.trim_end_matches('/') != provider.issuer_uri {
            return Err(invalid_grant(format!(
                "The issuer in ID Token {iss} does not match the expected ones: {}.",
                provider.issuer_uri
            )));
        }
        let audiences: Vec<&str> = match claims.get("aud") {
            Some(Value::String(aud)) => vec![aud.as_str()],
            Some(Value::Array(auds)) => auds.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let accepted = provider.accepted_audiences();
        if !audiences.iter().any(|a| accepted.iter().any(|b| a == b)) {
            return Err(invalid_grant(format!(
                "The audience in ID Token [{}] does not match the expected audience {}.",
                audiences.join(","),
                accepted.join(",")
            )));
        }
        let now = unix_seconds(self.now()) as f64;
        let number = |name: &str| claims.get(name).and_then(Value::as_f64);
        let Some(exp) = number("exp").filter(|exp| *exp > now) else {
            return Err(invalid_grant("The ID Token has expired."));
        };
        if number("iat").is_some_and(|iat| iat > now + 60.0)
            || number("nbf").is_some_and(|nbf| nbf > now + 60.0)
        {
            return Err(invalid_grant("The ID Token is not yet valid."));
        }
        match self.jwks.verify(&provider.issuer_uri, &parsed).await {
            Ok(()) => {}
            Err(KeyCheck::Unreachable) => {
                return Err(oauth_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    format!(
                        "Unable to retrieve the public keys of {}.",
                        provider.issuer_uri
                    ),
                ));
            }
            Err(_) => return Err(invalid_grant("Invalid JWT Signature.")),
        }
        if !provider.conditions_hold(claims) {
            tracing::debug!(condition = %provider.condition_text(), "vercel-oidc-testkit: attribute condition failed");
            return Err(oauth_error(
                StatusCode::UNAUTHORIZED,
                "unauthorized_client",
                "The given credential is rejected by the attribute condition.",
            ));
        }
        let expires_at = SystemTime::UNIX_EPOCH + Duration::from_secs(exp.max(0.0) as u64);
        Ok((text("sub").to_owned(), expires_at))
    }

    /// The IAM Credentials checks (see the module docs), then the method's answer.
    fn iam(&self, project: &str, name: &str, bearer: Option<&str>, body: &Value) -> Response {
        let Some((account, method)) = name.rsplit_once(':') else {
            return google_error(StatusCode::NOT_FOUND, "NOT_FOUND", "Method not found.");
        };
        let permission = match method {
            "generateAccessToken" => "iam.serviceAccounts.getAccessToken",
            "generateIdToken" => "iam.serviceAccounts.getOpenIdToken",
            _ => return google_error(StatusCode::NOT_FOUND, "NOT_FOUND", "Method not found."),
        };
        let caller = bearer
            .and_then(|b| b.strip_prefix("Bearer "))
            .and_then(|t| self.token_info(t));
        let Some(caller) = caller else {
            return google_error(
                StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token, \
                 login cookie or other valid authentication credential.",
            );
        };
        if !caller
            .scopes
            .iter()
            .any(|s| IAM_SCOPES.contains(&s.as_str()))
        {
            return google_error(
                StatusCode::FORBIDDEN,
                "PERMISSION_DENIED",
                "Request had insufficient authentication scopes. (ACCESS_TOKEN_SCOPE_INSUFFICIENT)",
            );
        }
        let known = |email: &str| {
            self.config
                .service_accounts
                .iter()
                .find(|a| a.email == email)
        };
        let Some(service_account) = (project == "-").then(|| known(account)).flatten() else {
            return google_error(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                format!("Not found; Gaia id not found for email {account}"),
            );
        };
        if caller.service_account.is_some() || !service_account.allows(&caller.subject) {
            return google_error(
                StatusCode::FORBIDDEN,
                "PERMISSION_DENIED",
                format!("Permission '{permission}' denied on resource (or it may not exist)."),
            );
        }
        // Google's libraries send `"delegates": null` (or `[]`) for none.
        if let Some(delegates) = body.get("delegates").filter(|d| !d.is_null()) {
            let names = delegates
                .as_array()
                .map(|d| d.iter().map(Value::as_str).collect::<Vec<_>>());
            let valid = names.is_some_and(|names| {
                names.iter().all(|n| {
                    n.and_then(|n| n.strip_prefix("projects/-/serviceAccounts/"))
                        .is_some_and(|email| known(email).is_some())
                })
            });
            if !valid {
                return google_error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_ARGUMENT",
                    "Invalid form of delegates: each must be projects/-/serviceAccounts/<email> of an existing service account.",
                );
            }
        }
        if method == "generateAccessToken" {
            self.generate_access_token(&caller.subject, &service_account.email, body)
        } else {
            self.generate_id_token(&service_account.email, body)
        }
    }

    fn generate_access_token(&self, subject: &str, email: &str, body: &Value) -> Response {
        let scopes: Vec<String> = body
            .get("scope")
            .and_then(Value::as_array)
            .map(|s| {
                s.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if scopes.is_empty() {
            return google_error(
                StatusCode::BAD_REQUEST,
                "INVALID_ARGUMENT",
                "Scope required.",
            );
        }
        let lifetime = match body.get("lifetime") {
            None => Some(Duration::from_secs(3600)),
            Some(Value::String(text)) => text
                .strip_suffix('s')
                .and_then(|n| n.parse::<u64>().ok())
                .filter(|n| *n > 0)
                .map(Duration::from_secs),
            Some(_) => None,
        };
        let Some(lifetime) = lifetime else {
            return google_error(
                StatusCode::BAD_REQUEST,
                "INVALID_ARGUMENT",
                "Invalid value at 'lifetime'.",
            );
        };
        if lifetime > self.config.max_lifetime {
            return google_error(
                StatusCode::BAD_REQUEST,
                "INVALID_ARGUMENT",
                format!(
                    "The lifetime of the requested token exceeds the allowed maximum of {}s.",
                    self.config.max_lifetime.as_secs()
                ),
            );
        }
        let expires_at = self.now() + lifetime;
        let token = format!("ya29.c.testkit-{}", random_id());
        self.lock().issued.push((
            token.clone(),
            IssuedToken {
                subject: subject.to_owned(),
                service_account: Some(email.to_owned()),
                scopes,
                expires_at,
            },
        ));
        axum::Json(json!({"accessToken": token, "expireTime": iso8601(expires_at)})).into_response()
    }

    fn generate_id_token(&self, email: &str, body: &Value) -> Response {
        let Some(audience) = body
            .get("audience")
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty())
        else {
            return google_error(
                StatusCode::BAD_REQUEST,
                "INVALID_ARGUMENT",
                "Audience required.",
            );
        };
        let now = unix_seconds(self.now());
        let mut claims = json!({
            "iss": "https://accounts.google.com",
            "aud": audience,
            "azp": email,
            "sub": email,
            "iat": now,
            "exp": now + 3600,
        });
        if body.get("includeEmail").and_then(Value::as_bool) == Some(true) {
            claims["email"] = json!(email);
            claims["email_verified"] = json!(true);
        }
        // Unsigned (a random third part): clients read `exp`; a stand-in checks `aud`.
        let token = format!(
            "{}.{}.{}",
            jwt::b64(r#"{"alg":"RS256","typ":"JWT","kid":"testkit-gcp"}"#),
            jwt::b64(claims.to_string()),
            random_id()
        );
        axum::Json(json!({"token": token})).into_response()
    }
}
