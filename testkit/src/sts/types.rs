//! The STS emulator's public data: its faults, the requests it recorded and the credentials it
//! issued.

use std::fmt;
use std::time::{Duration, SystemTime};

/// An STS-specific fault for `AssumeRoleWithWebIdentity` (the shared [`Fault`](crate::Fault)s
/// apply first, through [`Sts::faults`](super::Sts::faults)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StsFault {
    /// `400 Throttling` "Rate exceeded".
    Throttling,
    /// `400 IDPCommunicationError`, as when the IdP cannot be reached.
    IdpCommunicationError,
    /// `400 InvalidIdentityToken` "Couldn't retrieve verification key from your identity
    /// provider" (transient on AWS's side).
    KeyRetrievalFailure,
    /// `400 InvalidIdentityToken` with a permanent reason.
    InvalidIdentityToken,
    /// `400 ExpiredTokenException`, whatever the token's `exp`.
    ExpiredToken,
    /// `400 AccessDenied`.
    AccessDenied,
    /// `403 IDPRejectedClaim`.
    IdpRejectedClaim,
    /// Verifies normally, then answers credentials whose `Expiration` has already passed.
    ExpiredCredentials,
    /// Verifies normally, then answers credentials valid for this long only.
    ShortLivedCredentials(Duration),
}

/// One `AssumeRoleWithWebIdentity` request as received, for assertions. `Debug` redacts
/// `WebIdentityToken`.
#[derive(Clone, PartialEq, Eq)]
pub struct StsRequest {
    fields: Vec<(String, String)>,
}

impl StsRequest {
    pub(super) fn new(fields: Vec<(String, String)>) -> Self {
        Self { fields }
    }

    /// The first value of form field `name` (e.g. `"RoleArn"`, `"DurationSeconds"`).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every form field in the order received.
    pub fn fields(&self) -> &[(String, String)] {
        &self.fields
    }

    /// The `PolicyArns.member.N.arn` values, ordered by `N`.
    pub fn policy_arns(&self) -> Vec<String> {
        let mut arns: Vec<(u32, String)> = self
            .fields
            .iter()
            .filter_map(|(k, v)| {
                let n = k.strip_prefix("PolicyArns.member.")?.strip_suffix(".arn")?;
                Some((n.parse().ok()?, v.clone()))
            })
            .collect();
        arns.sort();
        arns.into_iter().map(|(_, v)| v).collect()
    }

    /// The `WebIdentityToken` sent.
    pub fn web_identity_token(&self) -> Option<&str> {
        self.field("WebIdentityToken")
    }
}

impl fmt::Debug for StsRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (k, v) in &self.fields {
            if k == "WebIdentityToken" {
                map.entry(k, &"[redacted]");
            } else {
                map.entry(k, v);
            }
        }
        map.finish()
    }
}

/// Credentials the emulator issued, for assertions. `Debug` shows the access key id only.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedCredentials {
    /// `ASIA…`.
    pub access_key_id: String,
    /// The secret key.
    pub secret_access_key: String,
    /// The session token.
    pub session_token: String,
    /// When they expire (by the emulator's clock).
    pub expiration: SystemTime,
    /// The assumed-role ARN they act as: `arn:aws:sts::<account>:assumed-role/<role>/<session>`.
    pub assumed_role_arn: String,
}

impl fmt::Debug for IssuedCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_debug_redacts_the_token() {
        let request = StsRequest::new(vec![
            ("RoleArn".into(), "arn".into()),
            ("WebIdentityToken".into(), "secret.jwt.here".into()),
        ]);
        assert_eq!(
            format!("{request:?}"),
            r#"{"RoleArn": "arn", "WebIdentityToken": "[redacted]"}"#
        );
    }

    #[test]
    fn credentials_debug_shows_the_key_id_only() {
        let issued = IssuedCredentials {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: "secret-key".into(),
            session_token: "session-token".into(),
            expiration: SystemTime::UNIX_EPOCH,
            assumed_role_arn: "arn:aws:sts::1:assumed-role/r/s".into(),
        };
        let debug = format!("{issued:?}");
        assert!(debug.contains("ASIAEXAMPLE"));
        assert!(!debug.contains("secret-key") && !debug.contains("session-token"));
    }
}
