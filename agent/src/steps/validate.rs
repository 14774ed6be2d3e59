//! ValidateService: the release must answer through nginx. The health URL
//! is polled with retries until a deadline; a release that never reports
//! itself is switched back (the previous release, gunicorn reloaded, the
//! workers restarted) and the step then fails with the last answer: the
//! HTTP status and a body excerpt, or the connection error, as seen.
//!
//! A 200 is not enough: a gunicorn still serving the old release answers
//! 200 too, so the body must name the release (measured: after a bad HUP,
//! Supervisor can even show RUNNING for a master that serves nothing).

use std::time::Duration;

use super::error::{Result, StepError};
use super::gunicorn::{self, Health};
use super::switch::Switch;

/// What ValidateService checks and what it switches back on failure.
#[derive(Debug, Clone)]
pub struct Validate<'a> {
    /// The switch-back, with the health check it waits for.
    pub switch_back: Switch<'a>,
    /// The URL through nginx whose body reports the release.
    pub url: &'a str,
    /// The release that must serve.
    pub release: &'a str,
    /// How long to wait for it.
    pub deadline: Duration,
}

impl Validate<'_> {
    /// Waits for the release; on failure switches back and fails with the reason.
    pub async fn run(&self, report: &mut dyn FnMut(&str)) -> Result<()> {
        let releases = self.switch_back.releases;
        let current = releases.current()?;
        if current.as_deref() != Some(self.release) {
            // Nothing of this release is serving: switching "back" would
            // move the host away from what it runs now.
            return Err(StepError::Release {
                app_root: releases
                    .current_link()
                    .parent()
                    .map(Into::into)
                    .unwrap_or_default(),
                release: self.release.into(),
                reason: format!(
                    "current points at {}, not this release (ApplicationStart did not switch to it); nothing changed",
                    current.as_deref().unwrap_or("nothing")
                ),
            });
        }
        let health = Health {
            url: self.url.into(),
            release: self.release.into(),
            deadline: self.deadline,
        };
        let failure = match gunicorn::wait_for_release(&health).await {
            Ok(()) => {
                report(&format!("{} reports release {}", self.url, self.release));
                return Ok(());
            }
            Err(failure) => failure,
        };
        tracing::warn!("{}; switching back", slipway_shared::error_chain(&failure));
        let outcome = if releases.previous()?.is_none() {
            "there is no previous release to switch back to".to_owned()
        } else {
            match self.switch_back.back("validate", report).await {
                Ok(switched) => format!(
                    "switched back to {} and reloaded {}",
                    switched.to, self.switch_back.program
                ),
                Err(e) => format!("switching back failed: {}", slipway_shared::error_chain(&e)),
            }
        };
        Err(StepError::Validate {
            release: self.release.into(),
            outcome,
            source: Box::new(failure),
        })
    }
}
