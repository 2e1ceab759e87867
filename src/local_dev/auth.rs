//! The Vercel CLI's login: `auth.json` (read, validity, merge-write) and `config.json`'s
//! credential storage.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

use super::files::{JsonFile, PreparedWrite, read_json_object};
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
    /// Every other field of the object as it was read (the fallback of the merge).
    pub(crate) fields: Map<String, Value>,
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
            .finish_non_exhaustive()
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
        fields: map.clone(),
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

/// The write of `auth.json` after a refresh, prepared before the OAuth grant: if the file
/// cannot be written, nothing is spent (a rotating server revokes the old refresh token as soon
/// as it answers, so a grant whose answer cannot be stored loses the login).
#[derive(Debug)]
pub(crate) struct AuthWrite(PreparedWrite);

/// Prepares the merge-write of `auth`'s file. A symlinked `auth.json` (dotfile managers) stays a
/// symlink: the rename targets the real file, in the real file's directory.
pub(crate) fn prepare_merge(auth: &CliAuth) -> Result<AuthWrite, Error> {
    let target = std::fs::canonicalize(&auth.path).unwrap_or_else(|_| auth.path.clone());
    PreparedWrite::new(&target, "update").map(AuthWrite)
}

/// Merges a successful refresh into `auth.json`, atomically, through `write` (prepared before
/// the grant): every field the file has now stays; `token` and `expiresAt` are replaced;
/// `refreshToken` only when the response has one. When the file cannot be re-read as an object
/// (gone, unreadable, half-written by another program), the merge starts from the object read
/// at the start of the refresh instead, so the file never ends up with fewer fields than it had,
/// and never without the refresh token. This is the only way this crate ever writes
/// `auth.json`.
pub(crate) fn merge_write(
    auth: &CliAuth,
    write: AuthWrite,
    tokens: &OAuthTokens,
    now: SystemTime,
) -> Result<(), Error> {
    // Re-read: the CLI may have changed the file since it was read.
    let map = match read_json_object(&auth.path) {
        JsonFile::Object(map) => map,
        JsonFile::Missing | JsonFile::Invalid(_) => {
            tracing::debug!(
                path = %auth.path.display(),
                "local-dev refresh: auth.json cannot be re-read; merging into the object read before"
            );
            auth.fields.clone()
        }
    };
    let mut map = merged(map, tokens, now);
    let has_refresh = matches!(map.get("refreshToken"), Some(Value::String(s)) if !s.is_empty());
    if !has_refresh && let Some(old) = &auth.refresh_token {
        map.insert("refreshToken".into(), old.expose_secret().to_owned().into());
    }
    let text =
        SecretString::from(serde_json::to_string_pretty(&Value::Object(map)).unwrap_or_default());
    write.0.commit(text.expose_secret().as_bytes())
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

    /// Reads `auth.json` in `path`'s directory (through `path`), prepares and merges.
    fn merge_at(path: &Path, tokens: &OAuthTokens, now: SystemTime) -> Result<(), Error> {
        let mut auth = read_auth(path.parent().expect("dir"))?;
        auth.path = path.to_path_buf();
        let write = prepare_merge(&auth)?;
        merge_write(&auth, write, tokens, now)
    }

    fn object(path: &Path) -> Map<String, Value> {
        match read_json_object(path) {
            JsonFile::Object(map) => map,
            other => panic!("not an object: {other:?}"),
        }
    }

    #[test]
    fn merge_falls_back_to_the_first_read_when_the_reread_fails() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("auth.json");
        let original =
            r#"{"// Note":"keep","token":"old","refreshToken":"rt","expiresAt":1,"userId":"u1"}"#;
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        // Half-written by another program between our read and the merge; then gone entirely.
        for spoil in [Some("{\"tok"), None] {
            std::fs::write(&path, original).expect("write");
            let auth = read_auth(dir.path()).expect("read");
            let write = prepare_merge(&auth).expect("prepare");
            match spoil {
                Some(garbage) => std::fs::write(&path, garbage).expect("spoil"),
                None => std::fs::remove_file(&path).expect("rm"),
            }
            merge_write(&auth, write, &tokens(None), now).expect("merge");
            let map = object(&path);
            assert_eq!(map["// Note"], "keep", "{spoil:?}");
            assert_eq!(map["userId"], "u1", "{spoil:?}");
            assert_eq!(map["refreshToken"], "rt", "{spoil:?}");
            assert_eq!(map["token"], "new-access", "{spoil:?}");
            assert_eq!(map["expiresAt"], 1_100, "{spoil:?}");
        }
        // A re-read object that lost the refresh token gets the old one back when the response
        // has none, and the response's when it has one.
        std::fs::write(&path, original).expect("write");
        let auth = read_auth(dir.path()).expect("read");
        let write = prepare_merge(&auth).expect("prepare");
        std::fs::write(&path, r#"{"token":"x","other":1}"#).expect("rewrite");
        merge_write(&auth, write, &tokens(None), now).expect("merge");
        let map = object(&path);
        assert_eq!(map["refreshToken"], "rt");
        assert_eq!(map["other"], 1);
        let auth = read_auth(dir.path()).expect("read");
        let write = prepare_merge(&auth).expect("prepare");
        merge_write(&auth, write, &tokens(Some("rt2")), now).expect("merge");
        assert_eq!(object(&path)["refreshToken"], "rt2");
        // The prepared write leaves no temporary file behind.
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
    }

    #[test]
    fn a_dropped_prepared_write_leaves_the_file_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("auth.json");
        std::fs::write(&path, r#"{"token":"t"}"#).expect("write");
        let auth = read_auth(dir.path()).expect("read");
        drop(prepare_merge(&auth).expect("prepare"));
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            r#"{"token":"t"}"#
        );
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
    }

    #[test]
    fn an_unreadable_auth_json_is_invalid_not_logged_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("auth.json")).expect("mkdir");
        assert!(matches!(
            read_auth(dir.path())
                .expect_err("a directory")
                .local_dev_kind(),
            Some(LocalDevErrorKind::AuthFileInvalid { .. })
        ));
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
        merge_at(&path, &tokens(None), now).expect("merge");
        let JsonFile::Object(map) = read_json_object(&path) else {
            panic!("not an object");
        };
        assert_eq!(map["// Note"], "keep");
        assert_eq!(map["skipWrite"], false);
        assert_eq!(map["token"], "new-access");
        assert_eq!(map["refreshToken"], "rt");
        assert_eq!(map["expiresAt"], 1_100);
        merge_at(&path, &tokens(Some("rt2")), now).expect("merge");
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
            merge_at(&link, &tokens(None), now).expect("merge via link");
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
    fn empty_secrets_count_as_absent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("auth.json");
        std::fs::write(&path, r#"{"token":"","refreshToken":""}"#).expect("write");
        assert!(matches!(
            read_auth(dir.path()).expect_err("empty").local_dev_kind(),
            Some(LocalDevErrorKind::NotLoggedIn { .. })
        ));
        std::fs::write(&path, r#"{"token":"","refreshToken":"rt"}"#).expect("write");
        let auth = read_auth(dir.path()).expect("refresh token only");
        assert!(auth.token.is_none());
        assert_eq!(
            auth.refresh_token.as_ref().map(|s| s.expose_secret()),
            Some("rt")
        );
    }

    #[test]
    fn validity_uses_expires_at_and_buffer() {
        let auth = |exp: Option<f64>| CliAuth {
            path: PathBuf::new(),
            token: Some(SecretString::from("t")),
            refresh_token: None,
            expires_at: exp,
            fields: Map::new(),
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
