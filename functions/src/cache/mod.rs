//! The Vercel Runtime Cache: [`get_cache`] and [`RuntimeCache`].
//!
//! The Runtime Cache is a regional key-value store for functions, with per-item TTLs and tags.
//! On Vercel the function's environment names it; this client speaks its HTTP protocol exactly as
//! `@vercel/functions` does, and falls back to an in-memory cache with the same TTL and tag
//! semantics where the environment does not (locally, in tests, in builds with the cache off).
//!
//! # Environment variables (read on every call)
//! | variable | required | meaning |
//! |---|---|---|
//! | `RUNTIME_CACHE_ENDPOINT` | for the remote cache | base URL; a key's URL is this plus the key |
//! | `RUNTIME_CACHE_HEADERS` | for the remote cache | JSON object of headers sent with every call (credentials) |
//! | `RUNTIME_CACHE_TIMEOUT` | optional | timeout of one call in ms (> 0), default 500 |
//! | `RUNTIME_CACHE_DISABLE_BUILD_CACHE` | optional | `true`: always the in-memory cache |
//!
//! They are read at each call, never cached: the headers carry credentials of the current
//! invocation (a client that kept them got 401s in Node).
//!
//! # Protocol
//! - `get`: `GET {endpoint}{key}`; 404 → `None`; 200 with `x-vercel-cache-state: fresh` → the
//!   JSON body; 200 in any other state → `None`; any other status → [`CacheError::Status`].
//! - `set`: `POST {endpoint}{key}` with the JSON body and `x-vercel-revalidate: <ttl seconds>`
//!   (when a TTL is set), `x-vercel-cache-tags: a,b` (when tags are set),
//!   `x-vercel-cache-item-name: <name>` (default the key; an empty name sends none); non-200 →
//!   error.
//! - `delete`: `DELETE {endpoint}{key}`; non-200 → error.
//! - `expire_tag`: `POST {endpoint}revalidate?tags=a,b`; non-200 → error.
//!
//! Limits, checked before anything is sent: the value's JSON at most [`MAX_ITEM_SIZE`] (2 MiB),
//! at most [`crate::MAX_TAGS`] (128) tags of at most [`crate::MAX_TAG_LEN`] (256) bytes each.
//! A tag is visible ASCII without `,` (tags travel comma-joined in a header).

mod memory;
mod remote;

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::HeaderValue;
use serde::Serialize;
use serde::de::DeserializeOwned;
use vercel_oidc::OidcConfig;

pub use memory::FALLBACK_CAPACITY;
pub use remote::DEFAULT_TIMEOUT;

use crate::error::CacheError;
use memory::MemoryCache;
use remote::{Backend, Remote};

/// The largest value the Runtime Cache stores: 2 MiB of JSON.
pub const MAX_ITEM_SIZE: usize = 2 * 1024 * 1024;

/// The separator between namespace and hashed key when none is given.
pub const DEFAULT_NAMESPACE_SEPARATOR: &str = "$";

/// A key hash function: the user's key in, the key sent out.
pub type KeyHashFn = Arc<dyn Fn(&str) -> String + Send + Sync>;

/// `@vercel/functions`' default key hash: djb2 with xor over the key's UTF-16 code units
/// (`h = 5381; h = (h * 33) ^ unit`, 32-bit), as unsigned lower-case hex without padding.
///
/// ```
/// use vercel_functions::default_key_hash;
/// assert_eq!(default_key_hash(""), "1505");
/// assert_eq!(default_key_hash("my-key"), "57f938ab");
/// assert_eq!(default_key_hash("😀"), "50fe98");
/// ```
pub fn default_key_hash(key: &str) -> String {
    let hash = key
        .encode_utf16()
        .fold(5381u32, |h, unit| h.wrapping_mul(33) ^ u32::from(unit));
    format!("{hash:x}")
}

