//! What a step has done to a program, written before and after each change
//! to `<app_root>/.slipway/<program>.journal`, so that a step killed half
//! way (the agent restarted, the hook timed out, the host rebooted) leaves
//! enough behind for the next one to finish or reverse its work.
//!
//! Each write is durable: the whole record goes to a temp file, which is
//! fsynced and renamed over the journal, and the directory is fsynced; a
//! reader sees the record before a change or after it, never half of one.
//! A step removes its journal once the host is consistent again (`current`
//! and the program's workers agree), so a journal exists only while a
//! switch is under way or after one was interrupted.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{Result, StepError, io};
use super::lock::state_dir;

/// Where a recovery leaves `current`, and what that means for the step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "how", content = "release")]
pub enum Target {
    /// Back to the release that served before the step (a forward switch).
    Reverse(String),
    /// On to the release the step was switching to (a rollback: the
    /// release it left is the one being rolled back from).
    Finish(String),
}

impl Target {
    /// The release.
    pub fn release(&self) -> &str {
        match self {
            Target::Reverse(id) | Target::Finish(id) => id,
        }
    }
}

/// One thing a step did, recorded once done (or, for `Switching`, about to be).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum Event {
    /// About to point `current` at `to`.
    Switching {
        /// The release it pointed at ("" for none).
        from: String,
        /// The release it will point at.
        to: String,
    },
    /// `current` points at `to`.
    Switched {
        /// The release it pointed at.
        from: String,
        /// The release it points at now.
        to: String,
    },
    /// The gunicorn program was sent a HUP (or started, when it was not running).
    Reloaded {
        /// The program.
        program: String,
        /// "HUP sent", "started" or "restarted (it was in BACKOFF)".
        how: String,
    },
    /// A worker program is being warm-stopped.
    Stopping {
        /// The program.
        program: String,
    },
    /// A worker program was stopped (warm: its tasks finished).
    Stopped {
        /// The program.
        program: String,
    },
    /// A worker program was started.
    Started {
        /// The program.
        program: String,
    },
    /// A program's group was added to supervisord (a blue/green standby,
    /// or the program re-added on its new config).
    Added {
        /// The program.
        program: String,
    },
    /// nginx's upstream was switched to `to` and nginx reloaded.
    UpstreamSwitched {
        /// The address it sent to.
        from: String,
        /// The address it sends to now.
        to: String,
    },
    /// A program was stopped and its group removed.
    Removed {
        /// The program.
        program: String,
    },
    /// A later step took over to finish or reverse this one.
    Recovering {
        /// Its pid.
        pid: u32,
    },
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Event::Switching { from, to } => write!(f, "about to switch current {from} -> {to}"),
            Event::Switched { from, to } => write!(f, "switched current {from} -> {to}"),
            Event::Reloaded { program, how } => write!(f, "{program}: {how}"),
            Event::Stopping { program } => write!(f, "{program} warm stop asked for"),
            Event::Stopped { program } => write!(f, "{program} stopped"),
            Event::Started { program } => write!(f, "{program} started"),
            Event::Added { program } => write!(f, "{program} added"),
            Event::UpstreamSwitched { from, to } => {
                write!(f, "nginx upstream switched {from} -> {to}")
            }
            Event::Removed { program } => write!(f, "{program} stopped and removed"),
            Event::Recovering { pid } => write!(f, "recovery by pid {pid} began"),
        }
    }
}

/// A step's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The step ("gunicorn-reload", "rollback", "validate", "celery-restart").
    pub step: String,
    /// Its pid.
    pub pid: u32,
    /// The program the journal belongs to.
    pub program: String,
    /// Where a recovery leaves `current`; none for a step that switches nothing.
    pub target: Option<Target>,
    /// Worker programs the step restarts on the release it switches to.
    pub workers: Vec<String>,
    /// The health URL and seconds to wait, when the step had one.
    pub health: Option<(String, u64)>,
    /// What it did, in order.
    pub events: Vec<Event>,
    /// A blue/green switch's plan, when the step is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blue_green: Option<super::bluegreen::Plan>,
}

impl Record {
    /// A record for `step` on `program`, by this process.
    pub fn new(step: &str, program: &str) -> Record {
        Record {
            step: step.into(),
            pid: std::process::id(),
            program: program.into(),
            target: None,
            workers: Vec::new(),
            health: None,
            events: Vec::new(),
            blue_green: None,
        }
    }

    /// The last thing done, for reports.
    pub fn last_done(&self) -> String {
        self.events
            .iter()
            .rev()
            .find(|e| !matches!(e, Event::Recovering { .. }))
            .map(ToString::to_string)
            .unwrap_or_else(|| "before changing anything".into())
    }

