//! The wall clock the simulator stamps its records with and checks
//! signatures against, injected so a test can set it (to replay requests
//! signed at another time, say). Timers (host and deployment timeouts)
//! run on tokio's clock, which tests pause and advance.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

/// Where the simulator reads the time of day.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> SystemTime + Send + Sync>);

impl Clock {
    /// The system's clock.
    pub fn system() -> Self {
        Clock(Arc::new(SystemTime::now))
    }

    /// A clock that always reads `at`.
    pub fn fixed(at: SystemTime) -> Self {
        Clock(Arc::new(move || at))
    }

    /// A clock that reads `now()`.
    pub fn from_fn(now: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        Clock(Arc::new(now))
    }

    /// The simulator's present.
    pub fn now(&self) -> SystemTime {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Clock").field(&self.now()).finish()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_fixed_clock_reads_its_time() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(Clock::fixed(at).now(), at);
    }
}
