//! In-memory capture of every `tracing` event, for tests that scan logs for secrets.
//!
//! The subscriber is installed process-wide (once) at TRACE level: a scoped `set_default` misses
//! callsites whose interest another test thread cached first. Use it from a test binary of its
//! own, before anything logs.
//!
//! ```no_run
//! let logs = vercel_oidc_testkit::capture_logs();
//! // … run a full flow …
//! logs.assert_contains_none(&["the-token", "the-secret-key"]);
//! ```

use std::io;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use tracing_subscriber::fmt::MakeWriter;

/// Everything logged in this process since [`capture_logs`] was first called.
#[derive(Debug, Clone, Default)]
pub struct LogCapture {
    buf: Arc<Mutex<Vec<u8>>>,
}

impl LogCapture {
    /// The captured text (lossy UTF-8).
    pub fn contents(&self) -> String {
        let buf = self.buf.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// Panics when any of `secrets` (empty ones ignored) occurs in the captured text. The panic
    /// message names the secret by its position in `secrets`, never by its value.
    pub fn assert_contains_none(&self, secrets: &[&str]) {
        let text = self.contents();
        for (i, secret) in secrets.iter().enumerate() {
            assert!(
                secret.is_empty() || !text.contains(secret),
                "secret #{i} of {} appears in the captured logs",
                secrets.len()
            );
        }
    }
}

/// A writer appending to the capture.
#[derive(Debug)]
pub struct LogCaptureWriter {
    buf: Arc<Mutex<Vec<u8>>>,
}

impl io::Write for LogCaptureWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogCapture {
    type Writer = LogCaptureWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LogCaptureWriter {
            buf: Arc::clone(&self.buf),
        }
    }
}

/// Installs (once per process) a global TRACE subscriber writing into memory and returns its
/// capture.
///
/// # Panics
/// When another global subscriber was installed first.
pub fn capture_logs() -> &'static LogCapture {
    static CAPTURE: OnceLock<LogCapture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture = LogCapture::default();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(capture.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("capture_logs must install the first global subscriber of the process");
        capture
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_and_checks_without_naming_the_secret() {
        let logs = capture_logs();
        tracing::trace!(value = "visible-canary", "an event");
        assert!(logs.contents().contains("visible-canary"));
        logs.assert_contains_none(&["absent-canary", ""]);
        let caught = std::panic::catch_unwind(|| logs.assert_contains_none(&["visible-canary"]))
            .expect_err("must panic");
        let message = caught.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(message.contains("secret #0"), "{message}");
        assert!(!message.contains("visible-canary"), "{message}");
    }
}
