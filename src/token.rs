//! The OIDC token (a compact JWS) and its typed, *unverified* claims.
//!
//! [`OidcToken::parse`] splits and decodes a token **without checking its signature**: the
//! claims are for reading (expiry, project, environment), never for trusting. To trust a token
//! that someone else sent you, verify it against Vercel's JWKS.

use std::borrow::Cow;
use std::fmt;
use std::mem::MaybeUninit;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, MalformedTokenReason};

pub use crate::limits::MAX_TOKEN_LEN;

/// A Vercel OIDC token: the raw JWT, kept secret, plus its decoded (unverified) claims.
///
/// Cheap to clone (an `Arc`); the raw text is zeroized when the last clone drops. `Debug`
/// prints `OidcToken([redacted])`; there is no `Display`.
///
/// ```
/// use vercel_oidc::OidcToken;
/// # use base64::Engine as _;
/// # let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
/// # let jwt = format!("{}.{}.sig", b64(r#"{"alg":"RS256"}"#),
/// #     b64(r#"{"sub":"owner:acme:project:web:environment:production","exp":4102444800}"#));
/// let token = OidcToken::parse(jwt)?;
/// assert_eq!(token.unverified_claims().environment(), None);
/// assert!(!token.is_expired_within(std::time::Duration::from_secs(60)));
/// assert_eq!(format!("{token:?}"), "OidcToken([redacted])");
/// # Ok::<(), vercel_oidc::Error>(())
/// ```
#[derive(Clone)]
pub struct OidcToken(Arc<Inner>);

struct Inner {
    raw: SecretString,
    claims: Claims,
}

impl fmt::Debug for OidcToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OidcToken([redacted])")
    }
}

impl PartialEq for OidcToken {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.raw.expose_secret() == other.0.raw.expose_secret()
    }
}

impl Eq for OidcToken {}

impl OidcToken {
    /// Parses a compact JWS. Surrounding whitespace is trimmed.
    ///
    /// The signature is **not** checked. Fails with [`Error::MalformedToken`] when the input is
    /// empty, longer than [`MAX_TOKEN_LEN`], not three base64url parts, or when the header or
    /// payload is not a JSON object, or a known claim has the wrong type. The error never
    /// contains the input.
    pub fn parse(token: impl Into<String>) -> Result<Self, Error> {
        let mut raw: String = token.into();
        let trimmed = raw.trim();
        if trimmed.len() != raw.len() {
            raw = trimmed.to_owned();
        }
        let secret = SecretString::from(raw);
        let claims = decode_claims(secret.expose_secret()).map_err(Error::MalformedToken)?;
        Ok(Self(Arc::new(Inner {
            raw: secret,
            claims,
        })))
    }

    /// The raw JWT.
    ///
    /// # Security
    /// This is a bearer credential: whoever holds it acts as your deployment. Do not log it,
    /// put it in an error message or send it anywhere but to the service it is meant for.
    pub fn expose_secret(&self) -> &str {
        self.0.raw.expose_secret()
    }

    /// The token's claims, decoded **without verifying the signature**.
    pub fn unverified_claims(&self) -> &Claims {
        &self.0.claims
    }

    /// The `exp` claim as a time, or `None` when the token has none.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.0.claims.expires_at()
    }

    /// `true` when the token is expired at now (the system clock) `+ buffer`.
    ///
    /// A token without `exp` counts as expired: it cannot be refreshed ahead of time, and
    /// Vercel always sets `exp`.
    pub fn is_expired_within(&self, buffer: Duration) -> bool {
        self.is_expired_within_at(buffer, crate::time::system_now())
    }

    /// Like [`is_expired_within`](Self::is_expired_within) at a given `now`.
    pub fn is_expired_within_at(&self, buffer: Duration, now: SystemTime) -> bool {
        match self.expires_at() {
            None => true,
            Some(exp) => now.checked_add(buffer).is_none_or(|limit| exp <= limit),
        }
    }
}

/// The `aud` claim: one audience or several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience string.
    One(String),
    /// A list of audiences.
    Many(Vec<String>),
}

