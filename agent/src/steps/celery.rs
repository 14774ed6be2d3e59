//! Celery under Supervisor: a warm switch to the release `current` names,
//! with no gap in consuming.
//!
//! Measured (host-stack-measurements.md §3): `stopasgroup=true` sends TERM
//! to the pool children too and kills tasks in flight, 3 of 3 runs, while
//! Supervisor reports exit 0. `killasgroup=true` only matters once
//! `stopwaitsecs` has run out, where it stops orphaned pool children.
//! A warm stop (TERM to the main process only) stops consuming and waits
//! for the tasks in flight; a worker stopped and then started leaves new
//! tasks waiting out the stop and the start (3-6 s).
//!
//! So when the operator declares a takeover program `<program>-next` (the
//! same worker under another `-n` node name, `autostart=false`), a restart
//! is a warm switch that keeps the program name operators know stable:
//!
//! 1. `<program>-next` starts on the new release and must stay RUNNING
//!    past its `startsecs` (the worker consumes about 1.3 s after spawn);
//! 2. `<program>` is warm-stopped (its tasks finish) while the takeover
//!    consumes, and started again on the new release;
//! 3. `<program>-next` is warm-stopped (tasks it took finish).
//!
//! Each part is idempotent and journaled by the caller, so [`super::recover`]
//! finishes a killed switch by running it again and then retiring the
//! takeover: never two releases' workers left running, nor none. A
//! declared takeover is preferred over one written by the agent: its
//! `environment`, `user` and log settings are the operator's, checked by
//! `celery-check`, and `supervisor-update` adds it like any program.
//! Without one, the worker is warm-stopped and started as before.

use super::StepError;
use super::error::Result;
use super::journal::Event;
use super::program_config::ProgramConfig;
use super::supervisor::{Supervisor, fault, state};

/// Supervisor's default `stopwaitsecs`.
const DEFAULT_STOPWAITSECS: u64 = 10;

/// Refuses a worker program that would kill tasks on stop; returns a
/// warning when `stopwaitsecs` does not exceed the longest task.
pub fn check_program(
    config: &ProgramConfig,
    task_time_limit: Option<u64>,
) -> Result<Option<String>> {
    if config.flag("stopasgroup", false) {
        return Err(config.refuse(
            "stopasgroup=true",
            "TERM reaches the pool children and kills tasks in flight; set stopasgroup=false",
        ));
    }
    let stopwaitsecs = match config.get("stopwaitsecs") {
        None => DEFAULT_STOPWAITSECS,
        Some(text) => text.parse().map_err(|_| {
            config.refuse(format!("stopwaitsecs={text}"), "not a number of seconds")
        })?,
    };
    Ok(match task_time_limit {
        Some(limit) if stopwaitsecs <= limit => Some(format!(
            "{}: program {}: stopwaitsecs={stopwaitsecs} does not exceed the task time limit {limit}s; \
             Supervisor will SIGKILL a worker still finishing a task",
            config.file.display(),
            config.program
        )),
        _ => None,
    })
}

/// Checks a declared takeover (`next`) against its worker (`main`) as
/// [`check_program`] does, and refuses one that would consume as the same
/// node or start with supervisord; returns its warning.
pub fn check_takeover(
    main: &ProgramConfig,
    next: &ProgramConfig,
    task_time_limit: Option<u64>,
) -> Result<Option<String>> {
    let warning = check_program(next, task_time_limit)?;
    if next.flag("autostart", true) {
        return Err(next.refuse(
            "autostart",
            "a takeover runs only during a switch; set autostart=false",
        ));
    }
    let node = node_name(&next.command_words());
    if node.is_none() || node == node_name(&main.command_words()) {
        return Err(next.refuse(
            format!("command: -n {}", node.unwrap_or_default()),
            format!(
                "a takeover needs its own node name (-n), not {}'s",
                main.program
            ),
        ));
    }
    Ok(warning)
}

/// The value of Celery's `-n`/`--hostname` in `words`.
fn node_name(words: &[&str]) -> Option<String> {
    words.iter().enumerate().find_map(|(i, w)| {
        if let Some(value) = w.strip_prefix("--hostname=") {
            Some(value.to_owned())
        } else if *w == "-n" || *w == "--hostname" {
            words.get(i + 1).map(|v| (*v).to_owned())
        } else {
            w.strip_prefix("-n")
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        }
    })
}

/// The takeover program of worker `program`.
pub fn takeover(program: &str) -> String {
    format!("{program}-next")
}

/// Warm-switches the worker to the release `current` points at (see the
/// module's doc), without journaling; says how.
pub async fn restart(supervisor: &Supervisor, program: &str) -> Result<String> {
    switch(supervisor, program, &mut |_| Ok(())).await
}

