//! File handling of the local-dev refresh: JSON reads that tolerate a BOM, atomic private
//! writes, private directories and the cross-process refresh lock.

use std::fs::File;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::error::{Error, LocalDevErrorKind};
use crate::limits::{FileReadError, JSON_FILE_MAX, read_regular_file};

/// How a JSON object file read went.
#[derive(Debug)]
pub(crate) enum JsonFile {
    Missing,
    /// Present but not a JSON object (or not readable).
    Invalid(Option<io::Error>),
    Object(Map<String, Value>),
}

/// Reads `path` as a JSON object. A leading UTF-8 BOM (as Windows editors write) is skipped.
///
/// Only a regular file of at most 1 MiB is read: a FIFO, a device (`project.json -> /dev/zero`,
/// which a repository can commit), a directory or a larger file is [`JsonFile::Invalid`] at
/// once, without blocking or reading it.
pub(crate) fn read_json_object(path: &Path) -> JsonFile {
    match read_regular_file(path, JSON_FILE_MAX) {
        Ok(bytes) => parse_json_object(&bytes),
        Err(FileReadError::NotFound) => JsonFile::Missing,
        Err(e) => JsonFile::Invalid(Some(e.into_io())),
    }
}

/// Parses file contents as a JSON object, skipping a leading UTF-8 BOM.
pub(crate) fn parse_json_object(bytes: &[u8]) -> JsonFile {
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    // serde_json's error can echo the input: it is not kept.
    match serde_json::from_slice::<Value>(text) {
        Ok(Value::Object(map)) => JsonFile::Object(map),
        _ => JsonFile::Invalid(None),
    }
}

/// Creates `dir` (and missing parents) with mode `0700`. An existing directory that we own
/// (`private = true`) is narrowed to `0700` too.
pub(crate) fn ensure_private_dir(dir: &Path, narrow_existing: bool) -> Result<(), Error> {
    let io_err = |e: io::Error| {
        Error::local_dev_with(
            LocalDevErrorKind::Io {
                action: "create the directory",
                path: dir.to_path_buf(),
            },
            e,
        )
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(io_err)?;
    #[cfg(unix)]
    if narrow_existing {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir).map_err(io_err)?.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode & 0o700))
                .map_err(io_err)?;
        }
    }
    #[cfg(not(unix))]
    let _ = narrow_existing;
    Ok(())
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory (created
/// `0600`), flushed to disk, then renamed over `path`. A reader sees the old content or the new,
/// never a mix, and a crash at any point leaves `path` as it was (at worst a stray temporary
/// file `.{name}.XXXXXX` remains).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], action: &'static str) -> Result<(), Error> {
    PreparedWrite::new(path, action)?.commit(bytes)
}

/// An atomic write whose temporary file already exists: the failures that can be foreseen
/// (directory not writable, name too long, no space for an inode) happen in
/// [`PreparedWrite::new`], before anything irreversible (an OAuth grant that rotates the refresh
/// token) is done. Dropping it removes the temporary file.
pub(crate) struct PreparedWrite {
    tmp: tempfile::NamedTempFile,
    path: PathBuf,
    action: &'static str,
}