impl Audience {
    /// `true` when `aud` is (one of) the audience(s).
    pub fn contains(&self, aud: &str) -> bool {
        match self {
            Self::One(a) => a == aud,
            Self::Many(list) => list.iter().any(|a| a == aud),
        }
    }

    /// The audiences as a slice-like iterator.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let (one, many): (Option<&String>, &[String]) = match self {
            Self::One(a) => (Some(a), &[]),
            Self::Many(list) => (None, list.as_slice()),
        };
        one.into_iter().chain(many.iter()).map(String::as_str)
    }
}

/// The claims of a Vercel OIDC token. Every claim is optional when reading, so that
/// an unexpected token can still be inspected; a verifier checks the ones it requires.
///
/// Unknown claims are kept in [`Claims::extra`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Claims {
    /// Issuer: `https://oidc.vercel.com/<team_slug>` (team mode) or `https://oidc.vercel.com`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Subject: `owner:<team_slug>:project:<project_name>:environment:<environment>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Audience, by default `https://vercel.com/<team_slug>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    /// Expiry, unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issued at, unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Not before, unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Team slug.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Team id (`team_…`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
    /// Project name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Project id (`prj_…`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// `production`, `preview` or `development`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The user, on development tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Custom environment id, when the deployment uses one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_environment_id: Option<String>,
    /// Actor of an exchanged token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub act: Option<Value>,
    /// Token id of an exchanged token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Every other claim, as it was.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Claims {
    /// The `exp` claim as a time.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.exp.map(unix_to_system_time)
    }

    /// The `environment` claim parsed into an [`Environment`], if it is one of Vercel's.
    pub fn environment(&self) -> Option<Environment> {
        match self.environment.as_deref()? {
            "production" => Some(Environment::Production),
            "preview" => Some(Environment::Preview),
            "development" => Some(Environment::Development),
            _ => None,
        }
    }

    /// Builds claims from a decoded JSON object, checking the types of the known claims.
    pub fn from_json_object(mut map: Map<String, Value>) -> Result<Self, MalformedTokenReason> {
        fn string(
            map: &mut Map<String, Value>,
            claim: &'static str,
        ) -> Result<Option<String>, MalformedTokenReason> {
            match map.remove(claim) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(_) => Err(MalformedTokenReason::InvalidClaim {
                    claim,
                    expected: "a string",
                }),
            }
        }
        fn numeric(
            map: &mut Map<String, Value>,
            claim: &'static str,
        ) -> Result<Option<i64>, MalformedTokenReason> {
            let err = MalformedTokenReason::InvalidClaim {
                claim,
                expected: "a number of seconds",
            };
            match map.remove(claim) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(n)) => {
                    if let Some(i) = n.as_i64() {
                        Ok(Some(i))
                    } else if let Some(f) = n.as_f64().filter(|f| f.is_finite()) {
                        // NumericDate may carry fractions (RFC 7519 §2); clamp to i64.
                        Ok(Some(f.clamp(i64::MIN as f64, i64::MAX as f64) as i64))
                    } else {
                        Err(err)
                    }
                }
                Some(_) => Err(err),
            }
        }
        let aud = audience_from(map.remove("aud")).ok_or(MalformedTokenReason::InvalidClaim {
            claim: "aud",
            expected: "a string or a list of strings",
        })?;
        Ok(Self {
            iss: string(&mut map, "iss")?,
            sub: string(&mut map, "sub")?,
            aud,
            exp: numeric(&mut map, "exp")?,
            iat: numeric(&mut map, "iat")?,
            nbf: numeric(&mut map, "nbf")?,
            owner: string(&mut map, "owner")?,
            owner_id: string(&mut map, "owner_id")?,
            project: string(&mut map, "project")?,
            project_id: string(&mut map, "project_id")?,
            environment: string(&mut map, "environment")?,
            user_id: string(&mut map, "user_id")?,
            custom_environment_id: string(&mut map, "custom_environment_id")?,
            act: map.remove("act").filter(|v| !v.is_null()),
            jti: string(&mut map, "jti")?,
            extra: map,
        })
    }
}

