//! Seed helpers that read Vercel's request headers and system env vars, with the semantics of
//! `@vercel/functions` (`ipAddress`, `geolocation`, `getEnv`).
//!
//! Header values are attacker-controlled unless Vercel's proxy sets them: these helpers never
//! panic or fail on odd input; a value that is not valid text is treated as absent.

use http::HeaderMap;
use secrecy::SecretString;

use crate::env::Env;

/// The client's IP address from `x-real-ip`.
///
/// ```
/// let mut headers = http::HeaderMap::new();
/// headers.insert("x-real-ip", "203.0.113.7".parse().unwrap());
/// assert_eq!(vercel_oidc::ip_address(&headers).as_deref(), Some("203.0.113.7"));
/// ```
pub fn ip_address(headers: &HeaderMap) -> Option<String> {
    header(headers, "x-real-ip")
}

/// Where the request came from, per Vercel's geo headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Geo {
    /// `x-vercel-ip-city`, URL-decoded (the raw value when it is not valid percent-encoding).
    pub city: Option<String>,
    /// `x-vercel-ip-country`: ISO 3166-1 alpha-2 code.
    pub country: Option<String>,
    /// The country's flag emoji, when `country` is two upper-case ASCII letters.
    pub flag: Option<String>,
    /// `x-vercel-ip-country-region`: ISO 3166-2 region code.
    pub country_region: Option<String>,
    /// The Vercel region that served the request: the part of `x-vercel-id` before the first
    /// `:`, or `dev1` when the header is absent.
    pub region: Option<String>,
    /// `x-vercel-ip-latitude`.
    pub latitude: Option<String>,
    /// `x-vercel-ip-longitude`.
    pub longitude: Option<String>,
    /// `x-vercel-ip-postal-code`.
    pub postal_code: Option<String>,
}