/// How keys are turned into cache keys.
#[derive(Clone, Default)]
pub struct CacheOptions {
    /// Prefix of every key: `namespace + separator + hash(key)`. Defaults to none (the key is
    /// `hash(key)`).
    pub namespace: Option<String>,
    /// Between namespace and hash. Defaults to [`DEFAULT_NAMESPACE_SEPARATOR`] (`$`).
    pub namespace_separator: Option<String>,
    /// The hash. Defaults to [`default_key_hash`].
    pub key_hash: Option<KeyHashFn>,
}

impl fmt::Debug for CacheOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheOptions")
            .field("namespace", &self.namespace)
            .field("namespace_separator", &self.namespace_separator)
            .field("key_hash", &self.key_hash.as_ref().map(|_| "custom"))
            .finish()
    }
}

impl CacheOptions {
    /// The cache key for `key`.
    fn make_key(&self, key: &str) -> String {
        let hashed = match &self.key_hash {
            Some(hash) => hash(key),
            None => default_key_hash(key),
        };
        match &self.namespace {
            Some(ns) if !ns.is_empty() => {
                let sep = self
                    .namespace_separator
                    .as_deref()
                    .filter(|s| !s.is_empty())
                    .unwrap_or(DEFAULT_NAMESPACE_SEPARATOR);
                format!("{ns}{sep}{hashed}")
            }
            _ => hashed,
        }
    }
}

/// Options of [`RuntimeCache::set`].
#[derive(Debug, Clone, Default)]
pub struct SetOptions {
    /// How long the item lives (sent in whole seconds, rounded up). Defaults to none: it lives
    /// until evicted or expired by tag. Zero also means none.
    pub ttl: Option<Duration>,
    /// Tags for [`RuntimeCache::expire_tag`]. Defaults to none.
    pub tags: Vec<String>,
    /// A name for observability. Defaults to the cache key; `Some("")` sends no name.
    pub name: Option<String>,
}

/// A Runtime Cache client; see the [module docs](self). Cheap to clone.
///
/// ```no_run
/// use vercel_functions::{CacheOptions, SetOptions, get_cache};
///
/// # async fn f() -> Result<(), vercel_functions::CacheError> {
/// let cache = get_cache(CacheOptions::default());
/// cache
///     .set("user:1", &serde_json::json!({"name": "Ada"}), SetOptions {
///         ttl: Some(std::time::Duration::from_secs(60)),
///         tags: vec!["users".into()],
///         ..SetOptions::default()
///     })
///     .await?;
/// let user: Option<serde_json::Value> = cache.get("user:1").await?;
/// cache.expire_tag(&["users"]).await?;
/// # let _ = user; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RuntimeCache {
    options: CacheOptions,
    config: OidcConfig,
    memory: Arc<MemoryCache>,
    client: Arc<OnceLock<Result<reqwest::Client, CacheError>>>,
}

impl fmt::Debug for RuntimeCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeCache")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// The Runtime Cache with `options`; its in-memory fallback is the process-wide one (as in
/// `@vercel/functions`). See [`RuntimeCache`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), vercel_functions::CacheError> {
/// use vercel_functions::{CacheOptions, SetOptions, get_cache};
/// let cache = get_cache(CacheOptions { namespace: Some("doc".into()), ..Default::default() });
/// // Without RUNTIME_CACHE_ENDPOINT / RUNTIME_CACHE_HEADERS this is the in-memory cache.
/// cache.set("answer", &42, SetOptions::default()).await?;
/// # if std::env::var_os("RUNTIME_CACHE_ENDPOINT").is_none() {
/// assert_eq!(cache.get::<u32>("answer").await?, Some(42));
/// # }
/// # Ok(()) }
/// ```
pub fn get_cache(options: CacheOptions) -> RuntimeCache {
    RuntimeCache::with_memory(options, Arc::clone(&memory::SHARED))
}