/// The `aud` claim from its JSON value: absent or `null` is `Some(None)`; a string or a list of
/// strings is the audience; anything else is `None` (the wrong type).
fn audience_from(value: Option<Value>) -> Option<Option<Audience>> {
    match value {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(Some(Audience::One(s))),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|item| match item {
                Value::String(s) => Some(s),
                _ => None,
            })
            .collect::<Option<Vec<String>>>()
            .map(|list| Some(Audience::Many(list))),
        Some(_) => None,
    }
}

/// Vercel's deployment environments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Environment {
    /// `production`
    Production,
    /// `preview`
    Preview,
    /// `development`
    Development,
}

/// A JWT split into its three parts (still encoded).
#[derive(Debug, Clone, Copy)]
pub(crate) struct JwtParts<'a> {
    pub(crate) header: &'a str,
    pub(crate) payload: &'a str,
    pub(crate) signature: &'a str,
}

/// Splits a compact JWS into three parts, with the size and shape checks of [`OidcToken::parse`].
pub(crate) fn split_jwt(token: &str) -> Result<JwtParts<'_>, MalformedTokenReason> {
    if token.is_empty() {
        return Err(MalformedTokenReason::Empty);
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err(MalformedTokenReason::TooLong { len: token.len() });
    }
    let wrong_count = || MalformedTokenReason::WrongPartCount {
        parts: token.split('.').count(),
    };
    let (header, rest) = token.split_once('.').ok_or_else(wrong_count)?;
    let (payload, signature) = rest.split_once('.').ok_or_else(wrong_count)?;
    // A fourth part leaves a '.' in the signature.
    if signature.contains('.') {
        return Err(wrong_count());
    }
    Ok(JwtParts {
        header,
        payload,
        signature,
    })
}

/// `true` when every byte is in the base64url alphabet (no padding). One branch-free pass, so
/// that the compiler can vectorise it (a 2048-bit signature is 342 characters; a per-byte check
/// with an early exit took ~250 ns of a 1.5 µs parse).
fn is_base64url(encoded: &str) -> bool {
    encoded.bytes().fold(true, |ok, b| {
        ok & (b.is_ascii_alphanumeric() | (b == b'-') | (b == b'_'))
    })
}

/// Decodes base64url without padding, with the `base64` crate's strict rules (canonical
/// trailing bits, no `=`), through a SIMD decoder: a token's payload is most of its parse time.
pub(crate) fn decode_base64url(encoded: &str) -> Option<Vec<u8>> {
    base64_simd::URL_SAFE_NO_PAD.decode_to_vec(encoded).ok()
}

/// [`decode_base64url`] into `buf` when the result fits (a token's header and payload then cost
/// no allocation), else into a new vector.
fn decode_base64url_in<'b>(encoded: &str, buf: &'b mut [MaybeUninit<u8>]) -> Option<Cow<'b, [u8]>> {
    let engine = base64_simd::URL_SAFE_NO_PAD;
    let len = engine.decoded_length(encoded.as_bytes()).ok()?;
    match buf.get_mut(..len) {
        Some(out) => engine
            .decode(encoded.as_bytes(), base64_simd::Out::from_uninit_slice(out))
            .ok()
            .map(|decoded| Cow::Borrowed(&*decoded)),
        None => decode_base64url(encoded).map(Cow::Owned),
    }
}

/// Room for a decoded header or payload on the stack (Vercel's payloads decode to ~400 bytes);
/// larger parts are decoded onto the heap.
const PART_BUF: usize = 2048;

/// Decodes one base64url part into a JSON object.
pub(crate) fn decode_json_part(
    encoded: &str,
    part: &'static str,
) -> Result<Map<String, Value>, MalformedTokenReason> {
    let mut buf = [MaybeUninit::uninit(); PART_BUF];
    let bytes = decode_part(encoded, part, &mut buf)?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(MalformedTokenReason::NotAnObject { part }),
        Err(_) => Err(MalformedTokenReason::NotJson { part }),
    }
}

fn decode_claims(token: &str) -> Result<Claims, MalformedTokenReason> {
    let parts = split_jwt(token)?;
    // The header must be a JSON object too, or this is not a JWS at all.
    check_json_object_part(parts.header, "header")?;
    if !is_base64url(parts.signature) {
        return Err(MalformedTokenReason::NotBase64Url { part: "signature" });
    }
    claims_from_part(parts.payload)
}

