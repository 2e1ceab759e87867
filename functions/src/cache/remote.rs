//! The Runtime Cache's HTTP protocol (`@vercel/functions`' `BuildCache`), configured from the
//! environment on every call.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};
use vercel_oidc::Env;

use crate::error::CacheError;

pub(crate) const ENDPOINT_ENV: &str = "RUNTIME_CACHE_ENDPOINT";
pub(crate) const HEADERS_ENV: &str = "RUNTIME_CACHE_HEADERS";
pub(crate) const TIMEOUT_ENV: &str = "RUNTIME_CACHE_TIMEOUT";
pub(crate) const DISABLE_ENV: &str = "RUNTIME_CACHE_DISABLE_BUILD_CACHE";

/// The timeout of one call when `RUNTIME_CACHE_TIMEOUT` is unset.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(500);

pub(crate) const STATE_HEADER: &str = "x-vercel-cache-state";
pub(crate) const REVALIDATE_HEADER: &str = "x-vercel-revalidate";
pub(crate) const TAGS_HEADER: &str = "x-vercel-cache-tags";
pub(crate) const ITEM_NAME_HEADER: &str = "x-vercel-cache-item-name";

static WARNED_FALLBACK: AtomicBool = AtomicBool::new(false);

/// Where one call goes.
pub(crate) enum Backend {
    Memory,
    Remote(Remote),
}

/// The remote cache as the environment describes it now. `Debug` shows no header values.
pub(crate) struct Remote {
    pub(crate) endpoint: String,
    pub(crate) headers: HeaderMap,
    pub(crate) timeout: Duration,
}

impl Backend {
    /// Reads `RUNTIME_CACHE_*` from `env` (on every call: the headers carry credentials that
    /// change).
    pub(crate) fn from_env(env: &Env) -> Result<Self, CacheError> {
        if env.get(DISABLE_ENV).as_deref() == Some("true") {
            tracing::debug!("runtime cache: {DISABLE_ENV}=true; using the in-memory cache");
            return Ok(Self::Memory);
        }
        let (Some(endpoint), Some(headers)) = (
            env.get_non_empty(ENDPOINT_ENV),
            env.get_non_empty(HEADERS_ENV),
        ) else {
            if !WARNED_FALLBACK.swap(true, Ordering::Relaxed) {
                tracing::info!(
                    "Runtime Cache unavailable in this environment (RUNTIME_CACHE_ENDPOINT / RUNTIME_CACHE_HEADERS unset); falling back to an in-memory cache"
                );
            }
            return Ok(Self::Memory);
        };
        vercel_oidc::check_endpoint_url(&endpoint).map_err(|e| {
            CacheError::InvalidConfiguration {
                setting: ENDPOINT_ENV,
                reason: e.reason(),
            }
        })?;
        Ok(Self::Remote(Remote {
            endpoint,
            headers: parse_headers(&headers)?,
            timeout: timeout(env),
        }))
    }
}

/// `RUNTIME_CACHE_HEADERS`: a JSON object of string values. Every value is marked sensitive.
fn parse_headers(raw: &str) -> Result<HeaderMap, CacheError> {
    let invalid = |reason| CacheError::InvalidConfiguration {
        setting: HEADERS_ENV,
        reason,
    };
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(raw).map_err(|_| invalid("is not a JSON object"))?;
    let mut headers = HeaderMap::with_capacity(map.len());
    for (name, value) in map {
        let value = value
            .as_str()
            .ok_or_else(|| invalid("has a value that is not a string"))?;
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| invalid("has a name that is not a header name"))?;
        let mut value = HeaderValue::from_str(value)
            .map_err(|_| invalid("has a value that is not a header value"))?;
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    Ok(headers)
}

/// `RUNTIME_CACHE_TIMEOUT` in ms (> 0), else [`DEFAULT_TIMEOUT`].
fn timeout(env: &Env) -> Duration {
    match env.get_non_empty(TIMEOUT_ENV) {
        None => DEFAULT_TIMEOUT,
        Some(raw) => match raw.trim().parse::<u64>() {
            Ok(ms) if ms > 0 => Duration::from_millis(ms),
            _ => {
                tracing::warn!(
                    "{TIMEOUT_ENV} is not a positive number of milliseconds; using {}ms",
                    DEFAULT_TIMEOUT.as_millis()
                );
                DEFAULT_TIMEOUT
            }
        },
    }
}

