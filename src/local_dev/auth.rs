//! The Vercel CLI's login: `auth.json` (read, validity, merge-write) and `config.json`'s
//! credential storage.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

use super::files::{JsonFile, read_json_object, write_atomic};
use super::http::OAuthTokens;
use crate::env::Env;
use crate::error::{Error, LocalDevErrorKind};

const TOKEN_STORAGE_ENV: &str = "VERCEL_TOKEN_STORAGE";
const DPOP_ENV: &str = "__VERCEL_FF_DPOP";

/// The parts of `auth.json` we use, secrets wrapped as soon as they are read.
pub(crate) struct CliAuth {
    pub(crate) path: PathBuf,
    pub(crate) token: Option<SecretString>,
    pub(crate) refresh_token: Option<SecretString>,
    /// Unix seconds.
    pub(crate) expires_at: Option<f64>,
}

impl std::fmt::Debug for CliAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CliAuth")
            .field("path", &self.path)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

fn secret(map: &mut Map<String, Value>, key: &str) -> Option<SecretString> {
    match map.remove(key) {
        Some(Value::String(s)) if !s.is_empty() => Some(SecretString::from(s)),
        _ => None,
    }
}

/// Reads `<cli dir>/auth.json`. Missing, or without `token` and `refreshToken`: not logged in.
pub(crate) fn read_auth(cli_dir: &Path) -> Result<CliAuth, Error> {
    let path = cli_dir.join("auth.json");
    let mut map = match read_json_object(&path) {
        JsonFile::Object(map) => map,
        JsonFile::Missing => {
            return Err(Error::local_dev(LocalDevErrorKind::NotLoggedIn { path }));
        }
        JsonFile::Invalid(e) => {
            let kind = LocalDevErrorKind::AuthFileInvalid { path };
            return Err(match e {
                Some(e) => Error::local_dev_with(kind, e),
                None => Error::local_dev(kind),
            });
        }
    };
    auth_from_object(path, &mut map)
}

/// The login in an `auth.json` object (read from `path`); the secrets are taken out of `map`.
pub(crate) fn auth_from_object(
    path: PathBuf,
    map: &mut Map<String, Value>,
) -> Result<CliAuth, Error> {
    let expires_at = map.get("expiresAt").and_then(Value::as_f64);
    let token = secret(map, "token");
    let refresh_token = secret(map, "refreshToken");
    if token.is_none() && refresh_token.is_none() {
        return Err(Error::local_dev(LocalDevErrorKind::NotLoggedIn { path }));
    }
    Ok(CliAuth {
        path,
        token,
        refresh_token,
        expires_at,
    })
}

impl CliAuth {
    /// The token, when present and `expiresAt` is absent or not within `buffer` of `now`.
    pub(crate) fn valid_token(&self, now: SystemTime, buffer: Duration) -> Option<&SecretString> {
        let token = self.token.as_ref()?;
        match self.expires_at {
            None => Some(token),
            Some(exp) => {
                let limit = now
                    .checked_add(buffer)?
                    .duration_since(UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64());
                (exp >= limit).then_some(token)
            }
        }
    }
}

/// Merges a successful refresh into `auth.json`, atomically: every field the file has now
/// stays; `token` and `expiresAt` are replaced; `refreshToken` only when the response has one.
/// This is the only way this crate ever writes `auth.json`.
pub(crate) fn merge_write(path: &Path, tokens: &OAuthTokens, now: SystemTime) -> Result<(), Error> {
    // Re-read: the CLI may have changed the file since it was read. A file that is gone or no
    // longer an object is replaced by the new login rather than losing a rotated refresh token.
    let map = match read_json_object(path) {
        JsonFile::Object(map) => map,
        _ => Map::new(),
    };
    let map = merged(map, tokens, now);
    let text =
        SecretString::from(serde_json::to_string_pretty(&Value::Object(map)).unwrap_or_default());
    // A symlinked auth.json (dotfile managers) stays a symlink: the rename targets the real
    // file, in the real file's directory.
    let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    write_atomic(&target, text.expose_secret().as_bytes(), "update")
}

/// `auth.json`'s object after a successful refresh: every field stays; `token` and `expiresAt`
/// are replaced; `refreshToken` only when the response has one.
pub(crate) fn merged(
    mut map: Map<String, Value>,
    tokens: &OAuthTokens,
    now: SystemTime,
) -> Map<String, Value> {
    let now_secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    map.insert(
        "token".into(),
        tokens.access_token.expose_secret().to_owned().into(),
    );
    map.insert(
        "expiresAt".into(),
        now_secs.saturating_add(tokens.expires_in.as_secs()).into(),
    );
    if let Some(refresh) = &tokens.refresh_token {
        map.insert(
            "refreshToken".into(),
            refresh.expose_secret().to_owned().into(),
        );
    }
    map
}

