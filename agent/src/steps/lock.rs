//! One step at a time per Supervisor program: an exclusive flock(2) on
//! `<app_root>/.slipway/<program>.lock`. Commands can run concurrently (two
//! hooks, an operator's `rollback` during a deployment), and two steps
//! driving one program at once could interleave a switch and a HUP.
//!
//! The kernel drops the lock when its holder exits, however it exits, so a
//! journal found while holding the lock was left by a step that is gone.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use super::error::{Result, io};

/// The directory under the app root holding the locks and journals.
pub fn state_dir(app_root: &Path) -> PathBuf {
    app_root.join(".slipway")
}

/// A held program lock; dropping it releases the lock.
#[derive(Debug)]
pub struct ProgramLock {
    program: String,
    _file: File,
}

impl ProgramLock {
    /// Takes the lock on `program`, waiting for another step holding it;
    /// `waiting` hears who holds it, once, before the wait.
    pub async fn acquire(
        app_root: &Path,
        program: &str,
        step: &str,
        waiting: &mut dyn FnMut(&str),
    ) -> Result<ProgramLock> {
        let dir = state_dir(app_root);
        std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
        let path = dir.join(format!("{program}.lock"));
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io("open", &path))?;
        if flock(&file, libc::LOCK_EX | libc::LOCK_NB).is_err() {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            waiting(&format!(
                "waiting for {} to finish with {program}",
                match holder.trim() {
                    "" => "another step",
                    holder => holder,
                }
            ));
            let (result, returned) = tokio::task::spawn_blocking(move || {
                let result = flock(&file, libc::LOCK_EX);
                (result, file)
            })
            .await
            .expect("the flock thread does not panic");
            file = returned;
            result.map_err(io("lock", &path))?;
        }
        // Who holds it, for the next one to wait: informational only.
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = write!(file, "{step} (pid {})", std::process::id());
        Ok(ProgramLock {
            program: program.into(),
            _file: file,
        })
    }

    /// The program it locks.
    pub fn program(&self) -> &str {
        &self.program
    }
}

fn flock(file: &File, operation: i32) -> std::io::Result<()> {
    loop {
        // SAFETY: flock(2) on a descriptor this File owns.
        if unsafe { libc::flock(file.as_raw_fd(), operation) } == 0 {
            return Ok(());
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_step_waits_for_the_first_and_is_told_who_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let first = ProgramLock::acquire(dir.path(), "web", "gunicorn-reload", &mut |_| {})
            .await
            .unwrap();
        let (told_tx, mut told_rx) = tokio::sync::mpsc::unbounded_channel();
        let second = async {
            ProgramLock::acquire(dir.path(), "web", "rollback", &mut |line| {
                let _ = told_tx.send(line.to_owned());
            })
            .await
            .unwrap()
        };
        // The first is released only once the second has said it waits.
        let release_first = async {
            let told = told_rx.recv().await.unwrap();
            drop(first);
            told
        };
        let (second, told) = tokio::join!(second, release_first);
        assert!(
            told.contains("gunicorn-reload (pid") && told.contains("web"),
            "{told}"
        );
        assert_eq!(second.program(), "web");
        // Another program is independent.
        ProgramLock::acquire(dir.path(), "worker", "celery-restart", &mut |_| {})
            .await
            .unwrap();
    }
}
