//! Keeping an idle daemon small. glibc's malloc gives each thread that
//! allocates its own arena and keeps freed memory mapped; a daemon that
//! idles between deployments should hand back what a deployment used.
//! Elsewhere (musl, other systems) these are no-ops.

/// Caps malloc at two arenas: the daemon's work is one runtime thread and
/// short-lived blocking threads, which need no arena each.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; called before threads start.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Returns the heap's free pages to the system, after a command ends.
pub fn release_free() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory malloc holds unused.
    unsafe {
        libc::malloc_trim(0);
    }
}
