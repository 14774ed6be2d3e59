//! Faults a test plans for the host command plane, and the record of every
//! command-plane call, so that agents can be tested against what the real
//! service does on a bad day: throttling (400 `ThrottlingException`, "Rate
//! exceeded"), server errors (the model's 500 `ServerException`, empty), an
//! answer lost after the call took effect, and answers that are not what the
//! model promises (malformed JSON, another host's command, a tampered
//! envelope).
//!
//! Faults are planned per operation and used up in order, one per call;
//! a call with no fault planned is served normally.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use serde_json::Value;

use super::server::AwsError;
use crate::sync::lock;

/// What one command-plane call gets instead of its normal answer.
#[derive(Clone)]
pub enum Fault {
    /// The call is refused with this error and has no effect.
    Refuse(AwsError),
    /// The call takes effect, but its answer is lost: the caller gets this
    /// error instead (a front end timing out after the work was done).
    LoseAnswer(AwsError),
    /// The call has no effect and is answered with this status and raw body.
    Answer {
        /// The HTTP status.
        status: StatusCode,
        /// The raw body.
        body: String,
    },
    /// The call takes effect and its answer is rewritten by this function;
    /// when it returns `None` the answer goes out as it was and the fault
    /// waits for the next call (say, for a poll that brings a command).
    Rewrite(Arc<dyn Fn(Value) -> Option<Value> + Send + Sync>),
}

impl std::fmt::Debug for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Refuse(e) => f.debug_tuple("Refuse").field(&e.code).finish(),
            Fault::LoseAnswer(e) => f.debug_tuple("LoseAnswer").field(&e.code).finish(),
            Fault::Answer { status, body } => f
                .debug_struct("Answer")
                .field("status", status)
                .field("body", body)
                .finish(),
            Fault::Rewrite(_) => f.write_str("Rewrite(..)"),
        }
    }
}

impl Fault {
    /// AWS's throttling answer, as the command service gives it.
    pub fn throttling() -> Fault {
        Fault::Refuse(AwsError::new("ThrottlingException", "Rate exceeded"))
    }

    /// The model's server error: 500 `ServerException`, no message.
    pub fn server_error() -> Fault {
        Fault::Refuse(server_exception())
    }

    /// The call succeeds, then a 500 `ServerException` is answered.
    pub fn lost_answer() -> Fault {
        Fault::LoseAnswer(server_exception())
    }

    /// A 200 whose body is `body`, taken as is.
    pub fn answer(body: impl Into<String>) -> Fault {
        Fault::Answer {
            status: StatusCode::OK,
            body: body.into(),
        }
    }

    /// The normal answer, rewritten by `f`.
    pub fn rewrite(f: impl Fn(Value) -> Value + Send + Sync + 'static) -> Fault {
        Fault::Rewrite(Arc::new(move |v| Some(f(v))))
    }

    /// The first PollHostCommand answer that brings a command, with the
    /// command rewritten by `f`.
    pub fn rewrite_command(f: impl Fn(&mut Value) + Send + Sync + 'static) -> Fault {
        Fault::Rewrite(Arc::new(move |mut v: Value| {
            let command = v.get_mut("HostCommand")?;
            f(command);
            Some(v)
        }))
    }
}

fn server_exception() -> AwsError {
    AwsError::new("ServerException", "").with_status(StatusCode::INTERNAL_SERVER_ERROR)
}

/// One command-plane call as the simulator answered it.
#[derive(Debug, Clone)]
pub struct Call {
    /// The operation (`PollHostCommand` …).
    pub operation: String,
    /// When it arrived.
    pub at: tokio::time::Instant,
    /// The HTTP status it was answered with.
    pub status: u16,
    /// The fault it met, if any.
    pub fault: Option<String>,
}

/// The planned faults and the calls so far; clones share them.
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Mutex<Inner>>);

#[derive(Debug, Default)]
struct Inner {
    planned: HashMap<String, VecDeque<Fault>>,
    calls: Vec<Call>,
}

impl Faults {
    /// Plans `fault` for the next call of `operation` not yet given one.
    pub fn plan(&self, operation: &str, fault: Fault) {
        lock(&self.0)
            .planned
            .entry(operation.to_owned())
            .or_default()
            .push_back(fault);
    }

    /// The faults planned and not yet met.
    pub fn pending(&self) -> usize {
        lock(&self.0).planned.values().map(VecDeque::len).sum()
    }

    /// Every command-plane call so far, in arrival order.
    pub fn calls(&self) -> Vec<Call> {
        lock(&self.0).calls.clone()
    }

    /// The calls of `operation` so far.
    pub fn calls_of(&self, operation: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.operation == operation)
            .collect()
    }

    pub(crate) fn take(&self, operation: &str) -> Option<Fault> {
        lock(&self.0)
            .planned
            .get_mut(operation)
            .and_then(VecDeque::pop_front)
    }

    /// Puts `fault` back first in line for `operation`.
    pub(crate) fn put_back(&self, operation: &str, fault: Fault) {
        lock(&self.0)
            .planned
            .entry(operation.to_owned())
            .or_default()
            .push_front(fault);
    }

    pub(crate) fn record(&self, call: Call) {
        lock(&self.0).calls.push(call);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_met_in_order_one_per_call_of_their_operation() {
        let faults = Faults::default();
        faults.plan("PollHostCommand", Fault::throttling());
        faults.plan("PollHostCommand", Fault::server_error());
        faults.plan("PutHostCommandComplete", Fault::lost_answer());
        assert_eq!(faults.pending(), 3);
        assert!(faults.take("GetDeploymentSpecification").is_none());
        assert!(matches!(
            faults.take("PollHostCommand"),
            Some(Fault::Refuse(e)) if e.code == "ThrottlingException" && e.status == StatusCode::BAD_REQUEST
        ));
        assert!(matches!(
            faults.take("PollHostCommand"),
            Some(Fault::Refuse(e)) if e.code == "ServerException" && e.status == StatusCode::INTERNAL_SERVER_ERROR
        ));
        assert!(faults.take("PollHostCommand").is_none());
        assert_eq!(faults.pending(), 1);
    }
}
