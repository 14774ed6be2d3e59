//! Time as AWS and JWTs write it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the epoch (a JWT's NumericDate).
pub(crate) fn unix_now() -> u64 {
    unix_seconds(SystemTime::now())
}

pub(crate) fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `t` without its fraction of a second, so what is stored equals what
/// was written in a response.
pub(crate) fn truncate_to_seconds(t: SystemTime) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(unix_seconds(t))
}

/// `2026-12-01T10:00:00Z`, as STS and IMDS write timestamps.
pub(crate) fn iso8601(t: SystemTime) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from(t)
        .format(&format)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_whole_seconds_in_utc() {
        assert_eq!(
            iso8601(UNIX_EPOCH + Duration::from_millis(1_795_000_000_900)),
            "2026-11-18T11:06:40Z"
        );
    }
}
