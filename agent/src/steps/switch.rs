//! Switching the host between releases, journaled: `current` to the
//! release, then at once gunicorn reloaded (HUP, or a start if a bad
//! release left it FATAL or it is the host's first release), the worker
//! programs warm-restarted on it, and the health URL waited for.
//! Used forward by `gunicorn-reload` and backward by `rollback` and by
//! ValidateService's switch-back.
//!
//! The window that matters is between the switch and the reload: `current`
//! names the new release while gunicorn's workers still run the old one,
//! and any worker gunicorn respawns would import the new one. The journal
//! ([`super::journal`]) is written before the switch and after each part,
//! and removed once the host agrees with itself; [`super::recover`] closes
//! a window a killed step left open. A forward switch is reversed (the old
//! release served and passed its checks); a switch back is finished.

use std::time::Duration;

use super::celery;
use super::error::{Result, StepError};
use super::gunicorn::{self, Health};
use super::journal::{Event, Journal, Record, Target};
use super::releases::Releases;
use super::supervisor::{Supervisor, fault, state};

/// How long a first release's gunicorn may stay STARTING or STOPPING
/// before [`Switch::start_first`] hands it to the reload's own waiting.
const FIRST_SETTLE: Duration = Duration::from_secs(15);

/// Whether process `pid` works in `dir`: gunicorn's `--chdir` on `current`
/// resolves the link when the master starts, so its workers import that
/// release.
fn runs_in(pid: u32, dir: &std::path::Path) -> bool {
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd"));
    matches!((cwd, std::fs::canonicalize(dir)), (Ok(cwd), Ok(dir)) if pid != 0 && cwd == dir)
}

/// The programs a switch reloads and how to know it serves.
#[derive(Debug, Clone)]
pub struct Switch<'a> {
    /// supervisord.
    pub supervisor: &'a Supervisor,
    /// The app's releases.
    pub releases: &'a Releases,
    /// The gunicorn program.
    pub program: &'a str,
    /// Worker programs (Celery) to warm-restart on the release.
    pub workers: &'a [String],
    /// A URL whose body reports the release, and how long to wait for it.
    pub health: Option<(&'a str, Duration)>,
}

/// The switch that was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Switched {
    /// The release `current` pointed at before ("" when none).
    pub from: String,
    /// The release it points at now.
    pub to: String,
}