/// Decodes one part of a token (trailing `=` tolerated) into `buf` when it fits, naming `part`
/// when it is not base64url.
fn decode_part<'b>(
    encoded: &str,
    part: &'static str,
    buf: &'b mut [MaybeUninit<u8>],
) -> Result<Cow<'b, [u8]>, MalformedTokenReason> {
    decode_base64url_in(encoded.trim_end_matches('='), buf)
        .ok_or(MalformedTokenReason::NotBase64Url { part })
}

/// Checks that a part is a JSON object without building it; on failure the error comes from
/// [`decode_json_part`], so it names the same reason.
fn check_json_object_part(encoded: &str, part: &'static str) -> Result<(), MalformedTokenReason> {
    let mut buf = [MaybeUninit::uninit(); PART_BUF];
    let bytes = decode_part(encoded, part, &mut buf)?;
    let is_object = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if is_object && serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok() {
        return Ok(());
    }
    decode_json_part(encoded, part).map(drop)
}

/// The payload's claims. The fast path deserializes them directly (no `serde_json::Value` of
/// the whole payload); any input it does not accept goes through [`Claims::from_json_object`],
/// which gives the path-aware error (or, should the fast path ever be stricter, the claims).
/// Both accept exactly the same inputs with the same results: known claims typed the same
/// way, `null` as absent, the last of duplicate keys winning, other claims kept in `extra`.
pub(crate) fn claims_from_part(encoded: &str) -> Result<Claims, MalformedTokenReason> {
    let mut buf = [MaybeUninit::uninit(); PART_BUF];
    let bytes = decode_part(encoded, "payload", &mut buf)?;
    // One UTF-8 check of the whole payload, then a `str` parse that need not check each string.
    let fast = std::str::from_utf8(&bytes)
        .ok()
        .and_then(|json| serde_json::from_str::<FastClaims>(json).ok());
    match fast {
        Some(FastClaims(claims)) => Ok(claims),
        None => match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Claims::from_json_object(map),
            Ok(_) => Err(MalformedTokenReason::NotAnObject { part: "payload" }),
            Err(_) => Err(MalformedTokenReason::NotJson { part: "payload" }),
        },
    }
}

/// An object key, borrowed from the input unless it has escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a claim name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// [`Claims`] deserialized field by field (the fast path of [`claims_from_part`]).
struct FastClaims(Claims);

/// A NumericDate as [`Claims::from_json_object`] reads it: an integer, or a finite number
/// clamped to `i64` (fractions dropped).
struct NumericDate(i64);

