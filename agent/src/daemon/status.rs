//! What the daemon is doing and has done, for the local status API:
//! `/healthz`, `/status` (the current command and the last deployment),
//! `/deployments` (history) and `/metrics` (Prometheus text).

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use serde::Serialize;
use slipway_shared::diagnostics::{Diagnostics, ErrorCode};

/// Deployments kept for `/deployments`.
pub const HISTORY: usize = 50;

/// The command running now.
#[derive(Debug, Clone, Serialize)]
pub struct Current {
    /// The deployment.
    pub deployment_id: String,
    /// The lifecycle event.
    pub event: String,
    /// Unix seconds it started at.
    pub started_at: u64,
}

/// One event's result.
#[derive(Debug, Clone, Serialize)]
pub struct EventResult {
    /// The lifecycle event.
    pub event: String,
    /// `Succeeded` or `Failed`.
    pub result: String,
    /// The diagnostics code's name.
    pub error_code: String,
    /// The diagnostics message.
    pub message: String,
    /// How long it ran.
    pub duration_ms: u64,
}

/// One deployment, as this host saw it.
#[derive(Debug, Clone, Serialize)]
pub struct Deployment {
    /// `d-…`.
    pub deployment_id: String,
    /// The application.
    pub application_name: String,
    /// The group.
    pub deployment_group_name: String,
    /// The events it ran here, in order.
    pub events: Vec<EventResult>,
}

#[derive(Debug, Default)]
struct Counters {
    polls: u64,
    poll_errors: u64,
    commands: BTreeMap<String, u64>,
    event_seconds: BTreeMap<String, (f64, u64)>,
    hook_failures: BTreeMap<String, u64>,
}

#[derive(Debug, Default)]
struct Inner {
    current: Option<Current>,
    deployments: VecDeque<Deployment>,
    counters: Counters,
}

/// The shared record the poller writes and the API reads.
#[derive(Debug, Clone, Default)]
pub struct Board(Arc<Mutex<Inner>>);

impl Board {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A poll was answered.
    pub fn polled(&self) {
        self.inner().counters.polls += 1;
    }

    /// A poll failed.
    pub fn poll_failed(&self) {
        let mut inner = self.inner();
        inner.counters.polls += 1;
        inner.counters.poll_errors += 1;
    }

    /// A command started.
    pub fn started(&self, current: Current) {
        self.inner().current = Some(current);
    }

    /// A command ended (or was refused) with `result` (`Succeeded`,
    /// `Failed`, `Skipped`, `Refused`).
    pub fn command(&self, result: &str) {
        *self
            .inner()
            .counters
            .commands
            .entry(result.to_owned())
            .or_default() += 1;
    }

    /// An event of `deployment` ran and ended with `diagnostics`.
    pub fn finished(
        &self,
        deployment: &Deployment,
        event: &str,
        diagnostics: &Diagnostics,
        seconds: f64,
    ) {
        let mut inner = self.inner();
        // Commands of other deployments may still run.
        if inner
            .current
            .as_ref()
            .is_some_and(|c| c.deployment_id == deployment.deployment_id)
        {
            inner.current = None;
        }
        let ok = diagnostics.error_code == ErrorCode::Succeeded;
        let result = if ok { "Succeeded" } else { "Failed" };
        *inner
            .counters
            .commands
            .entry(result.to_owned())
            .or_default() += 1;
        let sum = inner
            .counters
            .event_seconds
            .entry(event.to_owned())
            .or_default();
        sum.0 += seconds;
        sum.1 += 1;
        if !ok {
            *inner
                .counters
                .hook_failures
                .entry(diagnostics.error_code.name().to_owned())
                .or_default() += 1;
        }
        let record = EventResult {
            event: event.to_owned(),
            result: result.to_owned(),
            error_code: diagnostics.error_code.name().to_owned(),
            message: diagnostics.message.clone(),
            duration_ms: (seconds * 1000.0) as u64,
        };
        match inner
            .deployments
            .iter_mut()
            .find(|d| d.deployment_id == deployment.deployment_id)
        {
            Some(known) => known.events.push(record),
            None => {
                let mut fresh = deployment.clone();
                fresh.events.push(record);
                inner.deployments.push_front(fresh);
                inner.deployments.truncate(HISTORY);
            }
        }
    }