impl std::fmt::Debug for PreparedWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedWrite")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl PreparedWrite {
    /// Creates the temporary file `.{name}.XXXXXX` (mode `0600`) next to `path`.
    pub(crate) fn new(path: &Path, action: &'static str) -> Result<Self, Error> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // tempfile creates the file with mode 0600 on unix.
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .tempfile_in(dir)
            .map_err(|e| io_error(action, path, e))?;
        Ok(Self {
            tmp,
            path: path.to_path_buf(),
            action,
        })
    }

    /// Writes `bytes`, flushes them to disk and renames the file over the target.
    pub(crate) fn commit(mut self, bytes: &[u8]) -> Result<(), Error> {
        let (path, action) = (self.path, self.action);
        let io_err = |e: io::Error| io_error(action, &path, e);
        self.tmp.write_all(bytes).map_err(io_err)?;
        self.tmp.as_file().sync_all().map_err(io_err)?;
        self.tmp.persist(&path).map_err(|e| io_err(e.error))?;
        #[cfg(unix)]
        if let Ok(dir) = File::open(path.parent().unwrap_or(Path::new("."))) {
            // Makes the rename durable; failure only weakens durability, not atomicity.
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

fn io_error(action: &'static str, path: &Path, e: io::Error) -> Error {
    Error::local_dev_with(
        LocalDevErrorKind::Io {
            action,
            path: path.to_path_buf(),
        },
        e,
    )
}

/// An exclusive advisory lock on a file, released on drop (closing the file releases it, also
/// when the process dies).
#[derive(Debug)]
pub(crate) struct FileLock {
    _file: File,
}

impl FileLock {
    /// Waits up to `timeout` (polling, so the task stays cancellable and a paused tokio clock
    /// works) for the exclusive lock on `path`, creating the file (`0600`) if needed.
    pub(crate) async fn acquire(path: PathBuf, timeout: Duration) -> Result<Self, Error> {
        let io_err = |path: &Path, e: io::Error| {
            Error::local_dev_with(
                LocalDevErrorKind::Io {
                    action: "lock",
                    path: path.to_path_buf(),
                },
                e,
            )
        };
        let mut options = std::fs::OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let file = options.open(&path).map_err(|e| io_err(&path, e))?;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Fully qualified: std's inherent `File::try_lock` (Rust 1.89) would shadow it.
            match fs4::FileExt::try_lock(&file) {
                Ok(()) => return Ok(Self { _file: file }),
                Err(fs4::TryLockError::WouldBlock) => {}
                Err(fs4::TryLockError::Error(e)) => return Err(io_err(&path, e)),
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::local_dev(LocalDevErrorKind::LockTimedOut {
                    path,
                    after: timeout,
                }));
            }
            tracing::trace!(path = %path.display(), "local-dev refresh: waiting for the lock");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bom_is_tolerated_and_garbage_is_invalid() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.json");
        std::fs::write(&path, b"\xEF\xBB\xBF{\"a\":1}").expect("write");
        assert!(matches!(read_json_object(&path), JsonFile::Object(m) if m["a"] == 1));
        std::fs::write(&path, b"[1]").expect("write");
        assert!(matches!(read_json_object(&path), JsonFile::Invalid(_)));
        assert!(matches!(
            read_json_object(&dir.path().join("none")),
            JsonFile::Missing
        ));
    }

    #[cfg(unix)]
    #[test]
    fn atomic_write_is_private_and_replaces() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let sub = dir.path().join("x/y");
        ensure_private_dir(&sub, true).expect("mkdir");
        let mode = std::fs::metadata(&sub).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let path = sub.join("f.json");
        std::fs::write(&path, "old").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        write_atomic(&path, b"new", "write").expect("atomic");
        assert_eq!(std::fs::read(&path).expect("read"), b"new");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            std::fs::read_dir(&sub).expect("ls").count(),
            1,
            "no temp left"
        );
    }

    #[test]
    fn only_a_missing_file_is_missing() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A directory where the file should be: an error to report, not "no file" (for
        // auth.json, "not logged in" would invite a login that replaces it).
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        assert!(matches!(
            read_json_object(&dir.path().join("sub")),
            JsonFile::Invalid(Some(_))
        ));
        let big = dir.path().join("big.json");
        std::fs::write(&big, format!("{{\"a\":\"{}\"}}", "x".repeat(1024 * 1024))).expect("write");
        assert!(matches!(read_json_object(&big), JsonFile::Invalid(Some(_))));
    }

    #[cfg(unix)]
    #[test]
    fn existing_dirs_are_narrowed_to_0700_only_when_asked() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let sub = dir.path().join("d");
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o7777;
        let chmod = |p: &Path, m: u32| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).expect("chmod")
        };
        std::fs::create_dir(&sub).expect("mkdir");
        chmod(&sub, 0o755);
        ensure_private_dir(&sub, false).expect("kept");
        assert_eq!(mode(&sub), 0o755, "not ours to narrow");
        for (before, after) in [
            (0o755, 0o700),
            (0o750, 0o700),
            (0o705, 0o700),
            (0o1777, 0o700),
            (0o500, 0o500),
            (0o700, 0o700),
        ] {
            chmod(&sub, before);
            ensure_private_dir(&sub, true).expect("narrowed");
            assert_eq!(mode(&sub), after, "{before:o}");
        }
        // New directories, parents included, are 0700 from the start.
        let deep = dir.path().join("n/m");
        ensure_private_dir(&deep, false).expect("created");
        assert_eq!(mode(&deep), 0o700);
        // A file in the way is an error naming the path.
        let file = dir.path().join("f");
        std::fs::write(&file, "").expect("write");
        let err = ensure_private_dir(&file, true).expect_err("a file");
        assert!(
            err.to_string().contains(&file.display().to_string()),
            "{err}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_held_lock_is_waited_for_until_the_timeout() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("l.lock");
        let held = FileLock::acquire(path.clone(), Duration::from_secs(1))
            .await
            .expect("first");
        // Refused only once the whole timeout has passed (paused clock: exact).
        let start = tokio::time::Instant::now();
        FileLock::acquire(path.clone(), Duration::from_secs(1))
            .await
            .expect_err("held");
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_secs(1) && waited < Duration::from_millis(1_100),
            "{waited:?}"
        );
        // Released during the wait: the waiter gets it, before its timeout.
        let release = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            drop(held);
        });
        let start = tokio::time::Instant::now();
        FileLock::acquire(path, Duration::from_secs(1))
            .await
            .expect("released while waiting");
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(300) && waited < Duration::from_secs(1),
            "{waited:?}"
        );
        release.await.expect("release task");
    }

    #[test]
    fn a_prepared_write_shows_its_path_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("auth.json");
        let write = PreparedWrite::new(&path, "update").expect("prepare");
        let shown = format!("{write:?}");
        assert!(shown.starts_with("PreparedWrite"), "{shown}");
        assert!(shown.contains(&format!("{:?}", path)), "{shown}");
    }

    #[tokio::test(start_paused = true)]
    async fn lock_is_exclusive_and_times_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("l.lock");
        let held = FileLock::acquire(path.clone(), Duration::from_secs(1))
            .await
            .expect("first");
        let err = FileLock::acquire(path.clone(), Duration::from_secs(1))
            .await
            .expect_err("held");
        assert!(matches!(
            err.local_dev_kind(),
            Some(LocalDevErrorKind::LockTimedOut { .. })
        ));
        drop(held);
        FileLock::acquire(path, Duration::from_secs(1))
            .await
            .expect("released");
    }
}