impl<'de> Deserialize<'de> for NumericDate {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = NumericDate;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of seconds")
            }
            fn visit_i64<E>(self, v: i64) -> Result<NumericDate, E> {
                Ok(NumericDate(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<NumericDate, E> {
                Ok(NumericDate(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<NumericDate, E> {
                if v.is_finite() {
                    Ok(NumericDate(v.clamp(i64::MIN as f64, i64::MAX as f64) as i64))
                } else {
                    Err(E::custom("not finite"))
                }
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl<'de> Deserialize<'de> for FastClaims {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = FastClaims;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object of claims")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<FastClaims, A::Error> {
                let mut c = Claims::default();
                let mut aud: Option<Value> = None;
                while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
                    let string = |map: &mut A| map.next_value::<Option<String>>();
                    let date =
                        |map: &mut A| Ok(map.next_value::<Option<NumericDate>>()?.map(|d| d.0));
                    match key.as_ref() {
                        "iss" => c.iss = string(&mut map)?,
                        "sub" => c.sub = string(&mut map)?,
                        "aud" => aud = Some(map.next_value::<Value>()?),
                        "exp" => c.exp = date(&mut map)?,
                        "iat" => c.iat = date(&mut map)?,
                        "nbf" => c.nbf = date(&mut map)?,
                        "owner" => c.owner = string(&mut map)?,
                        "owner_id" => c.owner_id = string(&mut map)?,
                        "project" => c.project = string(&mut map)?,
                        "project_id" => c.project_id = string(&mut map)?,
                        "environment" => c.environment = string(&mut map)?,
                        "user_id" => c.user_id = string(&mut map)?,
                        "custom_environment_id" => c.custom_environment_id = string(&mut map)?,
                        "act" => c.act = Some(map.next_value::<Value>()?).filter(|v| !v.is_null()),
                        "jti" => c.jti = string(&mut map)?,
                        _ => {
                            let value = map.next_value::<Value>()?;
                            c.extra.insert(key.into_owned(), value);
                        }
                    }
                }
                c.aud = audience_from(aud).ok_or_else(|| serde::de::Error::custom("aud"))?;
                Ok(FastClaims(c))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

pub(crate) fn unix_to_system_time(secs: i64) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH
            .checked_add(Duration::from_secs(secs.unsigned_abs()))
            .unwrap_or(UNIX_EPOCH + Duration::from_secs(i64::MAX as u64 / 2))
    } else {
        UNIX_EPOCH
            .checked_sub(Duration::from_secs(secs.unsigned_abs()))
            .unwrap_or(UNIX_EPOCH)
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn jwt(payload: &str) -> String {
        format!(
            "{}.{}.c2ln",
            b64(r#"{"alg":"RS256","typ":"JWT"}"#),
            b64(payload)
        )
    }

    #[test]
    fn parses_all_vercel_claims_and_keeps_unknown_ones() {
        let t = OidcToken::parse(jwt(
            r#"{"iss":"https://oidc.vercel.com/acme","sub":"owner:acme:project:web:environment:preview",
            "aud":"https://vercel.com/acme","exp":4102444800,"iat":1700000000,"nbf":1700000000,
            "owner":"acme","owner_id":"team_1","project":"web","project_id":"prj_1",
            "environment":"preview","user_id":"u1","custom_environment_id":"env_1",
            "act":{"sub":"x"},"jti":"j1","scope":"owner:acme","n":[1,2]}"#,
        ))
        .expect("valid");
        let c = t.unverified_claims();
        assert_eq!(c.iss.as_deref(), Some("https://oidc.vercel.com/acme"));
        assert_eq!(c.aud, Some(Audience::One("https://vercel.com/acme".into())));
        assert_eq!(c.exp, Some(4_102_444_800));
        assert_eq!(c.environment(), Some(Environment::Preview));
        assert_eq!(c.user_id.as_deref(), Some("u1"));
        assert_eq!(c.custom_environment_id.as_deref(), Some("env_1"));
        assert_eq!(c.jti.as_deref(), Some("j1"));
        assert!(c.act.is_some());
        assert_eq!(c.extra.get("scope"), Some(&Value::from("owner:acme")));
        assert_eq!(c.extra.len(), 2);
        assert_eq!(
            t.expires_at(),
            Some(UNIX_EPOCH + Duration::from_secs(4_102_444_800))
        );
    }

    #[test]
    fn audience_list() {
        let t = OidcToken::parse(jwt(r#"{"aud":["a","b"],"exp":1}"#)).expect("valid");
        let aud = t.unverified_claims().aud.as_ref().expect("aud");
        assert!(aud.contains("b") && !aud.contains("c"));
        assert_eq!(aud.iter().collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn token_without_exp_counts_as_expired() {
        let t = OidcToken::parse(jwt(r#"{"sub":"x"}"#)).expect("valid");
        assert_eq!(t.expires_at(), None);
        assert!(t.is_expired_within(Duration::ZERO));
    }

    #[test]
    fn expiry_with_buffer() {
        let t = OidcToken::parse(jwt(r#"{"exp":1000}"#)).expect("valid");
        let at = |s| UNIX_EPOCH + Duration::from_secs(s);
        assert!(!t.is_expired_within_at(Duration::ZERO, at(999)));
        assert!(t.is_expired_within_at(Duration::ZERO, at(1000)));
        assert!(t.is_expired_within_at(Duration::from_secs(2), at(998)));
        assert!(!t.is_expired_within_at(Duration::from_secs(2), at(997)));
        assert!(t.is_expired_within_at(Duration::MAX, at(0)));
    }

    #[test]
    fn whitespace_is_trimmed() {
        let raw = jwt(r#"{"exp":1}"#);
        let t = OidcToken::parse(format!("  {raw}\n")).expect("valid");
        assert_eq!(t.expose_secret(), raw);
    }

    #[test]
    fn malformed_inputs_give_typed_errors_without_echo() {
        use MalformedTokenReason as R;
        let secretish = "SECRETPART";
        let cases: Vec<(String, R)> = vec![
            (String::new(), R::Empty),
            ("   ".into(), R::Empty),
            (secretish.into(), R::WrongPartCount { parts: 1 }),
            (format!("{secretish}.a"), R::WrongPartCount { parts: 2 }),
            (format!("{secretish}.a.b.c"), R::WrongPartCount { parts: 4 }),
            (
                format!("{secretish}.a.b.c.d."),
                R::WrongPartCount { parts: 6 },
            ),
            (
                format!("{secretish}!.e30.c2ln"),
                R::NotBase64Url { part: "header" },
            ),
            (
                format!("{}.{}.c2ln", b64("{}"), b64("SECRETPART")),
                R::NotJson { part: "payload" },
            ),
            (
                format!("{}.{secretish}.c2ln", b64("{}")),
                R::NotBase64Url { part: "payload" },
            ),
            (
                format!("{}.{}.c2ln", b64("{}"), b64("[1]")),
                R::NotAnObject { part: "payload" },
            ),
            (
                format!("{}.{}.c2ln", b64("7"), b64("{}")),
                R::NotAnObject { part: "header" },
            ),
            (
                format!("{}.{}.s+g", b64("{}"), b64("{}")),
                R::NotBase64Url { part: "signature" },
            ),
            (
                jwt(r#"{"exp":"SECRETPART"}"#),
                R::InvalidClaim {
                    claim: "exp",
                    expected: "a number of seconds",
                },
            ),
            (
                jwt(r#"{"sub":1}"#),
                R::InvalidClaim {
                    claim: "sub",
                    expected: "a string",
                },
            ),
            (
                jwt(r#"{"aud":[1]}"#),
                R::InvalidClaim {
                    claim: "aud",
                    expected: "a string or a list of strings",
                },
            ),
            (
                "a".repeat(MAX_TOKEN_LEN + 1),
                R::TooLong {
                    len: MAX_TOKEN_LEN + 1,
                },
            ),
            // Exactly the limit is not too long: it gets as far as the part count.
            ("a".repeat(MAX_TOKEN_LEN), R::WrongPartCount { parts: 1 }),
        ];
        for (input, want) in cases {
            let err = OidcToken::parse(input.clone()).expect_err("must fail");
            match &err {
                Error::MalformedToken(reason) => assert_eq!(reason, &want, "input {input:?}"),
                other => panic!("unexpected {other:?}"),
            }
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains(secretish), "{shown}");
        }
    }

    #[test]
    fn fractional_and_huge_numeric_dates() {
        let t = OidcToken::parse(jwt(r#"{"exp":1.5e300}"#)).expect("valid");
        assert_eq!(t.unverified_claims().exp, Some(i64::MAX));
        assert!(!t.is_expired_within(Duration::ZERO));
        let t = OidcToken::parse(jwt(r#"{"exp":-5}"#)).expect("valid");
        assert!(t.is_expired_within(Duration::ZERO));
    }

    #[test]
    fn debug_is_redacted() {
        let t = OidcToken::parse(jwt(r#"{"exp":1}"#)).expect("valid");
        assert_eq!(format!("{t:?}"), "OidcToken([redacted])");
        assert_eq!(format!("{:?}", Some(t)), "Some(OidcToken([redacted]))");
    }

    /// Known claim names (some escaped in JSON), and others.
    fn claim_name() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![
            proptest::sample::select(vec![
                "iss",
                "sub",
                "aud",
                "exp",
                "iat",
                "nbf",
                "owner",
                "owner_id",
                "project",
                "project_id",
                "environment",
                "user_id",
                "custom_environment_id",
                "act",
                "jti",
                "scope",
                "<escaped exp>",
                "x",
            ])
            .prop_map(str::to_owned),
            "[a-z_]{1,8}",
        ]
    }

    /// JSON values of every type, numbers of every kind.
    fn claim_value() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![
            Just("null".to_owned()),
            Just("true".to_owned()),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<u64>().prop_map(|n| n.to_string()),
            (-1e20f64..1e20).prop_map(|f| format!("{f:e}")),
            Just("1.5".to_owned()),
            Just("18446744073709551616".to_owned()),
            "[a-z ]{0,6}".prop_map(|s| format!("\"{s}\"")),
            Just("\"a\\u00e9\"".to_owned()),
            Just("[]".to_owned()),
            Just("[\"a\",\"b\"]".to_owned()),
            Just("[\"a\",1]".to_owned()),
            Just("{\"sub\":\"x\"}".to_owned()),
        ]
    }

    proptest::proptest! {
        #[test]
        fn the_simd_decoder_agrees_with_the_base64_crate(s in "[A-Za-z0-9_=+/. -]{0,64}") {
            let expected = URL_SAFE_NO_PAD.decode(&s).ok();
            proptest::prop_assert_eq!(&decode_base64url(&s), &expected);
            // On the stack when it fits, on the heap when it does not: the same bytes.
            for room in [0, 8, 48, 64] {
                let mut buf = vec![MaybeUninit::uninit(); room];
                let decoded = decode_base64url_in(&s, &mut buf).map(Cow::into_owned);
                proptest::prop_assert_eq!(&decoded, &expected);
            }
        }

        #[test]
        fn base64url_check_agrees_with_a_per_byte_check(s in "[A-Za-z0-9_=+/. -]{0,400}") {
            let expected = s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            proptest::prop_assert_eq!(is_base64url(&s), expected);
        }

        #[test]
        fn parser_never_panics(s in ".*") {
            let _ = OidcToken::parse(s);
        }

        #[test]
        fn parser_never_panics_on_jwt_shaped_input(
            h in "[A-Za-z0-9_=-]{0,40}", p in "[A-Za-z0-9_=-]{0,80}", sig in "[A-Za-z0-9_.+-]{0,20}"
        ) {
            let _ = OidcToken::parse(format!("{h}.{p}.{sig}"));
        }

        /// The fast path and the `Value` path agree on every payload: where the fast path
        /// accepts, the `Value` path accepts with the same claims (the fast path's failures
        /// fall back to the `Value` path, so they cannot differ).
        #[test]
        fn fast_claims_agree_with_the_value_path(
            fields in proptest::collection::vec((claim_name(), claim_value()), 0..12)
        ) {
            let body: Vec<String> = fields
                .iter()
                .map(|(k, v)| {
                    // `exp` with an escape: a key the fast path cannot borrow.
                    let key = if k == "<escaped exp>" {
                        r#""e\u0078p""#.to_owned()
                    } else {
                        serde_json::to_string(k).expect("key")
                    };
                    format!("{key}:{v}")
                })
                .collect();
            let json = format!("{{{}}}", body.join(","));
            let slow = match serde_json::from_str::<Value>(&json) {
                Ok(Value::Object(map)) => Claims::from_json_object(map),
                other => panic!("the generator makes objects: {other:?}"),
            };
            // Where the fast path refuses (a wrong type, or one overridden by a later
            // duplicate key) the parser falls back to the Value path, checked below.
            if let Ok(FastClaims(fast)) = serde_json::from_str::<FastClaims>(&json) {
                proptest::prop_assert_eq!(Ok(fast), slow.clone(), "{}", json);
            }
            // And through the parser, whatever path: the same result as the Value path.
            let parsed = OidcToken::parse(jwt(&json)).map(|t| t.unverified_claims().clone());
            match (parsed, slow) {
                (Ok(a), Ok(b)) => proptest::prop_assert_eq!(a, b),
                (Err(Error::MalformedToken(a)), Err(b)) => proptest::prop_assert_eq!(a, b),
                (a, b) => proptest::prop_assert!(false, "{:?} vs {:?} for {}", a, b, json),
            }
        }

        #[test]
        fn any_json_payload_never_panics(payload in proptest::arbitrary::any::<std::collections::HashMap<String, i64>>()) {
            let json = serde_json::to_string(&payload).expect("serialisable");
            let _ = OidcToken::parse(jwt(&json));
        }
    }
}