impl RuntimeCache {
    /// Like [`get_cache`], with an in-memory fallback of its own (shared by its clones only).
    /// ```
    /// use vercel_functions::{CacheOptions, RuntimeCache, SetOptions};
    /// use vercel_oidc::{Env, OidcConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), vercel_functions::CacheError> {
    /// // No RUNTIME_CACHE_* in this env: the in-memory fallback.
    /// let config = OidcConfig::new().with_env(Env::from_pairs::<&str, &str>([]));
    /// let cache = RuntimeCache::new(CacheOptions::default()).configure(&config);
    /// cache.set("k", &1, SetOptions::default()).await?;
    /// // Its own memory: `get_cache`'s caches do not see it.
    /// assert_eq!(cache.get::<u32>("k").await?, Some(1));
    /// # Ok(()) }
    /// ```
    pub fn new(options: CacheOptions) -> Self {
        Self::with_memory(options, Arc::new(MemoryCache::new()))
    }

    fn with_memory(options: CacheOptions, memory: Arc<MemoryCache>) -> Self {
        Self {
            options,
            config: OidcConfig::default(),
            memory,
            client: Arc::default(),
        }
    }

    /// The shared settings: where `RUNTIME_CACHE_*` is read, and the extra trust roots and
    /// HTTP client (a client given there is used as is, its timeouts too).
    /// ```
    /// use vercel_functions::{CacheOptions, RuntimeCache, SetOptions};
    /// use vercel_oidc::{Env, OidcConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), vercel_functions::CacheError> {
    /// // No RUNTIME_CACHE_* in this env: the in-memory fallback.
    /// let config = OidcConfig::new().with_env(Env::from_pairs::<&str, &str>([]));
    /// let cache = RuntimeCache::new(CacheOptions::default()).configure(&config);
    /// assert_eq!(cache.get::<u32>("absent").await?, None);
    /// # Ok(()) }
    /// ```
    pub fn configure(mut self, config: &OidcConfig) -> Self {
        self.config = config.clone();
        self.client = Arc::default();
        self
    }

    /// This cache in `@vercel/functions`' never-failing mode: errors are logged (`tracing`,
    /// level ERROR) and a failed `get` is a miss.
    /// ```
    /// use vercel_functions::{CacheOptions, RuntimeCache, SetOptions};
    /// use vercel_oidc::{Env, OidcConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), vercel_functions::CacheError> {
    /// // No RUNTIME_CACHE_* in this env: the in-memory fallback.
    /// let config = OidcConfig::new().with_env(Env::from_pairs::<&str, &str>([]));
    /// let cache = RuntimeCache::new(CacheOptions::default()).configure(&config);
    /// let logging = cache.log_errors();
    /// logging.set("k", &"v", SetOptions::default()).await; // never fails
    /// assert_eq!(logging.get::<String>("k").await.as_deref(), Some("v"));
    /// # Ok(()) }
    /// ```
    pub fn log_errors(self) -> LoggingRuntimeCache {
        LoggingRuntimeCache { cache: self }
    }

    fn client(&self) -> Result<reqwest::Client, CacheError> {
        if let Some(client) = self.config.custom_http_client() {
            return Ok(client.clone());
        }
        self.client
            .get_or_init(|| {
                let roots =
                    self.config
                        .extra_roots()
                        .map_err(|_| CacheError::InvalidConfiguration {
                            setting: vercel_oidc::CA_FILE_ENV,
                            reason: "names no usable PEM file",
                        })?;
                vercel_oidc::internal::http_client_builder(roots.as_ref())
                    .connect_timeout(Duration::from_secs(5))
                    .build()
                    .map_err(|e| CacheError::Transport(Arc::new(e.without_url())))
            })
            .clone()
    }

    fn url(remote: &Remote, key: &str) -> Result<reqwest::Url, CacheError> {
        if key
            .bytes()
            .any(|b| !b.is_ascii_graphic() || b == b'?' || b == b'#')
        {
            return Err(CacheError::InvalidKey {
                reason: "holds whitespace, control characters, non-ASCII, `?` or `#`",
            });
        }
        reqwest::Url::parse(&format!("{}{key}", remote.endpoint)).map_err(|_| {
            CacheError::InvalidKey {
                reason: "does not form a URL with RUNTIME_CACHE_ENDPOINT",
            }
        })
    }

