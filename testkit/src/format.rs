//! The dates and random ids the emulators write into their answers: UTC date-times in AWS's and
//! Entra's shapes, UUID-shaped request and trace ids, and random key material in the alphabets
//! AWS and Vercel use.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;

use crate::jwt::{b64, unix_seconds};

/// `YYYY-MM-DDTHH:MM:SSZ` (UTC), as AWS writes `Expiration`.
pub(crate) fn iso8601(time: SystemTime) -> String {
    utc_date_time(time, 'T')
}

/// `YYYY-MM-DD hh:mm:ssZ` (UTC), as Entra writes `timestamp`.
pub(crate) fn entra_timestamp(time: SystemTime) -> String {
    utc_date_time(time, ' ')
}

/// The UTC date, `separator`, the UTC time and `Z`. Before the epoch the years count down as
/// the proleptic Gregorian calendar does; no input overflows.
fn utc_date_time(time: SystemTime, separator: char) -> String {
    let secs = unix_seconds(time);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days. `days` is at most about 1.1e14 in magnitude, so no step
    // below comes near i64's range.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}{separator}{:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

/// `n` random bytes from the system RNG.
pub(crate) fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    if SystemRandom::new().fill(&mut bytes).is_err() {
        // Not expected on supported platforms; a process-wide counter keeps ids unique.
        static FALLBACK: AtomicUsize = AtomicUsize::new(0);
        let seed = FALLBACK.fetch_add(1, Ordering::Relaxed);
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (seed.wrapping_mul(31).wrapping_add(i.wrapping_mul(17)) & 0xff) as u8;
        }
    }
    bytes
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// A random id in the 8-4-4-4-12 hex form of AWS request ids and Entra trace ids.
pub(crate) fn uuid_like() -> String {
    let h = hex(&random_bytes(16));
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// A random identifier: base64url of 16 random bytes.
pub(crate) fn random_id() -> String {
    b64(random_bytes(16))
}

/// `n` random characters of `[A-Z2-7]`, as in AWS key ids.
pub(crate) fn random_upper(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    random_bytes(n)
        .into_iter()
        .map(|b| char::from(ALPHABET[usize::from(b) % ALPHABET.len()]))
        .collect()
}

/// base64 (standard alphabet, no padding) of `n` random bytes.
pub(crate) fn random_b64(n: usize) -> String {
    STANDARD_NO_PAD.encode(random_bytes(n))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn iso8601_known_dates() {
        assert_eq!(iso8601(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            iso8601(UNIX_EPOCH + Duration::from_secs(1_414_191_623)),
            "2014-10-24T23:00:23Z"
        );
        assert_eq!(
            iso8601(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn timestamp_is_entra_shaped() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        assert_eq!(entra_timestamp(t), "2026-11-18 11:06:40Z");
        assert_eq!(entra_timestamp(UNIX_EPOCH), "1970-01-01 00:00:00Z");
    }

    #[test]
    fn dates_before_the_epoch() {
        assert_eq!(
            iso8601(UNIX_EPOCH - Duration::from_secs(1)),
            "1969-12-31T23:59:59Z"
        );
    }

    #[test]
    fn uuid_like_has_the_shape() {
        let id = uuid_like();
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
        assert!(id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
        assert_ne!(uuid_like(), id);
    }

    #[test]
    fn random_ids_have_their_alphabets() {
        let key_id = random_upper(16);
        assert_eq!(key_id.len(), 16);
        assert!(
            key_id
                .chars()
                .all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c))
        );
        assert_eq!(random_b64(30).len(), 40);
        assert_eq!(random_id().len(), 22);
        assert_eq!(hex(&[0, 0xab]), "00ab");
    }
}
