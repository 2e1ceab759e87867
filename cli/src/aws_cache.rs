//! The cross-process cache of `aws credential-process`.
//!
//! The AWS CLI and SDKs start the `credential_process` command on every refresh and leave
//! caching to it. This cache keeps the credentials of one configuration in
//! `$XDG_CACHE_HOME/vercel-oidc/aws/<hash>.json` (else `~/.cache/…`), where the hash covers
//! every option of the command, the STS endpoint and the token's `iss`, `sub` and `aud` (so
//! another project, environment or team never sees them):
//!
//! - a file is used only while it is more than [`REFRESH_WINDOW`] from its expiry; credentials
//!   without an expiry are never cached;
//! - the directory is 0700 and each file 0600, written atomically (a temporary file in the same
//!   directory, renamed over the old one); a file that is not a regular file owned by this user
//!   with no group or other permission bits is ignored, as is a directory that is not ours;
//! - an exclusive lock (`<hash>.lock`) around "read, else exchange and write" makes two
//!   processes starting at once share one STS call;
//! - reads are capped at [`MAX_FILE_LEN`]; a malformed file is treated as missing.
//!
//! Any failure of the cache itself (no home, a read-only disk) falls back to an exchange
//! without it, logged at debug level: the cache can make the command faster, never fail it.

use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use serde_json::{Value, json};
use vercel_oidc::{Env, OidcToken};

/// Credentials this close to their expiry are never handed out from the cache.
pub(crate) const REFRESH_WINDOW: Duration = Duration::from_secs(5 * 60);
/// How long a process waits for another one's exchange before it goes on without the cache.
pub(crate) const LOCK_WAIT: Duration = Duration::from_secs(30);
const LOCK_POLL: Duration = Duration::from_millis(10);
/// A cache file larger than this is not read.
pub(crate) const MAX_FILE_LEN: u64 = 64 * 1024;

/// One configuration's place in the cache.
#[derive(Debug)]
pub(crate) struct CacheEntry {
    dir: PathBuf,
    name: String,
}

/// The cache directory: `$XDG_CACHE_HOME/vercel-oidc/aws`, else `$HOME/.cache/vercel-oidc/aws`.
pub(crate) fn cache_dir(env: &Env) -> Option<PathBuf> {
    let base = env
        .get_non_empty("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            env.get_non_empty("HOME")
                .map(|home| Path::new(&home).join(".cache"))
        })?;
    Some(base.join("vercel-oidc").join("aws"))
}

impl CacheEntry {
    /// The entry for `settings` (every option that changes the credentials, in a fixed order)
    /// and the token's identity.
    pub(crate) fn new(dir: PathBuf, settings: &[(&str, Option<&str>)], token: &OidcToken) -> Self {
        let claims = token.unverified_claims();
        let aud: Vec<&str> = claims
            .aud
            .as_ref()
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        let description = json!({
            "settings": settings.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
            "iss": claims.iss,
            "sub": claims.sub,
            "aud": aud,
        });
        let digest = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            description.to_string().as_bytes(),
        );
        let name: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        Self { dir, name }
    }

    fn path(&self) -> PathBuf {
        self.dir.join(format!("{}.json", self.name))
    }

    /// Valid cached credentials: more than the refresh window from expiry at `now`.
    pub(crate) fn read(&self, now: SystemTime) -> Option<Credentials> {
        let path = self.path();
        let mut file = File::open(&path).ok()?;
        let metadata = file.metadata().ok()?;
        if !metadata.is_file() || metadata.len() > MAX_FILE_LEN || !private(&metadata, &self.dir) {
            tracing::debug!(path = %path.display(), "vercel-oidc: cache file ignored (not a private regular file)");
            return None;
        }
        let mut text = String::new();
        std::io::Read::by_ref(&mut file)
            .take(MAX_FILE_LEN)
            .read_to_string(&mut text)
            .ok()?;
        let credentials = parse(&text)?;
        let expiry = credentials.expiry()?;
        if expiry <= now.checked_add(REFRESH_WINDOW)? {
            tracing::debug!("vercel-oidc: cached credentials are within the refresh window");
            return None;
        }
        Some(credentials)
    }

    /// Takes the entry's lock and returns its guard; the directory is created first. Waits for
    /// another process holding it (an exchange takes a second or so) at most [`LOCK_WAIT`].
    pub(crate) async fn lock(&self) -> std::io::Result<Lock> {
        ensure_private_dir(&self.dir)?;
        let path = self.dir.join(format!("{}.lock", self.name));
        let mut options = OpenOptions::new();
        options.create(true).truncate(false).write(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let file = options.open(path)?;
        let give_up = tokio::time::Instant::now() + LOCK_WAIT;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Lock(file)),
                Err(fs::TryLockError::WouldBlock) if tokio::time::Instant::now() < give_up => {
                    tokio::time::sleep(LOCK_POLL).await;
                }
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(std::io::Error::other("the cache entry stayed locked"));
                }
                Err(fs::TryLockError::Error(e)) => return Err(e),
            }
        }
    }

    /// Writes `credentials` atomically with owner-only permissions. Credentials without an
    /// expiry are not written.
    pub(crate) fn write(&self, credentials: &Credentials) -> std::io::Result<()> {
        let Some(text) = serialize(credentials) else {
            return Ok(());
        };
        ensure_private_dir(&self.dir)?;
        // tempfile creates the file 0600 on unix.
        let mut temp = tempfile::NamedTempFile::new_in(&self.dir)?;
        temp.write_all(text.as_bytes())?;
        temp.as_file().sync_all()?;
        temp.persist(self.path()).map_err(|e| e.error)?;
        Ok(())
    }
}