/// Warm-switches the worker to the release `current` points at, passing
/// each part done (or, for a stop, about to be asked for) to `note` so the
/// caller can journal it; says how. A takeover that fails to start fails
/// the switch with the old worker still consuming.
pub async fn switch(
    supervisor: &Supervisor,
    program: &str,
    note: &mut dyn FnMut(Event) -> Result<()>,
) -> Result<String> {
    let next = takeover(program);
    let declared = match supervisor.process_info(&next).await {
        Ok(_) => true,
        Err(StepError::SupervisorFault { code, .. }) if code == fault::BAD_NAME => false,
        Err(e) => return Err(e),
    };
    if declared {
        // A takeover left running by a killed step may be on another
        // release: it is replaced, warm, like any worker.
        stop_noted(supervisor, &next, note).await?;
        supervisor.start_process(&next, true).await?;
        note(Event::Started {
            program: next.clone(),
        })?;
    }
    stop_noted(supervisor, program, note).await?;
    supervisor.start_process(program, true).await?;
    note(Event::Started {
        program: program.into(),
    })?;
    if !declared {
        return Ok(format!("{program} warm-stopped and started"));
    }
    stop_noted(supervisor, &next, note).await?;
    Ok(format!(
        "{program} switched warm: {next} consumed while it restarted"
    ))
}

/// Warm-stops `program`'s takeover, if it has one; the end of a switch.
pub async fn retire_takeover(supervisor: &Supervisor, program: &str) -> Result<()> {
    match stop(supervisor, &takeover(program)).await {
        Err(StepError::SupervisorFault { code, .. }) if code == fault::BAD_NAME => Ok(()),
        other => other,
    }
}

async fn stop_noted(
    supervisor: &Supervisor,
    program: &str,
    note: &mut dyn FnMut(Event) -> Result<()>,
) -> Result<()> {
    note(Event::Stopping {
        program: program.into(),
    })?;
    stop(supervisor, program).await?;
    note(Event::Stopped {
        program: program.into(),
    })
}

/// Warm-stops the worker, waiting for its tasks; a stopped one is left so.
pub async fn stop(supervisor: &Supervisor, program: &str) -> Result<()> {
    match supervisor.stop_process(program, true).await {
        Err(StepError::SupervisorFault { code, .. }) if code == fault::NOT_RUNNING => {
            // A stop already under way (a killed step's) is waited out, not
            // raced: Supervisor cannot start a process that is STOPPING.
            // It ends by stopwaitsecs at the latest, with a SIGKILL.
            supervisor
                .wait_for(program, "STOPPED", STOP_UNDER_WAY, |p| {
                    p.state != state::STOPPING
                })
                .await?;
            Ok(())
        }
        other => other,
    }
}

/// How long a stop already under way is waited for.
const STOP_UNDER_WAY: std::time::Duration = std::time::Duration::from_secs(3600);

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn config(extra: &str) -> ProgramConfig {
        ProgramConfig::parse(
            Path::new("celery.conf"),
            "worker",
            &format!("[program:worker]\ncommand=celery worker\n{extra}"),
        )
        .unwrap()
    }

    #[test]
    fn stopasgroup_is_refused_by_name() {
        let error = check_program(&config("stopasgroup=true\n"), None).unwrap_err();
        assert!(error.to_string().contains("stopasgroup=true"), "{error}");
    }

    #[test]
    fn a_short_stopwaitsecs_warns() {
        let warning =
            check_program(&config("stopwaitsecs=30\nkillasgroup=true\n"), Some(60)).unwrap();
        assert!(warning.unwrap().contains("stopwaitsecs=30"));
        assert_eq!(
            check_program(&config("stopwaitsecs=90\n"), Some(60)).unwrap(),
            None
        );
        assert!(check_program(&config(""), Some(10)).unwrap().is_some());
    }

    fn program(name: &str, body: &str) -> ProgramConfig {
        ProgramConfig::parse(
            Path::new("celery.conf"),
            name,
            &format!("[program:{name}]\n{body}"),
        )
        .unwrap()
    }

    #[test]
    fn a_takeover_needs_its_own_node_name_and_no_autostart() {
        let main = program("worker", "command=celery worker -n w@%%h\n");
        let good = program(
            "worker-next",
            "command=celery worker --hostname=next@%%h\nautostart=false\nstopwaitsecs=90\n",
        );
        assert_eq!(check_takeover(&main, &good, Some(60)).unwrap(), None);
        let same = program(
            "worker-next",
            "command=celery worker -n w@%%h\nautostart=false\n",
        );
        let error = check_takeover(&main, &same, None).unwrap_err();
        assert!(error.to_string().contains("own node name"), "{error}");
        let autostart = program("worker-next", "command=celery worker -nnext@%%h\n");
        let error = check_takeover(&main, &autostart, None).unwrap_err();
        assert!(error.to_string().contains("autostart=false"), "{error}");
        let grouped = program(
            "worker-next",
            "command=celery worker -n next@%%h\nautostart=false\nstopasgroup=true\n",
        );
        assert!(check_takeover(&main, &grouped, None).is_err());
    }
}