    /// Sends `request` and hands the response to `read`, all within the call's timeout.
    async fn call<T, Fut>(
        &self,
        remote: &Remote,
        request: reqwest::RequestBuilder,
        read: impl FnOnce(reqwest::Response) -> Fut,
    ) -> Result<T, CacheError>
    where
        Fut: Future<Output = Result<T, CacheError>>,
    {
        let exchange = async {
            let response = request
                .headers(remote.headers.clone())
                .send()
                .await
                .map_err(remote::transport)?;
            read(response).await
        };
        match tokio::time::timeout(remote.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(CacheError::TimedOut {
                after: remote.timeout,
            }),
        }
    }

    /// The value stored under `key`, or `None` (not found, not fresh, or expired).
    /// ```
    /// use vercel_functions::{CacheOptions, RuntimeCache, SetOptions};
    /// use vercel_oidc::{Env, OidcConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), vercel_functions::CacheError> {
    /// // No RUNTIME_CACHE_* in this env: the in-memory fallback.
    /// let config = OidcConfig::new().with_env(Env::from_pairs::<&str, &str>([]));
    /// let cache = RuntimeCache::new(CacheOptions::default()).configure(&config);
    /// cache.set("user:1", &serde_json::json!({"name": "Ada"}), SetOptions::default()).await?;
    /// let user: Option<serde_json::Value> = cache.get("user:1").await?;
    /// assert_eq!(user.map(|u| u["name"].clone()), Some("Ada".into()));
    /// // A value of another type is a typed error, not a panic.
    /// assert!(cache.get::<u32>("user:1").await.is_err());
    /// # Ok(()) }
    /// ```
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, CacheError> {
        let key = self.options.make_key(key);
        let json: Option<Arc<str>> = match Backend::from_env(self.config.env())? {
            Backend::Memory => self.memory.get(&key),
            Backend::Remote(remote) => {
                let url = Self::url(&remote, &key)?;
                let request = self.client()?.get(url);
                let body = self
                    .call(&remote, request, |response| async move {
                        match response.status().as_u16() {
                            404 => Ok(None),
                            200 => {
                                let fresh = response
                                    .headers()
                                    .get(remote::STATE_HEADER)
                                    .is_some_and(|v| v.as_bytes() == b"fresh");
                                if !fresh {
                                    return Ok(None);
                                }
                                remote::read_capped(response, MAX_ITEM_SIZE).await.map(Some)
                            }
                            status => Err(CacheError::Status { status }),
                        }
                    })
                    .await?;
                match body {
                    None => None,
                    Some(bytes) => Some(
                        String::from_utf8(bytes)
                            .map_err(|_| deserialize_error::<T>(None))?
                            .into(),
                    ),
                }
            }
        };
        json.map(|json| serde_json::from_str(&json).map_err(|e| deserialize_error::<T>(Some(&e))))
            .transpose()
    }

