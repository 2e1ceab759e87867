//! Spans around the network steps, for `tracing-opentelemetry` and other span consumers.
//!
//! Every step (token lookup, local-dev refresh, audience exchange, JWKS fetch; STS and Entra in
//! the providers) runs in a `vercel_oidc.*` span whose fields name what it talks to (never a
//! secret) and, when it ends, `outcome` (`ok` or `error`) and `duration_ms`.

use std::future::Future;

use tracing::Instrument as _;

/// Runs `future` in `span` (which must declare the empty fields `outcome` and `duration_ms`) and
/// records its outcome and duration.
pub(crate) async fn in_span<T, E>(
    span: tracing::Span,
    future: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let started = std::time::Instant::now();
    let result = future.instrument(span.clone()).await;
    span.record(
        "duration_ms",
        u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    );
    span.record("outcome", if result.is_ok() { "ok" } else { "error" });
    result
}
