//! Backoff delays shared by the cache and the providers' retry loops.
//!
//! One place computes "exponential, capped, jittered" so every retry loop in the project backs
//! off the same way.

use std::time::Duration;

/// `base * 2^(attempt-1)`, capped at `max` (attempt 1 waits up to `base`). Saturating.
///
/// ```
/// use std::time::Duration;
/// use vercel_oidc::retry::exponential_ceiling;
/// let s = Duration::from_secs;
/// assert_eq!(exponential_ceiling(1, s(1), s(60)), s(1));
/// assert_eq!(exponential_ceiling(3, s(1), s(60)), s(4));
/// assert_eq!(exponential_ceiling(40, s(1), s(60)), s(60));
/// ```
pub fn exponential_ceiling(attempt: u32, base: Duration, max: Duration) -> Duration {
    base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(max)
}

/// Full jitter: a random delay in `0..=exponential_ceiling(attempt, base, max)`.
pub fn full_jitter(attempt: u32, base: Duration, max: Duration) -> Duration {
    let ceiling = exponential_ceiling(attempt, base, max);
    Duration::from_millis(fastrand::u64(
        0..=u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX),
    ))
}

/// Equal jitter: at least half the ceiling, so retries stay spaced out.
pub fn equal_jitter(attempt: u32, base: Duration, max: Duration) -> Duration {
    let ceiling =
        u64::try_from(exponential_ceiling(attempt, base, max).as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(ceiling / 2 + fastrand::u64(0..=ceiling / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_its_bounds() {
        let ms = Duration::from_millis;
        for attempt in 0..40 {
            let ceiling = exponential_ceiling(attempt, ms(100), ms(5_000));
            assert!(ceiling <= ms(5_000));
            for _ in 0..50 {
                assert!(full_jitter(attempt, ms(100), ms(5_000)) <= ceiling);
                let equal = equal_jitter(attempt, ms(100), ms(5_000));
                assert!(
                    equal <= ceiling && equal >= ceiling / 2 - ms(1),
                    "{equal:?} {ceiling:?}"
                );
            }
        }
        assert_eq!(exponential_ceiling(0, ms(100), ms(5_000)), ms(100));
        assert_eq!(
            exponential_ceiling(u32::MAX, Duration::MAX, Duration::MAX),
            Duration::MAX
        );
    }
}
