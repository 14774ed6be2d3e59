//! A client for supervisord's XML-RPC interface over its unix socket, so the
//! steps never shell out to `supervisorctl` (whose output is for people and
//! whose exit codes hide per-process faults).
//!
//! Each call opens its own connection: supervisord's Medusa server is
//! happy with keep-alive, but a fresh connection per call keeps a slow
//! `wait=true` call from holding up another step's call.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

use super::error::{Result, StepError};
use super::xmlrpc::{self, Response, Value};

/// Fault codes from supervisor/xmlrpc.py that the steps act on.
pub mod fault {
    /// No such process or group.
    pub const BAD_NAME: i64 = 10;
    /// The process is already running.
    pub const ALREADY_STARTED: i64 = 60;
    /// The process is not running.
    pub const NOT_RUNNING: i64 = 70;
    /// The per-process status meaning success in group calls.
    pub const SUCCESS: i64 = 80;
    /// The group is already added.
    pub const ALREADY_ADDED: i64 = 90;
    /// The group still has running processes.
    pub const STILL_RUNNING: i64 = 91;
}

/// Process states (supervisor/states.py).
pub mod state {
    /// STOPPED.
    pub const STOPPED: i64 = 0;
    /// STARTING.
    pub const STARTING: i64 = 10;
    /// RUNNING.
    pub const RUNNING: i64 = 20;
    /// BACKOFF.
    pub const BACKOFF: i64 = 30;
    /// STOPPING.
    pub const STOPPING: i64 = 40;
    /// EXITED.
    pub const EXITED: i64 = 100;
    /// FATAL.
    pub const FATAL: i64 = 200;
}

/// supervisord itself: `getState`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonState {
    /// 1 RUNNING, 0 RESTARTING, 2 FATAL, -1 SHUTDOWN.
    pub code: i64,
    /// Its name.
    pub name: String,
}

/// One process as `getProcessInfo` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    /// The program name.
    pub name: String,
    /// Its group.
    pub group: String,
    /// The state code ([`state`]).
    pub state: i64,
    /// The state's name.
    pub statename: String,
    /// The pid, 0 when not running.
    pub pid: u32,
    /// Why the last spawn failed, if it did.
    pub spawnerr: String,
    /// The last exit status.
    pub exitstatus: i64,
    /// Supervisor's one-line description.
    pub description: String,
}

impl ProcessInfo {
    /// `group:name`, the name every call accepts.
    pub fn qualified_name(&self) -> String {
        if self.group == self.name {
            self.name.clone()
        } else {
            format!("{}:{}", self.group, self.name)
        }
    }

    fn from_value(method: &str, value: &Value) -> Result<ProcessInfo> {
        let text = |k: &str| {
            value
                .member(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let int = |k: &str| value.member(k).and_then(Value::as_int);
        let (Some(state), Some(pid)) = (int("state"), int("pid")) else {
            return Err(StepError::SupervisorShape {
                method: method.into(),
                reason: "a process without state or pid".into(),
            });
        };
        Ok(ProcessInfo {
            name: text("name"),
            group: text("group"),
            state,
            statename: text("statename"),
            pid: u32::try_from(pid).unwrap_or(0),
            spawnerr: text("spawnerr"),
            exitstatus: int("exitstatus").unwrap_or(0),
            description: text("description"),
        })
    }
}

/// What `reloadConfig` found changed on disk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigChanges {
    /// Groups new in the config.
    pub added: Vec<String>,
    /// Groups whose config changed.
    pub changed: Vec<String>,
    /// Groups gone from the config.
    pub removed: Vec<String>,
}

/// A slice of a process's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTail {
    /// The bytes read (lossily decoded).
    pub text: String,
    /// The offset to pass next time.
    pub next_offset: i64,
    /// Whether more was written than was asked for.
    pub overflow: bool,
}

/// A connection-less handle on one supervisord.
#[derive(Debug, Clone)]
pub struct Supervisor {
    socket: PathBuf,
}

impl Supervisor {
    /// A client for the supervisord listening on `socket`.
    pub fn new(socket: impl Into<PathBuf>) -> Supervisor {
        Supervisor {
            socket: socket.into(),
        }
    }

