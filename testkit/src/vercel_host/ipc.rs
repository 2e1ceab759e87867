//! The platform side of `vercel_runtime`'s IPC: NUL-terminated JSON messages on a unix socket,
//! read with a size cap and recorded in arrival order.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use tokio::io::AsyncReadExt as _;
use tokio::net::UnixStream;
use tokio::sync::Notify;
use tokio::time::Instant;

/// One `end` message: the runtime's signal that an invocation, its `wait_until` work included,
/// is over.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct EndRecord {
    /// `payload.context.invocationId`.
    pub invocation_id: String,
    /// `payload.context.requestId`.
    pub request_id: u64,
    /// `payload.error` (`None` when `null` or absent).
    pub error: Option<Value>,
    /// When the host read it, on tokio's clock.
    pub at: Instant,
    /// Its position among all messages from this process (0-based).
    pub seq: usize,
}

/// One `log` message, its text decoded from base64.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogRecord {
    /// `payload.context.invocationId`.
    pub invocation_id: String,
    /// `payload.context.requestId`.
    pub request_id: u64,
    /// `payload.level` (`"info"`, `"error"`, …), for a levelled log.
    pub level: Option<String>,
    /// `payload.stream` (`"stdout"`, `"stderr"`), for a stream log.
    pub stream: Option<String>,
    /// The decoded message (lossy UTF-8); the raw text if it is not base64.
    pub message: String,
    /// When the host read it, on tokio's clock.
    pub at: Instant,
    /// Its position among all messages from this process (0-based).
    pub seq: usize,
}

/// A message from the function process, as the host decoded it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum IpcMessage {
    /// `{"type":"server-started","payload":{"initDuration","httpPort"}}`.
    ServerStarted {
        /// `payload.initDuration`.
        init_duration: u64,
        /// `payload.httpPort`.
        http_port: u16,
    },
    /// `{"type":"end",…}`.
    End(EndRecord),
    /// `{"type":"log",…}`.
    Log(LogRecord),
    /// Any other well-formed JSON message (`metric`, future types), kept whole.
    Other(Value),
    /// A message that is not JSON of a known shape (the reason, never the bytes), or one
    /// larger than the cap (its bytes were skipped up to the next NUL).
    Invalid(&'static str),
}

/// A message with its arrival time and position.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct IpcRecord {
    /// The decoded message.
    pub message: IpcMessage,
    /// When the host read it, on tokio's clock.
    pub at: Instant,
    /// Its position among all messages from this process (0-based).
    pub seq: usize,
}

/// What the reader task shares with the host.
#[derive(Debug, Default)]
pub(super) struct Inbox {
    records: Mutex<Vec<IpcRecord>>,
    pub(super) changed: Notify,
}

impl Inbox {
    pub(super) fn records(&self) -> MutexGuard<'_, Vec<IpcRecord>> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, message_bytes: &[u8]) {
        let at = Instant::now();
        {
            let mut records = self.records();
            let seq = records.len();
            let message = decode(message_bytes, at, seq);
            records.push(IpcRecord { message, at, seq });
        }
        self.changed.notify_waiters();
    }

    fn push_invalid(&self, reason: &'static str) {
        let at = Instant::now();
        {
            let mut records = self.records();
            let seq = records.len();
            records.push(IpcRecord {
                message: IpcMessage::Invalid(reason),
                at,
                seq,
            });
        }
        self.changed.notify_waiters();
    }
}

/// Reads NUL-terminated messages until EOF or an error, each capped at `max_message` bytes.
pub(super) async fn read_messages(mut stream: UnixStream, inbox: Arc<Inbox>, max_message: usize) {
    let mut pending: Vec<u8> = Vec::new();
    let mut skipping = false;
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let n = match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut rest = &chunk[..n];
        while let Some(end) = rest.iter().position(|b| *b == 0) {
            if skipping {
                skipping = false;
            } else if pending.len() + end > max_message {
                inbox.push_invalid("message larger than the cap");
            } else {
                pending.extend_from_slice(&rest[..end]);
                inbox.push(&pending);
            }
            pending.clear();
            rest = &rest[end + 1..];
        }
        if !skipping {
            if pending.len() + rest.len() > max_message {
                inbox.push_invalid("message larger than the cap");
                pending.clear();
                skipping = true;
            } else {
                pending.extend_from_slice(rest);
            }
        }
    }
    if !pending.is_empty() && !skipping {
        inbox.push_invalid("message without its terminating NUL at EOF");
    }
    inbox.changed.notify_waiters();
}

fn context(payload: &Value) -> Option<(String, u64)> {
    let context = payload.get("context")?;
    let invocation_id = context.get("invocationId")?.as_str()?.to_owned();
    let request_id = context.get("requestId")?.as_u64()?;
    Some((invocation_id, request_id))
}