    /// Stores `value` (as JSON) under `key`.
    /// ```
    /// use vercel_functions::{CacheOptions, RuntimeCache, SetOptions};
    /// use vercel_oidc::{Env, OidcConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), vercel_functions::CacheError> {
    /// // No RUNTIME_CACHE_* in this env: the in-memory fallback.
    /// let config = OidcConfig::new().with_env(Env::from_pairs::<&str, &str>([]));
    /// let cache = RuntimeCache::new(CacheOptions::default()).configure(&config);
    /// let options = SetOptions {
    ///     ttl: Some(std::time::Duration::from_secs(60)),
    ///     tags: vec!["users".to_owned()],
    ///     ..SetOptions::default()
    /// };
    /// cache.set("user:1", &"Ada", options).await?;
    /// assert_eq!(cache.get::<String>("user:1").await?.as_deref(), Some("Ada"));
    /// # Ok(()) }
    /// ```
    pub async fn set<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        options: SetOptions,
    ) -> Result<(), CacheError> {
        crate::tags::check_tags(&options.tags).map_err(CacheError::InvalidTag)?;
        let json = serde_json::to_string(value).map_err(|e| CacheError::Serialize(Arc::new(e)))?;
        if json.len() > MAX_ITEM_SIZE {
            return Err(CacheError::ItemTooLarge {
                size: json.len(),
                limit: MAX_ITEM_SIZE,
            });
        }
        let key = self.options.make_key(key);
        let ttl = options.ttl.filter(|t| !t.is_zero());
        match Backend::from_env(self.config.env())? {
            Backend::Memory => {
                self.memory.set(&key, json, ttl, options.tags);
                Ok(())
            }
            Backend::Remote(remote) => {
                let url = Self::url(&remote, &key)?;
                let mut request = self
                    .client()?
                    .post(url)
                    .header(http::header::CONTENT_TYPE, "application/json");
                if let Some(ttl) = ttl {
                    let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
                    request = request.header(remote::REVALIDATE_HEADER, secs);
                }
                if !options.tags.is_empty() {
                    request = request.header(remote::TAGS_HEADER, options.tags.join(","));
                }
                let name = options.name.unwrap_or_else(|| key.clone());
                if !name.is_empty() {
                    let value =
                        HeaderValue::from_str(&name).map_err(|_| CacheError::InvalidKey {
                            reason: "the item name is not a valid header value",
                        })?;
                    request = request.header(remote::ITEM_NAME_HEADER, value);
                }
                self.call(&remote, request.body(json), expect_200).await
            }
        }
    }

    /// Removes `key`.
    /// ```
    /// use vercel_functions::{CacheOptions, RuntimeCache, SetOptions};
    /// use vercel_oidc::{Env, OidcConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), vercel_functions::CacheError> {
    /// // No RUNTIME_CACHE_* in this env: the in-memory fallback.
    /// let config = OidcConfig::new().with_env(Env::from_pairs::<&str, &str>([]));
    /// let cache = RuntimeCache::new(CacheOptions::default()).configure(&config);
    /// cache.set("k", &1, SetOptions::default()).await?;
    /// cache.delete("k").await?;
    /// assert_eq!(cache.get::<u32>("k").await?, None);
    /// # Ok(()) }
    /// ```
    pub async fn delete(&self, key: &str) -> Result<(), CacheError> {
        let key = self.options.make_key(key);
        match Backend::from_env(self.config.env())? {
            Backend::Memory => {
                self.memory.delete(&key);
                Ok(())
            }
            Backend::Remote(remote) => {
                let url = Self::url(&remote, &key)?;
                let request = self.client()?.delete(url);
                self.call(&remote, request, expect_200).await
            }
        }
    }

    /// Expires every item carrying any of `tags` (in every namespace).
    /// ```
    /// use vercel_functions::{CacheOptions, RuntimeCache, SetOptions};
    /// use vercel_oidc::{Env, OidcConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), vercel_functions::CacheError> {
    /// // No RUNTIME_CACHE_* in this env: the in-memory fallback.
    /// let config = OidcConfig::new().with_env(Env::from_pairs::<&str, &str>([]));
    /// let cache = RuntimeCache::new(CacheOptions::default()).configure(&config);
    /// let tagged = SetOptions { tags: vec!["users".to_owned()], ..SetOptions::default() };
    /// cache.set("user:1", &"Ada", tagged).await?;
    /// cache.expire_tag(&["users"]).await?;
    /// assert_eq!(cache.get::<String>("user:1").await?, None);
    /// # Ok(()) }
    /// ```
    pub async fn expire_tag<S: AsRef<str>>(&self, tags: &[S]) -> Result<(), CacheError> {
        crate::tags::check_tags(tags).map_err(CacheError::InvalidTag)?;
        if tags.is_empty() {
            return Ok(());
        }
        match Backend::from_env(self.config.env())? {
            Backend::Memory => {
                self.memory.expire_tags(tags);
                Ok(())
            }
            Backend::Remote(remote) => {
                let url = reqwest::Url::parse(&format!(
                    "{}revalidate?tags={}",
                    remote.endpoint,
                    crate::tags::query_list(tags)
                ))
                .map_err(|_| CacheError::InvalidConfiguration {
                    setting: remote::ENDPOINT_ENV,
                    reason: "does not form a URL",
                })?;
                let request = self.client()?.post(url);
                self.call(&remote, request, expect_200).await
            }
        }
    }
}

