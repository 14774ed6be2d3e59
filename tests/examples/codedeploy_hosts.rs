//! The `bench/codedeploy-hosts` benchmark: 100 scripted hosts long-polling
//! the simulator at once, then an AllAtOnce deployment to all of them with
//! no-op scripts. It prints the simulator's overhead (wall time minus the
//! hosts' own script time) beside a baseline measured in the same run: the
//! same number of rounds of 100 concurrent signed requests that the
//! simulator answers at once, i.e. the cost of the wire, SigV4 and JSON
//! alone.

#[path = "../tests/fleet/mod.rs"]
mod fleet;

use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use fleet::Fleet;
use slipway_tests::codedeploy::EnvelopeFormat;
use slipway_tests::scripted_host::{CommandClient, Script, TARGET_PREFIX};

const HOSTS: usize = 100;
const TARGET: Duration = Duration::from_secs(2);

#[tokio::main]
async fn main() -> Result<()> {
    let hosts: usize = std::env::var("BENCH_HOSTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(HOSTS);
    let fleet = Fleet::start(
        hosts,
        "CodeDeployDefault.AllAtOnce",
        EnvelopeFormat::Pkcs7Json,
        Duration::from_secs(20),
    )
    .await?;

    // 1. Every host long-polling at once.
    let started = Instant::now();
    let running = fleet.spawn_hosts(|_| Script::noop());
    fleet
        .wait_for_waiting_polls(hosts, Duration::from_secs(60))
        .await?;
    let all_polling = started.elapsed();

    // 2. One AllAtOnce deployment to every host.
    let started = Instant::now();
    let id = fleet.deploy("shop-1.tgz").await?;
    let status = fleet.wait_for_end(&id, Duration::from_secs(120)).await?;
    let total = started.elapsed();
    ensure!(status == "Succeeded", "deployment {id} ended {status}");
    let mut calls_per_host = 0;
    let mut script_time = Duration::ZERO;
    for host in &running {
        ensure!(host.errors().is_empty(), "host errors: {:?}", host.errors());
        // A first deployment: every event but ApplicationStop.
        let handled = host
            .wait_until(Duration::from_secs(10), |h| h.len() >= 6)
            .await
            .map_err(|h| anyhow::anyhow!("a host recorded only {} events", h.len()))?;
        // Per event: poll, spec, ack, complete.
        calls_per_host = calls_per_host.max(handled.len() * 4);
        // Hosts run in parallel: the critical path is the slowest host.
        script_time = script_time.max(handled.iter().map(|h| h.script_time).sum());
    }
    let overhead = total.saturating_sub(script_time);
    drop(running);

    // 3. Baseline: the same number of rounds of `hosts` concurrent signed
    // calls the simulator refuses at once (an unknown command id), so only
    // the HTTP, SigV4 and JSON work is left.
    let clients: Vec<CommandClient> = fleet
        .hosts
        .iter()
        .map(|h| {
            CommandClient::new(
                h.http.clone(),
                h.endpoint.clone(),
                h.region.clone(),
                h.credential.to_credentials(),
                h.agent_version.clone(),
            )
        })
        .collect();
    let target = format!("{TARGET_PREFIX}.PutHostCommandAcknowledgement");
    let started = Instant::now();
    for _ in 0..calls_per_host {
        let mut round = tokio::task::JoinSet::new();
        for client in &clients {
            let (client, target) = (client.clone(), target.clone());
            round.spawn(async move {
                let body = br#"{"HostCommandIdentifier":"bench-none"}"#.to_vec();
                client.send_raw(&target, body).await
            });
        }
        while let Some(result) = round.join_next().await {
            let (status, _) = result??;
            ensure!(status == 400, "baseline call answered {status}, not 400");
        }
    }
    let baseline = started.elapsed();

    let row = |label: String, value: Duration, note: String| {
        println!("  {label:<52} {:>8.3} s {note}", value.as_secs_f64());
    };
    println!("codedeploy-hosts: {hosts} scripted hosts, AllAtOnce, no-op scripts");
    row(
        format!("{hosts} hosts long-polling at once after"),
        all_polling,
        String::new(),
    );
    row(format!("deployment {id} wall time"), total, String::new());
    row(
        "hosts' own script time (slowest host)".into(),
        script_time,
        String::new(),
    );
    let verdict = if overhead < TARGET { "met" } else { "MISSED" };
    row(
        "simulator overhead (wall - script time)".into(),
        overhead,
        format!("(target < {} s: {verdict})", TARGET.as_secs()),
    );
    row(
        format!("baseline: {calls_per_host} rounds of {hosts} concurrent signed calls"),
        baseline,
        String::new(),
    );
    row(
        "overhead beyond the baseline".into(),
        overhead.saturating_sub(baseline),
        String::new(),
    );
    Ok(())
}
