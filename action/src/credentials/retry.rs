//! Retries with full-jitter backoff, bounded in count and in time.
//!
//! Only transient failures are retried (the caller's classifier decides);
//! a configuration error fails on its first answer. Matrix jobs start in the
//! same second and hit STS together, so each wait is drawn uniformly from
//! zero to the exponential ceiling ("full jitter") rather than fixed, which
//! spreads the retries apart.

use std::time::Duration;

use rand::RngExt;
use tokio::time::Instant;

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Transient: wait, then try again.
    Retry,
    /// The token expired on the way: mint a fresh one, then try again
    /// without waiting.
    FreshToken,
    /// Permanent: give up now.
    Fail,
}

/// How often and how long to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling of the first wait; it doubles per retry.
    pub base: Duration,
    /// The largest ceiling.
    pub cap: Duration,
    /// Attempts at most, the first included.
    pub max_attempts: u32,
    /// No wait starts that would end later than this after the first
    /// attempt began.
    pub max_elapsed: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(200),
            cap: Duration::from_secs(10),
            max_attempts: 6,
            max_elapsed: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// The same policy with `max_attempts` attempts.
    pub fn with_max_attempts(self, max_attempts: u32) -> Self {
        Self {
            max_attempts,
            ..self
        }
    }

    /// The ceiling of the wait before retry number `retry` (0-based).
    pub fn ceiling(&self, retry: u32) -> Duration {
        self.base
            .checked_mul(1u32.checked_shl(retry).unwrap_or(u32::MAX))
            .map_or(self.cap, |d| d.min(self.cap))
    }

    /// A full-jitter wait before retry number `retry`: uniform in
    /// `[0, ceiling(retry)]`.
    pub fn delay(&self, retry: u32, rng: &mut impl RngExt) -> Duration {
        let ceiling = self.ceiling(retry).as_millis() as u64;
        Duration::from_millis(rng.random_range(0..=ceiling))
    }
}

/// The last error of a retried operation, and how it ended.
#[derive(Debug)]
pub struct Failed<E> {
    /// The last attempt's error.
    pub error: E,
    /// How many attempts were made.
    pub attempts: u32,
    /// What the classifier said about the last error: [`Verdict::Fail`], or a
    /// retryable verdict when the count or time ran out.
    pub last_verdict: Verdict,
}

/// Runs `attempt` (given the 1-based attempt number) until it succeeds,
/// `classify` calls its error permanent, or the policy's count or time runs
/// out. Waits use tokio's clock, so tests run on a paused clock.
///
/// A plain closure returning a future rather than an async closure: the
/// futures of async closures are not yet known to be `Send`, which
/// [`ProvideCredentials`](aws_credential_types::provider::ProvideCredentials)
/// requires.
pub async fn run<T, E, F>(
    policy: &Backoff,
    mut attempt: impl FnMut(u32) -> F,
    classify: impl Fn(&E) -> Verdict,
) -> Result<T, Failed<E>>
where
    F: Future<Output = Result<T, E>>,
{
    let start = Instant::now();
    let mut retries = 0;
    let mut n = 1;
    loop {
        let error = match attempt(n).await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        let verdict = classify(&error);
        let fail = |error| Failed {
            error,
            attempts: n,
            last_verdict: verdict,
        };
        if verdict == Verdict::Fail || n >= policy.max_attempts {
            return Err(fail(error));
        }
        if verdict == Verdict::Retry {
            // `rand::rng()` is not Send; it must not live across the await.
            let wait = policy.delay(retries, &mut rand::rng());
            retries += 1;
            if start.elapsed() + wait > policy.max_elapsed {
                return Err(fail(error));
            }
            tracing::debug!(attempt = n, wait_ms = wait.as_millis() as u64, "retrying");
            tokio::time::sleep(wait).await;
        }
        n += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn policy() -> Backoff {
        Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(2),
            max_attempts: 5,
            max_elapsed: Duration::from_secs(30),
        }
    }

    #[test]
    fn the_ceiling_doubles_up_to_the_cap() {
        let p = policy();
        let ceilings: Vec<_> = (0..7).map(|r| p.ceiling(r).as_millis()).collect();
        assert_eq!(ceilings, [100, 200, 400, 800, 1600, 2000, 2000]);
        assert_eq!(p.ceiling(200), p.cap, "no overflow on absurd retry counts");
    }

    #[test]
    fn full_jitter_spreads_waits_over_the_whole_range() {
        let p = policy();
        let mut rng = StdRng::seed_from_u64(7);
        let waits: Vec<_> = (0..2000).map(|_| p.delay(3, &mut rng)).collect();
        assert!(waits.iter().all(|w| *w <= Duration::from_millis(800)));
        assert!(
            waits.iter().any(|w| *w < Duration::from_millis(80)),
            "reaches near zero"
        );
        assert!(
            waits.iter().any(|w| *w > Duration::from_millis(720)),
            "reaches near the ceiling"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn transient_errors_are_retried_until_success() {
        let mut calls = 0;
        let result = run(
            &policy(),
            |_| {
                calls += 1;
                let n = calls;
                async move { if n < 3 { Err("throttled") } else { Ok(n) } }
            },
            |_| Verdict::Retry,
        )
        .await;
        assert_eq!(result.unwrap(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_permanent_error_is_tried_exactly_once() {
        let start = Instant::now();
        let mut calls = 0;
        let failed = run(
            &policy(),
            |_| {
                calls += 1;
                async { Err::<(), _>("AccessDenied") }
            },
            |_| Verdict::Fail,
        )
        .await
        .unwrap_err();
        assert_eq!((calls, failed.attempts), (1, 1));
        assert_eq!(failed.last_verdict, Verdict::Fail);
        assert_eq!(start.elapsed(), Duration::ZERO, "no wait before failing");
    }

    #[tokio::test(start_paused = true)]
    async fn retries_stop_at_the_attempt_count() {
        let start = Instant::now();
        let failed = run(
            &policy(),
            |_| async { Err::<(), _>("5xx") },
            |_| Verdict::Retry,
        )
        .await
        .unwrap_err();
        assert_eq!(failed.attempts, 5);
        assert_eq!(failed.last_verdict, Verdict::Retry);
        let most: Duration = (0..4).map(|r| policy().ceiling(r)).sum();
        assert!(start.elapsed() <= most, "{:?} > {most:?}", start.elapsed());
    }

    #[tokio::test(start_paused = true)]
    async fn retries_stop_at_the_time_budget() {
        let p = Backoff {
            base: Duration::from_secs(10),
            cap: Duration::from_secs(10),
            max_attempts: 100,
            max_elapsed: Duration::from_secs(25),
        };
        let start = Instant::now();
        let failed = run(&p, |_| async { Err::<(), _>("5xx") }, |_| Verdict::Retry)
            .await
            .unwrap_err();
        assert!(start.elapsed() <= p.max_elapsed);
        assert!(
            failed.attempts >= 3,
            "waits of at most 10 s fit twice into 25 s"
        );
        assert!(failed.attempts < 100);
    }

    #[tokio::test(start_paused = true)]
    async fn a_fresh_token_retry_does_not_wait() {
        let start = Instant::now();
        let mut seen = Vec::new();
        let result = run(
            &policy(),
            |n| {
                seen.push(n);
                async move { if n == 1 { Err("ExpiredToken") } else { Ok(()) } }
            },
            |_| Verdict::FreshToken,
        )
        .await;
        assert!(result.is_ok());
        assert_eq!(seen, [1, 2]);
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