async fn expect_200(response: reqwest::Response) -> Result<(), CacheError> {
    match response.status().as_u16() {
        200 => Ok(()),
        status => Err(CacheError::Status { status }),
    }
}

fn deserialize_error<T>(e: Option<&serde_json::Error>) -> CacheError {
    let category = match e.map(serde_json::Error::classify) {
        None => "utf-8",
        Some(serde_json::error::Category::Io) => "io",
        Some(serde_json::error::Category::Syntax) => "syntax",
        Some(serde_json::error::Category::Data) => "data",
        Some(serde_json::error::Category::Eof) => "eof",
    };
    CacheError::Deserialize {
        type_name: std::any::type_name::<T>(),
        category,
        line: e.map_or(0, serde_json::Error::line),
        column: e.map_or(0, serde_json::Error::column),
    }
}

/// A [`RuntimeCache`] that never fails, as `@vercel/functions`' cache never rejects: each error
/// is logged (`tracing`, ERROR) and a failed `get` returns `None`. Made by
/// [`RuntimeCache::log_errors`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use vercel_functions::{CacheOptions, RuntimeCache, SetOptions};
/// let cache = RuntimeCache::new(CacheOptions::default()).log_errors();
/// cache.set("k", &"v", SetOptions::default()).await;
/// let value: Option<String> = cache.get("k").await;
/// # let _ = value;
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct LoggingRuntimeCache {
    cache: RuntimeCache,
}

impl LoggingRuntimeCache {
    fn log(op: &'static str, error: &CacheError) {
        tracing::error!(op, %error, "runtime cache call failed");
    }

