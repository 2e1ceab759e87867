//! Extra trust roots (`VERCEL_OIDC_CA_FILE`) and the HTTP client the core builds.
//!
//! `VERCEL_OIDC_CA_FILE` names a PEM file with one or more certificates. They are **added** to the
//! platform's roots of every HTTP client this project builds (for TLS-intercepting proxies and
//! HTTPS test emulators); verification is never disabled.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::env::Env;
use crate::error::Error;

/// The env var naming a PEM file of extra trust roots.
pub const CA_FILE_ENV: &str = "VERCEL_OIDC_CA_FILE";

/// Extra trust roots read from a PEM file.
#[derive(Clone, Debug)]
pub struct ExtraRoots {
    path: PathBuf,
    pem: Arc<[u8]>,
    count: usize,
}

impl ExtraRoots {
    /// Reads and checks a PEM file: it must hold at least one certificate.
    pub fn from_pem_file(path: impl Into<PathBuf>) -> Result<Self, Error> {
        let path = path.into();
        let pem = std::fs::read(&path).map_err(|e| Error::InvalidConfiguration {
            message: format!("cannot read CA file {}", path.display()),
            source: Some(Arc::new(e)),
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            Error::InvalidConfiguration {
                message: format!("CA file {} is not valid PEM", path.display()),
                source: Some(Arc::new(e)),
            }
        })?;
        if certs.is_empty() {
            return Err(Error::config(format!(
                "CA file {} holds no certificate",
                path.display()
            )));
        }
        Ok(Self {
            path,
            count: certs.len(),
            pem: pem.into(),
        })
    }

    /// The roots named by `VERCEL_OIDC_CA_FILE` in `env`, or `None` when it is unset or empty.
    pub fn from_env(env: &Env) -> Result<Option<Self>, Error> {
        env.get_non_empty(CA_FILE_ENV)
            .map(Self::from_pem_file)
            .transpose()
    }

    /// The file the roots came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The PEM text, for TLS stacks other than the core's.
    pub fn pem(&self) -> &[u8] {
        &self.pem
    }

    /// How many certificates the file holds.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Always `false`: a file without certificates is rejected when read.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub(crate) fn reqwest_certificates(&self) -> Vec<reqwest::Certificate> {
        // Parsed successfully in `from_pem_file`.
        reqwest::Certificate::from_pem_bundle(&self.pem).unwrap_or_default()
    }
}

/// Checks a base URL that tokens or credentials are sent to, and returns it without a trailing
/// slash: `https`, or `http` only on a loopback host (tests, local proxies); no user info, query
/// or fragment. The error is the reason, for the caller's typed error.
pub(crate) fn check_base_url(base: &str) -> Result<&str, &'static str> {
    let trimmed = base.strip_suffix('/').unwrap_or(base);
    let url = reqwest::Url::parse(trimmed).map_err(|_| "not a URL")?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain credentials");
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or fragment");
    }
    let loopback = url.host_str().is_some_and(|host| {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        host.eq_ignore_ascii_case("localhost")
            || bare
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    match url.scheme() {
        "https" => Ok(trimmed),
        "http" if loopback => Ok(trimmed),
        "http" => Err("must be https (http only on a loopback host)"),
        _ => Err("must be an https URL"),
    }
}

/// The total timeout of the core's HTTP requests unless a caller asks for another.
pub(crate) const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Builds the core's HTTP client: rustls with the platform roots plus `roots`, a 5 s connect
/// timeout, `timeout` in total, and no redirects (every URL is configuration, and a redirect must
/// not carry a token or a CLI login anywhere else).
pub(crate) fn http_client(
    roots: Option<&ExtraRoots>,
    timeout: Duration,
) -> Result<reqwest::Client, Error> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("vercel-oidc-rust/", env!("CARGO_PKG_VERSION")));
    if let Some(roots) = roots {
        builder = builder.tls_certs_merge(roots.reqwest_certificates());
    }
    builder.build().map_err(|e| Error::InvalidConfiguration {
        message: "cannot build the HTTP client".into(),
        source: Some(Arc::new(e)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_file_errors_are_typed_and_name_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("missing.pem");
        let err = ExtraRoots::from_pem_file(&missing).expect_err("missing");
        assert!(err.is_invalid_configuration());
        assert!(err.to_string().contains("missing.pem"), "{err}");

        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("write");
        let err = ExtraRoots::from_pem_file(&empty).expect_err("no certs");
        assert!(err.is_invalid_configuration(), "{err}");

        let env = Env::from_pairs([(CA_FILE_ENV, "")]);
        assert!(ExtraRoots::from_env(&env).expect("ok").is_none());
    }
}
