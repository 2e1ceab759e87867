//! The JWS layer of a token: its size, its three parts, the header's algorithm, `crit` and
//! `kid`, and the RS256 signature. Nothing here looks at the claims.

use aws_lc_rs::signature::ParsedPublicKey;
use serde::Deserialize;

use super::VerifyError;
use crate::error::MalformedTokenReason;
use crate::token::Claims;

/// Registered JWA names, so a rejected `alg` can be named without echoing the header.
const KNOWN_ALGS: &[&str] = &[
    "none", "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
    "ES256", "ES256K", "ES384", "ES512", "EdDSA", "Ed25519", "Ed448",
];

/// The JOSE header fields the verifier reads.
#[derive(Deserialize)]
struct Header {
    #[serde(default)]
    alg: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<serde::de::IgnoredAny>,
}

/// A token split and its header checked: ready for the key lookup.
pub(super) struct Parsed<'t> {
    /// `header.payload`, the bytes the signature covers.
    signing_input: &'t str,
    payload: &'t str,
    signature: &'t str,
    /// The header's `kid`, never empty.
    pub(super) kid: String,
}

/// Size, shape, header: everything before the key is needed.
///
/// # Errors
/// [`VerifyError::TooLarge`] above `max_len` bytes (before any parsing),
/// [`VerifyError::Malformed`] when it is not a JWS with a JSON header,
/// [`VerifyError::DisallowedAlgorithm`] for any `alg` but `RS256`,
/// [`VerifyError::CriticalHeader`] when it has `crit`, and [`VerifyError::MissingKeyId`] without
/// a non-empty `kid`.
pub(super) fn parse(token: &str, max_len: usize) -> Result<Parsed<'_>, VerifyError> {
    if token.len() > max_len {
        return Err(VerifyError::TooLarge {
            len: token.len(),
            max: max_len,
        });
    }
    let malformed = VerifyError::Malformed;
    let parts = crate::token::split_jwt(token).map_err(malformed)?;
    let header_bytes = crate::token::decode_base64url(parts.header)
        .ok_or_else(|| malformed(MalformedTokenReason::NotBase64Url { part: "header" }))?;
    let header: Header = serde_json::from_slice(&header_bytes)
        .map_err(|_| malformed(MalformedTokenReason::NotJson { part: "header" }))?;
    let alg = header.alg.as_deref().unwrap_or_default();
    if alg != "RS256" {
        return Err(VerifyError::DisallowedAlgorithm {
            alg: KNOWN_ALGS.iter().copied().find(|a| *a == alg),
        });
    }
    if header.crit.is_some() {
        return Err(VerifyError::CriticalHeader);
    }
    let kid = match header.kid {
        Some(kid) if !kid.is_empty() => kid,
        _ => return Err(VerifyError::MissingKeyId),
    };
    Ok(Parsed {
        signing_input: &token[..parts.header.len() + 1 + parts.payload.len()],
        payload: parts.payload,
        signature: parts.signature,
        kid,
    })
}

impl Parsed<'_> {
    /// Checks the RS256 signature with `key`.
    ///
    /// # Errors
    /// [`VerifyError::InvalidSignature`].
    pub(super) fn check_signature(&self, key: &ParsedPublicKey) -> Result<(), VerifyError> {
        let signature =
            crate::token::decode_base64url(self.signature).ok_or(VerifyError::InvalidSignature)?;
        key.verify_sig(self.signing_input.as_bytes(), &signature)
            .map_err(|_| VerifyError::InvalidSignature)
    }

    /// Decodes the claims, *without* looking at the signature.
    ///
    /// # Errors
    /// [`VerifyError::Malformed`] for a payload that is not a claims object.
    pub(super) fn unverified_claims(&self) -> Result<Claims, VerifyError> {
        crate::token::claims_from_part(self.payload).map_err(VerifyError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn token(header: &str) -> String {
        format!("{}.cGF5bG9hZA.c2ln", URL_SAFE_NO_PAD.encode(header))
    }

    #[test]
    fn parse_splits_the_token_and_keeps_the_kid() {
        let t = token(r#"{"alg":"RS256","typ":"JWT","kid":"k\u0031"}"#);
        let parsed = parse(&t, t.len()).expect("exactly the limit");
        assert_eq!(parsed.kid, "k1");
        let (input, signature) = t.rsplit_once('.').expect("jwt");
        assert_eq!(parsed.signing_input, input);
        assert_eq!(parsed.payload, "cGF5bG9hZA");
        assert_eq!(parsed.signature, signature);
        assert!(matches!(
            parse(&t, t.len() - 1),
            Err(VerifyError::TooLarge { len, max }) if len == t.len() && max == t.len() - 1
        ));
        for header in [
            r#"{"alg":"RS256","kid":""}"#,
            r#"{"alg":"RS256"}"#,
            r#"{"alg":"RS256","kid":null}"#,
        ] {
            let t = token(header);
            assert!(
                matches!(parse(&t, 8192), Err(VerifyError::MissingKeyId)),
                "{header}"
            );
        }
    }
}
