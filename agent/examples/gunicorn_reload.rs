//! The figures of bench/gunicorn-reload: requests through nginx to
//! gunicorn under supervisord (the real programs, as the steps' tests run
//! them) while gunicorn is reloaded, two ways in the same run:
//! `slipway-agent step gunicorn-reload` (switch `current`, HUP through
//! Supervisor, wait for the new release) and `supervisorctl restart
//! gunicorn`, the habit it replaces. Prints failed requests and the window
//! of failures for each, beside the reference measurements.
//!
//! The load generator is this program: BENCH_CONNECTIONS (default 16)
//! tokio tasks, each an HTTP/1.1 keep-alive client in a closed loop, as
//! wrk ran in the reference. A request that gets no 200 (a 502, a reset,
//! no answer in 10 s) is a failure. SLIPWAY_AGENT names the agent binary.

#[path = "../tests/stack/mod.rs"]
mod stack;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stack::app::{APP, Stack, release};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// What the clients saw.
#[derive(Default)]
struct Tally {
    /// 200s by the release their body named.
    by_release: BTreeMap<String, u64>,
    /// When each failure happened, from the start of the load.
    failures: Vec<Duration>,
    /// Failures by kind: `HTTP 502`, or `no answer` (reset, closed, timed out).
    kinds: BTreeMap<String, u64>,
}

