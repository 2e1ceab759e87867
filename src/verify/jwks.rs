//! The issuer's key set (`{issuer}/.well-known/jwks`), fetched once and cached.
//!
//! - Keys are parsed into aws-lc-rs [`ParsedPublicKey`]s once per fetch; verification only
//!   looks them up (no key parsing per token).
//! - **Schedule**: once the set is older than the max age, the next verification starts one
//!   background refresh and keeps using the current keys (nobody waits).
//! - **Unknown `kid`**: triggers a refetch, at most once per cooldown since the last fetch
//!   attempt; within the cooldown it is rejected at once. A random-`kid` flood costs at most
//!   one request to the issuer per cooldown.
//! - **Single flight**: every caller that needs a fetch shares the one in flight.
//! - **Failures**: a failed refresh keeps the previous keys (logged at `warn`); verification
//!   fails with [`VerifyError::KeysUnavailable`] only with no keys at all, or for a `kid` the
//!   cached keys lack while the last fetch failed (it may be the issuer's new key).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, Shared};
use serde::Deserialize;

use super::error::{JwksErrorKind, VerifyError};
use crate::time::SharedClock;

/// The largest key-set response read, in bytes.
const MAX_JWKS_BYTES: usize = 256 * 1024;
/// RS256 keys shorter than this many modulus bytes (2048 bits) are ignored.
const MIN_RSA_MODULUS_BYTES: usize = 256;
/// With no keys at all, a failed fetch is retried no sooner than this (or the cooldown, if
/// shorter), so a down issuer is not asked once per incoming request.
const NO_KEYS_RETRY_MS: u64 = 1_000;

/// Parsed RS256 keys by `kid`.
pub(crate) struct KeySet {
    keys: Vec<(Box<str>, ParsedPublicKey)>,
}

impl KeySet {
    pub(crate) fn find(&self, kid: &str) -> Option<&ParsedPublicKey> {
        self.keys
            .iter()
            .find(|(k, _)| &**k == kid)
            .map(|(_, key)| key)
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// Parses a key-set document, keeping the usable RS256 signing keys.
    pub(crate) fn parse(body: &[u8]) -> Result<Self, JwksErrorKind> {
        #[derive(Deserialize)]
        struct Doc {
            keys: Vec<serde_json::Value>,
        }
        #[derive(Deserialize)]
        struct Jwk {
            kty: String,
            #[serde(default)]
            kid: Option<String>,
            #[serde(default, rename = "use")]
            use_: Option<String>,
            #[serde(default)]
            alg: Option<String>,
            #[serde(default)]
            n: Option<String>,
            #[serde(default)]
            e: Option<String>,
        }
        let doc: Doc = match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(v @ serde_json::Value::Object(_)) => {
                serde_json::from_value(v).map_err(|_| JwksErrorKind::InvalidResponse)?
            }
            _ => return Err(JwksErrorKind::InvalidResponse),
        };
        let mut keys: Vec<(Box<str>, ParsedPublicKey)> = Vec::with_capacity(doc.keys.len());
        for value in doc.keys {
            // A key of another type (EC, OKP, …) or shape is skipped, not an error.
            let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
                continue;
            };
            let usable = jwk.kty == "RSA"
                && jwk.use_.as_deref().is_none_or(|u| u == "sig")
                && jwk.alg.as_deref().is_none_or(|a| a == "RS256");
            let (Some(kid), Some(n), Some(e), true) = (jwk.kid, jwk.n, jwk.e, usable) else {
                continue;
            };
            let (Ok(n), Ok(e)) = (URL_SAFE_NO_PAD.decode(&n), URL_SAFE_NO_PAD.decode(&e)) else {
                continue;
            };
            let modulus = n.iter().skip_while(|b| **b == 0).count();
            if kid.is_empty() || modulus < MIN_RSA_MODULUS_BYTES || e.is_empty() {
                tracing::debug!("verifier: skipping an unusable key in the key set");
                continue;
            }
            if keys.iter().any(|(k, _)| **k == *kid) {
                tracing::debug!("verifier: skipping a duplicate kid in the key set");
                continue;
            }
            let Ok(key) =
                ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, rsa_public_key_der(&n, &e))
            else {
                tracing::debug!("verifier: skipping a key aws-lc-rs rejects in the key set");
                continue;
            };
            keys.push((kid.into_boxed_str(), key));
        }
        if keys.is_empty() {
            return Err(JwksErrorKind::NoUsableKeys);
        }
        Ok(Self { keys })
    }
}

