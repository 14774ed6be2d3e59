//! Credentials that outlive a long deploy.
//!
//! A role session lasts one hour by default and a JWT five minutes, but the
//! runner's request token lasts about six hours. This provider keeps the
//! [`Exchange`] and, shortly before the session ends, mints a new JWT and
//! assumes the role again, so an SDK client that waits hours on CodeDeploy
//! never signs with expired keys.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{self, ProvideCredentials, error::CredentialsError};
use aws_smithy_async::time::SharedTimeSource;

use super::exchange::Exchange;
use super::sts::Assumed;

/// How long before expiry a session is renewed, at most.
const MAX_MARGIN: Duration = Duration::from_secs(5 * 60);

/// A [`ProvideCredentials`] that re-assumes the role before expiry.
#[derive(Debug, Clone)]
pub struct RefreshingCredentials {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    exchange: Exchange,
    time: SharedTimeSource,
    /// The current session and when to renew it. A tokio mutex, so
    /// concurrent callers wait for one renewal instead of each starting one.
    current: tokio::sync::Mutex<Option<(Assumed, SystemTime)>>,
    assumptions: AtomicUsize,
}

impl RefreshingCredentials {
    /// A provider that assumes the role on first use.
    pub fn new(exchange: Exchange, time: SharedTimeSource) -> Self {
        Self::build(exchange, time, None)
    }

    /// A provider that starts from a session already assumed.
    pub fn starting_with(exchange: Exchange, time: SharedTimeSource, assumed: Assumed) -> Self {
        let renew_at = renew_at(time.now(), assumed.expiration);
        Self::build(exchange, time, Some((assumed, renew_at)))
    }

    fn build(
        exchange: Exchange,
        time: SharedTimeSource,
        current: Option<(Assumed, SystemTime)>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                exchange,
                time,
                current: tokio::sync::Mutex::new(current),
                assumptions: AtomicUsize::new(0),
            }),
        }
    }

    /// How many times this provider has assumed the role.
    pub fn assumptions(&self) -> usize {
        self.inner.assumptions.load(Ordering::Relaxed)
    }

    /// The current session's credentials, renewed first if it is close to
    /// its end.
    pub async fn session(&self) -> crate::Result<Assumed> {
        let mut current = self.inner.current.lock().await;
        let now = self.inner.time.now();
        if let Some((assumed, renew_at)) = current.as_ref()
            && now < *renew_at
        {
            return Ok(assumed.clone());
        }
        let assumed = match self.inner.exchange.assume().await {
            Ok(assumed) => assumed,
            // The renewal starts minutes early so that an STS outage then
            // costs nothing: the keys in hand still sign, and the next call
            // tries again. Only an ended session is an error.
            Err(error) => match current.as_ref() {
                Some((assumed, _)) if self.inner.time.now() < assumed.expiration => {
                    tracing::warn!(%error, "cannot renew the role session yet; the current one still works");
                    return Ok(assumed.clone());
                }
                _ => return Err(error),
            },
        };
        self.inner.assumptions.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(role = %self.inner.exchange.role.arn, "assumed the role again");
        let renew = renew_at(self.inner.time.now(), assumed.expiration);
        *current = Some((assumed.clone(), renew));
        Ok(assumed)
    }
}

/// Renew three quarters into the session, or five minutes before its end if
/// that is later: long sessions run nearly to term, short ones still get a
/// renewal in time.
fn renew_at(issued: SystemTime, expiration: SystemTime) -> SystemTime {
    let lifetime = expiration.duration_since(issued).unwrap_or_default();
    let early = issued + lifetime.mul_f64(0.75);
    let late = expiration.checked_sub(MAX_MARGIN).unwrap_or(issued);
    early.max(late)
}

impl ProvideCredentials for RefreshingCredentials {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::new(async move {
            self.session()
                .await
                .map(|assumed| assumed.credentials)
                .map_err(CredentialsError::provider_error)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn an_hour_session_is_renewed_five_minutes_before_its_end() {
        assert_eq!(renew_at(at(0), at(3600)), at(3300));
    }

    #[test]
    fn a_short_session_is_renewed_three_quarters_in() {
        assert_eq!(renew_at(at(100), at(104)), at(103));
    }

    #[test]
    fn an_already_expired_session_is_renewed_at_once() {
        assert_eq!(renew_at(at(100), at(50)), at(100));
    }
}