impl Switch<'_> {
    /// Switches forward to `to`; if interrupted, the next step reverses it.
    pub async fn forward(
        &self,
        step: &str,
        to: &str,
        report: &mut dyn FnMut(&str),
    ) -> Result<Switched> {
        // The first release has nothing to go back to: finish it instead.
        let target = match self.releases.current()? {
            Some(from) => Target::Reverse(from),
            None => Target::Finish(to.into()),
        };
        self.journaled(step, to, target, report).await
    }

    /// Switches back to the release that served before; if interrupted,
    /// the next step finishes it.
    pub async fn back(&self, step: &str, report: &mut dyn FnMut(&str)) -> Result<Switched> {
        let to = self
            .releases
            .previous()?
            .ok_or_else(|| StepError::Release {
                app_root: self.releases.app_root().into(),
                release: String::new(),
                reason: "no previous release to roll back to".into(),
            })?;
        self.journaled(step, &to, Target::Finish(to.clone()), report)
            .await
    }

    /// The record a switch journals, for [`super::recover`] to act on.
    fn record(&self, step: &str, target: Target) -> Record {
        let mut record = Record::new(step, self.program);
        record.target = Some(target);
        record.workers = self.workers.to_vec();
        record.health = self
            .health
            .map(|(url, deadline)| (url.to_owned(), deadline.as_secs()));
        record
    }

    async fn journaled(
        &self,
        step: &str,
        to: &str,
        target: Target,
        report: &mut dyn FnMut(&str),
    ) -> Result<Switched> {
        let app_root = self.releases.app_root();
        let mut journal = Journal::begin(app_root, self.record(step, target))?;
        let from = self.releases.current()?.unwrap_or_default();
        journal.note(Event::Switching {
            from: from.clone(),
            to: to.into(),
        })?;
        if let Err(e) = self.releases.switch_to(to) {
            // A refused or failed rename leaves nothing to undo.
            if self.releases.current()?.unwrap_or_default() == from {
                journal.finish()?;
            }
            return Err(e);
        }
        journal.note(Event::Switched {
            from: from.clone(),
            to: to.into(),
        })?;
        report(&format!("current {from} -> {to}"));
        let healthy = self
            .reload_restart_and_wait(&mut journal, to, from.is_empty(), report)
            .await;
        let healthy = match healthy {
            Ok(healthy) => healthy,
            Err(e) => {
                let how = match journal.record().target {
                    Some(Target::Reverse(_)) => "reverses",
                    _ => "finishes",
                };
                report(&format!(
                    "left half done: the next step on {} (or `slipway-agent step recover`) {how} it",
                    self.program
                ));
                return Err(e);
            }
        };
        // Consistent from here on: current and every program agree.
        journal.finish()?;
        healthy?;
        Ok(Switched {
            from,
            to: to.into(),
        })
    }

    /// Reloads gunicorn and restarts the workers not yet started on the
    /// release, journaling each.
    pub(crate) async fn reload_and_restart(
        &self,
        journal: &mut Journal,
        report: &mut dyn FnMut(&str),
    ) -> Result<()> {
        self.reload(journal, report).await?;
        self.restart_workers(journal, report).await
    }

    /// Reloads gunicorn and warm-restarts the workers at once, journaling
    /// each, while waiting for the health URL to report `to`: the reload's
    /// or a restart's error (without waiting out the health check), else
    /// the health check's outcome.
    ///
    /// None needs another: all three act on the release `current` already
    /// names. In turn they were most of a lifecycle (bench/lifecycle): a
    /// first deployment's gunicorn start waits out its startsecs (7 s), a
    /// Celery warm restart takes seconds of shutdown and then its own
    /// startsecs, and gunicorn's new workers import the app before the
    /// health URL answers. Either failing leaves the journal open, for the
    /// next step to reverse or finish as before.
    ///
    /// `first`: nothing was served before, see [`Switch::start_first`].
    async fn reload_restart_and_wait(
        &self,
        journal: &mut Journal,
        to: &str,
        first: bool,
        report: &mut dyn FnMut(&str),
    ) -> Result<Result<()>> {
        // One task polls all three, so a borrow never spans an await.
        let journal = std::cell::RefCell::new(journal);
        let report = std::cell::RefCell::new(report);
        let say = |line: String| (*report.borrow_mut())(&line);
        let reload = async {
            let how = if first {
                self.start_first(to).await?
            } else {
                gunicorn::reload_program(self.supervisor, self.program).await?
            };
            journal.borrow_mut().note(Event::Reloaded {
                program: self.program.into(),
                how: how.into(),
            })?;
            say(format!("{}: {how}", self.program));
            Ok::<(), StepError>(())
        };
        let restart = async {
            for worker in self.workers {
                celery::switch(self.supervisor, worker, &mut |event| {
                    journal.borrow_mut().note(event)
                })
                .await?;
                journal.borrow_mut().note(Event::Started {
                    program: worker.clone(),
                })?;
                say(format!("{worker} restarted"));
            }
            Ok::<(), StepError>(())
        };
        // Both finish before a failure is returned, so the journal holds
        // all that was done; a failure ends the health wait at once.
        let work = async {
            let (reloaded, restarted) = tokio::join!(reload, restart);
            reloaded.and(restarted)
        };
        let health = async { Ok(self.wait_for(to).await) };
        tokio::try_join!(work, health).map(|((), healthy)| healthy)
    }

    /// Starts gunicorn on a host's first release, or leaves it starting
    /// there; says which. Nothing served before, so nothing needs a HUP:
    /// `supervisor-update` added the program before `current` existed, and
    /// Supervisor's own retry may already be starting it on the release.
    /// Waiting for RUNNING would add its startsecs (7 s in the reference
    /// config) and a HUP would boot the workers again; the health wait
    /// beside this proves gunicorn serves the release instead. A master
    /// that is RUNNING (it started elsewhere) is HUPed as before.
    async fn start_first(&self, to: &str) -> Result<&'static str> {
        let release = self.releases.dir(to);
        let give_up = tokio::time::Instant::now() + FIRST_SETTLE;
        loop {
            let info = self.supervisor.process_info(self.program).await?;
            match info.state {
                state::STARTING if runs_in(info.pid, &release) => {
                    return Ok("starting on the release (Supervisor's retry)");
                }
                // Not yet past its chdir, or a spawn from before the
                // switch about to fail it: watch it a little longer.
                state::STARTING | state::STOPPING if tokio::time::Instant::now() < give_up => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                state::STARTING | state::STOPPING | state::RUNNING => {
                    return gunicorn::reload_program(self.supervisor, self.program).await;
                }
                _ => {
                    if info.state == state::BACKOFF {
                        // startProcess answers ALREADY_STARTED in BACKOFF.
                        match self.supervisor.stop_process(self.program, true).await {
                            Err(StepError::SupervisorFault { code, .. })
                                if code == fault::NOT_RUNNING => {}
                            other => other?,
                        }
                    }
                    self.supervisor.start_process(self.program, false).await?;
                    return Ok("started");
                }
            }
        }
    }

    /// Reloads gunicorn, journaling it.
    async fn reload(&self, journal: &mut Journal, report: &mut dyn FnMut(&str)) -> Result<()> {
        let how = gunicorn::reload_program(self.supervisor, self.program).await?;
        journal.note(Event::Reloaded {
            program: self.program.into(),
            how: how.into(),
        })?;
        report(&format!("{}: {how}", self.program));
        Ok(())
    }

    /// Warm-restarts the workers on the release, journaling each.
    async fn restart_workers(
        &self,
        journal: &mut Journal,
        report: &mut dyn FnMut(&str),
    ) -> Result<()> {
        for worker in self.workers {
            celery::switch(self.supervisor, worker, &mut |event| journal.note(event)).await?;
            journal.note(Event::Started {
                program: worker.clone(),
            })?;
            report(&format!("{worker} restarted"));
        }
        Ok(())
    }

    /// Waits for the health URL to report `release`, when there is one.
    pub(crate) async fn wait_for(&self, release: &str) -> Result<()> {
        match self.health {
            Some((url, deadline)) => {
                gunicorn::wait_for_release(&Health {
                    url: url.into(),
                    release: release.into(),
                    deadline,
                })
                .await
            }
            None => Ok(()),
        }
    }
}
