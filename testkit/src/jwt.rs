//! Compact JWS encoding and RS256 verification, written here rather than taken from the client
//! crate: the emulators share no protocol code with the clients they check, so a misreading of
//! the protocol cannot cancel itself out.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair};
use aws_lc_rs::{hmac, signature};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

/// base64url without padding.
pub(crate) fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `base64url(header) "." base64url(payload)`.
pub(crate) fn signing_input(header: &Value, payload: &Value) -> String {
    // `Value`'s Display is compact JSON and cannot fail.
    format!("{}.{}", b64(header.to_string()), b64(payload.to_string()))
}

/// An RS256 (RSASSA-PKCS1-v1_5 with SHA-256) compact JWS.
pub(crate) fn sign_rs256(key: &RsaKeyPair, header: &Value, payload: &Value) -> String {
    let input = signing_input(header, payload);
    let mut signature = vec![0; key.public_modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    // Signing with a valid 2048-bit key into a buffer of the modulus length cannot fail.
    .expect("RSA PKCS#1 v1.5 signing with a valid key");
    format!("{input}.{}", b64(signature))
}

/// An HS256 (HMAC-SHA256) compact JWS.
pub(crate) fn sign_hs256(secret: &[u8], header: &Value, payload: &Value) -> String {
    let input = signing_input(header, payload);
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), input.as_bytes());
    format!("{input}.{}", b64(tag))
}

/// An unsigned compact JWS: the signature part is empty.
pub(crate) fn unsigned(header: &Value, payload: &Value) -> String {
    format!("{}.", signing_input(header, payload))
}

/// A token split and decoded, not yet trusted.
pub(crate) struct Parsed<'a> {
    pub(crate) header: Map<String, Value>,
    pub(crate) payload: Map<String, Value>,
    pub(crate) signing_input: &'a str,
    pub(crate) signature: Vec<u8>,
}

/// Splits a compact JWS into its decoded parts. The error message never contains the token.
pub(crate) fn parse(token: &str) -> Result<Parsed<'_>, &'static str> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("token is not a compact JWS of three parts");
    };
    let signing_input = &token[..header.len() + 1 + payload.len()];
    let decode_object = |part: &str| -> Result<Map<String, Value>, &'static str> {
        let bytes = URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| "token part is not base64url")?;
        match serde_json::from_slice(&bytes) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err("token header or payload is not a JSON object"),
        }
    };
    Ok(Parsed {
        header: decode_object(header)?,
        payload: decode_object(payload)?,
        signing_input,
        signature: URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| "token signature is not base64url")?,
    })
}

/// Checks an RS256 signature against a PKCS#1 `RSAPublicKey` DER.
pub(crate) fn verify_rs256(public_der: &[u8], message: &[u8], signature: &[u8]) -> bool {
    signature::UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public_der)
        .verify(message, signature)
        .is_ok()
}

/// Seconds since the Unix epoch (negative before it).
pub(crate) fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parse_rejects_shapes() {
        assert!(parse("a.b").is_err());
        assert!(parse("a.b.c.d").is_err());
        assert!(parse("!!.e30.").is_err());
        let not_object = format!("{}.{}.", b64("{}"), b64("[1]"));
        assert!(parse(&not_object).is_err());
        let ok = unsigned(&json!({"alg": "none"}), &json!({"sub": "x"}));
        let parsed = parse(&ok).ok();
        assert!(parsed.is_some_and(|p| p.signature.is_empty() && p.payload["sub"] == "x"));
    }

    #[test]
    fn unix_seconds_both_sides_of_epoch() {
        use std::time::Duration;
        assert_eq!(unix_seconds(UNIX_EPOCH + Duration::from_secs(5)), 5);
        assert_eq!(unix_seconds(UNIX_EPOCH - Duration::from_secs(5)), -5);
    }
}
