//! The figures of bench/agent-idle: `slipway-agent run` idling against the
//! CodeDeploy simulator as one on-premises host: RSS and PSS after
//! BENCH_IDLE_S seconds (default 30) of long polls, and CPU per poll;
//! beside the official agent's PSS when it runs on this machine. Each
//! binary named on the command line (the first is the one under test, the
//! others baselines, such as an earlier build) idles as its own host at the
//! same time, so their figures come from the same run.

mod bench;

use std::time::{Duration, Instant};

use bench::{AgentSetup, MS_PER_TICK, cpu_ticks, official_pss, proc_kb, start_agent, stop};
use slipway_tests::codedeploy::{Simulator, SimulatorConfig};
use slipway_tests::credentials::{CredentialStore, IssuedCredential};

struct Idler {
    binary: String,
    child: std::process::Child,
    metrics: String,
}

impl Idler {
    async fn polls(&self) -> Option<u64> {
        let text = reqwest::get(&self.metrics).await.ok()?.text().await.ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("slipway_agent_polls_total "))
            .and_then(|n| n.parse::<u64>().ok())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let binaries: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(!binaries.is_empty(), "name the slipway-agent binary");
    let idle: u64 = std::env::var("BENCH_IDLE_S")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let store = CredentialStore::default();
    let mut config = SimulatorConfig::new(store.clone());
    config.poll_wait = Duration::from_secs(5);
    let sim = Simulator::start(config).await?;
    let dir = tempfile::tempdir()?;
    let mut idlers = Vec::new();
    for (i, binary) in binaries.iter().enumerate() {
        let host_arn = format!("arn:aws:iam::123456789012:user/idle-host-{i}");
        let key = IssuedCredential {
            access_key_id: format!("AKIAIDLEHOST{i:08}"),
            secret_access_key: format!("AKIAIDLEHOST{i:08}/secret/0123456789abcdef"),
            session_token: None,
            expiration: None,
            principal_arn: host_arn.clone(),
        };
        store.insert(key.clone());
        sim.register_on_premises_instance(&format!("idle-host-{i}"), &host_arn, &[]);
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = start_agent(&AgentSetup {
            binary: std::path::Path::new(binary),
            dir: &dir.path().join(format!("host-{i}")),
            endpoint: &sim.endpoint(),
            host_arn: &host_arn,
            key: &key,
            s3: None,
            extra: &format!(":wait_between_runs: 1\n:status_address: 127.0.0.1:{port}\n"),
        })?;
        idlers.push(Idler {
            binary: binary.clone(),
            child,
            metrics: format!("http://127.0.0.1:{port}/metrics"),
        });
    }
    let until = Instant::now() + Duration::from_secs(30);
    for idler in &idlers {
        while idler.polls().await.is_none() && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let mut before = Vec::new();
    for idler in &idlers {
        before.push((
            cpu_ticks(idler.child.id()),
            idler.polls().await.unwrap_or(0),
        ));
    }
    tokio::time::sleep(Duration::from_secs(idle)).await;
    println!("slipway-agent idle {idle} s (wait_between_runs 1 s, 5 s long polls)");
    for (idler, (ticks0, polls0)) in idlers.iter_mut().zip(before) {
        let pid = idler.child.id();
        let (ticks1, polls1) = (cpu_ticks(pid), idler.polls().await.unwrap_or(0));
        let rss = proc_kb(pid, "status", "VmRSS:");
        let pss = proc_kb(pid, "smaps_rollup", "Pss:");
        let anon = proc_kb(pid, "smaps_rollup", "Pss_Anon:");
        let file = proc_kb(pid, "smaps_rollup", "Pss_File:");
        let threads = proc_kb(pid, "status", "Threads:");
        let cpu_ms = (ticks1 - ticks0) as f64 * MS_PER_TICK;
        let polls = polls1 - polls0;
        println!("  {}", idler.binary);
        println!(
            "    RSS {:.1} MB   PSS {:.1} MB   {threads} threads   (issue bound: RSS <= 15 MB)",
            rss as f64 / 1024.0,
            pss as f64 / 1024.0
        );
        println!(
            "    PSS split: {:.1} MB anonymous (heap, stacks), {:.1} MB file-backed (the binary's and libraries' pages)",
            anon as f64 / 1024.0,
            file as f64 / 1024.0
        );
        println!(
            "    {polls} polls, CPU {cpu_ms:.0} ms in all, {:.2} ms per poll (10 ms clock ticks)",
            cpu_ms / polls.max(1) as f64
        );
        stop(&mut idler.child);
    }
    match official_pss() {
        Some(kb) => println!("  official agent here: PSS {:.1} MB", kb as f64 / 1024.0),
        None => println!(
            "  official agent: not running here (reference figure: about 63 MB PSS, master + child)"
        ),
    }
    Ok(())
}
