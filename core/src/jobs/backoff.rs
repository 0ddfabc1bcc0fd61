//! Retry timing shared by every job.

use std::time::Duration;

use rand::Rng;
use time::OffsetDateTime;

/// Exponential backoff with full jitter: uniform in `[0, min(cap, base * 2^attempt)]`, at least
/// `floor`.
#[must_use]
pub fn full_jitter(attempt: i32, base: Duration, cap: Duration, floor: Duration) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.clamp(0, 20) as u32).min(cap);
    let jittered = Duration::from_secs_f64(rand::thread_rng().gen_range(0.0..=exp.as_secs_f64()));
    jittered.max(floor)
}

/// `now + d` as a timestamp.
#[must_use]
pub fn after(d: Duration) -> OffsetDateTime {
    OffsetDateTime::now_utc() + d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_jitter_stays_between_the_floor_and_the_capped_exponential() {
        for attempt in 0..30 {
            let d = full_jitter(attempt, Duration::from_secs(1), Duration::from_secs(600), Duration::from_millis(200));
            assert!(d >= Duration::from_millis(200), "{d:?}");
            let exp = Duration::from_secs(1u64 << attempt.clamp(0, 20)).min(Duration::from_secs(600));
            assert!(d <= exp.max(Duration::from_millis(200)), "attempt {attempt}: {d:?}");
        }
    }
}