/// The entry's lock, released on drop (closing the file releases it).
#[derive(Debug)]
pub(crate) struct Lock(#[allow(dead_code)] File);

/// Creates the directory (and its parents) 0700; an existing one must be a directory owned by
/// this user, and is narrowed to 0700.
fn ensure_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let metadata = fs::symlink_metadata(dir)?;
        if !metadata.is_dir() || metadata.uid() != current_uid(dir)? {
            return Err(std::io::Error::other(
                "the cache directory is not a directory owned by this user",
            ));
        }
        if metadata.mode() & 0o077 != 0 {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Err(std::io::Error::other(
            "the credential cache needs owner-only file permissions (unix)",
        ))
    }
}

/// This process's user id, read without `unsafe`: the owner of `/proc/self` on Linux, else the
/// owner of a file created for the purpose in `dir`.
#[cfg(unix)]
fn current_uid(dir: &Path) -> std::io::Result<u32> {
    use std::os::unix::fs::MetadataExt as _;
    if let Ok(metadata) = fs::metadata("/proc/self") {
        return Ok(metadata.uid());
    }
    let probe = tempfile::NamedTempFile::new_in(dir)?;
    Ok(probe.as_file().metadata()?.uid())
}

/// A file only its owner can read, owned by this user, in a directory only its owner can
/// enter, owned by this user.
#[cfg(unix)]
fn private(metadata: &fs::Metadata, dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let Ok(dir_metadata) = fs::symlink_metadata(dir) else {
        return false;
    };
    let Ok(uid) = current_uid(dir) else {
        return false;
    };
    metadata.mode() & 0o077 == 0
        && metadata.uid() == uid
        && dir_metadata.is_dir()
        && dir_metadata.mode() & 0o077 == 0
        && dir_metadata.uid() == uid
}

#[cfg(not(unix))]
fn private(_metadata: &fs::Metadata, _dir: &Path) -> bool {
    false
}

/// The cache file's JSON: the credential_process shape.
fn serialize(credentials: &Credentials) -> Option<String> {
    let expiry = credentials.expiry()?;
    let expiration = crate::token::rfc3339(expiry);
    Some(
        json!({
            "Version": 1,
            "AccessKeyId": credentials.access_key_id(),
            "SecretAccessKey": credentials.secret_access_key(),
            "SessionToken": credentials.session_token(),
            "Expiration": expiration,
        })
        .to_string(),
    )
}