/// Reads Vercel's geolocation headers.
///
/// ```
/// let mut headers = http::HeaderMap::new();
/// headers.insert("x-vercel-ip-city", "S%C3%A3o%20Paulo".parse().unwrap());
/// headers.insert("x-vercel-ip-country", "BR".parse().unwrap());
/// headers.insert("x-vercel-id", "gru1::abcde-123".parse().unwrap());
/// let geo = vercel_oidc::geolocation(&headers);
/// assert_eq!(geo.city.as_deref(), Some("São Paulo"));
/// assert_eq!(geo.flag.as_deref(), Some("🇧🇷"));
/// assert_eq!(geo.region.as_deref(), Some("gru1"));
/// ```
pub fn geolocation(headers: &HeaderMap) -> Geo {
    let country = header(headers, "x-vercel-ip-country");
    Geo {
        city: header(headers, "x-vercel-ip-city").map(|c| decode_uri_component(&c)),
        flag: country.as_deref().and_then(flag),
        country,
        country_region: header(headers, "x-vercel-ip-country-region"),
        region: Some(match header(headers, "x-vercel-id") {
            None => "dev1".to_owned(),
            Some(id) => id.split(':').next().unwrap_or_default().to_owned(),
        }),
        latitude: header(headers, "x-vercel-ip-latitude"),
        longitude: header(headers, "x-vercel-ip-longitude"),
        postal_code: header(headers, "x-vercel-ip-postal-code"),
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The regional-indicator flag for a two-letter upper-case country code.
fn flag(country: &str) -> Option<String> {
    let bytes = country.as_bytes();
    if bytes.len() != 2 || !bytes.iter().all(u8::is_ascii_uppercase) {
        return None;
    }
    bytes
        .iter()
        .map(|b| char::from_u32(0x1F1A5 + u32::from(*b)))
        .collect()
}

/// `decodeURIComponent`, except that a malformed escape returns the raw value instead of
/// throwing.
fn decode_uri_component(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let ok = bytes.len() > i + 2
                && bytes[i + 1].is_ascii_hexdigit()
                && bytes[i + 2].is_ascii_hexdigit();
            if !ok {
                return raw.to_owned();
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    match percent_encoding::percent_decode_str(raw).decode_utf8() {
        Ok(decoded) => decoded.into_owned(),
        Err(_) => raw.to_owned(),
    }
}

/// Vercel's system environment variables, as `@vercel/functions`' `getEnv` returns them: an
/// empty value counts as unset.
///
/// `Debug` redacts [`VercelEnv::automation_bypass_secret`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct VercelEnv {
    /// `VERCEL`: `"1"` on Vercel.
    pub vercel: Option<String>,
    /// `CI`: `"1"` during builds.
    pub ci: Option<String>,
    /// `VERCEL_ENV`: `production`, `preview` or `development`.
    pub vercel_env: Option<String>,
    /// `VERCEL_URL`: the deployment's generated URL, without scheme.
    pub vercel_url: Option<String>,
    /// `VERCEL_BRANCH_URL`.
    pub vercel_branch_url: Option<String>,
    /// `VERCEL_PROJECT_PRODUCTION_URL`.
    pub vercel_project_production_url: Option<String>,
    /// `VERCEL_REGION`.
    pub vercel_region: Option<String>,
    /// `VERCEL_DEPLOYMENT_ID`.
    pub vercel_deployment_id: Option<String>,
    /// `VERCEL_SKEW_PROTECTION_ENABLED`.
    pub vercel_skew_protection_enabled: Option<String>,
    /// `VERCEL_AUTOMATION_BYPASS_SECRET` (a secret: redacted in `Debug`).
    pub automation_bypass_secret: Option<SecretString>,
    /// `VERCEL_GIT_PROVIDER`.
    pub vercel_git_provider: Option<String>,
    /// `VERCEL_GIT_REPO_SLUG`.
    pub vercel_git_repo_slug: Option<String>,
    /// `VERCEL_GIT_REPO_OWNER`.
    pub vercel_git_repo_owner: Option<String>,
    /// `VERCEL_GIT_REPO_ID`.
    pub vercel_git_repo_id: Option<String>,
    /// `VERCEL_GIT_COMMIT_REF`.
    pub vercel_git_commit_ref: Option<String>,
    /// `VERCEL_GIT_COMMIT_SHA`.
    pub vercel_git_commit_sha: Option<String>,
    /// `VERCEL_GIT_COMMIT_MESSAGE`.
    pub vercel_git_commit_message: Option<String>,
    /// `VERCEL_GIT_COMMIT_AUTHOR_LOGIN`.
    pub vercel_git_commit_author_login: Option<String>,
    /// `VERCEL_GIT_COMMIT_AUTHOR_NAME`.
    pub vercel_git_commit_author_name: Option<String>,
    /// `VERCEL_GIT_PREVIOUS_SHA`.
    pub vercel_git_previous_sha: Option<String>,
    /// `VERCEL_GIT_PULL_REQUEST_ID`.
    pub vercel_git_pull_request_id: Option<String>,
}

/// Reads Vercel's system environment variables from `env` (use [`Env::real`] for the process).
///
/// ```
/// use vercel_oidc::{get_env, Env};
/// let vars = get_env(&Env::from_pairs([("VERCEL_ENV", "preview"), ("VERCEL_URL", "")]));
/// assert_eq!(vars.vercel_env.as_deref(), Some("preview"));
/// assert_eq!(vars.vercel_url, None); // empty counts as unset
/// ```
pub fn get_env(env: &Env) -> VercelEnv {
    let get = |name: &str| env.get_non_empty(name);
    VercelEnv {
        vercel: get("VERCEL"),
        ci: get("CI"),
        vercel_env: get("VERCEL_ENV"),
        vercel_url: get("VERCEL_URL"),
        vercel_branch_url: get("VERCEL_BRANCH_URL"),
        vercel_project_production_url: get("VERCEL_PROJECT_PRODUCTION_URL"),
        vercel_region: get("VERCEL_REGION"),
        vercel_deployment_id: get("VERCEL_DEPLOYMENT_ID"),
        vercel_skew_protection_enabled: get("VERCEL_SKEW_PROTECTION_ENABLED"),
        automation_bypass_secret: get("VERCEL_AUTOMATION_BYPASS_SECRET").map(SecretString::from),
        vercel_git_provider: get("VERCEL_GIT_PROVIDER"),
        vercel_git_repo_slug: get("VERCEL_GIT_REPO_SLUG"),
        vercel_git_repo_owner: get("VERCEL_GIT_REPO_OWNER"),
        vercel_git_repo_id: get("VERCEL_GIT_REPO_ID"),
        vercel_git_commit_ref: get("VERCEL_GIT_COMMIT_REF"),
        vercel_git_commit_sha: get("VERCEL_GIT_COMMIT_SHA"),
        vercel_git_commit_message: get("VERCEL_GIT_COMMIT_MESSAGE"),
        vercel_git_commit_author_login: get("VERCEL_GIT_COMMIT_AUTHOR_LOGIN"),
        vercel_git_commit_author_name: get("VERCEL_GIT_COMMIT_AUTHOR_NAME"),
        vercel_git_previous_sha: get("VERCEL_GIT_PREVIOUS_SHA"),
        vercel_git_pull_request_id: get("VERCEL_GIT_PULL_REQUEST_ID"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().expect("header value"));
        }
        h
    }

    #[test]
    fn ip_address_reads_x_real_ip() {
        assert_eq!(ip_address(&HeaderMap::new()), None);
        let h = headers(&[("x-real-ip", "2001:db8::1"), ("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(ip_address(&h).as_deref(), Some("2001:db8::1"));
    }

    #[test]
    fn geolocation_full() {
        let h = headers(&[
            ("x-vercel-ip-city", "Z%C3%BCrich"),
            ("x-vercel-ip-country", "CH"),
            ("x-vercel-ip-country-region", "ZH"),
            ("x-vercel-ip-latitude", "47.37"),
            ("x-vercel-ip-longitude", "8.54"),
            ("x-vercel-ip-postal-code", "8001"),
            ("x-vercel-id", "fra1:iad1::xyz-1700000000000-abc"),
        ]);
        let geo = geolocation(&h);
        assert_eq!(
            geo,
            Geo {
                city: Some("Zürich".into()),
                country: Some("CH".into()),
                flag: Some("\u{1F1E8}\u{1F1ED}".into()),
                country_region: Some("ZH".into()),
                region: Some("fra1".into()),
                latitude: Some("47.37".into()),
                longitude: Some("8.54".into()),
                postal_code: Some("8001".into()),
            }
        );
    }

    #[test]
    fn geolocation_defaults_and_flag_rules() {
        let geo = geolocation(&HeaderMap::new());
        assert_eq!(geo.region.as_deref(), Some("dev1"));
        assert_eq!(geo.city, None);
        assert_eq!(geo.flag, None);
        for (country, want) in [
            ("US", Some("\u{1F1FA}\u{1F1F8}")),
            ("us", None),
            ("USA", None),
            ("U", None),
            ("1A", None),
            ("", None),
        ] {
            let geo = geolocation(&headers(&[("x-vercel-ip-country", country)]));
            assert_eq!(geo.flag.as_deref(), want, "country {country:?}");
        }
        // An x-vercel-id without ':' is the region itself; an empty one gives "".
        let geo = geolocation(&headers(&[("x-vercel-id", "sfo1")]));
        assert_eq!(geo.region.as_deref(), Some("sfo1"));
    }

    #[test]
    fn malformed_city_escape_returns_raw_value() {
        for raw in ["100%", "%E", "%ZZcity", "%C3%28", "a%2"] {
            let geo = geolocation(&headers(&[("x-vercel-ip-city", raw)]));
            assert_eq!(geo.city.as_deref(), Some(raw));
        }
        let geo = geolocation(&headers(&[("x-vercel-ip-city", "New%20York")]));
        assert_eq!(geo.city.as_deref(), Some("New York"));
    }

    #[test]
    fn non_text_header_is_absent() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-real-ip",
            http::HeaderValue::from_bytes(b"\xff\xfe").expect("opaque bytes are allowed"),
        );
        assert_eq!(ip_address(&h), None);
    }

    #[test]
    fn get_env_empty_is_none_and_secret_is_redacted() {
        let env = Env::from_pairs([
            ("VERCEL", "1"),
            ("VERCEL_ENV", "production"),
            ("VERCEL_URL", ""),
            ("VERCEL_REGION", "iad1"),
            ("VERCEL_GIT_PULL_REQUEST_ID", ""),
            ("VERCEL_AUTOMATION_BYPASS_SECRET", "bypass-canary"),
        ]);
        let vars = get_env(&env);
        assert_eq!(vars.vercel.as_deref(), Some("1"));
        assert_eq!(vars.vercel_env.as_deref(), Some("production"));
        assert_eq!(vars.vercel_url, None);
        assert_eq!(vars.vercel_git_pull_request_id, None);
        assert_eq!(vars.vercel_region.as_deref(), Some("iad1"));
        assert_eq!(vars.ci, None);
        assert_eq!(
            vars.automation_bypass_secret
                .as_ref()
                .map(|s| s.expose_secret()),
            Some("bypass-canary")
        );
        let debug = format!("{vars:?}");
        assert!(!debug.contains("bypass-canary"), "{debug}");
    }
}