/// Decodes one message (without its NUL).
pub(super) fn decode(bytes: &[u8], at: Instant, seq: usize) -> IpcMessage {
    let Ok(value) = serde_json::from_slice::<Value>(bytes) else {
        return IpcMessage::Invalid("not JSON");
    };
    let kind = value
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let payload = value.get("payload").cloned().unwrap_or(Value::Null);
    match kind {
        "server-started" => {
            let http_port = payload
                .get("httpPort")
                .and_then(Value::as_u64)
                .and_then(|p| u16::try_from(p).ok());
            let init_duration = payload.get("initDuration").and_then(Value::as_u64);
            match (http_port, init_duration) {
                (Some(http_port), Some(init_duration)) => IpcMessage::ServerStarted {
                    init_duration,
                    http_port,
                },
                _ => IpcMessage::Invalid("server-started without httpPort and initDuration"),
            }
        }
        "end" => match context(&payload) {
            Some((invocation_id, request_id)) => IpcMessage::End(EndRecord {
                invocation_id,
                request_id,
                error: payload.get("error").filter(|e| !e.is_null()).cloned(),
                at,
                seq,
            }),
            None => IpcMessage::Invalid("end without context.invocationId and requestId"),
        },
        "log" => match context(&payload) {
            Some((invocation_id, request_id)) => {
                let raw = payload
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let message = match STANDARD.decode(raw) {
                    Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                    Err(_) => raw.to_owned(),
                };
                let text =
                    |name: &str| payload.get(name).and_then(Value::as_str).map(str::to_owned);
                IpcMessage::Log(LogRecord {
                    invocation_id,
                    request_id,
                    level: text("level"),
                    stream: text("stream"),
                    message,
                    at,
                    seq,
                })
            }
            None => IpcMessage::Invalid("log without context.invocationId and requestId"),
        },
        _ => IpcMessage::Other(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_runtimes_messages() {
        let at = Instant::now();
        assert_eq!(
            decode(
                br#"{"type":"server-started","payload":{"initDuration":0,"httpPort":4321}}"#,
                at,
                0
            ),
            IpcMessage::ServerStarted {
                init_duration: 0,
                http_port: 4321
            }
        );
        let end = decode(
            br#"{"type":"end","payload":{"context":{"invocationId":"inv","requestId":7},"error":null}}"#,
            at,
            3,
        );
        assert_eq!(
            end,
            IpcMessage::End(EndRecord {
                invocation_id: "inv".into(),
                request_id: 7,
                error: None,
                at,
                seq: 3
            })
        );
        let failed = decode(
            br#"{"type":"end","payload":{"context":{"invocationId":"inv","requestId":7},"error":{"m":1}}}"#,
            at,
            0,
        );
        assert!(matches!(
            failed,
            IpcMessage::End(EndRecord { error: Some(_), .. })
        ));
        let log = decode(
            br#"{"type":"log","payload":{"context":{"invocationId":"i","requestId":1},"message":"aGVsbG8=","level":"info"}}"#,
            at,
            1,
        );
        let IpcMessage::Log(log) = log else {
            panic!("a log: {log:?}");
        };
        assert_eq!(log.message, "hello");
        assert_eq!(log.level.as_deref(), Some("info"));
        assert_eq!(log.stream, None);
        assert_eq!(decode(b"{", at, 0), IpcMessage::Invalid("not JSON"));
        assert!(matches!(
            decode(br#"{"type":"end","payload":{}}"#, at, 0),
            IpcMessage::Invalid(_)
        ));
        assert!(matches!(
            decode(
                br#"{"type":"server-started","payload":{"httpPort":70000,"initDuration":0}}"#,
                at,
                0
            ),
            IpcMessage::Invalid(_)
        ));
        assert!(matches!(
            decode(br#"{"type":"metric","payload":{}}"#, at, 0),
            IpcMessage::Other(_)
        ));
    }

    #[tokio::test]
    async fn reads_nul_terminated_messages_with_a_cap() {
        use tokio::io::AsyncWriteExt as _;
        let (mut tx, rx) = UnixStream::pair().expect("pair");
        let inbox = Arc::new(Inbox::default());
        let reader = tokio::spawn(read_messages(rx, Arc::clone(&inbox), 64));
        let big = format!("{{\"type\":\"x\",\"pad\":\"{}\"}}", "y".repeat(100));
        tx.write_all(b"{\"type\":\"a\"}\0{\"type\":")
            .await
            .expect("write");
        tx.write_all(b"\"b\"}\0").await.expect("write");
        tx.write_all(big.as_bytes()).await.expect("write");
        tx.write_all(b"\0{\"type\":\"c\"}\0{\"type\"")
            .await
            .expect("write");
        drop(tx);
        reader.await.expect("reader");
        let records = inbox.records();
        let kinds: Vec<String> = records
            .iter()
            .map(|r| match &r.message {
                IpcMessage::Other(v) => v["type"].as_str().unwrap_or("?").to_owned(),
                IpcMessage::Invalid(reason) => format!("invalid: {reason}"),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "a",
                "b",
                "invalid: message larger than the cap",
                "c",
                "invalid: message without its terminating NUL at EOF"
            ]
        );
        let seqs: Vec<usize> = records.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [0, 1, 2, 3, 4]);
    }
}
