//! Blue/green for a gunicorn program whose own config changed (a new venv,
//! new gunicorn arguments, a new environment): a HUP never re-executes the
//! master, so it would keep the old ones, and `supervisorctl update` would
//! restart it, which drops requests (host-stack-measurements.md §3: ~300–490
//! ms of 502s; blue/green dropped none).
//!
//! The program keeps its name and its port, so nginx's site, the other
//! steps, `rollback` and `recover` keep working unchanged. It moves through
//! a standby program and back:
//!
//! 1. `current` switches to the release (as for a HUP reload).
//! 2. `<program>-standby`, the new config on the standby address, is
//!    written beside the program's config, added to supervisord as
//!    `supervisorctl update` would, started, and must report the release
//!    on its own address.
//! 3. nginx's upstream is switched to the standby (`nginx -t`, reload, new
//!    worker pids), and the old program stopped (gracefully: its requests
//!    finish).
//! 4. The program is removed and re-added on its new config, must report
//!    the release on its own address, nginx is switched back to it, and
//!    the standby is stopped and removed.
//!
//! A failure before nginx's first switch stops and removes the standby and
//! switches `current` back: the old program never stopped serving. From
//! the first switch on, the new release serves and the switch is finished
//! instead. Every step is journaled ([`super::journal`]); a killed step is
//! taken over by [`recover`], which trusts nginx's file for where traffic
//! goes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::{Result, StepError, io};
use super::gunicorn::{self, Health};
use super::journal::{Event, Journal, Record, Target};
use super::nginx::Nginx;
use super::program_config::ProgramConfig;
use super::releases::Releases;
use super::replace_file::replace_file;
use super::supervisor::{Supervisor, fault, state};

/// The step name journaled for a blue/green switch.
pub const STEP: &str = "gunicorn-bluegreen";

/// Everything a blue/green switch (or the recovery of a killed one) needs,
/// journaled with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The gunicorn program.
    pub program: String,
    /// Its config file, holding the new `[program:NAME]`.
    pub program_config: PathBuf,
    /// Where nginx sends requests now: the running master's `--bind`.
    pub bind: String,
    /// Where the program listens on its new config.
    pub new_bind: String,
    /// `<program>-standby`.
    pub standby: String,
    /// Its config file, written beside the program's.
    pub standby_config: PathBuf,
    /// Where the standby listens.
    pub standby_bind: String,
    /// The nginx file whose `server ADDRESS` line is switched.
    pub upstream: PathBuf,
    /// The nginx to reload.
    pub nginx: Nginx,
    /// How long nginx may take to replace its workers, in seconds.
    pub nginx_timeout: u64,
    /// The health URL (through nginx) and the seconds to wait for it.
    pub health: (String, u64),
}

/// Whether supervisord's running config of `program` differs from its
/// files (its group shows as changed to `reloadConfig`).
pub async fn changed(supervisor: &Supervisor, program: &str) -> Result<bool> {
    let changes = supervisor.reload_config().await?;
    Ok(changes.changed.iter().any(|g| g == program))
}

/// The value of gunicorn's `--bind`/`-b` in `words`.
pub fn bind_of<S: AsRef<str>>(words: &[S]) -> Option<String> {
    words.iter().enumerate().find_map(|(i, w)| {
        let w = w.as_ref();
        if let Some(value) = w.strip_prefix("--bind=") {
            Some(value.to_owned())
        } else if w == "--bind" || w == "-b" {
            words.get(i + 1).map(|v| v.as_ref().to_owned())
        } else {
            w.strip_prefix("-b")
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        }
    })
}

/// The command line of a running process, from /proc.
fn cmdline(pid: u32) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|b| *b == 0)
            .filter(|w| !w.is_empty())
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect(),
    )
}

fn tcp(address: &str) -> bool {
    address
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
}

/// What the caller knows; [`Plan::make`] adds what the running program
/// and its config say.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    /// The gunicorn program.
    pub program: &'a str,
    /// Its config file (already checked by `gunicorn-check`'s rules).
    pub config: &'a ProgramConfig,
    /// Where the standby listens (`host:port`).
    pub standby_bind: Option<&'a str>,
    /// The nginx file naming the upstream.
    pub upstream: Option<&'a Path>,
    /// The nginx to reload.
    pub nginx: Nginx,
    /// Seconds nginx may take to replace its workers.
    pub nginx_timeout: u64,
    /// The health URL and seconds to wait.
    pub health: Option<(&'a str, u64)>,
}

