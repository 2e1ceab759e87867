//! Fuzz entry points (`fuzz/`, targets `entra_token` and `entra_error`), also run over the
//! committed seeds by the unit tests. Not part of the public API.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::entra::parse_token_response;
use crate::error::parse_entra_error;

/// The fuzzing clock: 2023-11-14T22:13:20Z.
const NOW: u64 = 1_700_000_000;

/// Entra's token answer (`2xx` body): a token only with a positive lifetime of at most 7 days;
/// errors never echo the body.
pub fn entra_token(data: &[u8]) {
    let now = UNIX_EPOCH + Duration::from_secs(NOW);
    match parse_token_response(200, data, now) {
        Ok((token, expires_at)) => {
            assert!(expires_at > now);
            assert!(expires_at <= now + vercel_oidc::time::MAX_SERVICE_LIFETIME);
            let since = expires_at
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            assert_eq!(token.expires_on.unix_timestamp(), since as i64);
            let secret = token.token.secret();
            let shown = format!("{token:?}");
            assert!(
                secret.len() < 8 || !shown.contains(secret),
                "token in Debug"
            );
        }
        Err(err) => {
            let shown = format!("{err} {err:?}");
            assert!(shown.len() < 400, "error grows with the body");
        }
    }
}

/// Entra's error answer: the first byte picks a status (400–655), the rest is the body. Never
/// fails; the message is bounded and printable whatever the body.
pub fn entra_error(data: &[u8]) {
    let (status, body) = match data.split_first() {
        Some((first, rest)) => (400 + u16::from(*first), rest),
        None => (400, data),
    };
    let error = parse_entra_error(status, body, Some(Duration::from_secs(1)));
    assert_eq!(error.status(), status);
    assert_eq!(error.code(), error.codes().first().copied());
    let _ = (error.is_transient(), error.is_permanent());
    let shown = error.to_string();
    assert!(
        !shown.chars().any(char::is_control),
        "control characters: {shown:?}"
    );
    assert!(shown.chars().count() < 600, "unbounded message");
    let wrapped = crate::Error::Entra(Box::new(error));
    let _ = (
        wrapped.aadsts_code(),
        wrapped.is_rejected(),
        wrapped.to_string(),
    );
}

/// The time [`entra_token`] compares against.
pub fn fuzzing_now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn each_seed(target: &str, run: impl Fn(&[u8])) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/seeds")
            .join(target);
        let mut count = 0;
        for entry in std::fs::read_dir(&dir).expect("seed dir") {
            let path = entry.expect("entry").path();
            run(&std::fs::read(&path).expect("seed"));
            count += 1;
        }
        assert!(count > 0, "no seeds in {}", dir.display());
    }

    #[test]
    fn seeds_entra_token() {
        each_seed("entra_token", super::entra_token);
        let _ = super::fuzzing_now();
    }

    #[test]
    fn seeds_entra_error() {
        each_seed("entra_error", super::entra_error);
    }
}
