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
pub struct Env {
    /// `None`: the process environment.
    base: Option<Arc<HashMap<String, String>>>,
    /// Values that shadow `base` (see [`Env::with_var`]).
    overrides: Option<Arc<HashMap<String, String>>>,
}

impl Env {
    /// The identity of this environment: (0, 0) for the process environment; clones share it.
    pub(crate) fn identity(&self) -> (usize, usize) {
        (
            self.base.as_ref().map_or(0, crate::object_id::arc_identity),
            self.overrides
                .as_ref()
                .map_or(0, crate::object_id::arc_identity),
        )
    }

    /// The real process environment (read at each call).
    pub fn real() -> Self {
        Self::default()
    }

    /// A fixed environment holding exactly these variables.
    pub fn from_pairs<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            base: Some(Arc::new(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
            )),
            overrides: None,
        }
    }

    /// This environment with `name` set to `value` (shadowing the base, which is unchanged).
    ///
    /// ```
    /// use vercel_oidc::Env;
    /// let env = Env::real().with_var("VERCEL_OIDC_CA_FILE", "/etc/proxy-ca.pem");
    /// assert_eq!(env.get("VERCEL_OIDC_CA_FILE").as_deref(), Some("/etc/proxy-ca.pem"));
    /// ```
    pub fn with_var(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let mut overrides = self.overrides.as_deref().cloned().unwrap_or_default();
        overrides.insert(name.into(), value.into());
        self.overrides = Some(Arc::new(overrides));
        self
    }

    /// The variable's value; `None` when unset or not valid Unicode.
    pub fn get(&self, name: &str) -> Option<String> {
        if let Some(value) = self.overrides.as_ref().and_then(|o| o.get(name)) {
            return Some(value.clone());
        }
        match &self.base {
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
        let mut names: Vec<&String> = self.overrides.iter().flat_map(|o| o.keys()).collect();
        match &self.base {
            None if names.is_empty() => f.write_str("Env(process)"),
            None => {
                names.sort();
                f.debug_tuple("Env")
                    .field(&"process")
                    .field(&names)
                    .finish()
            }
            Some(map) => {
                names.extend(
                    map.keys()
                        .filter(|k| !names.contains(k))
                        .collect::<Vec<_>>(),
                );
                names.sort();
                names.dedup();
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
    fn overrides_shadow_the_base() {
        let env = Env::from_pairs([("A", "1"), ("B", "2")])
            .with_var("B", "3")
            .with_var("C", "4");
        assert_eq!(env.get("A").as_deref(), Some("1"));
        assert_eq!(env.get("B").as_deref(), Some("3"));
        assert_eq!(env.get("C").as_deref(), Some("4"));
        assert_eq!(format!("{env:?}"), r#"Env(["A", "B", "C"])"#);
        let real = Env::real().with_var("VERCEL_OIDC_TOKEN", "secret-value");
        assert_eq!(
            format!("{real:?}"),
            r#"Env("process", ["VERCEL_OIDC_TOKEN"])"#
        );
    }

    #[test]
    fn empty_is_none_for_get_non_empty() {
        let env = Env::from_pairs([("A", "")]);
        assert_eq!(env.get("A").as_deref(), Some(""));
        assert_eq!(env.get_non_empty("A"), None);
    }
}
