//! Reading environment variables through a value that tests can replace.
//!
//! Rust 2024 makes `std::env::set_var` unsafe (other threads may be reading), so nothing in this
//! crate's tests mutates the process environment: every reader takes an [`Env`], which is either
//! the real process environment or a fixed map.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// The environment variables a source reads: the process's, or a fixed set for tests.
///
/// `Debug` lists variable names only, never values (they may be tokens).
///
/// ```
/// use vercel_oidc::Env;
/// let env = Env::from_pairs([("VERCEL_ENV", "preview")]);
/// assert_eq!(env.get("VERCEL_ENV").as_deref(), Some("preview"));
/// assert_eq!(env.get("VERCEL_URL"), None);
/// ```
#[derive(Clone, Default)]
pub struct Env(Option<Arc<HashMap<String, String>>>);

impl Env {
    /// The real process environment (read at each call).
    pub fn real() -> Self {
        Self(None)
    }

    /// A fixed environment holding exactly these variables.
    pub fn from_pairs<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        Self(Some(Arc::new(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )))
    }

    /// The variable's value; `None` when unset or not valid Unicode.
    pub fn get(&self, name: &str) -> Option<String> {
        match &self.0 {
            None => std::env::var(name).ok(),
            Some(map) => map.get(name).cloned(),
        }
    }

    /// The variable's value; `None` when unset, empty or not valid Unicode.
    pub fn get_non_empty(&self, name: &str) -> Option<String> {
        self.get(name).filter(|v| !v.is_empty())
    }
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("Env(process)"),
            Some(map) => {
                let mut names: Vec<&String> = map.keys().collect();
                names.sort();
                f.debug_tuple("Env").field(&names).finish()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_names_not_values() {
        let env = Env::from_pairs([("VERCEL_OIDC_TOKEN", "secret-value")]);
        assert_eq!(format!("{env:?}"), r#"Env(["VERCEL_OIDC_TOKEN"])"#);
        assert_eq!(format!("{:?}", Env::real()), "Env(process)");
    }

    #[test]
    fn empty_is_none_for_get_non_empty() {
        let env = Env::from_pairs([("A", "")]);
        assert_eq!(env.get("A").as_deref(), Some(""));
        assert_eq!(env.get_non_empty("A"), None);
    }
}
