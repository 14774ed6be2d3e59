//! Taking over from a step that was killed half way. Every step that drives
//! a program first takes its lock ([`super::lock`]); a journal found then
//! belongs to a step that is gone, and is acted on before anything else:
//!
//! - a forward switch (`gunicorn-reload`) is reversed: `current` back to the
//!   release that served before, gunicorn reloaded onto it;
//! - a switch back (`rollback`, ValidateService's switch-back) is finished;
//! - a blue/green switch (`gunicorn-reload` of a changed program) is
//!   reversed while nginx still sends to the old program, and finished once
//!   it sends to the standby ([`super::bluegreen::recover`]);
//! - a worker switch (`celery-restart`) is finished: the worker started on
//!   the release, its takeover stopped;
//! - a step that had changed nothing leaves nothing to do.
//!
//! Recovery is itself journaled in the same record and idempotent, so a
//! recovery that is killed is simply done again by the next step.

use std::time::Duration;

use super::bluegreen;
use super::celery;
use super::error::Result;
use super::journal::{Event, Journal, Target};
use super::lock::ProgramLock;
use super::releases::Releases;
use super::supervisor::Supervisor;
use super::switch::Switch;

/// Takes the locks on `programs` (in name order, so steps locking several
/// never deadlock) and recovers what an interrupted step left on each.
/// Hold the returned locks for the whole step.
pub async fn lock_and_recover(
    supervisor: &Supervisor,
    releases: &Releases,
    programs: &[&str],
    step: &str,
    report: &mut dyn FnMut(&str),
) -> Result<Vec<ProgramLock>> {
    let mut names: Vec<&str> = programs.to_vec();
    names.sort_unstable();
    names.dedup();
    let mut locks = Vec::new();
    for program in names {
        locks.push(ProgramLock::acquire(releases.app_root(), program, step, report).await?);
    }
    for lock in &locks {
        recover(supervisor, releases, lock.program(), report).await?;
    }
    Ok(locks)
}

/// Finishes or reverses the step that left a journal on `program`, if one
/// did (returning whether one did); the caller holds the program's lock.
pub async fn recover(
    supervisor: &Supervisor,
    releases: &Releases,
    program: &str,
    report: &mut dyn FnMut(&str),
) -> Result<bool> {
    let Some(mut journal) = Journal::open(releases.app_root(), program)? else {
        return Ok(false);
    };
    let record = journal.record().clone();
    let interrupted = format!(
        "{}: {} (pid {}) was interrupted after: {}",
        program,
        record.step,
        record.pid,
        record.last_done()
    );
    journal.note(Event::Recovering {
        pid: std::process::id(),
    })?;
    if record.blue_green.is_some() {
        let mut done = String::new();
        bluegreen::recover(supervisor, releases, journal, &mut |line| {
            done = line.to_owned()
        })
        .await?;
        report(&format!("{interrupted}; {done}"));
        return Ok(true);
    }
    let Some(target) = &record.target else {
        // A worker restart: the worker must end up running, its takeover
        // (if it has one) stopped.
        for worker in &record.workers {
            if !record.started_since_switch(worker) {
                celery::switch(supervisor, worker, &mut |event| journal.note(event)).await?;
                journal.note(Event::Started {
                    program: worker.clone(),
                })?;
            }
            celery::retire_takeover(supervisor, worker).await?;
        }
        report(&format!(
            "{interrupted}; finished: {} running",
            record.workers.join(", ")
        ));
        return journal.finish().map(|()| true);
    };
    if !record.switch_began() {
        report(&format!("{interrupted}; nothing had changed"));
        return journal.finish().map(|()| true);
    }
    let release = target.release();
    let current = releases.current()?;
    if current.as_deref() != Some(release) {
        match target {
            Target::Reverse(_) => releases.revert_to(release)?,
            Target::Finish(_) => releases.switch_to(release)?,
        }
        journal.note(Event::Switched {
            from: current.unwrap_or_default(),
            to: release.into(),
        })?;
    }
    let verb = match target {
        Target::Reverse(_) => "reversed",
        Target::Finish(_) => "finished",
    };
    let health = record
        .health
        .as_ref()
        .map(|(url, secs)| (url.as_str(), Duration::from_secs(*secs)));
    let workers: Vec<String> = record
        .workers
        .iter()
        .filter(|w| !journal.record().started_since_switch(w))
        .cloned()
        .collect();
    let switch = Switch {
        supervisor,
        releases,
        program,
        workers: &workers,
        health,
    };
    let mut done = Vec::new();
    switch
        .reload_and_restart(&mut journal, &mut |line| done.push(line.to_owned()))
        .await?;
    // Workers started on the release before the kill may have left their
    // takeover running.
    for worker in &record.workers {
        celery::retire_takeover(supervisor, worker).await?;
    }
    journal.finish()?;
    report(&format!(
        "{interrupted}; {verb}: current is {release}, {}",
        done.join(", ")
    ));
    // Best effort: the host is consistent; a health URL that does not
    // answer is worth a warning, not a step that can never run again.
    if let Err(e) = switch.wait_for(release).await {
        report(&format!(
            "warning: after recovery, {}",
            slipway_shared::error_chain(&e)
        ));
    }
    Ok(true)
}
