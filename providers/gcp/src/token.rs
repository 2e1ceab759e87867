//! The tokens Google issues: [`AccessToken`] and [`IdToken`], kept secret.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use http::HeaderValue;
use secrecy::{ExposeSecret as _, SecretString};

struct Inner {
    secret: SecretString,
    expires_at: SystemTime,
}

/// A Google OAuth 2.0 access token (a bearer credential) and its expiry.
///
/// Clones share the secret (an `Arc`), which is zeroized when the last clone is dropped.
/// `Debug` prints `AccessToken([redacted])`; there is no `Display`.
#[derive(Clone)]
pub struct AccessToken(Arc<Inner>);

/// A Google-signed OpenID Connect ID token for one audience (e.g. a Cloud Run service URL), from
/// `generateIdToken`, and its expiry.
///
/// `Debug` prints `IdToken([redacted])`; there is no `Display`.
#[derive(Clone)]
pub struct IdToken(Arc<Inner>);

macro_rules! secret_token {
    ($name:ident, $what:literal) => {
        impl $name {
            pub(crate) fn new(secret: String, expires_at: SystemTime) -> Self {
                Self(Arc::new(Inner {
                    secret: SecretString::from(secret),
                    expires_at,
                }))
            }

            #[doc = concat!("The ", $what, " itself.")]
            ///
            /// # Security
            /// This is a bearer credential: whoever holds it acts as the workload. Do not log it,
            /// put it in an error, or send it anywhere but to Google APIs (or the service the
            /// token is for).
            pub fn expose_secret(&self) -> &str {
                self.0.secret.expose_secret()
            }

            /// When it expires.
            pub fn expires_at(&self) -> SystemTime {
                self.0.expires_at
            }

            #[doc = concat!("`Bearer <", $what, ">` as a header value marked sensitive (so HTTP")]
            /// stacks and `Debug` do not show it), for `Authorization`.
            pub fn bearer_header(&self) -> HeaderValue {
                // A token Google issued is printable ASCII; anything else is refused when parsed.
                let mut value = HeaderValue::from_str(&format!("Bearer {}", self.expose_secret()))
                    .unwrap_or_else(|_| HeaderValue::from_static("Bearer"));
                value.set_sensitive(true);
                value
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

secret_token!(AccessToken, "access token");
secret_token!(IdToken, "ID token");

/// `true` when `token` can go into an `Authorization` header (visible ASCII, no spaces).
pub(crate) fn is_header_safe(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn debug_is_redacted_and_the_header_sensitive() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let access = AccessToken::new("ya29.secret-access".into(), at);
        assert_eq!(format!("{access:?}"), "AccessToken([redacted])");
        assert_eq!(access.expose_secret(), "ya29.secret-access");
        assert_eq!(access.expires_at(), at);
        let header = access.bearer_header();
        assert!(header.is_sensitive());
        assert_eq!(header.to_str().ok(), Some("Bearer ya29.secret-access"));
        assert!(!format!("{header:?}").contains("secret"));

        let id = IdToken::new("eyJ.id.secret".into(), at);
        assert_eq!(format!("{id:?}"), "IdToken([redacted])");
        assert_eq!(
            id.bearer_header().to_str().ok(),
            Some("Bearer eyJ.id.secret")
        );
        assert_eq!(format!("{:?}", id.clone()), "IdToken([redacted])");
    }

    #[test]
    fn header_safety() {
        assert!(is_header_safe("ya29.a0AfH6SM-_~+/="));
        for bad in ["", "a b", "a\r\nb", "é", "a\u{7f}"] {
            assert!(!is_header_safe(bad), "{bad:?}");
        }
    }
}