impl Plan {
    /// The plan for replacing the running `program` (pid `pid`), or why
    /// there can be none; nothing is changed either way.
    pub fn make(inputs: Inputs<'_>, pid: u32) -> Result<Plan> {
        let program = inputs.program;
        let refuse = |reason: String| StepError::BlueGreenPlan {
            program: program.into(),
            reason,
        };
        let why = "its Supervisor config changed (a new venv or new gunicorn arguments), which a HUP would not apply";
        let standby_bind = inputs.standby_bind.ok_or_else(|| {
            refuse(format!(
                "{why}; give --standby-bind and --nginx-upstream for a blue/green switch, or restart it outside a deploy"
            ))
        })?;
        let upstream = inputs
            .upstream
            .ok_or_else(|| refuse(format!("{why}; give --nginx-upstream too")))?;
        let (url, secs) = inputs
            .health
            .ok_or_else(|| refuse("a blue/green switch needs --health-url".into()))?;
        let running = cmdline(pid).ok_or_else(|| refuse(format!("pid {pid} is gone")))?;
        let bind = bind_of(&running).ok_or_else(|| {
            refuse(format!(
                "the running master (pid {pid}) has no --bind: {}",
                running.join(" ")
            ))
        })?;
        let new_bind = bind_of(&inputs.config.command_words()).ok_or_else(|| {
            inputs.config.refuse(
                "command: --bind",
                "missing; blue/green needs the address nginx sends to",
            )
        })?;
        for (what, address) in [
            ("the running --bind", bind.as_str()),
            ("the new --bind", &new_bind),
            ("--standby-bind", standby_bind),
        ] {
            if !tcp(address) {
                return Err(refuse(format!(
                    "{what} {address} is not host:port (nginx's upstream is switched between addresses)"
                )));
            }
        }
        if standby_bind == bind || standby_bind == new_bind {
            return Err(refuse(format!(
                "--standby-bind {standby_bind} is the program's own address"
            )));
        }
        let standby = format!("{program}-standby");
        let standby_config = inputs.config.file.with_file_name(format!("{standby}.conf"));
        Ok(Plan {
            program: program.into(),
            program_config: inputs.config.file.clone(),
            bind,
            new_bind,
            standby,
            standby_config,
            standby_bind: standby_bind.into(),
            upstream: upstream.into(),
            nginx: inputs.nginx,
            nginx_timeout: inputs.nginx_timeout,
            health: (url.into(), secs),
        })
    }

    /// The standby's `[program:…]` section: the new config on the standby
    /// address, started by the step rather than by supervisord, logging
    /// beside the program.
    fn standby_section(&self, config: &ProgramConfig) -> String {
        let mut text = format!(
            "; Written by slipway-agent for a blue/green switch of [program:{}];\n\
             ; removed when the switch ends. Do not edit.\n[program:{}]\n",
            self.program, self.standby
        );
        for (key, value) in config.settings() {
            let value = match key {
                "command" => replace_bind(value, &self.standby_bind),
                "autostart" => continue,
                "stdout_logfile" | "stderr_logfile" => standby_log(value, &self.standby),
                _ => value.to_owned(),
            };
            text.push_str(&format!("{key}={value}\n"));
        }
        text.push_str("autostart=false\n");
        text
    }

    fn health(&self, release: &str) -> Health {
        Health {
            url: self.health.0.clone(),
            release: release.into(),
            deadline: Duration::from_secs(self.health.1),
        }
    }

    fn nginx_deadline(&self) -> Duration {
        Duration::from_secs(self.nginx_timeout)
    }
}

/// `command` with gunicorn's bind replaced by `bind`.
fn replace_bind(command: &str, bind: &str) -> String {
    let words: Vec<&str> = command.split_whitespace().collect();
    let mut out = Vec::with_capacity(words.len());
    let mut next_is_bind = false;
    for word in words {
        if next_is_bind {
            out.push(bind.to_owned());
            next_is_bind = false;
        } else if word == "--bind" || word == "-b" {
            out.push(word.to_owned());
            next_is_bind = true;
        } else if word.starts_with("--bind=") {
            out.push(format!("--bind={bind}"));
        } else if word.starts_with("-b") && word.len() > 2 {
            out.push(format!("-b{bind}"));
        } else {
            out.push(word.to_owned());
        }
    }
    out.join(" ")
}