fn parse(text: &str) -> Option<Credentials> {
    let value: Value = serde_json::from_str(text).ok()?;
    if value.get("Version")?.as_u64()? != 1 {
        return None;
    }
    let field = |name: &str| value.get(name)?.as_str().filter(|s| !s.is_empty());
    let expiration = field("Expiration")?;
    let expiry =
        time::OffsetDateTime::parse(expiration, &time::format_description::well_known::Rfc3339)
            .ok()?;
    let expiry = SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(
        u64::try_from(expiry.unix_timestamp()).ok()?,
    ))?;
    Some(Credentials::new(
        field("AccessKeyId")?,
        field("SecretAccessKey")?,
        field("SessionToken").map(str::to_owned),
        Some(expiry),
        "vercel-oidc-cache",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(expiry: SystemTime) -> Credentials {
        Credentials::new("AKIA", "secret", Some("session".into()), Some(expiry), "t")
    }

    #[test]
    fn round_trip_and_refresh_window() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let text = serialize(&creds(now + Duration::from_secs(3600))).expect("json");
        let back = parse(&text).expect("parsed");
        assert_eq!(back.access_key_id(), "AKIA");
        assert_eq!(back.secret_access_key(), "secret");
        assert_eq!(back.session_token(), Some("session"));
        assert_eq!(back.expiry(), Some(now + Duration::from_secs(3600)));
        assert!(serialize(&Credentials::new("a", "b", None, None, "t")).is_none());
        for bad in [
            "",
            "{}",
            r#"{"Version":2,"AccessKeyId":"a","SecretAccessKey":"b","Expiration":"2030-01-01T00:00:00Z"}"#,
            r#"{"Version":1,"AccessKeyId":"","SecretAccessKey":"b","Expiration":"2030-01-01T00:00:00Z"}"#,
            r#"{"Version":1,"AccessKeyId":"a","SecretAccessKey":"b","Expiration":"soon"}"#,
            r#"{"Version":1,"AccessKeyId":"a","SecretAccessKey":"b","Expiration":"1960-01-01T00:00:00Z"}"#,
            r#"{"Version":1,"AccessKeyId":"a","SecretAccessKey":"b"}"#,
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn files_are_private_atomic_and_expire_early() {
        use std::os::unix::fs::PermissionsExt as _;
        let home = tempfile::tempdir().expect("dir");
        let env = Env::from_pairs([("HOME", home.path().to_str().expect("utf-8"))]);
        let dir = cache_dir(&env).expect("dir");
        assert_eq!(dir, home.path().join(".cache/vercel-oidc/aws"));
        let token = OidcToken::parse(
            "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJpIiwic3ViIjoicyIsImF1ZCI6ImEifQ.c2ln".to_owned(),
        )
        .expect("token");
        let entry = CacheEntry::new(dir.clone(), &[("role", Some("r"))], &token);
        let now = SystemTime::now();
        assert!(entry.read(now).is_none(), "nothing cached yet");
        let _lock = entry.lock().await.expect("lock");
        entry
            .write(&creds(now + Duration::from_secs(3600)))
            .expect("write");
        let mode = |p: &Path| fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&entry.path()), 0o600);
        assert_eq!(
            entry.read(now).map(|c| c.access_key_id().to_owned()),
            Some("AKIA".into())
        );
        // Within 5 minutes of expiry, and after it: never handed out.
        assert!(entry.read(now + Duration::from_secs(3600 - 299)).is_none());
        assert!(entry.read(now + Duration::from_secs(3600 - 301)).is_some());
        assert!(entry.read(now + Duration::from_secs(7200)).is_none());
        // Only the lock and the file: no temporary file left behind.
        let mut names: Vec<_> = fs::read_dir(&dir)
            .expect("dir")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                format!("{}.json", entry.name),
                format!("{}.lock", entry.name)
            ]
        );
        // A file others can read is ignored.
        fs::set_permissions(entry.path(), fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(entry.read(now).is_none());
        // Another token identity or another setting is another file.
        let other = CacheEntry::new(dir.clone(), &[("role", Some("r2"))], &token);
        assert_ne!(other.name, entry.name);
        let none = CacheEntry::new(dir, &[("role", None)], &token);
        assert_ne!(none.name, entry.name);
    }

    #[cfg(unix)]
    #[tokio::test(start_paused = true)]
    async fn a_held_lock_makes_the_next_process_wait_then_give_up() {
        let home = tempfile::tempdir().expect("dir");
        let token = OidcToken::parse("eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJpIn0.c2ln".to_owned())
            .expect("token");
        let entry = CacheEntry::new(home.path().join("aws"), &[], &token);
        let held = entry.lock().await.expect("lock");
        // The other holder here is another open file description of the same lock file, as
        // another process's would be.
        let started = tokio::time::Instant::now();
        let error = entry.lock().await.expect_err("stays locked");
        assert_eq!(error.to_string(), "the cache entry stayed locked");
        assert!(started.elapsed() >= LOCK_WAIT);
        drop(held);
        entry.lock().await.expect("free again");
    }

    #[test]
    fn relative_xdg_cache_home_is_ignored() {
        let env = Env::from_pairs([("XDG_CACHE_HOME", "relative"), ("HOME", "/home/u")]);
        assert_eq!(
            cache_dir(&env),
            Some(PathBuf::from("/home/u/.cache/vercel-oidc/aws"))
        );
        let env = Env::from_pairs([("XDG_CACHE_HOME", "/x")]);
        assert_eq!(cache_dir(&env), Some(PathBuf::from("/x/vercel-oidc/aws")));
        assert_eq!(cache_dir(&Env::from_pairs::<&str, &str>([])), None);
    }
}