    /// [`RuntimeCache::get`]; an error is logged and is `None`.
    /// ```
    /// use vercel_functions::{CacheOptions, RuntimeCache, SetOptions};
    /// use vercel_oidc::{Env, OidcConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let config = OidcConfig::new().with_env(Env::from_pairs::<&str, &str>([]));
    /// let cache = RuntimeCache::new(CacheOptions::default()).configure(&config).log_errors();
    /// assert_eq!(cache.get::<u32>("absent").await, None);
    /// # }
    /// ```
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.cache.get(key).await.unwrap_or_else(|e| {
            Self::log("get", &e);
            None
        })
    }

    /// [`RuntimeCache::set`]; an error is logged.
    /// ```
    /// use vercel_functions::{CacheOptions, RuntimeCache, SetOptions};
    /// use vercel_oidc::{Env, OidcConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let config = OidcConfig::new().with_env(Env::from_pairs::<&str, &str>([]));
    /// let cache = RuntimeCache::new(CacheOptions::default()).configure(&config).log_errors();
    /// cache.set("k", &1, SetOptions::default()).await;
    /// // Refused before sending (a tag with a comma): logged, nothing stored.
    /// let bad = SetOptions { tags: vec!["a,b".to_owned()], ..SetOptions::default() };
    /// cache.set("k2", &1, bad).await;
    /// assert_eq!(cache.get::<u32>("k2").await, None);
    /// # }
    /// ```
    pub async fn set<T: Serialize + ?Sized>(&self, key: &str, value: &T, options: SetOptions) {
        if let Err(e) = self.cache.set(key, value, options).await {
            Self::log("set", &e);
        }
    }

    /// [`RuntimeCache::delete`]; an error is logged.
    /// ```
    /// use vercel_functions::{CacheOptions, RuntimeCache, SetOptions};
    /// use vercel_oidc::{Env, OidcConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let config = OidcConfig::new().with_env(Env::from_pairs::<&str, &str>([]));
    /// let cache = RuntimeCache::new(CacheOptions::default()).configure(&config).log_errors();
    /// cache.set("k", &1, SetOptions::default()).await;
    /// cache.delete("k").await;
    /// assert_eq!(cache.get::<u32>("k").await, None);
    /// # }
    /// ```
    pub async fn delete(&self, key: &str) {
        if let Err(e) = self.cache.delete(key).await {
            Self::log("delete", &e);
        }
    }

    /// [`RuntimeCache::expire_tag`]; an error is logged.
    /// ```
    /// use vercel_functions::{CacheOptions, RuntimeCache, SetOptions};
    /// use vercel_oidc::{Env, OidcConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let config = OidcConfig::new().with_env(Env::from_pairs::<&str, &str>([]));
    /// let cache = RuntimeCache::new(CacheOptions::default()).configure(&config).log_errors();
    /// cache.set("k", &1, SetOptions { tags: vec!["t".to_owned()], ..SetOptions::default() }).await;
    /// cache.expire_tag(&["t"]).await;
    /// assert_eq!(cache.get::<u32>("k").await, None);
    /// # }
    /// ```
    pub async fn expire_tag<S: AsRef<str>>(&self, tags: &[S]) {
        if let Err(e) = self.cache.expire_tag(tags).await {
            Self::log("expire_tag", &e);
        }
    }

    /// The failing cache underneath.
    /// ```
    /// use vercel_functions::{CacheOptions, RuntimeCache, SetOptions};
    /// use vercel_oidc::{Env, OidcConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let config = OidcConfig::new().with_env(Env::from_pairs::<&str, &str>([]));
    /// let cache = RuntimeCache::new(CacheOptions::default()).configure(&config).log_errors();
    /// // The Result-returning cache underneath, for a call whose error matters.
    /// assert!(cache.inner().get::<u32>("k").await.is_ok());
    /// # }
    /// ```
    pub fn inner(&self) -> &RuntimeCache {
        &self.cache
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vercel_oidc::Env;

    #[test]
    fn key_hash_vectors() {
        for (key, hash) in [
            ("", "1505"),
            ("a", "2b5c4"),
            ("key", "b876d32"),
            ("my-key", "57f938ab"),
            ("hello", "a9cede7"),
            ("😀", "50fe98"),
        ] {
            assert_eq!(default_key_hash(key), hash, "{key:?}");
        }
    }

    #[test]
    fn keys_with_namespace_and_separator() {
        let plain = CacheOptions::default();
        assert_eq!(plain.make_key("my-key"), "57f938ab");
        let ns = CacheOptions {
            namespace: Some("app".into()),
            ..Default::default()
        };
        assert_eq!(ns.make_key("my-key"), "app$57f938ab");
        let sep = CacheOptions {
            namespace: Some("app".into()),
            namespace_separator: Some(":".into()),
            ..Default::default()
        };
        assert_eq!(sep.make_key("a"), "app:2b5c4");
        let empty_sep = CacheOptions {
            namespace: Some("app".into()),
            namespace_separator: Some(String::new()),
            ..Default::default()
        };
        assert_eq!(empty_sep.make_key("a"), "app$2b5c4");
        let custom = CacheOptions {
            namespace: Some(String::new()),
            key_hash: Some(Arc::new(|k: &str| k.to_uppercase())),
            ..Default::default()
        };
        assert_eq!(custom.make_key("abc"), "ABC");
        assert_eq!(
            format!("{custom:?}"),
            r#"CacheOptions { namespace: Some(""), namespace_separator: None, key_hash: Some("custom") }"#
        );
    }

    fn memory_cache() -> RuntimeCache {
        RuntimeCache::new(CacheOptions::default())
            .configure(&OidcConfig::new().with_env(Env::from_pairs::<&str, &str>([])))
    }

    #[tokio::test(start_paused = true)]
    async fn fallback_round_trip_ttl_and_tags() {
        let cache = memory_cache();
        assert_eq!(cache.get::<u32>("n").await.expect("get"), None);
        cache
            .set(
                "n",
                &7u32,
                SetOptions {
                    ttl: Some(Duration::from_millis(1500)),
                    tags: vec!["t".into()],
                    ..Default::default()
                },
            )
            .await
            .expect("set");
        assert_eq!(cache.get::<u32>("n").await.expect("get"), Some(7));
        // The wrong type is a typed error naming the type, not the value.
        let e = cache.get::<String>("n").await.expect_err("type");
        assert!(matches!(
            e,
            CacheError::Deserialize {
                category: "data",
                ..
            }
        ));
        assert!(e.to_string().contains("alloc::string::String"), "{e}");
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert_eq!(cache.get::<u32>("n").await.expect("get"), None);

        cache
            .set(
                "m",
                &"v",
                SetOptions {
                    tags: vec!["t".into()],
                    ..Default::default()
                },
            )
            .await
            .expect("set");
        cache.expire_tag(&["t"]).await.expect("expire");
        assert_eq!(cache.get::<String>("m").await.expect("get"), None);
        cache
            .set("d", &1, SetOptions::default())
            .await
            .expect("set");
        cache.delete("d").await.expect("delete");
        assert_eq!(cache.get::<u8>("d").await.expect("get"), None);
    }

    #[tokio::test]
    async fn limits_are_checked_before_anything_happens() {
        let cache = memory_cache();
        let big = "x".repeat(MAX_ITEM_SIZE - 2);
        cache
            .set("ok", &big, SetOptions::default())
            .await
            .expect("exactly the limit");
        let too_big = "x".repeat(MAX_ITEM_SIZE - 1);
        let e = cache
            .set("big", &too_big, SetOptions::default())
            .await
            .expect_err("too big");
        assert!(matches!(
            e,
            CacheError::ItemTooLarge {
                size,
                limit: MAX_ITEM_SIZE
            } if size == MAX_ITEM_SIZE + 1
        ));
        let tags: Vec<String> = (0..129).map(|i| i.to_string()).collect();
        let e = cache
            .set(
                "t",
                &1,
                SetOptions {
                    tags,
                    ..Default::default()
                },
            )
            .await
            .expect_err("too many tags");
        assert!(matches!(
            e,
            CacheError::InvalidTag(crate::TagError::TooMany {
                count: 129,
                limit: 128
            })
        ));
        let e = cache.expire_tag(&["a,b"]).await.expect_err("comma");
        assert!(matches!(
            e,
            CacheError::InvalidTag(crate::TagError::InvalidCharacter)
        ));
        assert_eq!(cache.get::<u8>("big").await.expect("get"), None);
        assert_eq!(cache.get::<u8>("t").await.expect("get"), None);
    }

    #[tokio::test]
    async fn logging_mode_never_fails() {
        let cache = memory_cache();
        cache
            .set("s", &"text", SetOptions::default())
            .await
            .expect("set");
        let logging = cache.clone().log_errors();
        // A type mismatch is logged and a miss.
        assert_eq!(logging.get::<u32>("s").await, None);
        assert_eq!(logging.get::<String>("s").await.as_deref(), Some("text"));
        logging
            .set("big", &"x".repeat(MAX_ITEM_SIZE), SetOptions::default())
            .await;
        assert_eq!(logging.get::<String>("big").await, None);
        logging.delete("s").await;
        logging.expire_tag(&[""]).await;
        assert_eq!(logging.inner().get::<String>("s").await.expect("get"), None);
    }
}
