//! The figures of bench/agent-fleet: the simulator's own benchmark shape
//! (bench/codedeploy-hosts: N hosts long-polling at once, then one
//! AllAtOnce deployment to all of them) with N real `slipway-agent run`
//! processes, each downloading the bundle from moto's S3, beside the same
//! deployment to N scripted hosts on another simulator in the same run.
//! Prints the wall times, the agents' CPU per host and their memory.
//! With BENCH_HOSTS=1 and BENCH_DEPLOYMENTS=20 (bench/agent-events) it
//! gives the per-event overhead of one agent against one scripted host
//! doing the same deployments.

#[path = "../../tests/tests/fleet/mod.rs"]
mod fleet;

mod bench;

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use bench::{AgentSetup, MS_PER_TICK, cpu_ticks, proc_kb, start_agent, stop};
use fleet::Fleet;
use slipway_tests::codedeploy::EnvelopeFormat;
use slipway_tests::scripted_host::Script;

const HOSTS: usize = 100;
const BUCKET: &str = "releases";

/// A tgz revision with an appspec and nothing to install or run: what
/// every event costs the agent beyond its own work.
fn bundle() -> Result<Vec<u8>> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let appspec = b"version: 0.0\nos: linux\n";
    let mut header = tar::Header::new_gnu();
    header.set_size(appspec.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "appspec.yml", &appspec[..])?;
    let mut gz = tar.into_inner()?;
    gz.flush()?;
    Ok(gz.finish()?)
}

/// Runs `deployments` deployments one after another; their total wall time.
async fn timed_deployments(
    fleet: &Fleet,
    deployments: usize,
    key: &str,
    etag: &str,
) -> Result<Duration> {
    let started = Instant::now();
    for _ in 0..deployments {
        let id = fleet.deploy_s3(BUCKET, key, etag).await?;
        let status = fleet.wait_for_end(&id, Duration::from_secs(600)).await?;
        ensure!(status == "Succeeded", "deployment {id} ended {status}");
    }
    Ok(started.elapsed())
}

#[tokio::main]
async fn main() -> Result<()> {
    let binary = std::path::PathBuf::from(std::env::args().nth(1).context("the agent binary")?);
    let hosts: usize = std::env::var("BENCH_HOSTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(HOSTS);
    let deployments: usize = std::env::var("BENCH_DEPLOYMENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    // A first deployment has no ApplicationStop; later ones have 7 events.
    let events = 6 + 7 * (deployments - 1);
    let poll_wait = Duration::from_secs(20);
    let moto = slipway_tests::Moto::start().await?;
    let s3 = moto.s3_client();
    s3.create_bucket().bucket(BUCKET).send().await?;
    let put = s3
        .put_object()
        .bucket(BUCKET)
        .key("fleet.tgz")
        .body(bundle()?.into())
        .send()
        .await?;
    let etag = put.e_tag().unwrap_or_default().trim_matches('"').to_owned();

    // Baseline: scripted hosts, which speak the protocol and run nothing.
    let scripted = Fleet::start(
        hosts,
        "CodeDeployDefault.AllAtOnce",
        EnvelopeFormat::Pkcs7Json,
        poll_wait,
    )
    .await?;
    let running = scripted.spawn_hosts(|_| Script::noop());
    scripted
        .wait_for_waiting_polls(hosts, Duration::from_secs(60))
        .await?;
    let scripted_wall = timed_deployments(&scripted, deployments, "fleet.tgz", &etag).await?;
    drop(running);
    drop(scripted);

    // The same with real agents.
    let agents = Fleet::start(
        hosts,
        "CodeDeployDefault.AllAtOnce",
        EnvelopeFormat::Pkcs7Json,
        poll_wait,
    )
    .await?;
    let dir = tempfile::tempdir()?;
    let started = Instant::now();
    let mut children = Vec::with_capacity(hosts);
    for (i, host) in agents.hosts.iter().enumerate() {
        children.push(start_agent(&AgentSetup {
            binary: &binary,
            dir: &dir.path().join(format!("host-{i:03}")),
            endpoint: &host.endpoint,
            host_arn: &host.host_identifier,
            key: &host.credential,
            s3: Some(moto.url()),
            extra: ":wait_between_runs: 0\n",
        })?);
    }
    agents
        .wait_for_waiting_polls(hosts, Duration::from_secs(120))
        .await?;
    let all_polling = started.elapsed();
    let pids: Vec<u32> = children.iter().map(|c| c.id()).collect();
    let sum = |f: &dyn Fn(u32) -> u64| pids.iter().map(|p| f(*p)).sum::<u64>();
    let idle_pss = sum(&|p| proc_kb(p, "smaps_rollup", "Pss:"));
    let ticks0 = sum(&|p| cpu_ticks(p));
    let agents_wall = timed_deployments(&agents, deployments, "fleet.tgz", &etag).await?;
    let ticks1 = sum(&|p| cpu_ticks(p));
    let busy_rss = sum(&|p| proc_kb(p, "status", "VmRSS:"));
    let busy_pss = sum(&|p| proc_kb(p, "smaps_rollup", "Pss:"));
    for child in &mut children {
        stop(child);
    }

    let cpu_ms = (ticks1 - ticks0) as f64 * MS_PER_TICK;
    let mb = |kb: u64| kb as f64 / 1024.0;
    let secs = |d: Duration| d.as_secs_f64();
    println!(
        "agent-fleet: {hosts} hosts, AllAtOnce, {deployments} deployment(s) of a bundle with nothing to install or run"
    );
    println!(
        "  {hosts} agents long-polling at once after          {:>8.3} s",
        secs(all_polling)
    );
    println!(
        "  deployments, {hosts} slipway-agent processes       {:>8.3} s",
        secs(agents_wall)
    );
    println!(
        "  baseline: the same, {hosts} scripted hosts         {:>8.3} s",
        secs(scripted_wall)
    );
    println!(
        "  per event: agent {:.1} ms, scripted host {:.1} ms, overhead {:.1} ms ({events} events per host)",
        secs(agents_wall) * 1000.0 / events as f64,
        secs(scripted_wall) * 1000.0 / events as f64,
        (secs(agents_wall) - secs(scripted_wall)) * 1000.0 / events as f64,
    );
    println!(
        "  agents' CPU                                    {cpu_ms:>8.0} ms ({:.1} ms per host per event)",
        cpu_ms / (hosts * events) as f64
    );
    println!(
        "  agents' memory: PSS {:.1} MB idle, {:.1} MB after ({:.1} MB each); RSS {:.1} MB after",
        mb(idle_pss),
        mb(busy_pss),
        mb(busy_pss) / hosts as f64,
        mb(busy_rss)
    );
    Ok(())
}
