//! RSA signing keys: a process-wide pool, so that many tests in one process generate only as
//! many keys as are alive at once, and the per-issuer key ring.
//!
//! A key is lent to one issuer at a time: two issuers alive together never share a key, so a
//! token from one never verifies against the other's key set. When an issuer (and every request
//! it is still serving) is gone, its keys go back to the pool for the next issuer.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair as _, RsaKeyPair};
use serde_json::{Value, json};

use crate::jwt::b64;

/// One RSA 2048 key pair with its public parts pre-encoded.
pub(crate) struct PooledKey {
    /// Unique within the process; the key's kid is `{prefix}-{id}`.
    pub(crate) id: u64,
    pub(crate) pair: RsaKeyPair,
    /// `n`, base64url without padding (big-endian, no leading zeros).
    n: String,
    /// `e`, base64url without padding.
    e: String,
    /// PKCS#1 `RSAPublicKey` DER.
    pub(crate) public_der: Vec<u8>,
}

impl PooledKey {
    fn generate() -> io::Result<Self> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let pair = RsaKeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| io::Error::other("RSA 2048 key generation failed"))?;
        let public = pair.public_key();
        let n = b64(public.modulus().big_endian_without_leading_zero());
        let e = b64(public.exponent().big_endian_without_leading_zero());
        let public_der = public.as_ref().to_vec();
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(id, "vercel-oidc-testkit: generated RSA 2048 key");
        Ok(Self {
            id,
            pair,
            n,
            e,
            public_der,
        })
    }

    /// The JWK for this key under `kid`.
    pub(crate) fn jwk(&self, kid: &str) -> Value {
        json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": kid,
            "n": self.n,
            "e": self.e,
        })
    }
}

/// Keys not lent to any issuer.
static FREE: Mutex<Vec<Arc<PooledKey>>> = Mutex::new(Vec::new());

/// Takes a free key from the pool, generating one if the pool is empty.
pub(crate) fn take() -> io::Result<Arc<PooledKey>> {
    // The lock is not held while generating, so parallel tests generate in parallel.
    let free = FREE.lock().unwrap_or_else(PoisonError::into_inner).pop();
    match free {
        Some(key) => Ok(key),
        None => PooledKey::generate().map(Arc::new),
    }
}

fn give_back(keys: impl IntoIterator<Item = Arc<PooledKey>>) {
    FREE.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .extend(keys);
}

/// A key that is never lent to an issuer, so it is in no key set: for tokens that must not
/// verify.
pub(crate) fn stranger() -> io::Result<&'static PooledKey> {
    static STRANGER: OnceLock<PooledKey> = OnceLock::new();
    if let Some(key) = STRANGER.get() {
        return Ok(key);
    }
    let key = PooledKey::generate()?;
    // A parallel caller may have won the race; either key is fine.
    Ok(STRANGER.get_or_init(|| key))
}

/// An issuer's keys: the ones in its key set, the last being the current signing key, and every
/// key it ever used (returned to the pool when the ring is dropped).
pub(crate) struct KeyRing {
    prefix: String,
    active: Vec<Arc<PooledKey>>,
    lent: Vec<Arc<PooledKey>>,
}

impl KeyRing {
    /// A ring with one fresh key.
    pub(crate) fn new(prefix: String) -> io::Result<Self> {
        let key = take()?;
        Ok(Self {
            prefix,
            active: vec![Arc::clone(&key)],
            lent: vec![key],
        })
    }

    pub(crate) fn kid_of(&self, key: &PooledKey) -> String {
        format!("{}-{}", self.prefix, key.id)
    }

    /// The current signing key and its kid.
    pub(crate) fn current(&self) -> (String, Arc<PooledKey>) {
        // `active` is never empty: it starts with one key and `retire_old` keeps the last.
        let key = self
            .active
            .last()
            .map(Arc::clone)
            .unwrap_or_else(|| Arc::clone(&self.lent[0]));
        (self.kid_of(&key), key)
    }

    /// Adds a new current key; the previous ones stay in the key set. Returns the new kid.
    pub(crate) fn rotate(&mut self) -> io::Result<String> {
        let key = take()?;
        self.active.push(Arc::clone(&key));
        self.lent.push(Arc::clone(&key));
        Ok(self.kid_of(&key))
    }

    /// Drops every key but the current one from the key set.
    pub(crate) fn retire_old(&mut self) {
        let keep = self.active.len().saturating_sub(1);
        self.active.drain(..keep);
    }

    /// The active key with this kid.
    pub(crate) fn find(&self, kid: &str) -> Option<Arc<PooledKey>> {
        self.active
            .iter()
            .find(|key| self.kid_of(key) == kid)
            .map(Arc::clone)
    }

    /// The key set document, oldest key first.
    pub(crate) fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .active
            .iter()
            .map(|key| key.jwk(&self.kid_of(key)))
            .collect();
        json!({ "keys": keys })
    }
}

impl Drop for KeyRing {
    fn drop(&mut self) {
        self.active.clear();
        give_back(self.lent.drain(..));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_rotates_and_retires() -> io::Result<()> {
        let mut ring = KeyRing::new("unit".to_owned())?;
        let (first, _) = ring.current();
        let second = ring.rotate()?;
        assert_ne!(first, second);
        assert_eq!(ring.current().0, second);
        assert!(ring.find(&first).is_some());
        assert_eq!(ring.jwks()["keys"].as_array().map(Vec::len), Some(2));
        ring.retire_old();
        assert!(ring.find(&first).is_none());
        assert_eq!(ring.current().0, second);
        assert_eq!(ring.jwks()["keys"][0]["kid"], second.as_str());
        Ok(())
    }

    #[test]
    fn jwk_components_are_minimal_base64url() -> io::Result<()> {
        let key = take()?;
        let jwk = key.jwk("k");
        assert_eq!(jwk["e"], "AQAB");
        let n = jwk["n"].as_str().unwrap_or_default();
        // 2048 bits = 256 bytes = 342 base64url characters without padding.
        assert_eq!(n.len(), 342);
        assert!(!n.contains('=') && !n.contains('+') && !n.contains('/'));
        give_back([key]);
        Ok(())
    }
}
