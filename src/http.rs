//! The URL policy for every endpoint that receives a token ([`check_endpoint_url`]), extra trust
//! roots (`VERCEL_OIDC_CA_FILE`), and (with an HTTP feature) the HTTP client the core builds.
//!
//! `VERCEL_OIDC_CA_FILE` names a PEM file with one or more certificates. They are **added** to the
//! platform's roots of every HTTP client this project builds (for TLS-intercepting proxies and
//! HTTPS test emulators); verification is never disabled.

use std::path::{Path, PathBuf};
use std::sync::Arc;
#[cfg(feature = "__http")]
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
        let pem = crate::limits::read_regular_file(&path, crate::limits::PEM_MAX).map_err(|e| {
            Error::InvalidConfiguration {
                message: format!("cannot read CA file {}: {e}", path.display()),
                source: Some(Arc::new(e.into_io())),
            }
        })?;
        let certs = count_pem_certificates(&pem).map_err(|e| Error::InvalidConfiguration {
            message: format!("CA file {} is not valid PEM", path.display()),
            source: Some(Arc::new(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                e.to_string(),
            ))),
        })?;
        if certs == 0 {
            return Err(Error::config(format!(
                "CA file {} holds no certificate",
                path.display()
            )));
        }
        Ok(Self {
            path,
            count: certs,
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

    #[cfg(feature = "__http")]
    pub(crate) fn reqwest_certificates(&self) -> Vec<reqwest::Certificate> {
        // Parsed successfully in `from_pem_file`.
        reqwest::Certificate::from_pem_bundle(&self.pem).unwrap_or_default()
    }
}

/// How many certificates a PEM bundle holds (other PEM sections are skipped).
fn count_pem_certificates(pem: &[u8]) -> Result<usize, rustls_pki_types::pem::Error> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject as _;
    CertificateDer::pem_slice_iter(pem).try_fold(0usize, |n, cert| cert.map(|_| n + 1))
}

/// Checks a base URL that tokens or credentials are sent to, and returns it without a trailing
/// slash: `https`, or `http` only on a loopback host (tests, local proxies); no user info, query
/// or fragment. The error is the reason, for the caller's typed error.
pub(crate) fn check_base_url(base: &str) -> Result<&str, &'static str> {
    let trimmed = base.strip_suffix('/').unwrap_or(base);
    // `http::Uri` keeps the crate free of a full URL parser; it ignores a fragment, so that is
    // looked for first.
    let uri: http::Uri = trimmed.parse().map_err(|_| "not a URL")?;
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Err("not a URL");
    };
    if authority.as_str().contains('@') {
        return Err("must not contain credentials");
    }
    if uri.query().is_some() || trimmed.contains('#') {
        return Err("must not have a query or fragment");
    }
    let host = authority.host();
    if host.is_empty() {
        return Err("not a URL");
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match scheme.to_ascii_lowercase().as_str() {
        "https" => Ok(trimmed),
        "http" if loopback => Ok(trimmed),
        "http" => Err("must be https (http only on a loopback host)"),
        _ => Err("must be an https URL"),
    }
}

/// A URL with any user info (`user:password@`) replaced by `[redacted]`, for errors and logs.
///
/// Works on any string, parseable or not: everything between `://` and the last `@` of the
/// authority is replaced.
pub fn redact_url(url: &str) -> std::borrow::Cow<'_, str> {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return std::borrow::Cow::Borrowed(url);
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            std::borrow::Cow::Owned(format!("{}[redacted]{}", &url[..scheme_end], &rest[at..]))
        }
        None => std::borrow::Cow::Borrowed(url),
    }
}

/// An endpoint URL that breaks the URL policy of [`check_endpoint_url`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidEndpointUrl {
    url: String,
    reason: &'static str,
}

impl InvalidEndpointUrl {
    /// Why the URL was refused (e.g. "must not contain credentials").
    pub fn reason(&self) -> &'static str {
        self.reason
    }

    /// The refused URL with any user info redacted.
    pub fn redacted_url(&self) -> &str {
        &self.url
    }
}

impl std::fmt::Display for InvalidEndpointUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "endpoint URL {:?}: {}", self.url, self.reason)
    }
}

impl std::error::Error for InvalidEndpointUrl {}

/// The URL policy for every endpoint that receives a token, an assertion or credentials: `https`,
/// or `http` only on a loopback host (`localhost`, `127.0.0.0/8`, `[::1]`: tests and local
/// proxies); no user info, query or fragment. The providers apply it to their STS and Entra
/// endpoints; the error shows the URL with any user info redacted.
///
/// ```
/// assert!(vercel_oidc::check_endpoint_url("https://sts.eu-west-1.amazonaws.com").is_ok());
/// assert!(vercel_oidc::check_endpoint_url("http://127.0.0.1:4566").is_ok());
/// let err = vercel_oidc::check_endpoint_url("http://vm.internal:4566").unwrap_err();
/// assert_eq!(err.reason(), "must be https (http only on a loopback host)");
/// let err = vercel_oidc::check_endpoint_url("https://admin:pw@sts.example.com").unwrap_err();
/// assert!(!err.to_string().contains("pw"));
/// ```
pub fn check_endpoint_url(url: &str) -> Result<(), InvalidEndpointUrl> {
    check_base_url(url)
        .map(drop)
        .map_err(|reason| InvalidEndpointUrl {
            url: redact_url(url).into_owned(),
            reason,
        })
}

