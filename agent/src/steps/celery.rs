//! Celery under Supervisor: a warm shutdown (TERM to the worker's main
//! process only, which stops consuming and finishes its tasks) and a start
//! on the new release.
//!
//! Measured (host-stack-measurements.md §3): `stopasgroup=true` sends TERM
//! to the pool children too and kills tasks in flight, 3 of 3 runs, while
//! Supervisor reports exit 0. `killasgroup=true` only matters once
//! `stopwaitsecs` has run out, where it stops orphaned pool children.

use super::StepError;
use super::error::Result;
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

/// Warm-stops the worker (waiting for its tasks, up to `stopwaitsecs`) and
/// starts it again, now on the release `current` points at.
pub async fn restart(supervisor: &Supervisor, program: &str) -> Result<()> {
    stop(supervisor, program).await?;
    supervisor.start_process(program, true).await
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
}