/// `…/gunicorn.log` → `…/gunicorn-standby.log`; Supervisor's special
/// values (`AUTO`, `NONE`, `syslog`) stay.
fn standby_log(value: &str, standby: &str) -> String {
    let path = Path::new(value);
    if !path.is_absolute() {
        return value.to_owned();
    }
    let extension = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    path.with_file_name(format!("{standby}{extension}"))
        .display()
        .to_string()
}

/// Points nginx's `server from` lines in `file` at `to` and reloads nginx
/// (`nginx -t`, HUP, new worker pids, the old workers gone, so `from` may
/// stop next). A file already pointing at `to` is only reloaded. On a
/// failed test or reload the file is put back.
async fn point_nginx(plan: &Plan, from: &str, to: &str) -> Result<()> {
    let file = &plan.upstream;
    let text = std::fs::read_to_string(file).map_err(io("read", file))?;
    let switched = replace_server(&text, from, to);
    let Some(new_text) = switched.or_else(|| replace_server(&text, to, to)) else {
        return Err(StepError::Upstream {
            path: file.clone(),
            address: from.into(),
            to: to.into(),
        });
    };
    replace_file(file, new_text.as_bytes())?;
    if let Err(e) = plan.nginx.reload_and_drain(plan.nginx_deadline()).await {
        replace_file(file, text.as_bytes())?;
        return Err(e);
    }
    Ok(())
}

/// `text` with every `server FROM` (followed by `;` or a blank) made
/// `server TO`; none when there is no such line.
fn replace_server(text: &str, from: &str, to: &str) -> Option<String> {
    let needle = format!("server {from}");
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut found = false;
    while let Some(at) = rest.find(&needle) {
        let after = &rest[at + needle.len()..];
        let whole_word = at == 0 || rest[..at].ends_with(char::is_whitespace);
        let ends = after.starts_with(|c: char| c == ';' || c.is_whitespace());
        out.push_str(&rest[..at]);
        if whole_word && ends {
            out.push_str("server ");
            out.push_str(to);
            found = true;
        } else {
            out.push_str(&needle);
        }
        rest = after;
    }
    out.push_str(rest);
    found.then_some(out)
}

/// A blue/green switch of one program.
#[derive(Debug)]
pub struct BlueGreen<'a> {
    /// supervisord.
    pub supervisor: &'a Supervisor,
    /// The app's releases.
    pub releases: &'a Releases,
    /// What to do.
    pub plan: Plan,
}