/// The total timeout of the core's HTTP requests unless a caller asks for another.
#[cfg(any(feature = "exchange", feature = "local-dev"))]
pub(crate) const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Builds the core's HTTP client: rustls with the platform roots plus `roots`, a 5 s connect
/// timeout, `timeout` in total, and no redirects (every URL is configuration, and a redirect must
/// not carry a token or a CLI login anywhere else).
#[cfg(feature = "__http")]
pub fn http_client(
    roots: Option<&ExtraRoots>,
    timeout: Duration,
) -> Result<reqwest::Client, Error> {
    http_client_builder(roots)
        .connect_timeout(Duration::from_secs(5))
        .timeout(timeout)
        .build()
        .map_err(|e| Error::InvalidConfiguration {
            message: "cannot build the HTTP client".into(),
            source: Some(Arc::new(e)),
        })
}

/// The core's HTTP client settings before any timeout: rustls with the platform roots plus
/// `roots`, no redirects, our user agent. Every HTTP client of this workspace starts here (the
/// providers add their own timeouts).
#[cfg(feature = "__http")]
pub fn http_client_builder(roots: Option<&ExtraRoots>) -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("vercel-oidc-rust/", env!("CARGO_PKG_VERSION")));
    match roots {
        Some(roots) => builder.tls_certs_merge(roots.reqwest_certificates()),
        None => builder,
    }
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

    #[cfg(unix)]
    #[test]
    fn ca_file_pointing_at_a_device_or_too_large_is_refused_without_reading_it() {
        let err = ExtraRoots::from_pem_file("/dev/zero").expect_err("device");
        assert!(err.is_invalid_configuration(), "{err}");
        assert!(err.to_string().contains("not a regular file"), "{err}");

        let dir = tempfile::tempdir().expect("tempdir");
        let big = dir.path().join("big.pem");
        let file = std::fs::File::create(&big).expect("create");
        file.set_len(crate::limits::PEM_MAX + 1).expect("grow");
        let err = ExtraRoots::from_pem_file(&big).expect_err("too large");
        assert!(err.to_string().contains("larger than"), "{err}");
    }

    #[test]
    fn the_url_policy_admits_https_and_loopback_http_only() {
        for ok in [
            "https://oidc.vercel.com",
            "https://oidc.vercel.com/",
            "HTTPS://OIDC.vercel.com/acme",
            "https://sts.eu-west-1.amazonaws.com:443/path",
            "http://127.0.0.1:4566",
            "http://127.1.2.3",
            "http://localhost:3000/",
            "http://LOCALHOST",
            "http://[::1]:8080",
        ] {
            assert!(check_base_url(ok).is_ok(), "{ok} should pass");
        }
        assert_eq!(
            check_base_url("https://oidc.vercel.com/"),
            Ok("https://oidc.vercel.com")
        );
        for (bad, reason) in [
            (
                "http://vm.internal:4566",
                "must be https (http only on a loopback host)",
            ),
            (
                "http://10.0.0.1",
                "must be https (http only on a loopback host)",
            ),
            (
                "http://127.0.0.1.nip.io",
                "must be https (http only on a loopback host)",
            ),
            ("ftp://127.0.0.1", "must be an https URL"),
            ("file:///etc/passwd", "not a URL"),
            (
                "https://admin:pw@sts.example.com",
                "must not contain credentials",
            ),
            (
                "https://user@sts.example.com",
                "must not contain credentials",
            ),
            (
                "https://sts.example.com/?a=b",
                "must not have a query or fragment",
            ),
            (
                "https://sts.example.com/#frag",
                "must not have a query or fragment",
            ),
            (
                "https://sts.example.com#",
                "must not have a query or fragment",
            ),
            ("sts.example.com", "not a URL"),
            ("/relative", "not a URL"),
            ("", "not a URL"),
            ("https://", "not a URL"),
            ("https://exa mple.com", "not a URL"),
            ("https://bücher.example", "not a URL"),
        ] {
            assert_eq!(check_base_url(bad), Err(reason), "{bad:?}");
        }
    }

    #[test]
    fn user_info_is_redacted_from_urls() {
        assert_eq!(
            redact_url("https://admin:S3cr3tPW@issuer.example/x?y"),
            "https://[redacted]@issuer.example/x?y"
        );
        assert_eq!(
            redact_url("http://user@127.0.0.1:9/"),
            "http://[redacted]@127.0.0.1:9/"
        );
        // An `@` after the authority is not user info.
        assert_eq!(
            redact_url("https://host.example/a@b"),
            "https://host.example/a@b"
        );
        assert_eq!(redact_url("not a url"), "not a url");
        // Passwords containing `@` are redacted whole.
        assert_eq!(
            redact_url("https://u:p@ss@host.example"),
            "https://[redacted]@host.example"
        );
    }

    #[test]
    fn endpoint_policy_errors_never_echo_the_password() {
        for (url, reason) in [
            (
                "http://vm:4566",
                "must be https (http only on a loopback host)",
            ),
            (
                "http://user:pw@127.0.0.1:4566",
                "must not contain credentials",
            ),
            (
                "https://sts.example.com/?X-Amz=1",
                "must not have a query or fragment",
            ),
            ("ftp://sts.example.com", "must be an https URL"),
            ("sts.example.com", "not a URL"),
        ] {
            let err = check_endpoint_url(url).expect_err(url);
            assert_eq!(err.reason(), reason, "{url}");
            assert!(!err.to_string().contains("pw"), "{err}");
        }
        for url in [
            "https://sts.amazonaws.com",
            "http://localhost:1",
            "http://[::1]:2/path",
        ] {
            check_endpoint_url(url).expect(url);
        }
    }
}
