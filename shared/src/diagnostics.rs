//! The diagnostics a host sends with each finished lifecycle command, as the
//! official agent writes them and CodeDeploy shows them.

use serde::{Deserialize, Serialize};

/// The most characters of script output a diagnostics log carries.
pub const MAX_LOG_CHARS: usize = 2048;

/// The outcome of a lifecycle event on a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub enum ErrorCode {
    /// 0: every script exited 0.
    Succeeded,
    /// 1: a hook's script is not in the bundle.
    ScriptMissing,
    /// 2: a hook's script could not be made executable.
    ScriptNotExecutable,
    /// 3: a script ran past its timeout.
    ScriptTimedOut,
    /// 4: a script exited non-zero.
    ScriptFailed,
    /// 5: anything else went wrong on the host.
    UnknownError,
    /// 6: a script exited but left stdout or stderr open (a backgrounded child).
    OutputsLeftOpen,
    /// 7: the agent restarted while the command was running.
    FailedAfterRestart,
}

impl ErrorCode {
    /// Every code, by its number.
    pub const ALL: [ErrorCode; 8] = [
        ErrorCode::Succeeded,
        ErrorCode::ScriptMissing,
        ErrorCode::ScriptNotExecutable,
        ErrorCode::ScriptTimedOut,
        ErrorCode::ScriptFailed,
        ErrorCode::UnknownError,
        ErrorCode::OutputsLeftOpen,
        ErrorCode::FailedAfterRestart,
    ];

    /// The integer on the wire.
    pub fn code(self) -> i64 {
        self as i64
    }

    /// The agent's name for the code.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::Succeeded => "Succeeded",
            ErrorCode::ScriptMissing => "ScriptMissing",
            ErrorCode::ScriptNotExecutable => "ScriptNotExecutable",
            ErrorCode::ScriptTimedOut => "ScriptTimedOut",
            ErrorCode::ScriptFailed => "ScriptFailed",
            ErrorCode::UnknownError => "UnknownError",
            ErrorCode::OutputsLeftOpen => "OutputsLeftOpen",
            ErrorCode::FailedAfterRestart => "FailedAfterRestart",
        }
    }

    /// What a lifecycle event's `diagnostics.errorCode` says in the
    /// CodeDeploy API. The API has `Success` for 0 and no name for a restart,
    /// which it reports as `UnknownError`; `OutputsLeftOpen` is the agent's
    /// own name, passed through.
    pub fn lifecycle_error_code(self) -> &'static str {
        match self {
            ErrorCode::Succeeded => "Success",
            ErrorCode::FailedAfterRestart => "UnknownError",
            other => other.name(),
        }
    }
}

impl TryFrom<i64> for ErrorCode {
    type Error = String;

    fn try_from(code: i64) -> Result<Self, Self::Error> {
        usize::try_from(code)
            .ok()
            .and_then(|i| Self::ALL.get(i).copied())
            .ok_or_else(|| format!("unknown diagnostics error code {code}"))
    }
}

impl From<ErrorCode> for i64 {
    fn from(code: ErrorCode) -> Self {
        code.code()
    }
}

/// The JSON a host puts in a completed command's `Diagnostics.Payload`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostics {
    /// What happened.
    pub error_code: ErrorCode,
    /// The script that failed, or empty.
    #[serde(default)]
    pub script_name: String,
    /// One line for people.
    #[serde(default)]
    pub message: String,
    /// The tail of the scripts' output; see [`log_tail`].
    #[serde(default)]
    pub log: String,
}

impl Diagnostics {
    /// The payload of a command that succeeded.
    pub fn succeeded() -> Self {
        Diagnostics {
            error_code: ErrorCode::Succeeded,
            script_name: String::new(),
            message: "Succeeded: ".to_owned(),
            log: String::new(),
        }
    }
}

/// The last whole lines of `lines` whose lengths, newlines included, add up
/// to under [`MAX_LOG_CHARS`]. A single line too long to fit is dropped, as
/// the official agent does, rather than cut mid-line.
pub fn log_tail<'a>(lines: impl DoubleEndedIterator<Item = &'a str>) -> String {
    let mut kept = Vec::new();
    let mut total = 0;
    for line in lines.rev() {
        let len = line.chars().count() + 1;
        if total + len >= MAX_LOG_CHARS {
            break;
        }
        total += len;
        kept.push(line);
    }
    kept.reverse();
    let mut out = String::with_capacity(total);
    for line in kept {
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_integers_on_the_wire() {
        let d = Diagnostics {
            error_code: ErrorCode::ScriptFailed,
            script_name: "scripts/start".into(),
            message: "failed".into(),
            log: String::new(),
        };
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["error_code"], 4);
        let back: Diagnostics = serde_json::from_value(json).unwrap();
        assert_eq!(back, d);
    }

    #[test]
    fn an_unknown_code_is_refused() {
        let err = serde_json::from_str::<Diagnostics>(
            r#"{"error_code":9,"script_name":"","message":"","log":""}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown diagnostics error code 9"));
    }

    #[test]
    fn log_tail_keeps_whole_lines_under_the_limit() {
        let line = "x".repeat(99);
        let lines: Vec<&str> = std::iter::repeat_n(line.as_str(), 50).collect();
        let tail = log_tail(lines.iter().copied());
        assert_eq!(tail.len(), 2000);
        assert!(tail.ends_with("x\n"));
    }

    #[test]
    fn log_tail_drops_a_line_longer_than_the_limit() {
        let long = "y".repeat(5000);
        let tail = log_tail(["first", long.as_str()].into_iter());
        assert_eq!(tail, "");
    }
}
