//! Switching a host back to the release that served before: `current` to
//! the previous release, gunicorn reloaded (or started, if a bad release
//! left it FATAL) until the health URL reports it, the Celery workers
//! warm-restarted on it. Shared by `slipway-agent rollback` and by
//! ValidateService's switch-back.

use super::celery;
use super::error::Result;
use super::gunicorn::{self, Health};
use super::releases::Releases;
use super::supervisor::Supervisor;

/// What to switch back and how to know it serves.
#[derive(Debug, Clone)]
pub struct RollBack<'a> {
    /// supervisord.
    pub supervisor: &'a Supervisor,
    /// The app's releases.
    pub releases: &'a Releases,
    /// The gunicorn program.
    pub program: &'a str,
    /// Celery programs to restart on the previous release.
    pub celery: &'a [String],
    /// A URL whose body reports the release, and how long to wait for it.
    pub health: Option<(&'a str, std::time::Duration)>,
}

/// The switch that was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Switched {
    /// The release `current` pointed at before ("" when none).
    pub from: String,
    /// The release it points at now.
    pub to: String,
}

impl RollBack<'_> {
    /// Switches `current` back and reloads; `report` hears each part as it is done.
    pub async fn run(&self, report: &mut dyn FnMut(&str)) -> Result<Switched> {
        let from = self.releases.current()?.unwrap_or_default();
        let to = self.releases.roll_back()?;
        report(&format!("current {from} -> {to}"));
        let health = self.health.map(|(url, deadline)| Health {
            url: url.into(),
            release: to.clone(),
            deadline,
        });
        gunicorn::reload(self.supervisor, self.program, health.as_ref()).await?;
        report(&format!("{} reloaded", self.program));
        for worker in self.celery {
            celery::restart(self.supervisor, worker).await?;
            report(&format!("{worker} restarted"));
        }
        Ok(Switched { from, to })
    }
}
