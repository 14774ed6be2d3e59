//! The process groups of the scripts running now, so that a stopping agent
//! can end them after its grace period instead of leaving them orphaned.

use std::collections::BTreeSet;
use std::sync::Mutex;

static RUNNING: Mutex<BTreeSet<libc::pid_t>> = Mutex::new(BTreeSet::new());

/// Keeps `pgid` registered while alive.
#[derive(Debug)]
pub struct Registered(libc::pid_t);

/// Registers a script's process group until the guard drops.
pub fn register(pgid: libc::pid_t) -> Registered {
    groups().insert(pgid);
    Registered(pgid)
}

impl Drop for Registered {
    fn drop(&mut self) {
        groups().remove(&self.0);
    }
}

fn groups() -> std::sync::MutexGuard<'static, BTreeSet<libc::pid_t>> {
    RUNNING.lock().unwrap_or_else(|e| e.into_inner())
}

/// The process groups of the scripts running now.
pub fn process_groups() -> Vec<libc::pid_t> {
    groups().iter().copied().collect()
}

/// Ends every running script's process group (SIGTERM, then SIGKILL after
/// the runner's grace) and returns the groups it signalled. Each script's
/// runner then reports its script as killed by the signal.
pub async fn terminate_all() -> Vec<libc::pid_t> {
    let pgids = process_groups();
    for &pgid in &pgids {
        super::runner::kill_group(pgid).await;
    }
    pgids
}
