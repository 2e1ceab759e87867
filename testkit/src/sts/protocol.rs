//! The AWS Query protocol as STS speaks it: `POST /` with a form whose `Action` picks the
//! operation, and the parameters of `AssumeRoleWithWebIdentity` with AWS's limits.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;

use super::builder::DEFAULT_DURATION;
use super::responses::AwsError;
use super::{Shared, StsRequest};
use crate::faults::Endpoint;
use crate::format::uuid_like;

/// The only API version STS answers.
pub(super) const VERSION: &str = "2011-06-15";
/// The shortest session `DurationSeconds` may ask for.
const MIN_DURATION: u64 = 900;
/// How many `PolicyArns.member.N.arn` a request may carry.
const MAX_POLICY_ARNS: usize = 10;
/// How long an inline `Policy` may be, in characters.
const MAX_POLICY_CHARS: usize = 2_048;

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new().route("/", post(handle)).with_state(shared)
}

/// Dispatches on `Action`.
async fn handle(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let request_id = uuid_like();
    let form = parse_form(&body);
    match field(&form, "Action") {
        Some("AssumeRoleWithWebIdentity") => {
            shared.counters.hit(Endpoint::Sts);
            shared.lock().requests.push(StsRequest::new(form.clone()));
            let answer = shared.assume(&form, &request_id);
            shared.faults.respond(Endpoint::Sts, answer).await
        }
        Some("GetCallerIdentity") => {
            shared.caller_identity_calls.fetch_add(1, Ordering::SeqCst);
            shared.caller_identity(&headers, &body, &request_id)
        }
        Some(_) => AwsError::bad(
            "InvalidAction",
            "The action or operation requested is invalid.",
        )
        .into_response(&request_id),
        None => AwsError::bad("MissingAction", "The request must contain an Action.")
            .into_response(&request_id),
    }
}

/// `application/x-www-form-urlencoded` → pairs in order, repeated names kept (`+` is a space,
/// `%XX` a byte, a bad escape stays as written, invalid UTF-8 is replaced).
pub(super) fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes(body).unwrap_or_default()
}

/// The first value of `name`.
pub(super) fn field<'f>(form: &'f [(String, String)], name: &str) -> Option<&'f str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The parameters of an `AssumeRoleWithWebIdentity` request, validated as STS does.
pub(super) struct AssumeParams<'f> {
    pub(super) role_arn: &'f str,
    /// The role's account, from its ARN.
    pub(super) account: String,
    /// The role's name (its path dropped), from its ARN.
    pub(super) role_name: String,
    pub(super) session: &'f str,
    /// `DurationSeconds`, or the default hour.
    pub(super) duration: u64,
    pub(super) token: &'f str,
    pub(super) provider_id: Option<&'f str>,
}

impl<'f> AssumeParams<'f> {
    /// Checks, in STS's order: `Version`, `RoleArn`, `RoleSessionName`, `DurationSeconds`
    /// (against `max_session`), `PolicyArns`, `Policy`, `WebIdentityToken`.
    pub(super) fn parse(form: &'f [(String, String)], max_session: u64) -> Result<Self, AwsError> {
        let field = |name: &str| field(form, name);
        if field("Version") != Some(VERSION) {
            return Err(AwsError::bad(
                "InvalidParameterValue",
                format!("Version must be {VERSION}"),
            ));
        }
        let role_arn =
            field("RoleArn").ok_or_else(|| AwsError::validation("RoleArn is required"))?;
        let (account, role_name) = parse_role_arn(role_arn)
            .ok_or_else(|| AwsError::validation(format!("{role_arn} is invalid")))?;
        let session = field("RoleSessionName")
            .ok_or_else(|| AwsError::validation("RoleSessionName is required"))?;
        let session_ok = (2..=64).contains(&session.len())
            && session
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
        if !session_ok {
            return Err(AwsError::validation(
                "1 validation error detected: Value at 'roleSessionName' failed to satisfy \
                 constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*",
            ));
        }
        let duration = match field("DurationSeconds") {
            None => DEFAULT_DURATION,
            Some(text) => {
                let seconds: u64 = text
                    .parse()
                    .map_err(|_| AwsError::validation("DurationSeconds must be an integer"))?;
                if seconds < MIN_DURATION {
                    return Err(AwsError::validation(format!(
                        "1 validation error detected: Value '{seconds}' at 'durationSeconds' \
                         failed to satisfy constraint: Member must have value greater than or \
                         equal to {MIN_DURATION}"
                    )));
                }
                if seconds > max_session {
                    return Err(AwsError::validation(
                        "The requested DurationSeconds exceeds the MaxSessionDuration set for \
                         this role.",
                    ));
                }
                seconds
            }
        };
        let policy_arns = form
            .iter()
            .filter(|(k, _)| k.starts_with("PolicyArns.member."))
            .count();
        if policy_arns > MAX_POLICY_ARNS {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value at 'policyArns' failed to satisfy \
                 constraint: Member must have length less than or equal to {MAX_POLICY_ARNS}"
            )));
        }
        if field("Policy").is_some_and(|p| p.chars().count() > MAX_POLICY_CHARS) {
            return Err(AwsError::bad(
                "PackedPolicyTooLarge",
                "Packed policy consumes more than 100% of the allotted size",
            ));
        }
        let token = field("WebIdentityToken")
            .ok_or_else(|| AwsError::validation("WebIdentityToken is required"))?;
        if !(4..=20_000).contains(&token.len()) {
            return Err(AwsError::validation(
                "WebIdentityToken must be 4 to 20000 characters",
            ));
        }
        Ok(Self {
            role_arn,
            account,
            role_name,
            session,
            duration,
            token,
            provider_id: field("ProviderId"),
        })
    }
}

