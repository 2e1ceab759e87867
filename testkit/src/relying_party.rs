//! The relying party's check of a federated token, as STS checks a web identity token and Entra
//! a client assertion: the issuer's key set is fetched over HTTP from
//! `{issuer}/.well-known/jwks` on every check (as the real services may, so a test sees each
//! fetch and its faults), the key is the one whose `kid` the token names, and the signature must
//! verify RS256 with that key's modulus and exponent.
//!
//! This is the emulators' own code, not the clients': the claims the emulators check around it
//! (issuer, subject, audience, times) and the error each service answers stay with the emulator.

use std::io;
use std::time::Duration;

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::jwt::Parsed;

/// Why a token's signature was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyCheck {
    /// The header's `alg` is not `RS256`.
    Algorithm,
    /// The header names no `kid`.
    NoKid,
    /// The key set could not be fetched (transport error, non-2xx status, not JSON).
    Unreachable,
    /// No key in the key set has the token's `kid`.
    UnknownKey,
    /// The matching key has no usable `n` and `e`.
    MalformedKey,
    /// The signature does not verify with the key.
    Signature,
}

/// Fetches issuers' key sets and checks RS256 signatures against them.
#[derive(Debug, Clone)]
pub(crate) struct JwksVerifier {
    http: reqwest::Client,
}

impl JwksVerifier {
    /// A verifier whose key-set fetches use no proxy (the issuer is on loopback) and, when
    /// `timeout` is set, give up after it.
    pub(crate) fn new(timeout: Option<Duration>) -> io::Result<Self> {
        let mut builder = reqwest::Client::builder().no_proxy();
        if let Some(timeout) = timeout {
            builder = builder.timeout(timeout);
        }
        let http = builder.build().map_err(io::Error::other)?;
        Ok(Self { http })
    }

    /// Checks `token`'s signature against `issuer`'s key set: the algorithm, then the `kid`,
    /// then the fetch, the key and the signature.
    pub(crate) async fn verify(&self, issuer: &str, token: &Parsed<'_>) -> Result<(), KeyCheck> {
        require_rs256(token)?;
        let kid = token
            .header
            .get("kid")
            .and_then(Value::as_str)
            .ok_or(KeyCheck::NoKid)?;
        let jwks = self.fetch(issuer).await?;
        let key = jwks
            .get("keys")
            .and_then(Value::as_array)
            .and_then(|keys| {
                keys.iter()
                    .find(|k| k.get("kid").and_then(Value::as_str) == Some(kid))
            })
            .ok_or(KeyCheck::UnknownKey)?;
        let component = |name: &str| {
            key.get(name)
                .and_then(Value::as_str)
                .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
        };
        let (Some(n), Some(e)) = (component("n"), component("e")) else {
            return Err(KeyCheck::MalformedKey);
        };
        RsaPublicKeyComponents { n, e }
            .verify(
                &RSA_PKCS1_2048_8192_SHA256,
                token.signing_input.as_bytes(),
                &token.signature,
            )
            .map_err(|_| KeyCheck::Signature)
    }

    /// The key set at `{issuer}/.well-known/jwks`.
    async fn fetch(&self, issuer: &str) -> Result<Value, KeyCheck> {
        let url = format!("{}/.well-known/jwks", issuer.trim_end_matches('/'));
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|_| KeyCheck::Unreachable)?;
        if !response.status().is_success() {
            return Err(KeyCheck::Unreachable);
        }
        let bytes = response.bytes().await.map_err(|_| KeyCheck::Unreachable)?;
        serde_json::from_slice(&bytes).map_err(|_| KeyCheck::Unreachable)
    }
}

/// `Ok` if the token's header says `alg: RS256`, for a service that looks at the algorithm before
/// anything else.
pub(crate) fn require_rs256(token: &Parsed<'_>) -> Result<(), KeyCheck> {
    if token.header.get("alg").and_then(Value::as_str) == Some("RS256") {
        Ok(())
    } else {
        Err(KeyCheck::Algorithm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt;
    use crate::{Endpoint, Fault, Issuer};

    async fn check(verifier: &JwksVerifier, issuer: &Issuer, token: &str) -> Result<(), KeyCheck> {
        let parsed = jwt::parse(token).expect("a compact JWS");
        verifier.verify(&issuer.team_issuer(), &parsed).await
    }

    #[tokio::test]
    async fn accepts_the_issuers_signature_and_names_each_failure() {
        let issuer = Issuer::start().await.expect("issuer");
        let verifier = JwksVerifier::new(None).expect("client");
        let token = issuer.token();
        assert_eq!(check(&verifier, &issuer, &token.sign()).await, Ok(()));
        assert_eq!(issuer.requests(Endpoint::Jwks), 1, "one fetch per check");
        // A trailing slash on the issuer names the same key set.
        let signed = token.sign();
        let parsed = jwt::parse(&signed).expect("jws");
        let slashed = format!("{}/", issuer.team_issuer());
        assert_eq!(verifier.verify(&slashed, &parsed).await, Ok(()));

        let cases = [
            (token.sign_alg_none(), KeyCheck::Algorithm),
            (token.sign_hs256_with(b"secret"), KeyCheck::Algorithm),
            (issuer.token().remove_header("kid").sign(), KeyCheck::NoKid),
            (token.sign_with_unknown_key(), KeyCheck::UnknownKey),
            (
                issuer
                    .token()
                    .kid(issuer.current_kid())
                    .sign_with_unknown_key(),
                KeyCheck::Signature,
            ),
        ];
        for (token, expected) in cases {
            assert_eq!(check(&verifier, &issuer, &token).await, Err(expected));
        }

        issuer.faults().next(Endpoint::Jwks, 1, Fault::Status(503));
        assert_eq!(
            check(&verifier, &issuer, &token.sign()).await,
            Err(KeyCheck::Unreachable)
        );
        issuer.faults().next(Endpoint::Jwks, 1, Fault::Garbage);
        assert_eq!(
            check(&verifier, &issuer, &token.sign()).await,
            Err(KeyCheck::Unreachable)
        );
    }

    #[tokio::test]
    async fn no_fetch_for_a_token_that_cannot_match() {
        let issuer = Issuer::start().await.expect("issuer");
        let verifier = JwksVerifier::new(None).expect("client");
        let _ = check(&verifier, &issuer, &issuer.token().sign_alg_none()).await;
        let _ = check(
            &verifier,
            &issuer,
            &issuer.token().remove_header("kid").sign(),
        )
        .await;
        assert_eq!(issuer.requests(Endpoint::Jwks), 0);
    }
}
