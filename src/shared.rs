//! One process-wide instance per full configuration: what lets a handler that builds a provider
//! on every request pay for one exchange per credential lifetime, not one per request.
//!
//! A provider crate describes everything that makes two instances differ in a [`SharedKey`]
//! (the settings it resolved, and the identity of the objects it cannot compare: a token source,
//! an env, a clock, an HTTP client), then asks [`process_wide`] for the instance under that key.
//! The first caller builds it; every later caller with the same key gets a clone of the same
//! instance, so clones share one cache.
//!
//! The registry is bounded ([`MAX_SHARED`] entries, the least recently used dropped first) and
//! a panic or an error while building leaves nothing behind.

use std::any::{Any, TypeId};
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};

use crate::config::OidcConfig;
use crate::env::Env;
use crate::source::SharedTokenSource;
use crate::time::SharedClock;

/// At most this many shared instances live in a process; beyond it the least recently used is
/// dropped from the registry (its users keep theirs; the next construction builds a new one).
pub const MAX_SHARED: usize = 64;

/// The description of one configuration: an ordered list of `name=value` fields.
///
/// Values are length-prefixed, so no value can forge a field boundary. Objects compared by
/// identity are kept alive by the key (and so by the registry entry), so their addresses cannot
/// be reused by other objects while the entry exists.
#[derive(Default)]
pub struct SharedKey {
    text: String,
    pins: Vec<Box<dyn Any + Send + Sync>>,
}

impl PartialEq for SharedKey {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for SharedKey {}

impl std::fmt::Debug for SharedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Fields are settings and object addresses, never secrets; still, only the length
        // reaches Debug output (a role ARN or a tenant is not for every log).
        f.debug_struct("SharedKey")
            .field("len", &self.text.len())
            .finish()
    }
}

impl SharedKey {
    /// A key for instances of `kind` (for example `"aws"`).
    pub fn new(kind: &str) -> Self {
        let mut key = Self {
            text: String::with_capacity(256),
            pins: Vec::new(),
        };
        key.field("kind", kind);
        key
    }

    /// Adds a field.
    pub fn field(&mut self, name: &str, value: &str) -> &mut Self {
        let _ = write!(self.text, "{name}:{}:{value};", value.len());
        self
    }

    /// Adds an optional field (`None` and `Some("")` differ).
    pub fn opt(&mut self, name: &str, value: Option<&str>) -> &mut Self {
        match value {
            Some(v) => self.field(name, v),
            None => self.field(name, "\u{0}none"),
        }
    }

    /// Adds a list field.
    pub fn list<S: AsRef<str>>(&mut self, name: &str, values: &[S]) -> &mut Self {
        let _ = write!(self.text, "{name}[{}]", values.len());
        for value in values {
            self.field("", value.as_ref());
        }
        self
    }

    /// Adds a field from anything `Debug` (numbers, durations, enums of settings).
    pub fn debug(&mut self, name: &str, value: &impl std::fmt::Debug) -> &mut Self {
        self.field(name, &format!("{value:?}"))
    }

    /// Adds the identity of a token source (two sources are the same only if one is a clone
    /// of the other).
    pub fn token_source(&mut self, source: Option<&SharedTokenSource>) -> &mut Self {
        match source {
            Some(source) => {
                self.pins.push(Box::new(source.clone()));
                self.debug("token_source", &source.identity())
            }
            None => self.field("token_source", "default"),
        }
    }

    /// Adds everything an [`OidcConfig`] changes: the env, clock and HTTP client by identity,
    /// the extra roots by path and content size, the issuer URL by value.
    pub fn config(&mut self, config: &OidcConfig) -> &mut Self {
        self.pins.push(Box::new(config.clone()));
        self.env(config.env());
        self.clock(config.clock());
        self.opt("issuer_url", config.explicit_issuer_url());
        match &config.explicit_roots {
            Some(roots) => self.debug("roots", &(roots.path(), roots.len())),
            None => self.field("roots", "default"),
        };
        self.debug("client", &config.client_identity())
    }

    fn env(&mut self, env: &Env) -> &mut Self {
        self.debug("env", &env.identity())
    }

    fn clock(&mut self, clock: &SharedClock) -> &mut Self {
        self.debug("clock", &clock.identity())
    }
}

struct Entry {
    type_id: TypeId,
    key: SharedKey,
    value: Box<dyn Any + Send + Sync>,
}

static REGISTRY: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

/// The process-wide `T` for `key`: a clone of the one already built, else `make()`'s, kept
/// for the next caller.
///
/// `make` runs under the registry's lock, so concurrent first callers build one instance; it
/// must not call `process_wide` itself. An error from `make` is returned and nothing is kept;
/// a panic in `make` propagates and leaves the registry usable and unchanged.
pub fn process_wide<T, E>(key: SharedKey, make: impl FnOnce() -> Result<T, E>) -> Result<T, E>
where
    T: Clone + Send + Sync + 'static,
{
    let type_id = TypeId::of::<T>();
    let mut entries = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(index) = entries
        .iter()
        .position(|e| e.type_id == type_id && e.key == key)
    {
        // Most recently used last.
        let entry = entries.remove(index);
        let found = entry.value.downcast_ref::<T>().cloned();
        entries.push(entry);
        if let Some(found) = found {
            return Ok(found);
        }
    }
    let value = make()?;
    if entries.len() >= MAX_SHARED {
        entries.remove(0);
    }
    entries.push(Entry {
        type_id,
        key,
        value: Box::new(value.clone()),
    });
    Ok(value)
}

