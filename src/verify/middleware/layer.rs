//! The layer that wraps services in [`VerifyService`].

use tower::Layer;

use super::VerifyService;
use crate::verify::Verifier;

/// A tower [`Layer`] that requires a valid Vercel OIDC token in `Authorization: Bearer` on every
/// request (see [`VerifyService`]). Works with axum's `Router::layer` and any tower stack.
///
/// Handlers read the claims from the request's extensions as
/// [`VerifiedClaims`](crate::verify::VerifiedClaims) (with axum:
/// `Extension<VerifiedClaims>`).
///
/// ```no_run
/// use std::convert::Infallible;
/// use tower::ServiceBuilder;
/// use vercel_oidc::verify::{Constraint, ExpectedIssuer, VerifiedClaims, Verifier, VerifyLayer};
///
/// # fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let verifier = Verifier::builder(ExpectedIssuer::team("acme"), "https://api.example.com")
///     .project_id("prj_123")
///     .environment("production")
///     .owner_id(Constraint::Any)
///     .build()?;
/// let svc = ServiceBuilder::new()
///     .layer(VerifyLayer::new(verifier))
///     .service_fn(|req: http::Request<String>| async move {
///         let claims = req.extensions().get::<VerifiedClaims>().cloned();
///         let project = claims.and_then(|c| c.into_inner().project).unwrap_or_default();
///         Ok::<_, Infallible>(http::Response::new(project))
///     });
/// # let _ = svc;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct VerifyLayer {
    verifier: Verifier,
}

impl VerifyLayer {
    /// A layer verifying with `verifier` (clones share its key cache).
    pub fn new(verifier: Verifier) -> Self {
        Self { verifier }
    }
}

impl<S> Layer<S> for VerifyLayer {
    type Service = VerifyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        VerifyService::new(inner, self.verifier.clone())
    }
}
