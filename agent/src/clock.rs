//! The clock, passed in so tests and the daemon agree on time, and the two
//! timestamp formats of the official logs (local time, as Ruby's `Time.now`).

use std::time::{SystemTime, UNIX_EPOCH};

/// Where the agent gets the time of day.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now.
    fn now(&self) -> SystemTime;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// `YYYY-MM-DD HH:MM:SS`, as `scripts.log` stamps its lines.
pub fn format_seconds(t: SystemTime) -> String {
    let (tm, _) = local(t);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

/// `YYYY-MM-DD HH:MM:SS.mmm`, as the deployments log stamps its lines.
pub fn format_millis(t: SystemTime) -> String {
    let (_, millis) = local(t);
    format!("{}.{millis:03}", format_seconds(t))
}

fn local(t: SystemTime) -> (libc::tm, u32) {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() as libc::time_t;
    // SAFETY: localtime_r writes only into the tm we give it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    unsafe { libc::localtime_r(&secs, &mut tm) };
    (tm, since.subsec_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_have_the_official_shape() {
        let s = format_millis(SystemTime::now());
        assert_eq!(s.len(), "2026-01-01 00:00:00.000".len());
        assert_eq!(&s[4..5], "-");
        assert_eq!(&s[19..20], ".");
    }
}
