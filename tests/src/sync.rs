//! Locking the sandbox's small shared states.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, ignoring poison: the states behind these locks are plain
/// values a panicking test thread cannot leave half-written.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