    /// The socket this client talks to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    fn transport(&self, reason: impl ToString) -> StepError {
        StepError::SupervisorTransport {
            socket: self.socket.clone(),
            reason: reason.to_string(),
        }
    }

    /// Calls `method` (e.g. `supervisor.getState`); `target` names the
    /// program or group for the error.
    pub async fn call(&self, method: &str, target: &str, params: &[Value]) -> Result<Value> {
        let body = xmlrpc::encode_call(method, params);
        let stream = tokio::net::UnixStream::connect(&self.socket)
            .await
            .map_err(|e| self.transport(e))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| self.transport(e))?;
        let driver = tokio::spawn(connection);
        let request = http::Request::post("/RPC2")
            .header(http::header::HOST, "localhost")
            .header(http::header::CONTENT_TYPE, "text/xml")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| self.transport(e))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| self.transport(e))?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| self.transport(e))?
            .to_bytes();
        drop(sender);
        driver.abort();
        let short = method.trim_start_matches("supervisor.");
        if !status.is_success() {
            return Err(self.transport(format!("HTTP {status} from {short}")));
        }
        let text = String::from_utf8_lossy(&bytes);
        match xmlrpc::decode_response(&text) {
            Ok(Response::Value(value)) => Ok(value),
            Ok(Response::Fault { code, string }) => Err(StepError::SupervisorFault {
                method: short.into(),
                target: target.into(),
                code,
                fault_string: string,
            }),
            Err(source) => Err(StepError::SupervisorDecode {
                method: short.into(),
                source,
            }),
        }
    }

    async fn call_true(&self, method: &str, target: &str, params: &[Value]) -> Result<()> {
        match self.call(method, target, params).await? {
            Value::Bool(true) => Ok(()),
            other => Err(StepError::SupervisorShape {
                method: method.into(),
                reason: format!("{other:?} instead of true"),
            }),
        }
    }

    /// `getState`.
    pub async fn state(&self) -> Result<DaemonState> {
        let value = self.call("supervisor.getState", "", &[]).await?;
        match (
            value.member("statecode").and_then(Value::as_int),
            value.member("statename").and_then(Value::as_str),
        ) {
            (Some(code), Some(name)) => Ok(DaemonState {
                code,
                name: name.into(),
            }),
            _ => Err(StepError::SupervisorShape {
                method: "getState".into(),
                reason: format!("{value:?}"),
            }),
        }
    }

    /// `getProcessInfo(name)`.
    pub async fn process_info(&self, name: &str) -> Result<ProcessInfo> {
        let value = self
            .call("supervisor.getProcessInfo", name, &[name.into()])
            .await?;
        ProcessInfo::from_value("getProcessInfo", &value)
    }

    /// `getAllProcessInfo()`.
    pub async fn all_process_info(&self) -> Result<Vec<ProcessInfo>> {
        match self.call("supervisor.getAllProcessInfo", "", &[]).await? {
            Value::Array(items) => items
                .iter()
                .map(|v| ProcessInfo::from_value("getAllProcessInfo", v))
                .collect(),
            other => Err(StepError::SupervisorShape {
                method: "getAllProcessInfo".into(),
                reason: format!("{other:?} instead of an array"),
            }),
        }
    }

    /// `startProcess(name, wait)`.
    pub async fn start_process(&self, name: &str, wait: bool) -> Result<()> {
        self.call_true("supervisor.startProcess", name, &[name.into(), wait.into()])
            .await
    }

    /// `stopProcess(name, wait)`.
    pub async fn stop_process(&self, name: &str, wait: bool) -> Result<()> {
        self.call_true("supervisor.stopProcess", name, &[name.into(), wait.into()])
            .await
    }

    /// `signalProcess(name, signal)`: the signal reaches the pid only.
    pub async fn signal_process(&self, name: &str, signal: &str) -> Result<()> {
        self.call_true(
            "supervisor.signalProcess",
            name,
            &[name.into(), signal.into()],
        )
        .await
    }

    /// `startProcessGroup(group, wait)`; a process's own fault is an error.
    pub async fn start_group(&self, group: &str, wait: bool) -> Result<()> {
        self.group_call("startProcessGroup", group, wait.into())
            .await
    }

    /// `stopProcessGroup(group, wait)`; a process's own fault is an error.
    pub async fn stop_group(&self, group: &str, wait: bool) -> Result<()> {
        self.group_call("stopProcessGroup", group, wait.into())
            .await
    }

    /// `signalProcessGroup(group, signal)`; a process's own fault is an error.
    pub async fn signal_group(&self, group: &str, signal: &str) -> Result<()> {
        self.group_call("signalProcessGroup", group, signal.into())
            .await
    }

    /// Group calls report each process's fault in the result instead of
    /// raising it, so they are raised here, naming the process.
    async fn group_call(&self, method: &str, group: &str, arg: Value) -> Result<()> {
        let value = self
            .call(&format!("supervisor.{method}"), group, &[group.into(), arg])
            .await?;
        let Value::Array(results) = value else {
            return Err(StepError::SupervisorShape {
                method: method.into(),
                reason: format!("{value:?} instead of an array"),
            });
        };
        for result in &results {
            let status = result.member("status").and_then(Value::as_int);
            if status != Some(fault::SUCCESS) {
                let name = result.member("name").and_then(Value::as_str).unwrap_or("?");
                return Err(StepError::SupervisorFault {
                    method: method.into(),
                    target: format!("{group}:{name}"),
                    code: status.unwrap_or(-1),
                    fault_string: result
                        .member("description")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .into(),
                });
            }
        }
        Ok(())
    }

    /// `reloadConfig()`: re-reads the files, applies nothing.
    pub async fn reload_config(&self) -> Result<ConfigChanges> {
        let value = self.call("supervisor.reloadConfig", "", &[]).await?;
        let names = |list: Option<&Value>| -> Vec<String> {
            match list {
                Some(Value::Array(items)) => items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
                _ => Vec::new(),
            }
        };
        match value {
            Value::Array(outer) => match outer.first() {
                Some(Value::Array(lists)) if lists.len() == 3 => Ok(ConfigChanges {
                    added: names(lists.first()),
                    changed: names(lists.get(1)),
                    removed: names(lists.get(2)),
                }),
                _ => Err(StepError::SupervisorShape {
                    method: "reloadConfig".into(),
                    reason: format!("{outer:?}"),
                }),
            },
            other => Err(StepError::SupervisorShape {
                method: "reloadConfig".into(),
                reason: format!("{other:?}"),
            }),
        }
    }

    /// `addProcessGroup(name)`; autostart programs start.
    pub async fn add_group(&self, group: &str) -> Result<()> {
        self.call_true("supervisor.addProcessGroup", group, &[group.into()])
            .await
    }

    /// `removeProcessGroup(name)`; the group must be stopped.
    pub async fn remove_group(&self, group: &str) -> Result<()> {
        self.call_true("supervisor.removeProcessGroup", group, &[group.into()])
            .await
    }

    /// What `supervisorctl update` does: re-read, then stop and remove the
    /// removed groups, stop/remove/add the changed ones, add the new ones.
    /// A changed group is restarted, so callers that must not drop
    /// requests keep gunicorn's program config unchanged between releases.
    pub async fn update(&self) -> Result<ConfigChanges> {
        self.update_except(&[]).await
    }

    /// [`Supervisor::update`], leaving the changed groups in `leave`
    /// running on their old config (`gunicorn-reload` replaces a changed
    /// gunicorn blue/green instead of restarting it). They stay listed in
    /// `changed`.
    pub async fn update_except(&self, leave: &[String]) -> Result<ConfigChanges> {
        let changes = self.reload_config().await?;
        let changed = changes.changed.iter().filter(|g| !leave.contains(g));
        for group in changes.removed.iter().chain(changed.clone()) {
            self.stop_group_tolerant(group).await?;
            self.remove_group(group).await?;
        }
        for group in changed.chain(&changes.added) {
            self.add_group(group).await?;
        }
        Ok(changes)
    }

    /// Stops (if running) and removes `group`; one that is gone already is fine.
    pub async fn drop_group(&self, group: &str) -> Result<()> {
        match self.stop_group_tolerant(group).await {
            Err(StepError::SupervisorFault { code, .. }) if code == fault::BAD_NAME => {
                return Ok(());
            }
            other => other?,
        }
        match self.remove_group(group).await {
            Err(StepError::SupervisorFault { code, .. }) if code == fault::BAD_NAME => Ok(()),
            // Stopping already (asked by a step that was killed): once it
            // has stopped, it can go.
            Err(StepError::SupervisorFault { code, .. }) if code == fault::STILL_RUNNING => {
                self.wait_for(group, "stopped", Duration::from_secs(90), |i| {
                    i.state != state::STOPPING
                })
                .await?;
                self.stop_group_tolerant(group).await?;
                self.remove_group(group).await
            }
            other => other,
        }
    }

    async fn stop_group_tolerant(&self, group: &str) -> Result<()> {
        match self.stop_group(group, true).await {
            Err(StepError::SupervisorFault { code, .. }) if code == fault::NOT_RUNNING => Ok(()),
            other => other,
        }
    }

    /// `tailProcessStdoutLog(name, offset, length)`.
    pub async fn tail_stdout(&self, name: &str, offset: i64, length: i64) -> Result<LogTail> {
        self.tail("supervisor.tailProcessStdoutLog", name, offset, length)
            .await
    }

    /// `tailProcessStderrLog(name, offset, length)`.
    pub async fn tail_stderr(&self, name: &str, offset: i64, length: i64) -> Result<LogTail> {
        self.tail("supervisor.tailProcessStderrLog", name, offset, length)
            .await
    }

    async fn tail(&self, method: &str, name: &str, offset: i64, length: i64) -> Result<LogTail> {
        let value = self
            .call(method, name, &[name.into(), offset.into(), length.into()])
            .await?;
        match &value {
            Value::Array(parts) if parts.len() == 3 => Ok(LogTail {
                text: parts[0].as_str().unwrap_or_default().to_owned(),
                next_offset: parts[1].as_int().unwrap_or(offset),
                overflow: matches!(parts[2], Value::Bool(true)),
            }),
            _ => Err(StepError::SupervisorShape {
                method: method.into(),
                reason: format!("{value:?}"),
            }),
        }
    }

    /// Polls `getProcessInfo` until `wanted` holds or `deadline` passes.
    pub async fn wait_for(
        &self,
        name: &str,
        wanted: &str,
        deadline: Duration,
        mut done: impl FnMut(&ProcessInfo) -> bool,
    ) -> Result<ProcessInfo> {
        let give_up = tokio::time::Instant::now() + deadline;
        loop {
            let info = self.process_info(name).await?;
            if done(&info) {
                return Ok(info);
            }
            if tokio::time::Instant::now() >= give_up {
                return Err(StepError::ProgramState {
                    program: name.into(),
                    wanted: wanted.into(),
                    last: info.statename,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