    /// `/status`'s body.
    pub fn status(&self) -> serde_json::Value {
        let inner = self.inner();
        serde_json::json!({
            "current": inner.current,
            "last_deployment": inner.deployments.front(),
        })
    }

    /// `/deployments`' body, newest first.
    pub fn deployments(&self) -> Vec<Deployment> {
        self.inner().deployments.iter().cloned().collect()
    }

    /// `/metrics`' body.
    pub fn metrics(&self) -> String {
        let inner = self.inner();
        let c = &inner.counters;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP slipway_agent_polls_total PollHostCommand calls."
        );
        let _ = writeln!(out, "# TYPE slipway_agent_polls_total counter");
        let _ = writeln!(out, "slipway_agent_polls_total {}", c.polls);
        let _ = writeln!(
            out,
            "# HELP slipway_agent_poll_errors_total PollHostCommand calls that failed."
        );
        let _ = writeln!(out, "# TYPE slipway_agent_poll_errors_total counter");
        let _ = writeln!(out, "slipway_agent_poll_errors_total {}", c.poll_errors);
        let _ = writeln!(
            out,
            "# HELP slipway_agent_commands_total Host commands by result."
        );
        let _ = writeln!(out, "# TYPE slipway_agent_commands_total counter");
        for (result, n) in &c.commands {
            let _ = writeln!(
                out,
                "slipway_agent_commands_total{{result=\"{result}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP slipway_agent_event_duration_seconds Lifecycle event run time."
        );
        let _ = writeln!(out, "# TYPE slipway_agent_event_duration_seconds summary");
        for (event, (sum, count)) in &c.event_seconds {
            let _ = writeln!(
                out,
                "slipway_agent_event_duration_seconds_sum{{event=\"{event}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "slipway_agent_event_duration_seconds_count{{event=\"{event}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP slipway_agent_hook_failures_total Failed events by diagnostics code."
        );
        let _ = writeln!(out, "# TYPE slipway_agent_hook_failures_total counter");
        for (code, n) in &c.hook_failures {
            let _ = writeln!(
                out,
                "slipway_agent_hook_failures_total{{code=\"{code}\"}} {n}"
            );
        }
        out
    }
}

/// The status API's routes over `board`.
pub fn router(board: Board) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/status",
            get(|State(b): State<Board>| async move { axum::Json(b.status()) }),
        )
        .route(
            "/deployments",
            get(|State(b): State<Board>| async move { axum::Json(b.deployments()) }),
        )
        .route(
            "/metrics",
            get(|State(b): State<Board>| async move {
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    b.metrics(),
                )
                    .into_response()
            }),
        )
        .with_state(board)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_count_results_and_failures_by_code() {
        let board = Board::default();
        board.polled();
        board.poll_failed();
        let deployment = Deployment {
            deployment_id: "d-AAAAAAAAA".into(),
            application_name: "shop".into(),
            deployment_group_name: "web".into(),
            events: Vec::new(),
        };
        board.finished(&deployment, "BeforeInstall", &Diagnostics::succeeded(), 0.5);
        let failed = Diagnostics {
            error_code: ErrorCode::ScriptFailed,
            ..Diagnostics::succeeded()
        };
        board.finished(&deployment, "ApplicationStart", &failed, 1.0);
        let text = board.metrics();
        assert!(text.contains("slipway_agent_polls_total 2\n"), "{text}");
        assert!(
            text.contains("slipway_agent_poll_errors_total 1\n"),
            "{text}"
        );
        assert!(
            text.contains("slipway_agent_commands_total{result=\"Failed\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("slipway_agent_hook_failures_total{code=\"ScriptFailed\"} 1\n"),
            "{text}"
        );
        let status = board.status();
        assert_eq!(
            status["last_deployment"]["events"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }
}
