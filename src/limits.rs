//! Bounded reads of data from outside: files named by configuration and HTTP response bodies.
//!
//! Every file the library reads is configuration a repository or an environment can point anywhere
//! (`.vercel/project.json -> /dev/zero`, a FIFO, a 1 GiB file), and every response body comes from
//! a service we do not control. These helpers refuse anything that is not a regular file, never block
//! on a FIFO, and stop reading one byte past the cap, so memory and time stay bounded.

use std::io::{self, Read};
use std::path::Path;

/// The largest token [`OidcToken::parse`](crate::OidcToken::parse) accepts, in bytes. Vercel's
/// tokens are about 1 KiB; the limit keeps attacker-supplied headers from costing unbounded work.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;
/// Cap for a file or body holding one OIDC token (Vercel's are about 1 KiB).
pub(crate) const TOKEN_MAX: u64 = MAX_TOKEN_LEN as u64;
/// Cap for a JSON configuration or cache file (`project.json`, `auth.json`, token cache).
#[cfg_attr(not(feature = "local-dev"), allow(dead_code))]
pub(crate) const JSON_FILE_MAX: u64 = 1024 * 1024;
/// Cap for a PEM file of extra trust roots.
pub(crate) const PEM_MAX: u64 = 1024 * 1024;
/// Cap for a small JSON response body (a token endpoint, the audience exchange, OAuth discovery).
#[cfg_attr(
    not(any(feature = "exchange", feature = "local-dev")),
    allow(dead_code)
)]
pub(crate) const SMALL_BODY_MAX: usize = 256 * 1024;

/// Why a bounded file read failed.
#[derive(Debug)]
pub(crate) enum FileReadError {
    /// The path does not exist.
    NotFound,
    /// The path exists but is not a regular file (a FIFO, a device, a directory, a socket).
    NotRegular,
    /// The file is larger than the cap (in bytes).
    TooLarge(u64),
    /// Any other I/O error.
    Io(io::Error),
}

impl std::fmt::Display for FileReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotFound => f.write_str("no such file"),
            Self::NotRegular => f.write_str("not a regular file"),
            Self::TooLarge(cap) => write!(f, "larger than {cap} bytes"),
            Self::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for FileReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl FileReadError {
    fn from_io(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::NotFound {
            Self::NotFound
        } else {
            Self::Io(e)
        }
    }

    /// Converts back into an [`io::Error`] (for callers whose error types hold one).
    #[allow(dead_code)]
    pub(crate) fn into_io(self) -> io::Error {
        match self {
            Self::NotFound => io::Error::from(io::ErrorKind::NotFound),
            Self::Io(e) => e,
            other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
        }
    }
}

/// Reads a regular file of at most `cap` bytes (symlinks are followed, as for any configuration
/// path). Refuses FIFOs and devices without blocking on them, and reads at most `cap + 1` bytes.
pub(crate) fn read_regular_file(path: &Path, cap: u64) -> Result<Vec<u8>, FileReadError> {
    // Refuse before opening: opening a FIFO for reading would block until a writer appears.
    let meta = std::fs::metadata(path).map_err(FileReadError::from_io)?;
    if !meta.is_file() {
        return Err(FileReadError::NotRegular);
    }
    if meta.len() > cap {
        return Err(FileReadError::TooLarge(cap));
    }
    let file = open_nonblocking(path).map_err(FileReadError::from_io)?;
    // The path may have been swapped between the check and the open: check what was opened.
    let meta = file.metadata().map_err(FileReadError::Io)?;
    if !meta.is_file() {
        return Err(FileReadError::NotRegular);
    }
    let mut out = Vec::with_capacity(usize::try_from(meta.len().min(cap)).unwrap_or(0));
    file.take(cap.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(FileReadError::Io)?;
    if out.len() as u64 > cap {
        return Err(FileReadError::TooLarge(cap));
    }
    Ok(out)
}

/// [`read_regular_file`] as UTF-8 text.
pub(crate) fn read_regular_file_to_string(path: &Path, cap: u64) -> Result<String, FileReadError> {
    let bytes = read_regular_file(path, cap)?;
    String::from_utf8(bytes)
        .map_err(|_| FileReadError::Io(io::Error::new(io::ErrorKind::InvalidData, "not UTF-8")))
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn open_nonblocking(path: &Path) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    // O_NONBLOCK: a FIFO swapped in after the check opens at once instead of blocking.
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn open_nonblocking(path: &Path) -> io::Result<std::fs::File> {
    std::fs::File::open(path)
}

/// Why a bounded body read failed.
#[derive(Debug)]
#[cfg(any(feature = "exchange", feature = "local-dev"))]
pub(crate) enum BodyReadError {
    /// The body is larger than the cap (in bytes).
    TooLarge(usize),
    /// The connection failed while reading.
    Transport(reqwest::Error),
}

#[cfg(any(feature = "exchange", feature = "local-dev"))]
impl std::fmt::Display for BodyReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooLarge(cap) => write!(f, "response body larger than {cap} bytes"),
            Self::Transport(_) => f.write_str("reading the response body failed"),
        }
    }
}

#[cfg(any(feature = "exchange", feature = "local-dev"))]
impl std::error::Error for BodyReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Transport(e) => Some(e),
            Self::TooLarge(_) => None,
        }
    }
}

#[cfg(any(feature = "exchange", feature = "local-dev"))]
/// Reads a response body of at most `cap` bytes, refusing a larger `Content-Length` before reading
/// and stopping as soon as the streamed body passes the cap.
pub(crate) async fn read_body(
    mut response: reqwest::Response,
    cap: usize,
) -> Result<Vec<u8>, BodyReadError> {
    if response
        .content_length()
        .is_some_and(|len| len > cap as u64)
    {
        return Err(BodyReadError::TooLarge(cap));
    }
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyReadError::Transport)? {
        if out.len().saturating_add(chunk.len()) > cap {
            return Err(BodyReadError::TooLarge(cap));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_file_within_cap_is_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        std::fs::write(&path, b"12345").expect("write");
        assert_eq!(read_regular_file(&path, 5).expect("read"), b"12345");
        assert!(matches!(
            read_regular_file(&path, 4),
            Err(FileReadError::TooLarge(4))
        ));
    }

    #[test]
    fn missing_file_is_not_found() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(matches!(
            read_regular_file(&dir.path().join("nope"), 10),
            Err(FileReadError::NotFound)
        ));
    }

    #[test]
    fn directory_is_not_regular() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(matches!(
            read_regular_file(dir.path(), 10),
            Err(FileReadError::NotRegular)
        ));
    }

    #[cfg(unix)]
    #[test]
    fn dev_zero_is_refused_without_reading() {
        assert!(matches!(
            read_regular_file(Path::new("/dev/zero"), 10),
            Err(FileReadError::NotRegular)
        ));
    }

    #[cfg(unix)]
    #[test]
    fn symlink_to_dev_zero_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let link = dir.path().join("project.json");
        std::os::unix::fs::symlink("/dev/zero", &link).expect("symlink");
        assert!(matches!(
            read_regular_file(&link, 10),
            Err(FileReadError::NotRegular)
        ));
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(status.success());
        assert!(matches!(
            read_regular_file(&fifo, 10),
            Err(FileReadError::NotRegular)
        ));
    }
}