/// A transport error without its URL (the key and endpoint are not secrets, but keep errors
/// free of configuration values).
pub(crate) fn transport(e: reqwest::Error) -> CacheError {
    CacheError::Transport(Arc::new(e.without_url()))
}

/// Reads at most `cap` bytes of `response`'s body.
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
) -> Result<Vec<u8>, CacheError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > cap {
            return Err(CacheError::ResponseTooLarge { limit: cap });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn fallback_when_unset_or_disabled() {
        assert!(matches!(Backend::from_env(&env(&[])), Ok(Backend::Memory)));
        assert!(matches!(
            Backend::from_env(&env(&[(ENDPOINT_ENV, "http://127.0.0.1:1/")])),
            Ok(Backend::Memory)
        ));
        assert!(matches!(
            Backend::from_env(&env(&[(HEADERS_ENV, "{}")])),
            Ok(Backend::Memory)
        ));
        assert!(matches!(
            Backend::from_env(&env(&[
                (ENDPOINT_ENV, "http://127.0.0.1:1/"),
                (HEADERS_ENV, "{}"),
                (DISABLE_ENV, "true"),
            ])),
            Ok(Backend::Memory)
        ));
        let Ok(Backend::Remote(r)) = Backend::from_env(&env(&[
            (ENDPOINT_ENV, "http://127.0.0.1:1/cache/"),
            (
                HEADERS_ENV,
                r#"{"authorization":"Bearer s3cr3t","x-a":"b"}"#,
            ),
            (DISABLE_ENV, "false"),
        ])) else {
            panic!("remote expected");
        };
        assert_eq!(r.endpoint, "http://127.0.0.1:1/cache/");
        assert_eq!(r.timeout, DEFAULT_TIMEOUT);
        assert_eq!(r.headers["authorization"], "Bearer s3cr3t");
        assert!(r.headers["authorization"].is_sensitive());
        assert_eq!(r.headers["x-a"], "b");
    }

    #[test]
    fn bad_configuration_is_typed_and_echoes_no_value() {
        let base = [(ENDPOINT_ENV, "http://127.0.0.1:1/")];
        for (headers, reason) in [
            ("not json s3cr3t", "is not a JSON object"),
            ("[1]", "is not a JSON object"),
            (r#"{"a":1}"#, "has a value that is not a string"),
            (
                r#"{"bad name":"x"}"#,
                "has a name that is not a header name",
            ),
            (
                r#"{"a":"line\nbreak s3cr3t"}"#,
                "has a value that is not a header value",
            ),
        ] {
            let e = Backend::from_env(&env(&[base[0], (HEADERS_ENV, headers)]))
                .err()
                .expect("invalid");
            assert!(
                matches!(e, CacheError::InvalidConfiguration { setting: HEADERS_ENV, reason: r } if r == reason),
                "{headers}: {e:?}"
            );
            assert!(!e.to_string().contains("s3cr3t"));
        }
        let e = Backend::from_env(&env(&[
            (ENDPOINT_ENV, "http://cache.example.com/"),
            (HEADERS_ENV, "{}"),
        ]))
        .err()
        .expect("plain http off loopback");
        assert!(matches!(
            e,
            CacheError::InvalidConfiguration {
                setting: ENDPOINT_ENV,
                ..
            }
        ));
    }

    #[test]
    fn timeout_from_env() {
        assert_eq!(
            timeout(&env(&[(TIMEOUT_ENV, "1200")])),
            Duration::from_millis(1200)
        );
        assert_eq!(
            timeout(&env(&[(TIMEOUT_ENV, " 7 ")])),
            Duration::from_millis(7)
        );
        for bad in ["0", "-5", "abc", "1.5"] {
            assert_eq!(
                timeout(&env(&[(TIMEOUT_ENV, bad)])),
                DEFAULT_TIMEOUT,
                "{bad}"
            );
        }
        assert_eq!(timeout(&env(&[])), DEFAULT_TIMEOUT);
    }
}