/// The DER `RSAPublicKey` (PKCS #1: `SEQUENCE { modulus INTEGER, publicExponent INTEGER }`) of
/// a JWK's big-endian `n` and `e`.
pub(crate) fn rsa_public_key_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    fn length(out: &mut Vec<u8>, len: usize) {
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes = len.to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            out.push(0x80 | (bytes.len() - skip) as u8);
            out.extend_from_slice(&bytes[skip..]);
        }
    }
    fn integer(out: &mut Vec<u8>, bytes: &[u8]) {
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let bytes = match &bytes[skip..] {
            [] => &[0u8][..],
            rest => rest,
        };
        let pad = bytes[0] & 0x80 != 0;
        out.push(0x02);
        length(out, bytes.len() + usize::from(pad));
        if pad {
            out.push(0);
        }
        out.extend_from_slice(bytes);
    }
    let mut body = Vec::with_capacity(n.len() + e.len() + 16);
    integer(&mut body, n);
    integer(&mut body, e);
    let mut der = Vec::with_capacity(body.len() + 8);
    der.push(0x30);
    length(&mut der, body.len());
    der.extend_from_slice(&body);
    der
}

type SharedFetch = Shared<BoxFuture<'static, Result<Arc<KeySet>, VerifyError>>>;

struct FetchState {
    inflight: Option<(u64, SharedFetch)>,
    seq: u64,
    last_error: Option<VerifyError>,
}

/// What a verification should do about its `kid`.
pub(crate) enum KeyLookup<'a> {
    /// The key, from the cached set.
    Found(&'a ParsedPublicKey),
    /// Not in the cached set, and no refetch is allowed now.
    Unknown,
    /// Wait for a fetch (no keys yet, or an unknown kid past the cooldown).
    Fetch,
}

/// The cached key set of one issuer.
pub(crate) struct Jwks {
    url: String,
    client: reqwest::Client,
    clock: SharedClock,
    max_age_ms: u64,
    cooldown_ms: u64,
    keys: ArcSwapOption<KeySet>,
    /// When the last fetch attempt started (ms since the epoch; 0: never).
    last_attempt_ms: AtomicU64,
    /// When the current keys were fetched (ms since the epoch).
    fetched_ms: AtomicU64,
    state: Mutex<FetchState>,
}

impl fmt::Debug for Jwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwks")
            .field("url", &self.url)
            .field("keys", &self.keys.load().as_ref().map_or(0, |k| k.len()))
            .field("max_age", &Duration::from_millis(self.max_age_ms))
            .field("cooldown", &Duration::from_millis(self.cooldown_ms))
            .finish_non_exhaustive()
    }
}

impl Jwks {
    pub(crate) fn new(
        url: String,
        client: reqwest::Client,
        clock: SharedClock,
        max_age: Duration,
        cooldown: Duration,
    ) -> Self {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Self {
            url,
            client,
            clock,
            max_age_ms: ms(max_age),
            cooldown_ms: ms(cooldown),
            keys: ArcSwapOption::empty(),
            last_attempt_ms: AtomicU64::new(0),
            fetched_ms: AtomicU64::new(0),
            state: Mutex::new(FetchState {
                inflight: None,
                seq: 0,
                last_error: None,
            }),
        }
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    pub(crate) fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// The cached key set, if any (an atomic load; no allocation).
    pub(crate) fn cached(&self) -> arc_swap::Guard<Option<Arc<KeySet>>> {
        self.keys.load()
    }

    fn state(&self) -> MutexGuard<'_, FetchState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn cooldown_passed(&self, now: u64, gap_ms: u64) -> bool {
        let last = self.last_attempt_ms.load(Ordering::Acquire);
        last == 0 || now >= last.saturating_add(gap_ms)
    }