/// `arn:<partition>:iam::<account>:role/<path/>name` → (account, name).
pub(super) fn parse_role_arn(arn: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, _partition, service, _region, account, resource] = parts.as_slice() else {
        return None;
    };
    if *prefix != "arn" || *service != "iam" || account.is_empty() {
        return None;
    }
    let path = resource.strip_prefix("role/")?;
    let name = path.rsplit('/').next().filter(|n| !n.is_empty())?;
    Some(((*account).to_owned(), name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding() {
        let form = parse_form(b"Action=Assume&Policy=%7B%22a%22%3A1%7D&x=a+b&bad=%zz&e");
        assert_eq!(form[0], ("Action".into(), "Assume".into()));
        assert_eq!(form[1].1, r#"{"a":1}"#);
        assert_eq!(form[2].1, "a b");
        assert_eq!(form[3].1, "%zz");
        assert_eq!(form[4], ("e".into(), String::new()));
    }

    #[test]
    fn form_decoding_keeps_repeats_and_survives_bytes() {
        let form = parse_form(b"a=1&a=2&&b=%FF");
        assert_eq!(field(&form, "a"), Some("1"));
        assert_eq!(form.len(), 3);
        assert_eq!(form[2].1, "\u{fffd}");
    }

    #[test]
    fn role_arns() {
        assert_eq!(
            parse_role_arn("arn:aws:iam::123456789012:role/path/app"),
            Some(("123456789012".into(), "app".into()))
        );
        assert_eq!(parse_role_arn("arn:aws:iam::123456789012:user/app"), None);
        assert_eq!(parse_role_arn("arn:aws:iam:::role/app"), None);
        assert_eq!(parse_role_arn("arn:aws:iam::1:role/"), None);
    }

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn valid() -> Vec<(String, String)> {
        form(&[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", VERSION),
            ("RoleArn", "arn:aws:iam::123456789012:role/app"),
            ("RoleSessionName", "s1"),
            ("WebIdentityToken", "a.b.c"),
        ])
    }

    fn code(form: &[(String, String)]) -> &'static str {
        match AssumeParams::parse(form, 43_200) {
            Ok(_) => "ok",
            Err(error) => error.code,
        }
    }

    #[test]
    fn parameters_are_checked_as_sts_does() {
        let ok = valid();
        let params = AssumeParams::parse(&ok, 43_200).ok();
        assert!(params.is_some_and(|p| p.duration == DEFAULT_DURATION
            && p.account == "123456789012"
            && p.role_name == "app"));
        let with = |name: &str, value: &str| {
            let mut f = valid();
            f.retain(|(k, _)| k != name);
            f.push((name.to_owned(), value.to_owned()));
            f
        };
        assert_eq!(
            code(&with("Version", "2010-01-01")),
            "InvalidParameterValue"
        );
        assert_eq!(code(&with("RoleSessionName", "x")), "ValidationError");
        assert_eq!(code(&with("RoleSessionName", "a b")), "ValidationError");
        assert_eq!(code(&with("DurationSeconds", "899")), "ValidationError");
        assert_eq!(code(&with("DurationSeconds", "900")), "ok");
        assert_eq!(code(&with("DurationSeconds", "43201")), "ValidationError");
        assert_eq!(
            code(&with("Policy", &"x".repeat(2_049))),
            "PackedPolicyTooLarge"
        );
        assert_eq!(code(&with("WebIdentityToken", "abc")), "ValidationError");
        let mut arns = valid();
        for n in 1..=11 {
            arns.push((format!("PolicyArns.member.{n}.arn"), "arn".to_owned()));
        }
        assert_eq!(code(&arns), "ValidationError");
        arns.pop();
        assert_eq!(code(&arns), "ok");
    }
}
