//! On Vercel (`VERCEL=1`) without a request token in scope, the chain's error says to wrap the
//! service in the request layer, and the local-dev refresh is not attempted.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use vercel_oidc::{
    Env, Error, Lookup, RefreshOidcToken, RefreshRequest, RequestContext, TokenFuture, TokenSource,
    VercelTokenSource,
};

fn on_vercel() -> Env {
    Env::from_pairs([("VERCEL", "1")])
}

#[tokio::test]
async fn outside_a_request_the_error_names_the_layer_not_vercel_link() {
    // The default refresher: the local-dev refresh. Had it run, the error would be a
    // `LocalDev` one (this directory is not linked, HOME is unset).
    let source = VercelTokenSource::builder()
        .env(on_vercel())
        .without_slot()
        .build();
    let err = source.token().await.expect_err("no token");
    match &err {
        Error::Unavailable {
            lookup: Lookup::NotFound,
            refresh,
        } => assert!(
            matches!(**refresh, Error::NoRequestToken { in_request: false }),
            "{refresh:?}"
        ),
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.local_dev_kind().is_none());
    let cause = std::error::Error::source(&err).expect("cause").to_string();
    assert!(cause.contains("RequestContextLayer"), "{cause}");
    assert!(cause.contains("VercelFunctionsLayer"), "{cause}");
    assert!(!cause.contains("vercel link"), "{cause}");
    // A chain still moves on past it, as it did past "not linked".
    assert!(err.is_not_configured());

    // Inside a request without the header: the message is about the header.
    let err = RequestContext::default()
        .scope(source.token())
        .await
        .expect_err("no header");
    let Error::Unavailable { refresh, .. } = &err else {
        panic!("unexpected {err:?}");
    };
    assert!(matches!(
        **refresh,
        Error::NoRequestToken { in_request: true }
    ));
    assert!(refresh.to_string().contains("OIDC Federation"), "{refresh}");
}

#[derive(Debug, Default)]
struct Counting(Arc<AtomicUsize>);

impl RefreshOidcToken for Counting {
    fn refresh_oidc_token<'a>(&'a self, _request: &'a RefreshRequest) -> TokenFuture<'a> {
        self.0.fetch_add(1, Ordering::SeqCst);
        TokenFuture::ready(Err(Error::other("custom refresh", None)))
    }
}

#[tokio::test]
async fn a_custom_refresher_still_runs_on_vercel_and_off_vercel_local_dev_does() {
    let calls = Arc::new(AtomicUsize::new(0));
    let source = VercelTokenSource::builder()
        .env(on_vercel())
        .without_slot()
        .refresher(Counting(Arc::clone(&calls)))
        .build();
    let err = source.token().await.expect_err("fails");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(err.to_string().contains("refreshing failed"), "{err}");

    // Off Vercel the default refresher runs (and fails here with a local-dev error: the
    // test's directory is not linked).
    let err = VercelTokenSource::builder()
        .env(Env::from_pairs([("VERCEL", "0")]))
        .without_slot()
        .build()
        .token()
        .await
        .expect_err("not linked");
    assert!(err.local_dev_kind().is_some(), "{err:?}");
}