    /// Decides what to do for `kid` given the cached `set`, and starts a background refresh
    /// when the set is older than the max age.
    pub(crate) fn lookup<'a>(
        self: &Arc<Self>,
        set: Option<&'a KeySet>,
        kid: &str,
        now: u64,
    ) -> KeyLookup<'a> {
        let Some(set) = set else {
            return KeyLookup::Fetch;
        };
        let stale = now
            >= self
                .fetched_ms
                .load(Ordering::Acquire)
                .saturating_add(self.max_age_ms);
        if stale && self.cooldown_passed(now, self.cooldown_ms) {
            tracing::debug!(url = %self.url, "verifier: key set is due; refreshing in the background");
            drop(self.fetch(now));
        }
        match set.find(kid) {
            Some(key) => KeyLookup::Found(key),
            None if self.cooldown_passed(now, self.cooldown_ms) || self.in_flight() => {
                KeyLookup::Fetch
            }
            None => KeyLookup::Unknown,
        }
    }

    fn in_flight(&self) -> bool {
        self.state().inflight.is_some()
    }

    /// The error of the last fetch, if it failed (cleared by a successful one).
    pub(crate) fn last_error(&self) -> Option<VerifyError> {
        self.state().last_error.clone()
    }

    /// Waits for a key set: joins the fetch in flight or starts one. With no cached keys, a
    /// failed fetch is retried no sooner than 1 s (or the cooldown) after the last attempt;
    /// until then the last error is returned.
    ///
    /// When the fetch failed but keys are cached, those are returned with the fetch's error, so
    /// a caller whose `kid` is still missing can say "could not check" rather than "unknown
    /// key".
    pub(crate) async fn wait_for_keys(
        self: &Arc<Self>,
    ) -> Result<(Arc<KeySet>, Option<VerifyError>), VerifyError> {
        let now = self.now_ms();
        let fetch = {
            let state = self.state();
            match &state.inflight {
                Some((_, fetch)) => Some(fetch.clone()),
                None => {
                    // A fetch may have completed between the caller's decision to fetch and
                    // this lock: within the cooldown its key set is the freshest there is.
                    if let Some(keys) = self.keys.load_full()
                        && !self.cooldown_passed(now, self.cooldown_ms)
                    {
                        return Ok((keys, None));
                    }
                    let retry_gap = self.cooldown_ms.min(NO_KEYS_RETRY_MS);
                    let no_keys = self.keys.load().is_none();
                    match &state.last_error {
                        Some(e) if no_keys && !self.cooldown_passed(now, retry_gap) => {
                            return Err(e.clone());
                        }
                        _ => None,
                    }
                }
            }
        };
        let fetch = match fetch {
            Some(fetch) => fetch,
            None => self.fetch(now),
        };
        let result = fetch.await;
        match result {
            Ok(set) => Ok((set, None)),
            // A failed refresh keeps serving the previous keys.
            Err(e) => match self.keys.load_full() {
                Some(keys) => Ok((keys, Some(e))),
                None => Err(e),
            },
        }
    }

    /// Fetches now, ignoring the cooldown (joins a fetch in flight).
    pub(crate) async fn refresh(self: &Arc<Self>) -> Result<Arc<KeySet>, VerifyError> {
        let now = self.now_ms();
        self.fetch(now).await
    }

    /// Joins the fetch in flight or starts one (on the tokio runtime, so it completes even if
    /// every waiter goes away).
    fn fetch(self: &Arc<Self>, now: u64) -> SharedFetch {
        let mut state = self.state();
        if let Some((_, fetch)) = &state.inflight {
            return fetch.clone();
        }
        state.seq += 1;
        let seq = state.seq;
        self.last_attempt_ms.store(now.max(1), Ordering::Release);
        let fut: BoxFuture<'static, Result<Arc<KeySet>, VerifyError>> =
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => {
                    let this = Arc::clone(self);
                    let task = handle.spawn(async move { this.load_and_store(seq).await });
                    async move {
                        task.await.unwrap_or_else(|_| {
                            Err(VerifyError::KeysUnavailable {
                                kind: JwksErrorKind::Transport,
                                source: Some(Arc::new(std::io::Error::other(
                                    "the key-set fetch task was cancelled",
                                ))),
                            })
                        })
                    }
                    .boxed()
                }
                Err(_) => {
                    let e = VerifyError::KeysUnavailable {
                        kind: JwksErrorKind::Transport,
                        source: Some(Arc::new(std::io::Error::other(
                            "fetching the key set needs a tokio runtime",
                        ))),
                    };
                    state.last_error = Some(e.clone());
                    return futures_util::future::ready(Err(e)).boxed().shared();
                }
            };
        let shared = fut.shared();
        state.inflight = Some((seq, shared.clone()));
        shared
    }

    async fn load_and_store(self: Arc<Self>, seq: u64) -> Result<Arc<KeySet>, VerifyError> {
        let result = self.load().await;
        let mut state = self.state();
        if state.inflight.as_ref().is_some_and(|(s, _)| *s == seq) {
            state.inflight = None;
        }
        match &result {
            Ok(set) => {
                tracing::debug!(url = %self.url, keys = set.len(), "verifier: key set fetched");
                self.keys.store(Some(Arc::clone(set)));
                self.fetched_ms.store(self.now_ms(), Ordering::Release);
                state.last_error = None;
            }
            Err(e) => {
                let has_keys = self.keys.load().is_some();
                tracing::warn!(
                    url = %self.url,
                    error = %e,
                    keeping_previous_keys = has_keys,
                    "verifier: fetching the key set failed"
                );
                state.last_error = Some(e.clone());
            }
        }
        result
    }

    async fn load(&self) -> Result<Arc<KeySet>, VerifyError> {
        let span = tracing::info_span!(
            "vercel_oidc.jwks",
            url = %self.url,
            outcome = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
        );
        crate::trace::in_span(span, self.load_untraced()).await
    }

    async fn load_untraced(&self) -> Result<Arc<KeySet>, VerifyError> {
        let fail = |kind, source: Option<reqwest::Error>| VerifyError::KeysUnavailable {
            kind,
            source: source.map(|e| Arc::new(e.without_url()) as _),
        };
        let mut response = self
            .client
            .get(&self.url)
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| fail(JwksErrorKind::Transport, Some(e)))?;
        let status = response.status();
        if status != http::StatusCode::OK {
            return Err(fail(JwksErrorKind::Status(status.as_u16()), None));
        }
        if response
            .content_length()
            .is_some_and(|len| len > MAX_JWKS_BYTES as u64)
        {
            return Err(fail(JwksErrorKind::InvalidResponse, None));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| fail(JwksErrorKind::Transport, Some(e)))?
        {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(fail(JwksErrorKind::InvalidResponse, None));
            }
            body.extend_from_slice(&chunk);
        }
        KeySet::parse(&body)
            .map(Arc::new)
            .map_err(|kind| fail(kind, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_public_key_der_encodes_pkcs1() {
        // Short form, a sign byte for a high bit, leading zeros dropped.
        assert_eq!(
            rsa_public_key_der(&[0x00, 0x81], &[0x01, 0x00, 0x01]),
            [
                0x30, 0x09, 0x02, 0x02, 0x00, 0x81, 0x02, 0x03, 0x01, 0x00, 0x01
            ]
        );
        assert_eq!(
            rsa_public_key_der(&[0x7f], &[0x00, 0x00]),
            [0x30, 0x06, 0x02, 0x01, 0x7f, 0x02, 0x01, 0x00]
        );
        // A 2048-bit modulus: long-form lengths (0x82 = two length bytes).
        let n = [0xc5u8; 256];
        let der = rsa_public_key_der(&n, &[0x01, 0x00, 0x01]);
        assert_eq!(&der[..4], [0x30, 0x82, 0x01, 0x0a]);
        assert_eq!(&der[4..9], [0x02, 0x82, 0x01, 0x01, 0x00]);
        assert_eq!(&der[9..265], n);
        assert_eq!(&der[265..], [0x02, 0x03, 0x01, 0x00, 0x01]);
        assert!(ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &der).is_ok());
    }

    /// The race the 10,000-kid flood found under load: a caller decides to fetch (cooldown
    /// passed), another caller's fetch completes, then the first one waits for keys. It must
    /// get the fresh set, not fetch again inside the cooldown.
    #[tokio::test]
    async fn waiting_after_a_completed_fetch_does_not_fetch_again() {
        use vercel_oidc_testkit::{Endpoint, Issuer};
        let issuer = Issuer::start().await.expect("issuer");
        let clock = crate::time::ManualClock::new(std::time::SystemTime::now());
        let jwks = Arc::new(Jwks::new(
            format!("{}/.well-known/jwks", issuer.base_url()),
            crate::http::http_client(None, Duration::from_secs(10)).expect("client"),
            SharedClock::new(clock),
            Duration::from_secs(600),
            Duration::from_secs(30),
        ));
        jwks.refresh().await.expect("first fetch");
        assert_eq!(issuer.requests(Endpoint::Jwks), 1);
        let (keys, failed) = jwks.wait_for_keys().await.expect("keys");
        assert!(keys.len() > 0);
        assert!(failed.is_none());
        assert_eq!(
            issuer.requests(Endpoint::Jwks),
            1,
            "no second fetch inside the cooldown"
        );
    }

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    #[test]
    fn keeps_only_usable_rs256_keys() {
        let n = b64(&[0xC5; 256]);
        let short = b64(&[0xC5; 128]);
        let doc = serde_json::json!({"keys": [
            {"kty": "RSA", "kid": "good", "n": n, "e": "AQAB", "alg": "RS256", "use": "sig"},
            {"kty": "RSA", "kid": "no-alg", "n": n, "e": "AQAB"},
            {"kty": "RSA", "kid": "short", "n": short, "e": "AQAB"},
            {"kty": "RSA", "kid": "enc", "n": n, "e": "AQAB", "use": "enc"},
            {"kty": "RSA", "kid": "rs512", "n": n, "e": "AQAB", "alg": "RS512"},
            {"kty": "RSA", "n": n, "e": "AQAB"},
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"},
            {"kty": "RSA", "kid": "good", "n": n, "e": "AQAB"},
            {"kty": "RSA", "kid": "bad-b64", "n": "!!", "e": "AQAB"},
            "not an object"
        ]});
        let set = KeySet::parse(doc.to_string().as_bytes()).expect("usable keys");
        assert_eq!(set.len(), 2);
        assert!(set.find("good").is_some());
        assert!(set.find("no-alg").is_some());
        for kid in ["short", "enc", "rs512", "ec", "bad-b64", ""] {
            assert!(set.find(kid).is_none(), "{kid}");
        }
    }

    #[test]
    fn rejects_documents_without_usable_keys() {
        for body in [
            &b"not json"[..],
            b"[]",
            b"{}",
            b"{\"keys\": 1}",
            b"{\"keys\": []}",
            b"{\"keys\": [{\"kty\": \"oct\", \"kid\": \"h\", \"k\": \"AA\"}]}",
        ] {
            let err = KeySet::parse(body).err().expect("rejected");
            assert!(
                matches!(
                    err,
                    JwksErrorKind::InvalidResponse | JwksErrorKind::NoUsableKeys
                ),
                "{err:?}"
            );
        }
        assert_eq!(
            KeySet::parse(b"{\"keys\": []}").err(),
            Some(JwksErrorKind::NoUsableKeys)
        );
    }
}
