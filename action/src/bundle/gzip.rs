//! gzip on every core: the stream is cut into fixed-size chunks, each
//! compressed as an independent gzip member, and the members written in
//! order. Concatenated members are one valid gzip stream (RFC 1952 §2.2),
//! which `tar -xzf`, Python's tarfile and the agent all read. The cut points
//! depend only on the input, so the output is as deterministic as a single
//! member would be.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use flate2::Compression;
use flate2::write::GzEncoder;

/// Input bytes per member: large enough that the lost dictionary at each
/// cut costs well under 1% of the size.
pub const CHUNK: usize = 4 * 1024 * 1024;

type Job = (u64, Vec<u8>);

/// A [`Write`] that gzips on `workers` threads into `W`.
pub struct ParallelGzip<W: Write + Send + 'static> {
    buf: Vec<u8>,
    chunk: usize,
    next: u64,
    jobs: Option<SyncSender<Job>>,
    workers: Vec<JoinHandle<()>>,
    writer: Option<JoinHandle<io::Result<W>>>,
}

impl<W: Write + Send + 'static> ParallelGzip<W> {
    /// Compresses at `level` on `workers` threads (at least one).
    pub fn new(out: W, level: u32, workers: usize) -> Self {
        Self::with_chunk(out, level, workers, CHUNK)
    }

    /// As [`ParallelGzip::new`] with another chunk size (tests).
    pub fn with_chunk(mut out: W, level: u32, workers: usize, chunk: usize) -> Self {
        let workers = workers.max(1);
        // Two chunks in flight per worker keep every core busy without
        // holding the whole archive in memory.
        let (jobs, job_rx) = sync_channel::<Job>(workers * 2);
        let (done, done_rx) = sync_channel::<Job>(workers * 2);
        let job_rx = Arc::new(Mutex::new(job_rx));
        let handles = (0..workers)
            .map(|_| {
                let job_rx = Arc::clone(&job_rx);
                let done = done.clone();
                std::thread::spawn(move || compress_jobs(&job_rx, &done, level))
            })
            .collect();
        drop(done);
        let writer = std::thread::spawn(move || -> io::Result<W> {
            write_in_order(&done_rx, &mut out)?;
            out.flush()?;
            Ok(out)
        });
        Self {
            buf: Vec::with_capacity(chunk),
            chunk,
            next: 0,
            jobs: Some(jobs),
            workers: handles,
            writer: Some(writer),
        }
    }

    fn send(&mut self) -> io::Result<()> {
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(self.chunk));
        let jobs = self.jobs.as_ref().ok_or_else(closed)?;
        jobs.send((self.next, data)).map_err(|_| closed())?;
        self.next += 1;
        Ok(())
    }

    /// Compresses what is left and returns the output once every member is
    /// written.
    pub fn finish(mut self) -> io::Result<W> {
        if !self.buf.is_empty() || self.next == 0 {
            // An empty input still makes one (empty) member: a gzip stream
            // has at least one.
            self.send()?;
        }
        self.jobs = None;
        for worker in self.workers.drain(..) {
            worker
                .join()
                .map_err(|_| io::Error::other("a gzip worker panicked"))?;
        }
        self.writer
            .take()
            .ok_or_else(closed)?
            .join()
            .map_err(|_| io::Error::other("the gzip writer panicked"))?
    }
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the gzip output failed")
}

fn compress_jobs(jobs: &Mutex<Receiver<Job>>, done: &SyncSender<Job>, level: u32) {
    loop {
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok((seq, data)) = job else { return };
        // GzEncoder's header has mtime 0 and no name: deterministic.
        let mut encoder =
            GzEncoder::new(Vec::with_capacity(data.len() / 3), Compression::new(level));
        let member = encoder.write_all(&data).and_then(|()| encoder.finish());
        let Ok(member) = member else { return };
        if done.send((seq, member)).is_err() {
            return;
        }
    }
}

fn write_in_order<W: Write>(done: &Receiver<Job>, out: &mut W) -> io::Result<()> {
    let mut waiting = BTreeMap::new();
    let mut next = 0u64;
    for (seq, member) in done {
        waiting.insert(seq, member);
        while let Some(member) = waiting.remove(&next) {
            out.write_all(&member)?;
            next += 1;
        }
    }
    if waiting.is_empty() {
        Ok(())
    } else {
        Err(io::Error::other("a gzip member was lost"))
    }
}

impl<W: Write + Send + 'static> Write for ParallelGzip<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = self.chunk - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == self.chunk {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use flate2::read::MultiGzDecoder;

    use super::*;

    fn gzip(data: &[u8], workers: usize, chunk: usize) -> Vec<u8> {
        let mut gz = ParallelGzip::with_chunk(Vec::new(), 6, workers, chunk);
        gz.write_all(data).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn members_decode_to_the_input_in_order() {
        let data: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let out = gzip(&data, 3, 4096);
        let mut back = Vec::new();
        MultiGzDecoder::new(&out[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn the_output_does_not_depend_on_the_worker_count() {
        let data = vec![7u8; 50_000];
        assert_eq!(gzip(&data, 1, 1000), gzip(&data, 4, 1000));
    }

    #[test]
    fn empty_input_is_one_empty_member() {
        let out = gzip(b"", 2, 1000);
        let mut back = Vec::new();
        MultiGzDecoder::new(&out[..])
            .read_to_end(&mut back)
            .unwrap();
        assert!(back.is_empty());
        assert!(!out.is_empty());
    }
}
