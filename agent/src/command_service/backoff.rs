//! The official agent's pauses after a failed poll
//! (`lib/instance_agent/agent/base.rb`): `floor(1.2675^n · 90 / 1.2675^10)`
//! seconds for the n-th consecutive error, n capped at 10 — 10, 13, 17, 21,
//! 27, 34, 44, 56, 71, 90 s — minus the time the failed call itself took;
//! and a fixed `wait_after_throttle_error` after throttling.

use std::time::Duration;

/// The backoff state of one poll loop.
#[derive(Debug, Clone)]
pub struct Backoff {
    errors: u32,
    /// The pause after a throttling error.
    pub throttle_wait: Duration,
    /// Scales every pause (1.0 in production; tests shrink it).
    pub scale: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            errors: 0,
            throttle_wait: Duration::from_secs(60),
            scale: 1.0,
        }
    }
}

impl Backoff {
    /// The official steps, with `throttle_wait` after throttling.
    pub fn new(throttle_wait: Duration) -> Backoff {
        Backoff {
            throttle_wait,
            ..Backoff::default()
        }
    }

    /// After a successful call: start again from the first step.
    pub fn reset(&mut self) {
        self.errors = 0;
    }

    /// The consecutive errors counted so far.
    pub fn errors(&self) -> u32 {
        self.errors
    }

    /// The pause after another error, the failed call having taken `elapsed`.
    pub fn next(&mut self, throttled: bool, elapsed: Duration) -> Duration {
        self.errors = (self.errors + 1).min(10);
        let base = if throttled {
            self.throttle_wait
        } else {
            Duration::from_secs(step_seconds(self.errors))
        };
        base.mul_f64(self.scale).saturating_sub(elapsed)
    }
}

/// The official n-th step, in whole seconds.
pub fn step_seconds(n: u32) -> u64 {
    let n = n.clamp(1, 10) as i32;
    (1.2675f64.powi(n) * 90.0 / 1.2675f64.powi(10)).floor() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_official_steps_and_caps_at_ninety_seconds() {
        let steps: Vec<u64> = (1..=12).map(step_seconds).collect();
        assert_eq!(steps, [10, 13, 17, 21, 27, 34, 44, 56, 71, 90, 90, 90]);
    }

    #[test]
    fn subtracts_the_failed_calls_time_and_resets_on_success() {
        let mut backoff = Backoff::default();
        assert_eq!(
            backoff.next(false, Duration::from_secs(4)),
            Duration::from_secs(6)
        );
        assert_eq!(backoff.next(false, Duration::ZERO), Duration::from_secs(13));
        assert_eq!(backoff.next(true, Duration::ZERO), Duration::from_secs(60));
        backoff.reset();
        assert_eq!(backoff.next(false, Duration::ZERO), Duration::from_secs(10));
    }
}
