//! Fuzz entry points (`fuzz/`), also run over the committed seed corpus by the unit tests.
//!
//! Each function feeds attacker-controlled input to one parser and checks the invariants that
//! must hold whatever the input: no panic, no echo of the input in errors, redacted `Debug`.

use std::time::{Duration, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::{Claims, Error, OidcToken, RequestContext, geolocation, ip_address};

/// `OidcToken::parse` on arbitrary text.
pub fn jwt_parse(data: &str) {
    match OidcToken::parse(data) {
        Ok(token) => {
            assert_eq!(format!("{token:?}"), "OidcToken([redacted])");
            let claims = token.unverified_claims();
            assert_eq!(claims.expires_at().is_some(), claims.exp.is_some());
            let _ = token.is_expired_within(Duration::MAX);
            let _ = token.is_expired_within_at(Duration::from_secs(60), UNIX_EPOCH);
        }
        Err(err) => {
            assert!(matches!(err, Error::MalformedToken(_)), "{err:?}");
            // The message depends on the kind of defect only, never on the input: its length is
            // bounded whatever the input's. (A substring check is not usable: an input may be a
            // piece of the message text itself, as the fuzzer found.)
            let shown = format!("{err} {err:?}");
            assert!(shown.len() < 400, "error message grows with its input");
        }
    }
}

/// `Claims::from_json_object` on an arbitrary JSON document; accepted claims survive a
/// serialise → parse round trip unchanged.
pub fn claims_json(data: &[u8]) {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(data) else {
        return;
    };
    if let Ok(claims) = Claims::from_json_object(map) {
        let serde_json::Value::Object(again) =
            serde_json::to_value(&claims).expect("claims serialise")
        else {
            panic!("claims serialise to an object");
        };
        let reparsed = Claims::from_json_object(again).expect("serialised claims parse");
        assert_eq!(reparsed, claims);
    }
}

/// Header helpers on arbitrary header lines (`name: value` separated by `\n`).
pub fn headers(data: &[u8]) {
    let mut headers = HeaderMap::new();
    for line in data.split(|b| *b == b'\n') {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            headers.append(name, value);
        }
    }
    let context = RequestContext::from_headers(&headers);
    let shown = format!("{context:?}");
    assert!(shown.starts_with("RequestContext"));
    let geo = geolocation(&headers);
    if let Some(flag) = &geo.flag {
        let country = geo.country.as_deref().expect("a flag comes from a country");
        assert_eq!(country.len(), 2);
        assert_eq!(flag.chars().count(), 2);
    }
    assert!(geo.region.is_some());
    let _ = ip_address(&headers);
}

/// `.vercel/project.json` and the CLI's `auth.json`: BOM-tolerant parsing, the login read from
/// it (secrets redacted in `Debug`), and the merge after a refresh, which must keep every field
/// and the refresh token when the response has none.
pub fn local_dev_json(data: &[u8]) {
    use crate::local_dev::auth::{auth_from_object, merged};
    use crate::local_dev::files::{JsonFile, parse_json_object};
    use crate::local_dev::http::OAuthTokens;
    use crate::local_dev::paths::project_from_object;
    use secrecy::SecretString;

    let JsonFile::Object(map) = parse_json_object(data) else {
        return;
    };
    let _ = project_from_object(&map);
    let mut taken = map.clone();
    match auth_from_object("auth.json".into(), &mut taken) {
        Ok(auth) => {
            let shown = format!("{auth:?}");
            for key in ["token", "refreshToken"] {
                if let Some(serde_json::Value::String(secret)) = map.get(key)
                    && secret.len() >= 12
                {
                    assert!(!shown.contains(secret.as_str()), "{key} in Debug");
                }
            }
        }
        Err(err) => {
            let _ = format!("{err} {err:?}");
        }
    }
    let tokens = OAuthTokens {
        access_token: SecretString::from("fuzz-new-access-token"),
        expires_in: Duration::from_secs(3600),
        refresh_token: None,
    };
    let out = merged(
        map.clone(),
        &tokens,
        UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    );
    for (key, value) in &map {
        match key.as_str() {
            "token" | "expiresAt" => {}
            _ => assert_eq!(out.get(key), Some(value), "merge dropped or changed {key}"),
        }
    }
    assert_eq!(
        out.get("token").and_then(|v| v.as_str()),
        Some("fuzz-new-access-token")
    );
    assert_eq!(
        out.get("expiresAt").and_then(|v| v.as_u64()),
        Some(1_700_003_600)
    );
}

/// A JWKS document: only usable RS256 keys are kept, never more than the document has.
pub fn jwks(data: &[u8]) {
    if let Ok(set) = crate::verify::jwks::KeySet::parse(data) {
        let listed = serde_json::from_slice::<serde_json::Value>(data)
            .ok()
            .and_then(|v| v.get("keys").and_then(|k| k.as_array()).map(Vec::len))
            .unwrap_or(0);
        assert!(set.len() <= listed);
        let _ = set.find("");
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Runs every committed seed through its target, so the corpus stays a regression suite.
    fn each_seed(target: &str, run: impl Fn(&[u8])) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/seeds")
            .join(target);
        let mut count = 0;
        for entry in std::fs::read_dir(&dir).expect("seed dir") {
            let path = entry.expect("entry").path();
            run(&std::fs::read(&path).expect("seed"));
            count += 1;
        }
        assert!(count > 0, "no seeds in {}", dir.display());
    }

    #[test]
    fn seeds_jwt_parse() {
        each_seed("jwt_parse", |b| {
            if let Ok(s) = std::str::from_utf8(b) {
                super::jwt_parse(s);
            }
        });
    }

    #[test]
    fn seeds_claims_json() {
        each_seed("claims_json", super::claims_json);
    }

    #[test]
    fn seeds_headers() {
        each_seed("headers", super::headers);
    }

    #[test]
    fn seeds_local_dev_json() {
        each_seed("local_dev_json", super::local_dev_json);
    }

    #[test]
    fn seeds_jwks() {
        each_seed("jwks", super::jwks);
    }
}