impl BlueGreen<'_> {
    /// Switches `current` to `to` and the program onto its new config, as
    /// the module says; journaled.
    pub async fn forward(&self, to: &str, report: &mut dyn FnMut(&str)) -> Result<()> {
        let plan = &self.plan;
        let config = ProgramConfig::read(&plan.program_config, &plan.program)?;
        let from = self.releases.current()?.unwrap_or_default();
        let mut record = Record::new(STEP, &plan.program);
        record.target = Some(if from.is_empty() {
            Target::Finish(to.into())
        } else {
            Target::Reverse(from.clone())
        });
        record.health = Some(plan.health.clone());
        record.blue_green = Some(plan.clone());
        let mut journal = Journal::begin(self.releases.app_root(), record)?;
        journal.note(Event::Switching {
            from: from.clone(),
            to: to.into(),
        })?;
        self.releases.switch_to(to)?;
        journal.note(Event::Switched {
            from: from.clone(),
            to: to.into(),
        })?;
        report(&format!("current {from} -> {to}"));

        if let Err(e) = self.standby_up(&config, &mut journal, to, report).await {
            let outcome = match self.reverse(&mut journal, report).await {
                Ok(()) => {
                    journal.finish()?;
                    format!(
                        "{} stopped and removed; {} keeps serving {from}",
                        plan.standby, plan.program
                    )
                }
                Err(undo) => format!(
                    "undoing it failed too ({}); `slipway-agent step recover` retries",
                    slipway_shared::error_chain(&undo)
                ),
            };
            return Err(StepError::BlueGreen {
                program: plan.program.clone(),
                release: to.into(),
                outcome,
                source: Box::new(e),
            });
        }
        // Once nginx sends to the standby, the new release serves: a failure
        // after that is finished (by `recover`), not reversed.
        let finished = async {
            point_nginx(plan, &plan.bind, &plan.standby_bind).await?;
            journal.note(Event::UpstreamSwitched {
                from: plan.bind.clone(),
                to: plan.standby_bind.clone(),
            })?;
            report(&format!(
                "nginx upstream {} -> {} ({})",
                plan.bind, plan.standby_bind, plan.standby
            ));
            self.home(&mut journal, to, report).await
        }
        .await;
        if let Err(e) = finished {
            let outcome = if journal.record().events.iter().any(
                |e| matches!(e, Event::UpstreamSwitched { to, .. } if *to == plan.standby_bind),
            ) {
                format!(
                    "{} serves release {to}; `slipway-agent step recover` (or the next step on {}) finishes the switch",
                    plan.standby, plan.program
                )
            } else {
                match self.reverse(&mut journal, report).await {
                    Ok(()) => {
                        journal.finish()?;
                        format!(
                            "nginx was not switched; {} stopped and removed; {} keeps serving {from}",
                            plan.standby, plan.program
                        )
                    }
                    Err(_) => {
                        "nginx was not switched; `slipway-agent step recover` undoes the rest"
                            .into()
                    }
                }
            };
            return Err(StepError::BlueGreen {
                program: plan.program.clone(),
                release: to.into(),
                outcome,
                source: Box::new(e),
            });
        }
        journal.finish()?;
        gunicorn::wait_for_release(&plan.health(to)).await
    }

    /// Writes and adds the standby, starts it and waits until it reports
    /// `release` on its own address.
    async fn standby_up(
        &self,
        config: &ProgramConfig,
        journal: &mut Journal,
        release: &str,
        report: &mut dyn FnMut(&str),
    ) -> Result<()> {
        let plan = &self.plan;
        replace_file(
            &plan.standby_config,
            plan.standby_section(config).as_bytes(),
        )?;
        self.supervisor.reload_config().await?;
        match self.supervisor.add_group(&plan.standby).await {
            Err(StepError::SupervisorFault { code, .. }) if code == fault::ALREADY_ADDED => {}
            other => other?,
        }
        journal.note(Event::Added {
            program: plan.standby.clone(),
        })?;
        self.supervisor.start_process(&plan.standby, true).await?;
        report(&format!(
            "{} started on {}",
            plan.standby, plan.standby_bind
        ));
        gunicorn::wait_for_release_at(&plan.health(release), Some(&plan.standby_bind)).await?;
        report(&format!(
            "{} reports release {release} on {}",
            plan.standby, plan.standby_bind
        ));
        Ok(())
    }

    /// Stops the old program, re-adds it on its new config, waits for it to
    /// report `release`, switches nginx back to it, removes the standby.
    /// Each part is idempotent, so a recovery runs it again whole.
    async fn home(
        &self,
        journal: &mut Journal,
        release: &str,
        report: &mut dyn FnMut(&str),
    ) -> Result<()> {
        let plan = &self.plan;
        let supervisor = self.supervisor;
        // stopProcess(wait) returns once the master exited: gunicorn's TERM
        // is graceful, so the requests it had finish.
        supervisor.drop_group(&plan.program).await?;
        journal.note(Event::Removed {
            program: plan.program.clone(),
        })?;
        report(&format!(
            "{} (old config) stopped and removed",
            plan.program
        ));
        supervisor.reload_config().await?;
        match supervisor.add_group(&plan.program).await {
            Err(StepError::SupervisorFault { code, .. }) if code == fault::ALREADY_ADDED => {}
            other => other?,
        }
        journal.note(Event::Added {
            program: plan.program.clone(),
        })?;
        // autostart=true starts it as it is added; otherwise start it here.
        let info = supervisor
            .wait_for(&plan.program, "to leave STARTING", SETTLE, |i| {
                i.state != state::STARTING
            })
            .await?;
        if info.state != state::RUNNING {
            match supervisor.start_process(&plan.program, true).await {
                Err(StepError::SupervisorFault { code, .. }) if code == fault::ALREADY_STARTED => {}
                other => other?,
            }
        }
        gunicorn::wait_for_release_at(&plan.health(release), Some(&plan.new_bind)).await?;
        report(&format!(
            "{} (new config) reports release {release} on {}",
            plan.program, plan.new_bind
        ));
        point_nginx(plan, &plan.standby_bind, &plan.new_bind).await?;
        journal.note(Event::UpstreamSwitched {
            from: plan.standby_bind.clone(),
            to: plan.new_bind.clone(),
        })?;
        report(&format!(
            "nginx upstream {} -> {} ({})",
            plan.standby_bind, plan.new_bind, plan.program
        ));
        self.remove_standby(journal, report).await
    }

    async fn remove_standby(
        &self,
        journal: &mut Journal,
        report: &mut dyn FnMut(&str),
    ) -> Result<()> {
        let plan = &self.plan;
        self.supervisor.drop_group(&plan.standby).await?;
        match std::fs::remove_file(&plan.standby_config) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io("remove", &plan.standby_config)(e));
            }
            _ => {}
        }
        // So supervisord forgets the file, and a later update sees nothing.
        self.supervisor.reload_config().await?;
        journal.note(Event::Removed {
            program: plan.standby.clone(),
        })?;
        report(&format!("{} stopped and removed", plan.standby));
        Ok(())
    }

    /// Undoes a switch nginx never followed: the standby goes, `current`
    /// goes back. The old program was never touched.
    async fn reverse(&self, journal: &mut Journal, report: &mut dyn FnMut(&str)) -> Result<()> {
        self.remove_standby(journal, report).await?;
        if let Some(Target::Reverse(from)) = &journal.record().target {
            let from = from.clone();
            if self.releases.current()?.as_deref() != Some(from.as_str()) {
                let current = self.releases.current()?.unwrap_or_default();
                self.releases.revert_to(&from)?;
                journal.note(Event::Switched {
                    from: current.clone(),
                    to: from.clone(),
                })?;
                report(&format!("current {current} -> {from}"));
            }
        }
        Ok(())
    }
}

