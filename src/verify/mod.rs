//! Verification of incoming Vercel OIDC tokens (work in progress).
