//! `slipway-agent hook`: the built-in steps run as an appspec hook under the
//! official CodeDeploy agent, so a team can adopt the steps before swapping
//! agents. Every hook in the appspec runs the same script
//! (`exec slipway-agent hook`); the official agent's environment says which
//! event it is (`LIFECYCLE_EVENT`, `DEPLOYMENT_ID`, `APPLICATION_NAME`,
//! `DEPLOYMENT_GROUP_NAME`, `DEPLOYMENT_GROUP_ID`) and the hooks config
//! ([`config`]) says which steps that event runs.
//!
//! The whole config is checked before the first step runs, so a typo in
//! ValidateService's steps fails ApplicationStop, before anything changed.
//!
//! # Layout
//! - [`config`]: the hooks config, the env file, `${NAME}` expansion.
//! - [`error`]: what can fail, [`HookError`].

pub mod config;
pub mod error;

use std::io::Write;
use std::path::PathBuf;

use clap::Parser;
use slipway_shared::lifecycle::LifecycleEvent;

pub use config::HooksConfig;
pub use error::HookError;

use crate::steps::cli::{Step, run_step};

/// Where the hooks config lives unless `--config` says otherwise.
pub const DEFAULT_CONFIG: &str = "/etc/slipway/hooks.yml";
/// Stands in for `DEPLOYMENT_ID` under `--check`, outside any deployment.
const CHECK_DEPLOYMENT_ID: &str = "d-CHECK00000";

/// `slipway-agent hook`.
#[derive(Debug, Clone, clap::Args)]
pub struct HookArgs {
    /// The hooks config: the steps each lifecycle event runs (YAML; the
    /// reference is appspec/config/hooks.yml).
    #[arg(long, env = "SLIPWAY_HOOKS_CONFIG", default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// An env file to read instead of the config's `env_file`.
    #[arg(long)]
    pub env_file: Option<PathBuf>,
    /// Check the config and every event's steps, run nothing.
    #[arg(long)]
    pub check: bool,
}

/// The deployment the official agent is running a hook of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookEnv {
    /// `LIFECYCLE_EVENT`.
    pub event: LifecycleEvent,
    /// `DEPLOYMENT_ID`.
    pub deployment_id: String,
    /// `APPLICATION_NAME`, `DEPLOYMENT_GROUP_NAME`, `DEPLOYMENT_GROUP_ID`:
    /// for the log only, so absent ones are tolerated.
    pub application_name: Option<String>,
    /// `DEPLOYMENT_GROUP_NAME`.
    pub deployment_group_name: Option<String>,
    /// `DEPLOYMENT_GROUP_ID`.
    pub deployment_group_id: Option<String>,
}

impl HookEnv {
    /// Reads the official agent's hook variables through `var`.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<HookEnv, HookError> {
        let name = var("LIFECYCLE_EVENT").ok_or(HookError::NoEvent)?;
        let event = LifecycleEvent::from_name(&name)
            .filter(|e| e.takes_hooks())
            .ok_or_else(|| HookError::UnknownEvent {
                name: name.clone(),
                expected: config::hook_events(),
            })?;
        Ok(HookEnv {
            event,
            deployment_id: var("DEPLOYMENT_ID").ok_or(HookError::MissingEnv {
                var: "DEPLOYMENT_ID",
            })?,
            application_name: var("APPLICATION_NAME"),
            deployment_group_name: var("DEPLOYMENT_GROUP_NAME"),
            deployment_group_id: var("DEPLOYMENT_GROUP_ID"),
        })
    }
}

/// A config read and its env file applied to the process environment.
#[derive(Debug)]
pub struct Loaded {
    config: HooksConfig,
    check: bool,
}

/// Reads the config and puts its env file's variables into the process
/// environment (they override, as `set -a; . stack.env` does in the hook
/// scripts), where the steps' `env`-backed arguments (`--release` from
/// `DEPLOYMENT_ID`, `--app-root` from `SLIPWAY_APP_ROOT`, …) find them.
///
/// # Safety
/// Call before any other thread starts (from `main`, before the runtime):
/// it sets environment variables.
pub unsafe fn load(args: &HookArgs) -> Result<Loaded, HookError> {
    let config = HooksConfig::read(&args.config)?;
    let mut vars = match args.env_file.as_ref().or(config.env_file.as_ref()) {
        Some(file) => config::read_env_file(file)?,
        None => Vec::new(),
    };
    if args.check && std::env::var_os("DEPLOYMENT_ID").is_none() {
        vars.push(("DEPLOYMENT_ID".into(), CHECK_DEPLOYMENT_ID.into()));
    }
    for (name, value) in vars {
        // SAFETY: the caller guarantees no other thread runs yet.
        unsafe { std::env::set_var(name, value) };
    }
    Ok(Loaded {
        config,
        check: args.check,
    })
}

/// The `step` command line, parsed as `slipway-agent step` parses it.
#[derive(Debug, Parser)]
#[command(name = "step", no_binary_name = false)]
struct StepCommand {
    #[command(subcommand)]
    step: Step,
}