/// Whether the CLI keeps its login in the system keyring (or uses DPoP), so that the token must
/// come from `vercel project token`: `VERCEL_TOKEN_STORAGE` (else `config.json`'s
/// `credStorage`) is `keyring`, or `auto` with no usable `auth.json`; or `__VERCEL_FF_DPOP=1`.
pub(crate) fn uses_cli_command(env: &Env, cli_dir: &Path) -> Result<bool, Error> {
    if env.get(DPOP_ENV).as_deref() == Some("1") {
        return Ok(true);
    }
    let (setting, value) = match env.get(TOKEN_STORAGE_ENV) {
        Some(value) => (TOKEN_STORAGE_ENV, Some(value)),
        None => {
            let value = match read_json_object(&cli_dir.join("config.json")) {
                JsonFile::Object(map) => match map.get("credStorage") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(other) => Some(other.to_string()),
                },
                _ => None,
            };
            ("config.json credStorage", value)
        }
    };
    match value.as_deref() {
        None | Some("file") => Ok(false),
        Some("keyring") => Ok(true),
        Some("auto") => Ok(read_auth(cli_dir).is_err()),
        Some(other) => Err(Error::local_dev(LocalDevErrorKind::InvalidCredStorage {
            setting,
            value: other.to_owned(),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(refresh: Option<&str>) -> OAuthTokens {
        OAuthTokens {
            access_token: SecretString::from("new-access"),
            expires_in: Duration::from_secs(100),
            refresh_token: refresh.map(SecretString::from),
        }
    }

    #[test]
    fn merge_keeps_unknown_fields_and_old_refresh_token() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("auth.json");
        std::fs::write(
            &path,
            "\u{feff}{\"// Note\":\"keep\",\"token\":\"old\",\"refreshToken\":\"rt\",\"expiresAt\":1,\"skipWrite\":false}",
        )
        .expect("write");
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        merge_write(&path, &tokens(None), now).expect("merge");
        let JsonFile::Object(map) = read_json_object(&path) else {
            panic!("not an object");
        };
        assert_eq!(map["// Note"], "keep");
        assert_eq!(map["skipWrite"], false);
        assert_eq!(map["token"], "new-access");
        assert_eq!(map["refreshToken"], "rt");
        assert_eq!(map["expiresAt"], 1_100);
        merge_write(&path, &tokens(Some("rt2")), now).expect("merge");
        let auth = read_auth(dir.path()).expect("read");
        assert_eq!(
            auth.refresh_token.as_ref().map(|s| s.expose_secret()),
            Some("rt2")
        );
        assert!(format!("{auth:?}").contains("[redacted]"));

        #[cfg(unix)]
        {
            let link = dir.path().join("link.json");
            std::os::unix::fs::symlink(&path, &link).expect("symlink");
            merge_write(&link, &tokens(None), now).expect("merge via link");
            assert!(
                std::fs::symlink_metadata(&link)
                    .expect("meta")
                    .file_type()
                    .is_symlink()
            );
        }
        assert!(!format!("{auth:?}").contains("rt2"));
    }

    #[test]
    fn validity_uses_expires_at_and_buffer() {
        let auth = |exp: Option<f64>| CliAuth {
            path: PathBuf::new(),
            token: Some(SecretString::from("t")),
            refresh_token: None,
            expires_at: exp,
        };
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        assert!(auth(None).valid_token(now, Duration::ZERO).is_some());
        assert!(
            auth(Some(1_000.0))
                .valid_token(now, Duration::ZERO)
                .is_some()
        );
        assert!(auth(Some(999.0)).valid_token(now, Duration::ZERO).is_none());
        assert!(
            auth(Some(1_050.0))
                .valid_token(now, Duration::from_secs(60))
                .is_none()
        );
    }

    #[test]
    fn cred_storage_setting() {
        let dir = tempfile::tempdir().expect("tempdir");
        let none = Env::from_pairs::<&str, &str>([]);
        assert!(!uses_cli_command(&none, dir.path()).expect("default file"));
        let keyring = Env::from_pairs([(TOKEN_STORAGE_ENV, "keyring")]);
        assert!(uses_cli_command(&keyring, dir.path()).expect("keyring"));
        let auto = Env::from_pairs([(TOKEN_STORAGE_ENV, "auto")]);
        assert!(uses_cli_command(&auto, dir.path()).expect("auto, no auth.json"));
        std::fs::write(dir.path().join("auth.json"), r#"{"token":"t"}"#).expect("write");
        assert!(!uses_cli_command(&auto, dir.path()).expect("auto with auth.json"));
        let dpop = Env::from_pairs([(DPOP_ENV, "1")]);
        assert!(uses_cli_command(&dpop, dir.path()).expect("dpop"));
        let dpop0 = Env::from_pairs([(DPOP_ENV, "0")]);
        assert!(!uses_cli_command(&dpop0, dir.path()).expect("dpop 0"));
        let bad = Env::from_pairs([(TOKEN_STORAGE_ENV, "vault")]);
        assert!(matches!(
            uses_cli_command(&bad, dir.path())
                .expect_err("bad")
                .local_dev_kind(),
            Some(LocalDevErrorKind::InvalidCredStorage { .. })
        ));
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"credStorage":"keyring"}"#,
        )
        .expect("write");
        assert!(uses_cli_command(&none, dir.path()).expect("config.json"));
    }
}
