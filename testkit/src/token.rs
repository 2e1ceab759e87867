//! Minting Vercel-shaped tokens, honest and malicious.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value, json};

use crate::issuer::{IssuerMode, Shared};
use crate::jwt::{self, unix_seconds};
use crate::keys;

/// When a token expires.
#[derive(Debug, Clone, Copy)]
enum Expiry {
    /// `iat` plus this.
    After(Duration),
    At(SystemTime),
    Omitted,
}

/// Mints one token from an [`Issuer`](crate::Issuer) ([`Issuer::token`](crate::Issuer::token)).
///
/// The default claims are those Vercel issues:
///
/// | claim | default |
/// |---|---|
/// | `iss` | the team issuer, `{base_url}/{team_slug}` |
/// | `sub` | `owner:{owner}:project:{project}:environment:{environment}` |
/// | `aud` | `https://vercel.com/{team_slug}` |
/// | `iat`, `nbf` | now (when signed) |
/// | `exp` | `iat` + the issuer's token lifetime (1 hour unless configured) |
/// | `owner`, `owner_id`, `project`, `project_id`, `environment` | from the [`IssuerBuilder`](crate::IssuerBuilder) |
///
/// Setters consume the builder; the `sign*` methods borrow it, so one builder can produce the
/// same claims signed several ways. Time claims are computed when a `sign*` method (or
/// [`TokenBuilder::payload`]) is called.
#[derive(Clone)]
pub struct TokenBuilder<'a> {
    shared: &'a Shared,
    /// Claim overrides: `Some` sets, `None` removes. Applied after the defaults.
    claims: BTreeMap<String, Option<Value>>,
    /// Header overrides, likewise.
    headers: BTreeMap<String, Option<Value>>,
    kid: Option<String>,
    issued_at: Option<SystemTime>,
    not_before: Option<SystemTime>,
    expiry: Expiry,
}

impl fmt::Debug for TokenBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenBuilder")
            .field("claims", &self.claims)
            .field("headers", &self.headers)
            .field("kid", &self.kid)
            .field("issued_at", &self.issued_at)
            .field("not_before", &self.not_before)
            .field("expiry", &self.expiry)
            .finish_non_exhaustive()
    }
}

impl<'a> TokenBuilder<'a> {
    pub(crate) fn new(shared: &'a Shared) -> Self {
        Self {
            shared,
            claims: BTreeMap::new(),
            headers: BTreeMap::new(),
            kid: None,
            issued_at: None,
            not_before: None,
            expiry: Expiry::After(shared.config.lifetime),
        }
    }

