//! What STS answers: its XML success bodies and its `ErrorResponse`, with the request id in the
//! body and in `x-amzn-requestid`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::IssuedCredentials;
use crate::format::iso8601;
use crate::iam::Refusal;
use crate::relying_party::KeyCheck;

/// The XML namespace of every STS answer.
const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// An AWS error: code, HTTP status, message.
#[derive(Debug)]
pub(super) struct AwsError {
    pub(super) status: StatusCode,
    pub(super) code: &'static str,
    pub(super) message: String,
}

impl AwsError {
    pub(super) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// A `400` error.
    pub(super) fn bad(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub(super) fn validation(message: impl Into<String>) -> Self {
        Self::bad("ValidationError", message)
    }

    pub(super) fn invalid_token(message: impl Into<String>) -> Self {
        Self::bad("InvalidIdentityToken", message)
    }

    pub(super) fn idp_unreachable() -> Self {
        Self::bad(
            "IDPCommunicationError",
            "The request could not be fulfilled because the identity provider (IDP) that was \
             asked to verify the incoming identity token could not be reached.",
        )
    }

    pub(super) fn access_denied() -> Self {
        Self::bad(
            "AccessDenied",
            "Not authorized to perform sts:AssumeRoleWithWebIdentity",
        )
    }

    /// IAM's refusal as STS answers it.
    pub(super) fn refusal(refusal: Refusal) -> Self {
        match refusal {
            Refusal::AccessDenied => Self::access_denied(),
            Refusal::NoProvider(iss) => Self::invalid_token(format!(
                "No OpenIDConnect provider found in your account for {iss}"
            )),
            Refusal::Audience => Self::invalid_token("Incorrect token audience"),
        }
    }

    /// A failed signature check as STS answers it.
    pub(super) fn key_check(check: KeyCheck) -> Self {
        match check {
            KeyCheck::Algorithm => Self::invalid_token(
                "The web identity token is not signed with a supported algorithm",
            ),
            KeyCheck::NoKid | KeyCheck::UnknownKey => {
                Self::invalid_token("No key in the identity provider's key set matches the token")
            }
            KeyCheck::Unreachable | KeyCheck::MalformedKey => Self::idp_unreachable(),
            KeyCheck::Signature => {
                Self::invalid_token("The web identity token signature could not be verified")
            }
        }
    }

    pub(super) fn into_response(self, request_id: &str) -> Response {
        let body = format!(
            "<ErrorResponse xmlns=\"{NAMESPACE}\">\n  <Error>\n    <Type>Sender</Type>\n    \
             <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  \
             <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n",
            self.code,
            xml_escape(&self.message)
        );
        xml_response(self.status, request_id, body)
    }
}

/// What an `AssumeRoleWithWebIdentityResponse` says besides the credentials.
pub(super) struct Assumed {
    pub(super) subject: String,
    pub(super) audience: String,
    pub(super) account: String,
    pub(super) role_name: String,
    pub(super) session: String,
    pub(super) role_id: String,
    pub(super) provider: String,
    pub(super) credentials: IssuedCredentials,
}

impl Assumed {
    /// `200` with the `AssumeRoleWithWebIdentityResponse`.
    pub(super) fn into_response(self, request_id: &str) -> Response {
        let Self {
            subject,
            audience,
            account,
            role_name,
            session,
            role_id,
            provider,
            credentials,
        } = self;
        let body = format!(
            "<AssumeRoleWithWebIdentityResponse xmlns=\"{NAMESPACE}\">\n  \
             <AssumeRoleWithWebIdentityResult>\n    \
             <SubjectFromWebIdentityToken>{}</SubjectFromWebIdentityToken>\n    \
             <Audience>{}</Audience>\n    <AssumedRoleUser>\n      \
             <Arn>arn:aws:sts::{account}:assumed-role/{}/{}</Arn>\n      \
             <AssumedRoleId>{role_id}:{}</AssumedRoleId>\n    </AssumedRoleUser>\n    \
             <Credentials>\n      <SessionToken>{}</SessionToken>\n      \
             <SecretAccessKey>{}</SecretAccessKey>\n      \
             <Expiration>{}</Expiration>\n      <AccessKeyId>{}</AccessKeyId>\n    \
             </Credentials>\n    <Provider>{}</Provider>\n  \
             </AssumeRoleWithWebIdentityResult>\n  <ResponseMetadata>\n    \
             <RequestId>{request_id}</RequestId>\n  </ResponseMetadata>\n\
             </AssumeRoleWithWebIdentityResponse>\n",
            xml_escape(&subject),
            xml_escape(&audience),
            xml_escape(&role_name),
            xml_escape(&session),
            xml_escape(&session),
            credentials.session_token,
            credentials.secret_access_key,
            iso8601(credentials.expiration),
            credentials.access_key_id,
            xml_escape(&provider),
        );
        xml_response(StatusCode::OK, request_id, body)
    }
}

/// `200` with the `GetCallerIdentityResponse` of `credentials`.
pub(super) fn caller_identity(credentials: &IssuedCredentials, request_id: &str) -> Response {
    // `arn:aws:sts::<account>:assumed-role/…`
    let account = credentials
        .assumed_role_arn
        .split(':')
        .nth(4)
        .unwrap_or_default();
    let body = format!(
        "<GetCallerIdentityResponse xmlns=\"{NAMESPACE}\">\n  \
         <GetCallerIdentityResult>\n    \
         <Arn>{}</Arn>\n    \
         <UserId>{}</UserId>\n    <Account>{}</Account>\n  \
         </GetCallerIdentityResult>\n  <ResponseMetadata>\n    \
         <RequestId>{request_id}</RequestId>\n  </ResponseMetadata>\n\
         </GetCallerIdentityResponse>\n",
        xml_escape(&credentials.assumed_role_arn),
        credentials.access_key_id,
        xml_escape(account),
    );
    xml_response(StatusCode::OK, request_id, body)
}

fn xml_response(status: StatusCode, request_id: &str, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    response
}

fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_is_escaped() {
        assert_eq!(
            xml_escape(r#"<a & 'b' "c">"#),
            "&lt;a &amp; &apos;b&apos; &quot;c&quot;&gt;"
        );
    }

    #[test]
    fn key_checks_map_to_sts_codes() {
        assert_eq!(
            AwsError::key_check(KeyCheck::Unreachable).code,
            "IDPCommunicationError"
        );
        assert_eq!(
            AwsError::key_check(KeyCheck::Signature).code,
            "InvalidIdentityToken"
        );
        assert_eq!(
            AwsError::refusal(Refusal::AccessDenied).code,
            "AccessDenied"
        );
    }
}
