//! The layer's response future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::HeaderValue;
use tokio::task::futures::TaskLocalFuture;
use vercel_oidc::Env;

use super::CACHE_TAG_HEADER;
use crate::scope::RequestScope;

pin_project_lite::pin_project! {
    /// Response future of [`super::VercelFunctionsService`]: the inner future polled inside the
    /// request's scope; when it completes, the response gets the request's cache tags and
    /// attached database pools get their keep-alive.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: TaskLocalFuture<RequestScope, F>,
        scope: RequestScope,
        env: Env,
    }
}

impl<F: Future> ResponseFuture<F> {
    pub(super) fn new(scope: RequestScope, inner: F, env: Env) -> Self {
        Self {
            inner: scope.clone().enter(inner),
            scope,
            env,
        }
    }
}

impl<F, ResB, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<ResB>, E>>,
{
    type Output = Result<http::Response<ResB>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut result = ready!(this.inner.poll(cx));
        if let Ok(response) = &mut result {
            apply_cache_tags(response.headers_mut(), this.scope.take_tags());
        }
        crate::pool::request_ended(this.scope, this.env);
        Poll::Ready(result)
    }
}

/// Appends `tags` to the response's `Vercel-Cache-Tag` header (the handler's own tags first).
fn apply_cache_tags(headers: &mut http::HeaderMap, tags: Vec<String>) {
    if tags.is_empty() {
        return;
    }
    let ours = tags.join(",");
    let mut value = Vec::with_capacity(ours.len());
    if let Some(existing) = headers.get(CACHE_TAG_HEADER)
        && !existing.as_bytes().is_empty()
    {
        value.extend_from_slice(existing.as_bytes());
        value.push(b',');
    }
    value.extend_from_slice(ours.as_bytes());
    // Our tags are visible ASCII (checked when added); the handler's came from a HeaderValue.
    match HeaderValue::from_bytes(&value) {
        Ok(value) => {
            headers.insert(CACHE_TAG_HEADER, value);
        }
        Err(_) => tracing::warn!("add_cache_tag: the Vercel-Cache-Tag header could not be built"),
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseFuture")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_appended_after_the_handlers_own() {
        let mut headers = http::HeaderMap::new();
        apply_cache_tags(&mut headers, vec![]);
        assert!(headers.get(CACHE_TAG_HEADER).is_none());
        apply_cache_tags(&mut headers, vec!["a".into(), "b".into()]);
        assert_eq!(headers[CACHE_TAG_HEADER], "a,b");
        apply_cache_tags(&mut headers, vec!["c".into()]);
        assert_eq!(headers[CACHE_TAG_HEADER], "a,b,c");
        let mut headers = http::HeaderMap::new();
        headers.insert(CACHE_TAG_HEADER, HeaderValue::from_static(""));
        apply_cache_tags(&mut headers, vec!["x".into()]);
        assert_eq!(headers[CACHE_TAG_HEADER], "x");
        assert_eq!(headers.get_all(CACHE_TAG_HEADER).iter().count(), 1);
    }
}