    /// Sets a claim, replacing a default or an earlier value. Defaults to the claims in the
    /// table above; any other claim is absent.
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.claims.insert(name.into(), Some(value.into()));
        self
    }

    /// Removes a claim, a default one included (for example `"sub"`, or `"exp"`, which is the
    /// same as [`TokenBuilder::without_exp`]).
    pub fn remove_claim(mut self, name: impl Into<String>) -> Self {
        self.claims.insert(name.into(), None);
        self
    }

    /// Sets `aud`: a string, or an array of strings (`vec!["a", "b"]`). Defaults to
    /// `https://vercel.com/{team_slug}`.
    pub fn audience(self, audience: impl Into<Value>) -> Self {
        self.claim("aud", audience)
    }

    /// Sets `sub`. Defaults to `owner:{owner}:project:{project}:environment:{environment}`.
    pub fn subject(self, subject: impl Into<String>) -> Self {
        self.claim("sub", subject.into())
    }

    /// Sets `iss` to the team or the global issuer. Defaults to [`IssuerMode::Team`].
    pub fn issuer_mode(self, mode: IssuerMode) -> Self {
        let issuer = self.shared.issuer(mode);
        self.claim("iss", issuer)
    }

    /// Sets `iss` to any string (a foreign issuer, for rejection tests). Defaults to the team
    /// issuer.
    pub fn issuer(self, issuer: impl Into<String>) -> Self {
        self.claim("iss", issuer.into())
    }

    /// Sets `exp` to `iat + lifetime`. Defaults to the issuer's token lifetime (1 hour unless
    /// configured).
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.expiry = Expiry::After(lifetime);
        self
    }

    /// Sets `iat` (and, unless [`TokenBuilder::not_before`] is set, `nbf`). Defaults to the time
    /// of signing.
    pub fn issued_at(mut self, issued_at: SystemTime) -> Self {
        self.issued_at = Some(issued_at);
        self
    }

    /// Sets `exp` to a fixed time. Defaults to `iat` + lifetime.
    pub fn expires_at(mut self, expires_at: SystemTime) -> Self {
        self.expiry = Expiry::At(expires_at);
        self
    }

    /// A token that expired ten minutes ago, issued an hour before that: expired for every
    /// verifier whose leeway is under ten minutes, also one whose clock is a few seconds behind
    /// the time of signing. Defaults to a valid token.
    pub fn expired(self) -> Self {
        let now = SystemTime::now();
        let expires_at = now - Duration::from_secs(600);
        self.issued_at(expires_at - Duration::from_secs(3600))
            .expires_at(expires_at)
    }

    /// Leaves `exp` out. Defaults to a token with `exp`.
    pub fn without_exp(mut self) -> Self {
        self.expiry = Expiry::Omitted;
        self
    }

    /// Sets `nbf`. Defaults to `iat`.
    pub fn not_before(mut self, not_before: SystemTime) -> Self {
        self.not_before = Some(not_before);
        self
    }

    /// Sets the header's `kid` without changing the signing key. Defaults to the current key's
    /// kid (for [`TokenBuilder::sign_with_unknown_key`], a kid no key set contains).
    pub fn kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// Sets a header parameter, after the defaults (so `header("alg", "RS512")` lies about the
    /// algorithm while still signing RS256). Defaults to `alg`, `typ: "JWT"` and `kid`.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.headers.insert(name.into(), Some(value.into()));
        self
    }

    /// Removes a header parameter, a default one included (for example `"kid"`).
    pub fn remove_header(mut self, name: impl Into<String>) -> Self {
        self.headers.insert(name.into(), None);
        self
    }

    /// The claims the `sign*` methods would sign now.
    pub fn payload(&self) -> Value {
        let mut claims = self.shared.default_claims();
        let issued_at = self.issued_at.unwrap_or_else(SystemTime::now);
        claims.insert("iat".to_owned(), unix_seconds(issued_at).into());
        let not_before = self.not_before.unwrap_or(issued_at);
        claims.insert("nbf".to_owned(), unix_seconds(not_before).into());
        let exp = match self.expiry {
            Expiry::After(lifetime) => Some(
                issued_at
                    .checked_add(lifetime)
                    .map_or(i64::MAX, unix_seconds),
            ),
            Expiry::At(at) => Some(unix_seconds(at)),
            Expiry::Omitted => None,
        };
        if let Some(exp) = exp {
            claims.insert("exp".to_owned(), exp.into());
        }
        apply(&mut claims, &self.claims);
        Value::Object(claims)
    }

    /// Signs RS256 with the issuer's current key: a token the issuer's key set verifies.
    /// Header `{"alg":"RS256","typ":"JWT","kid":…}`.
    pub fn sign(&self) -> String {
        let (kid, key) = self.shared.keys().current();
        let header = self.header_json("RS256", kid);
        jwt::sign_rs256(&key.pair, &header, &self.payload())
    }

    /// An unsigned token: header `alg` is `"none"` and the signature part is empty (attack test).
    pub fn sign_alg_none(&self) -> String {
        let (kid, _) = self.shared.keys().current();
        jwt::unsigned(&self.header_json("none", kid), &self.payload())
    }

    /// Signs HS256 (HMAC-SHA256) with `key`, keeping the current kid: with
    /// [`Issuer::public_key_der`](crate::Issuer::public_key_der) as the key, this is the
    /// algorithm-confusion attack.
    pub fn sign_hs256_with(&self, key: &[u8]) -> String {
        let (kid, _) = self.shared.keys().current();
        jwt::sign_hs256(key, &self.header_json("HS256", kid), &self.payload())
    }

    /// Signs RS256 with a key that is in no issuer's key set. The kid is `{prefix}-unknown`
    /// unless set with [`TokenBuilder::kid`] (set it to [`Issuer::current_kid`](crate::Issuer::current_kid)
    /// for a forged signature under a known kid).
    ///
    /// # Panics
    /// If the extra RSA key cannot be generated (it does not in practice).
    pub fn sign_with_unknown_key(&self) -> String {
        let key = keys::stranger().expect("vercel-oidc-testkit: RSA key generation failed");
        let kid = format!("{}-unknown", self.shared.config.kid_prefix);
        jwt::sign_rs256(&key.pair, &self.header_json("RS256", kid), &self.payload())
    }

    fn header_json(&self, alg: &str, default_kid: String) -> Value {
        let kid = self.kid.clone().unwrap_or(default_kid);
        let mut header = match json!({ "alg": alg, "typ": "JWT", "kid": kid }) {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        apply(&mut header, &self.headers);
        Value::Object(header)
    }
}

fn apply(target: &mut Map<String, Value>, overrides: &BTreeMap<String, Option<Value>>) {
    for (name, value) in overrides {
        match value {
            Some(value) => target.insert(name.clone(), value.clone()),
            None => target.remove(name),
        };
    }
}