/// How long the re-added program may stay STARTING (its `startsecs`).
const SETTLE: Duration = Duration::from_secs(90);

/// Takes over the blue/green switch `journal` records (its step is gone):
/// nginx's file says where traffic goes. Still on the old program: the
/// switch is reversed. On the standby: it is finished. Back on the program
/// (a killed clean-up): the standby is removed.
pub async fn recover(
    supervisor: &Supervisor,
    releases: &Releases,
    mut journal: Journal,
    report: &mut dyn FnMut(&str),
) -> Result<String> {
    let record = journal.record().clone();
    let Some(plan) = record.blue_green.clone() else {
        return Ok("nothing to do".into());
    };
    let blue_green = BlueGreen {
        supervisor,
        releases,
        plan,
    };
    let plan = &blue_green.plan;
    let text = std::fs::read_to_string(&plan.upstream).map_err(io("read", &plan.upstream))?;
    let on_standby = replace_server(&text, &plan.standby_bind, &plan.standby_bind).is_some();
    let was_on_standby = record
        .events
        .iter()
        .any(|e| matches!(e, Event::UpstreamSwitched { to, .. } if *to == plan.standby_bind));
    let release = record
        .events
        .iter()
        .rev()
        .find_map(|e| match e {
            Event::Switching { to, .. } => Some(to.clone()),
            _ => None,
        })
        .unwrap_or_default();
    let mut done = Vec::new();
    let mut say = |line: &str| done.push(line.to_owned());
    let outcome = if on_standby {
        // The file may have been written and nginx not yet reloaded.
        point_nginx(plan, &plan.standby_bind, &plan.standby_bind).await?;
        blue_green.home(&mut journal, &release, &mut say).await?;
        format!("finished: {} serves release {release}", plan.program)
    } else if was_on_standby {
        point_nginx(plan, &plan.new_bind, &plan.new_bind).await?;
        blue_green.remove_standby(&mut journal, &mut say).await?;
        format!("finished: {} serves release {release}", plan.program)
    } else {
        blue_green.reverse(&mut journal, &mut say).await?;
        format!("reversed: {} still serves", plan.program)
    };
    journal.finish()?;
    report(&format!("{outcome} ({})", done.join(", ")));
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_bind_in_each_spelling() {
        for words in [
            &["gunicorn", "--bind", "127.0.0.1:8001", "app"][..],
            &["gunicorn", "--bind=127.0.0.1:8001", "app"],
            &["gunicorn", "-b", "127.0.0.1:8001", "app"],
            &["gunicorn", "-b127.0.0.1:8001", "app"],
        ] {
            assert_eq!(
                bind_of(words).as_deref(),
                Some("127.0.0.1:8001"),
                "{words:?}"
            );
        }
        assert_eq!(bind_of(&["gunicorn", "app"]), None);
    }

    #[test]
    fn replaces_the_bind_and_nothing_else() {
        assert_eq!(
            replace_bind(
                "/v/bin/gunicorn --chdir /a/current --bind 127.0.0.1:8001 --workers 3 app:x",
                "127.0.0.1:8002"
            ),
            "/v/bin/gunicorn --chdir /a/current --bind 127.0.0.1:8002 --workers 3 app:x"
        );
        assert_eq!(
            replace_bind("g --bind=1.2.3.4:1 -b5.6.7.8:2 app", "h:9"),
            "g --bind=h:9 -bh:9 app"
        );
    }

    #[test]
    fn switches_only_whole_server_addresses() {
        let site = "upstream a {\n    server 127.0.0.1:8001;\n    server 127.0.0.1:80011 backup;\n    keepalive 8;\n}\n";
        let switched = replace_server(site, "127.0.0.1:8001", "127.0.0.1:8002").unwrap();
        assert!(switched.contains("server 127.0.0.1:8002;"), "{switched}");
        assert!(
            switched.contains("server 127.0.0.1:80011 backup;"),
            "{switched}"
        );
        assert_eq!(replace_server(site, "127.0.0.1:9", "x:1"), None);
        assert!(
            replace_server("server 10.0.0.1:8001 max_fails=0;", "10.0.0.1:8001", "y:2").is_some()
        );
    }

    #[test]
    fn the_standby_logs_beside_the_program() {
        assert_eq!(
            standby_log("/var/log/shop/gunicorn.log", "gunicorn-standby"),
            "/var/log/shop/gunicorn-standby.log"
        );
        assert_eq!(standby_log("AUTO", "gunicorn-standby"), "AUTO");
    }

    #[test]
    fn the_standby_section_is_the_new_config_on_the_standby_address() {
        let config = ProgramConfig::parse(
            Path::new("/etc/sv/gunicorn.conf"),
            "gunicorn",
            "[program:gunicorn]\ncommand=/v2/bin/gunicorn --chdir /a/current --bind 127.0.0.1:8001\n  --workers 4 app:x\nautostart=true\nstopwaitsecs=40\n",
        )
        .unwrap();
        let plan = Plan {
            program: "gunicorn".into(),
            program_config: config.file.clone(),
            bind: "127.0.0.1:8001".into(),
            new_bind: "127.0.0.1:8001".into(),
            standby: "gunicorn-standby".into(),
            standby_config: "/etc/sv/gunicorn-standby.conf".into(),
            standby_bind: "127.0.0.1:8002".into(),
            upstream: "/etc/nginx/site.conf".into(),
            nginx: Nginx {
                binary: "nginx".into(),
                args: Vec::new(),
                pid_file: "/run/nginx.pid".into(),
            },
            nginx_timeout: 30,
            health: ("http://127.0.0.1/healthz".into(), 60),
        };
        let section = plan.standby_section(&config);
        let parsed =
            ProgramConfig::parse(Path::new("s.conf"), "gunicorn-standby", &section).unwrap();
        assert_eq!(
            parsed.command_words(),
            [
                "/v2/bin/gunicorn",
                "--chdir",
                "/a/current",
                "--bind",
                "127.0.0.1:8002",
                "--workers",
                "4",
                "app:x"
            ]
        );
        assert!(!parsed.flag("autostart", true));
        assert_eq!(parsed.get("stopwaitsecs"), Some("40"));
    }
}