/// One step ready to run.
struct Planned {
    line: u64,
    words: Vec<String>,
    step: Step,
}

/// Expands and parses every event's steps, so a mistake anywhere in the
/// config stops the first event.
fn plan(config: &HooksConfig) -> Result<Vec<(LifecycleEvent, Vec<Planned>)>, HookError> {
    let bad = |line: u64, reason: String| HookError::Config {
        path: config.path.clone(),
        line,
        reason,
    };
    config
        .events
        .iter()
        .map(|(event, lines)| {
            let planned = lines
                .iter()
                .map(|line| {
                    let words = config::expand(&line.text, |name| std::env::var(name).ok())
                        .map_err(|reason| bad(line.line, reason))?;
                    let parsed = StepCommand::try_parse_from(
                        std::iter::once("step".to_owned()).chain(words.iter().cloned()),
                    )
                    .map_err(|e| bad(line.line, clap_reason(&e)))?;
                    Ok(Planned {
                        line: line.line,
                        words,
                        step: parsed.step,
                    })
                })
                .collect::<Result<Vec<_>, HookError>>()?;
            Ok((*event, planned))
        })
        .collect()
}

/// clap's first line, without its `error: ` prefix and usage text.
fn clap_reason(error: &clap::Error) -> String {
    let text = error.to_string();
    let first = text.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_owned()
}

/// Runs the steps configured for the official agent's current event (or,
/// with `--check`, only checks the config), reporting on `out`.
pub async fn run(loaded: &Loaded, out: &mut dyn Write) -> Result<(), HookError> {
    let config = &loaded.config;
    let planned = plan(config)?;
    if loaded.check {
        let steps: usize = planned.iter().map(|(_, steps)| steps.len()).sum();
        let _ = writeln!(
            out,
            "hook: {}: {} events, {steps} steps, all parse",
            config.path.display(),
            planned.len()
        );
        return Ok(());
    }
    let env = HookEnv::from_vars(|name| std::env::var(name).ok())?;
    let event = env.event;
    let steps = planned
        .into_iter()
        .find(|(e, _)| *e == event)
        .map(|(_, steps)| steps)
        .ok_or_else(|| HookError::EventNotConfigured {
            path: config.path.clone(),
            event: event.name().into(),
        })?;
    let _ = writeln!(
        out,
        "hook: {} of deployment {} (application {}, deployment group {} {}): {} step(s) from {}",
        event.name(),
        env.deployment_id,
        env.application_name.as_deref().unwrap_or("?"),
        env.deployment_group_name.as_deref().unwrap_or("?"),
        env.deployment_group_id.as_deref().unwrap_or("?"),
        steps.len(),
        config.path.display()
    );
    for planned in steps {
        let _ = writeln!(out, "+ slipway-agent step {}", planned.words.join(" "));
        let _ = out.flush();
        run_step(&planned.step, out)
            .await
            .map_err(|source| HookError::Step {
                event: event.name().into(),
                path: config.path.clone(),
                line: planned.line,
                source: Box::new(source),
            })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn the_official_agents_variables_name_the_event_and_deployment() {
        let env = HookEnv::from_vars(vars(&[
            ("LIFECYCLE_EVENT", "AfterInstall"),
            ("DEPLOYMENT_ID", "d-ABCDEF123"),
            ("APPLICATION_NAME", "shop"),
            ("DEPLOYMENT_GROUP_NAME", "prod"),
            ("DEPLOYMENT_GROUP_ID", "8f0b3d"),
        ]))
        .unwrap();
        assert_eq!(env.event, LifecycleEvent::AfterInstall);
        assert_eq!(env.deployment_id, "d-ABCDEF123");
        assert_eq!(env.deployment_group_name.as_deref(), Some("prod"));
    }

    #[test]
    fn an_unknown_or_missing_event_is_named() {
        let error = HookEnv::from_vars(vars(&[
            ("LIFECYCLE_EVENT", "Install"),
            ("DEPLOYMENT_ID", "d-1"),
        ]))
        .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("LIFECYCLE_EVENT=Install is not a lifecycle event that runs hooks"),
            "{error}"
        );
        assert!(matches!(
            HookEnv::from_vars(vars(&[])).unwrap_err(),
            HookError::NoEvent
        ));
        assert!(matches!(
            HookEnv::from_vars(vars(&[("LIFECYCLE_EVENT", "AfterInstall")])).unwrap_err(),
            HookError::MissingEnv {
                var: "DEPLOYMENT_ID"
            }
        ));
    }

    #[test]
    fn a_step_line_clap_refuses_is_named_with_its_line() {
        let config = HooksConfig::parse(
            std::path::Path::new("hooks.yml"),
            "events:\n  AfterInstall:\n    - nginx-reload\n    - collectstatic --bogus\n",
        )
        .unwrap();
        let Err(error) = plan(&config) else {
            panic!("planned a bad line")
        };
        assert!(
            error
                .to_string()
                .starts_with("hooks.yml:4: unexpected argument '--bogus'"),
            "{error}"
        );
    }
}
