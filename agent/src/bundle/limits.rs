//! How far an archive may expand before the agent calls it a bomb. Checked
//! as entries arrive, so a bomb fails at its first oversized entry rather
//! than after filling the disk.

/// Below this many expanded bytes the ratio is not checked: a tiny archive
/// of empty files has a huge ratio and is harmless.
pub const RATIO_FLOOR_BYTES: u64 = 64 * 1024 * 1024;

/// Expansion limits for one archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Total bytes of file content.
    pub max_expanded_bytes: u64,
    /// Entries of any kind.
    pub max_entries: u64,
    /// Expanded bytes per byte of archive.
    pub max_ratio: u64,
}

impl Default for Limits {
    /// Generous for an application bundle (8 GiB, a million entries), and a
    /// ratio gzip reaches only on padding: real source trees compress 3–15×.
    fn default() -> Self {
        Limits {
            max_expanded_bytes: 8 * 1024 * 1024 * 1024,
            max_entries: 1_000_000,
            max_ratio: 200,
        }
    }
}