/// How many instances of `T` the registry holds (tests and diagnostics).
pub fn shared_count<T: 'static>() -> usize {
    let type_id = TypeId::of::<T>();
    REGISTRY
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter(|e| e.type_id == type_id)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    struct Thing(u32);

    fn key(name: &str) -> SharedKey {
        let mut key = SharedKey::new("test");
        key.field("name", name);
        key
    }

    #[test]
    fn one_instance_per_key_and_type() {
        let mut built = 0;
        let a = process_wide(key("one"), || {
            built += 1;
            Ok::<_, ()>(Thing(1))
        })
        .expect("built");
        let b = process_wide(key("one"), || {
            built += 1;
            Ok::<_, ()>(Thing(2))
        })
        .expect("built");
        assert_eq!((a, b, built), (Thing(1), Thing(1), 1));
        // Another key, or another type under the same key, is another instance.
        let c = process_wide(key("two"), || Ok::<_, ()>(Thing(3))).expect("built");
        assert_eq!(c, Thing(3));
        let d = process_wide(key("one"), || Ok::<_, ()>(7_u8)).expect("built");
        assert_eq!(d, 7);
    }

    #[test]
    fn errors_and_panics_keep_nothing() {
        let failed = process_wide(key("err"), || Err::<Thing, _>("no"));
        assert_eq!(failed, Err("no"));
        let panicked = std::panic::catch_unwind(|| {
            let _ = process_wide(key("err"), || -> Result<Thing, ()> { panic!("boom") });
        });
        assert!(panicked.is_err());
        // The registry is not poisoned, and the next caller builds.
        let ok = process_wide(key("err"), || Ok::<_, ()>(Thing(9))).expect("built");
        assert_eq!(ok, Thing(9));
    }

    #[test]
    fn bounded_least_recently_used_first() {
        #[derive(Clone)]
        struct Bounded(usize);
        for i in 0..MAX_SHARED {
            process_wide(key(&format!("b{i}")), || Ok::<_, ()>(Bounded(i))).expect("built");
        }
        // Touch b0: it becomes the most recent; b1 is now the oldest.
        let b0 = process_wide(key("b0"), || Ok::<_, ()>(Bounded(1000))).expect("built");
        assert_eq!(b0.0, 0);
        process_wide(key("new"), || Ok::<_, ()>(Bounded(usize::MAX))).expect("built");
        assert_eq!(shared_count::<Bounded>(), MAX_SHARED);
        let b1 = process_wide(key("b1"), || Ok::<_, ()>(Bounded(2000))).expect("built");
        assert_eq!(b1.0, 2000, "the least recently used entry was dropped");
        let b0 = process_wide(key("b0"), || Ok::<_, ()>(Bounded(3000))).expect("built");
        assert_eq!(b0.0, 0, "the touched entry was kept");
    }

    #[test]
    fn fields_cannot_forge_boundaries() {
        let mut a = SharedKey::new("k");
        a.field("x", "1;y:1:2");
        let mut b = SharedKey::new("k");
        b.field("x", "1").field("y", "2");
        assert_ne!(a, b);
        let mut none = SharedKey::new("k");
        none.opt("x", None);
        let mut empty = SharedKey::new("k");
        empty.opt("x", Some(""));
        assert_ne!(none, empty);
        let mut l1 = SharedKey::new("k");
        l1.list("l", &["a", "b"]);
        let mut l2 = SharedKey::new("k");
        l2.list("l", &["a"]).list("l", &["b"]);
        assert_ne!(l1, l2);
        assert!(!format!("{a:?}").contains("1;y"));
    }

    #[test]
    fn configs_differ_by_identity_and_value() {
        let base = OidcConfig::new();
        let same = base.clone();
        let mut k1 = SharedKey::new("k");
        k1.config(&base);
        let mut k2 = SharedKey::new("k");
        k2.config(&same);
        assert_eq!(k1, k2, "a clone is the same configuration");
        let mut k3 = SharedKey::new("k");
        k3.config(&OidcConfig::new());
        assert_eq!(k1, k3, "two default configurations are the same");
        let mut k4 = SharedKey::new("k");
        k4.config(&OidcConfig::new().with_env(Env::from_pairs([("A", "1")])));
        assert_ne!(k1, k4, "another env");
        let mut k5 = SharedKey::new("k");
        k5.config(&OidcConfig::new().with_issuer_url("http://127.0.0.1:1"));
        assert_ne!(k1, k5, "another issuer");
        let mut k6 = SharedKey::new("k");
        k6.config(
            &OidcConfig::new().with_clock(SharedClock::new(crate::time::ManualClock::new(
                std::time::SystemTime::UNIX_EPOCH,
            ))),
        );
        assert_ne!(k1, k6, "another clock");
    }
}
