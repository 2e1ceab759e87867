//! `GetCallerIdentity`, accepted only when signed (SigV4, service `sts`) with credentials this
//! emulator issued, unexpired, with their session token.

use aws_lc_rs::{digest, hmac};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;

use super::responses::{self, AwsError};
use super::{IssuedCredentials, Shared};
use crate::format::hex;

impl Shared {
    pub(super) fn caller_identity(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        request_id: &str,
    ) -> Response {
        match self.check_sigv4(headers, body) {
            Ok(credentials) => responses::caller_identity(&credentials, request_id),
            Err(error) => error.into_response(request_id),
        }
    }

    /// Checks `Authorization: AWS4-HMAC-SHA256 …` and `x-amz-security-token` against the issued
    /// credentials. Returns the credentials that signed.
    fn check_sigv4(&self, headers: &HeaderMap, body: &[u8]) -> Result<IssuedCredentials, AwsError> {
        let denied = |m: &str| AwsError::new(StatusCode::FORBIDDEN, "InvalidClientTokenId", m);
        let auth = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| denied("Missing Authentication Token"))?;
        let rest = auth
            .strip_prefix("AWS4-HMAC-SHA256 ")
            .ok_or_else(|| denied("Unsupported signature algorithm"))?;
        let mut credential = None;
        let mut signed_headers = None;
        let mut signature = None;
        for part in rest.split(',') {
            let part = part.trim();
            if let Some(v) = part.strip_prefix("Credential=") {
                credential = Some(v);
            } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
                signed_headers = Some(v);
            } else if let Some(v) = part.strip_prefix("Signature=") {
                signature = Some(v);
            }
        }
        let (Some(credential), Some(signed_headers), Some(signature)) =
            (credential, signed_headers, signature)
        else {
            return Err(denied("Malformed Authorization header"));
        };
        let Some((akid, scope)) = credential.split_once('/') else {
            return Err(denied("Malformed credential scope"));
        };
        let issued = self
            .lock()
            .issued
            .iter()
            .find(|c| c.access_key_id == akid)
            .cloned()
            .ok_or_else(|| denied("The security token included in the request is invalid."))?;
        if issued.expiration <= self.now() {
            return Err(AwsError::new(
                StatusCode::FORBIDDEN,
                "ExpiredToken",
                "The security token included in the request is expired",
            ));
        }
        let token = headers
            .get("x-amz-security-token")
            .and_then(|v| v.to_str().ok());
        if token != Some(issued.session_token.as_str()) {
            return Err(denied(
                "The security token included in the request is invalid.",
            ));
        }
        let amz_date = headers
            .get("x-amz-date")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| denied("Missing x-amz-date"))?;
        let scope_parts: Vec<&str> = scope.split('/').collect();
        let [date, region, service @ "sts", terminator @ "aws4_request"] = scope_parts.as_slice()
        else {
            return Err(denied("Malformed credential scope"));
        };
        let mut canonical_headers = String::new();
        for name in signed_headers.split(';') {
            let value = headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect::<Vec<_>>()
                .join(",");
            canonical_headers.push_str(&format!("{name}:{value}\n"));
        }
        let canonical_request = format!(
            "POST\n/\n\n{canonical_headers}\n{signed_headers}\n{}",
            hex(digest::digest(&digest::SHA256, body).as_ref())
        );
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex(digest::digest(&digest::SHA256, canonical_request.as_bytes()).as_ref())
        );
        let mac = |key: &[u8], data: &str| {
            hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes())
                .as_ref()
                .to_vec()
        };
        let k_date = mac(format!("AWS4{}", issued.secret_access_key).as_bytes(), date);
        let k_region = mac(&k_date, region);
        let k_service = mac(&k_region, service);
        let k_signing = mac(&k_service, terminator);
        let expected = hex(&mac(&k_signing, &string_to_sign));
        if expected != signature {
            return Err(AwsError::new(
                StatusCode::FORBIDDEN,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            ));
        }
        Ok(issued)
    }
}