    /// Whether worker `program` was started since `current` last switched
    /// (on the release it points at now).
    pub fn started_since_switch(&self, program: &str) -> bool {
        self.events
            .iter()
            .rev()
            .take_while(|e| !matches!(e, Event::Switched { .. }))
            .any(|e| matches!(e, Event::Started { program: p } if p == program))
    }

    /// Whether `current` was (or may have been) switched.
    pub fn switch_began(&self) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e, Event::Switching { .. } | Event::Switched { .. }))
    }
}

/// An open journal: every change to the record is written durably.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    record: Record,
}

/// `<app_root>/.slipway/<program>.journal`.
pub fn path(app_root: &Path, program: &str) -> PathBuf {
    state_dir(app_root).join(format!("{program}.journal"))
}

impl Journal {
    /// Starts a journal for `record` (its program's lock held), writing it.
    pub fn begin(app_root: &Path, record: Record) -> Result<Journal> {
        let dir = state_dir(app_root);
        std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
        let journal = Journal {
            path: path(app_root, &record.program),
            record,
        };
        journal.write()?;
        Ok(journal)
    }

    /// The journal a step on `program` left behind, if any.
    pub fn open(app_root: &Path, program: &str) -> Result<Option<Journal>> {
        let path = path(app_root, program);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io("read", path)(e)),
        };
        let record = serde_json::from_str(&text).map_err(|source| StepError::Journal {
            path: path.clone(),
            source,
        })?;
        Ok(Some(Journal { path, record }))
    }

    /// The record so far.
    pub fn record(&self) -> &Record {
        &self.record
    }

    /// Records `event`, durably, before returning.
    pub fn note(&mut self, event: Event) -> Result<()> {
        tracing::debug!("journal {}: {event}", self.path.display());
        self.record.events.push(event);
        self.write()
    }

    /// The step is done and the host consistent: removes the journal.
    pub fn finish(self) -> Result<()> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => sync_dir(&self.path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("remove", &self.path)(e)),
        }
    }

    fn write(&self) -> Result<()> {
        let temp = self
            .path
            .with_extension(format!("journal.{}.tmp", std::process::id()));
        let text = serde_json::to_vec_pretty(&self.record).expect("a record serializes");
        let result = (|| {
            let mut file = std::fs::File::create(&temp).map_err(io("create", &temp))?;
            file.write_all(&text).map_err(io("write", &temp))?;
            file.sync_all().map_err(io("sync", &temp))?;
            std::fs::rename(&temp, &self.path).map_err(io("rename over", &self.path))?;
            sync_dir(&self.path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        result
    }
}

/// fsync of the directory holding `path`, so a rename or removal survives a crash.
fn sync_dir(path: &Path) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("sync", dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_survives_a_reopen_and_finishing_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut record = Record::new("gunicorn-reload", "web");
        record.target = Some(Target::Reverse("r1".into()));
        let mut journal = Journal::begin(dir.path(), record).unwrap();
        journal
            .note(Event::Switched {
                from: "r1".into(),
                to: "r2".into(),
            })
            .unwrap();
        let reopened = Journal::open(dir.path(), "web").unwrap().unwrap();
        assert_eq!(reopened.record(), journal.record());
        assert_eq!(reopened.record().last_done(), "switched current r1 -> r2");
        assert!(reopened.record().switch_began());
        // No temp file is left beside it.
        let names: Vec<_> = std::fs::read_dir(state_dir(dir.path()))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["web.journal"]);
        journal.finish().unwrap();
        assert!(Journal::open(dir.path(), "web").unwrap().is_none());
    }

    #[test]
    fn a_worker_counts_as_started_only_after_the_last_switch() {
        let mut record = Record::new("rollback", "web");
        let started = Event::Started {
            program: "worker".into(),
        };
        record.events.push(started.clone());
        assert!(record.started_since_switch("worker"));
        record.events.push(Event::Switched {
            from: "r2".into(),
            to: "r1".into(),
        });
        assert!(!record.started_since_switch("worker"));
        record.events.push(started);
        assert!(record.started_since_switch("worker"));
        assert!(!record.started_since_switch("other"));
    }

    #[test]
    fn an_unreadable_journal_names_its_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(state_dir(dir.path())).unwrap();
        std::fs::write(path(dir.path(), "web"), "{ half").unwrap();
        let error = Journal::open(dir.path(), "web").unwrap_err();
        assert!(error.to_string().contains("web.journal"), "{error}");
    }
}