struct Load {
    stop: Arc<AtomicBool>,
    tally: Arc<Mutex<Tally>>,
    started: Instant,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(port: u16, connections: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Mutex::new(Tally::default()));
        let started = Instant::now();
        let tasks = (0..connections)
            .map(|_| {
                let (stop, tally) = (stop.clone(), tally.clone());
                tokio::spawn(async move {
                    let mut connection: Option<BufReader<TcpStream>> = None;
                    while !stop.load(Ordering::Relaxed) {
                        let answer = tokio::time::timeout(
                            Duration::from_secs(10),
                            request(port, &mut connection),
                        )
                        .await
                        .unwrap_or(Err(None));
                        let mut tally = tally.lock().unwrap();
                        match answer {
                            Ok(release) => *tally.by_release.entry(release).or_default() += 1,
                            Err(status) => {
                                connection = None;
                                tally.failures.push(started.elapsed());
                                let kind = match status {
                                    Some(status) => format!("HTTP {status}"),
                                    None => "no answer".into(),
                                };
                                *tally.kinds.entry(kind).or_default() += 1;
                            }
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            tally,
            started,
            tasks,
        }
    }

    fn served(&self) -> u64 {
        self.tally.lock().unwrap().by_release.values().sum()
    }

    async fn finish(self) -> (Tally, Duration) {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            let _ = task.await;
        }
        let elapsed = self.started.elapsed();
        let tally = std::mem::take(&mut *self.tally.lock().unwrap());
        (tally, elapsed)
    }
}

/// One GET on the kept-alive connection (opened when there is none): the
/// release a 200's body names, or the status of any other answer (None for
/// no answer).
async fn request(
    port: u16,
    connection: &mut Option<BufReader<TcpStream>>,
) -> Result<String, Option<String>> {
    let (status, body) = exchange(port, connection).await.ok_or(None)?;
    if status == "200" {
        Ok(body.trim().trim_start_matches("release ").to_owned())
    } else {
        Err(Some(status))
    }
}

/// (status, body), or None when the connection failed.
async fn exchange(
    port: u16,
    connection: &mut Option<BufReader<TcpStream>>,
) -> Option<(String, String)> {
    if connection.is_none() {
        *connection = Some(BufReader::new(
            TcpStream::connect(("127.0.0.1", port)).await.ok()?,
        ));
    }
    let stream = connection.as_mut()?;
    stream
        .get_mut()
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .ok()?;
    let mut line = String::new();
    stream.read_line(&mut line).await.ok()?;
    let status = line.split(' ').nth(1)?.to_owned();
    let (mut length, mut close, mut chunked) = (0usize, false, false);
    loop {
        line.clear();
        if stream.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let header = line.trim_end().to_ascii_lowercase();
        if header.is_empty() {
            break;
        }
        if let Some(value) = header.strip_prefix("content-length:") {
            length = value.trim().parse().ok()?;
        }
        close |= header == "connection: close";
        chunked |= header == "transfer-encoding: chunked";
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await.ok()?;
    // nginx re-chunks gunicorn's unsized answers for HTTP/1.1 clients.
    while chunked {
        line.clear();
        stream.read_line(&mut line).await.ok()?;
        let size = usize::from_str_radix(line.trim_end(), 16).ok()?;
        let mut chunk = vec![0; size + 2];
        stream.read_exact(&mut chunk).await.ok()?;
        body.extend_from_slice(&chunk[..size]);
        chunked = size > 0;
    }
    if close {
        *connection = None;
    }
    Some((status, String::from_utf8_lossy(&body).into_owned()))
}

struct Row {
    action: &'static str,
    took: Duration,
    total: u64,
    failed: usize,
    kinds: String,
    window: Option<Duration>,
    rate: f64,
    releases: String,
}

/// Runs `action` under load, with `before` of steady load first and
/// `after` of load once it has returned.
async fn under_load(
    port: u16,
    connections: usize,
    name: &'static str,
    action: impl FnOnce() -> Command,
) -> Row {
    let load = Load::start(port, connections);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut command = action();
    let started = Instant::now();
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("the action runs");
    let took = started.elapsed();
    assert!(
        output.status.success(),
        "{name} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let seen = load.served();
    // At least 2 s and 500 more answers after the action returned.
    tokio::time::sleep(Duration::from_secs(2)).await;
    while load.served() < seen + 500 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (tally, elapsed) = load.finish().await;
    let served: u64 = tally.by_release.values().sum();
    let failed = tally.failures.len();
    let window = match (tally.failures.first(), tally.failures.last()) {
        (Some(first), Some(last)) => Some(*last - *first),
        _ => None,
    };
    Row {
        action: name,
        took,
        total: served + failed as u64,
        failed,
        kinds: tally
            .kinds
            .iter()
            .map(|(kind, n)| format!("{kind} x{n}"))
            .collect::<Vec<_>>()
            .join(", "),
        window,
        rate: (served + failed as u64) as f64 / elapsed.as_secs_f64(),
        releases: tally
            .by_release
            .iter()
            .map(|(release, n)| format!("{release} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let runs = env_usize("BENCH_RUNS", 3);
    let connections = env_usize("BENCH_CONNECTIONS", 16);
    let workers = env_usize("BENCH_WORKERS", 6);
    let stack = Stack::start_with(&format!("--workers {workers}"));
    let port = stack.nginx_port;
    let socket = stack.socket();
    let mut rows = Vec::new();
    for run in 1..=runs {
        let next = format!("r{}", run + 1);
        release(&stack.app_root, &next, APP);
        let command = stack.gunicorn_reload_command(&next);
        rows.push((
            run,
            under_load(
                port,
                connections,
                "slipway-agent step gunicorn-reload",
                || command,
            )
            .await,
        ));
        let socket = socket.clone();
        rows.push((
            run,
            under_load(
                port,
                connections,
                "supervisorctl restart gunicorn",
                move || {
                    let mut command = Command::new("supervisorctl");
                    command
                        .arg("-s")
                        .arg(format!("unix://{socket}"))
                        .args(["restart", "gunicorn"]);
                    command
                },
            )
            .await,
        ));
    }
    println!(
        "gunicorn ({workers} sync workers, 5 ms per request) behind nginx; load: {connections} keep-alive HTTP/1.1 clients (tokio, this example)"
    );
    println!(
        "{:<4} {:<36} {:>9} {:>8} {:>9} {:>14} {:>9}  answered by; failures",
        "run", "action", "requests", "req/s", "failed", "failure window", "took"
    );
    for (run, row) in &rows {
        println!(
            "{:<4} {:<36} {:>9} {:>8.0} {:>9} {:>14} {:>8.2}s  {}; {}",
            run,
            row.action,
            row.total,
            row.rate,
            row.failed,
            row.window
                .map(|w| format!("{} ms", w.as_millis()))
                .unwrap_or_else(|| "-".into()),
            row.took.as_secs_f64(),
            row.releases,
            if row.kinds.is_empty() {
                "none"
            } else {
                &row.kinds
            }
        );
    }
    let slowest = rows
        .iter()
        .map(|(_, r)| r.rate)
        .fold(f64::INFINITY, f64::min);
    if slowest < 500.0 {
        println!(
            "note: the slowest phase ran at {slowest:.0} req/s, below the 500 req/s asked for; the machine is busy"
        );
    }
    println!(
        "reference (host-stack-measurements.md §3, wrk -c16 at ~320 req/s): HUP 0 failed; supervisorctl restart 297-489 ms of 502s (1098-6473 failed)"
    );
}
