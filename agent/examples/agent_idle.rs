//! The figures of bench/agent-idle: `slipway-agent run` (the binary named by
//! the first argument) idling against the CodeDeploy simulator as one
//! on-premises host: RSS and PSS after BENCH_IDLE_S seconds (default 30)
//! of long polls, and CPU per poll; beside the official agent's PSS when it
//! runs on this machine.

use std::time::{Duration, Instant};

use slipway_tests::codedeploy::{Simulator, SimulatorConfig};
use slipway_tests::credentials::{CredentialStore, IssuedCredential};

const HOST_ARN: &str = "arn:aws:iam::123456789012:user/idle-host";

fn proc_kb(pid: u32, file: &str, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/{file}"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15; after the ")" they are 12 and 13.
    fields
        .get(11)
        .and_then(|f| f.parse::<u64>().ok())
        .unwrap_or(0)
        + fields
            .get(12)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
}

/// The official agent's processes' total PSS in kB, if it runs here.
fn official_pss() -> Option<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains("codedeploy-agent: ") {
            total += proc_kb(pid, "smaps_rollup", "Pss:");
        }
    }
    (total > 0).then_some(total)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let agent = std::env::args().nth(1).expect("the slipway-agent binary");
    let idle: u64 = std::env::var("BENCH_IDLE_S")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let store = CredentialStore::default();
    let key = IssuedCredential {
        access_key_id: "AKIAIDLEHOST00000001".into(),
        secret_access_key: "AKIAIDLEHOST00000001/secret/0123456789abcdef".into(),
        session_token: None,
        expiration: None,
        principal_arn: HOST_ARN.into(),
    };
    store.insert(key.clone());
    let mut config = SimulatorConfig::new(store);
    config.poll_wait = Duration::from_secs(5);
    let sim = Simulator::start(config).await?;
    sim.register_on_premises_instance("idle-host", HOST_ARN, &[("fleet", "idle")]);
    let dir = tempfile::tempdir()?;
    let onprem = dir.path().join("codedeploy.onpremises.yml");
    std::fs::write(
        &onprem,
        format!(
            "iam_user_arn: {HOST_ARN}\naws_access_key_id: {}\naws_secret_access_key: {}\nregion: us-east-1\n",
            key.access_key_id, key.secret_access_key
        ),
    )?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let conf = dir.path().join("codedeployagent.yml");
    std::fs::write(
        &conf,
        format!(
            ":root_dir: {}\n:log_dir: {}\n:wait_between_runs: 1\n:deploy_control_endpoint: {}\n:on_premises_config_file: {}\n:status_address: 127.0.0.1:{port}\n",
            dir.path().join("root").display(),
            dir.path().display(),
            sim.endpoint(),
            onprem.display()
        ),
    )?;
    let mut child = std::process::Command::new(&agent)
        .args(["run", "--config"])
        .arg(&conf)
        .env("RUST_LOG", "warn")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .spawn()?;
    let pid = child.id();
    let metrics = format!("http://127.0.0.1:{port}/metrics");
    let polls = || async {
        let text = reqwest::get(&metrics).await.ok()?.text().await.ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("slipway_agent_polls_total "))
            .and_then(|n| n.parse::<u64>().ok())
    };
    let until = Instant::now() + Duration::from_secs(30);
    while polls().await.is_none() && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (ticks0, polls0) = (cpu_ticks(pid), polls().await.unwrap_or(0));
    tokio::time::sleep(Duration::from_secs(idle)).await;
    let (ticks1, polls1) = (cpu_ticks(pid), polls().await.unwrap_or(0));
    let rss = proc_kb(pid, "status", "VmRSS:");
    let pss = proc_kb(pid, "smaps_rollup", "Pss:");
    let hz = 100.0; // USER_HZ on Linux
    let cpu_ms = (ticks1 - ticks0) as f64 * 1000.0 / hz;
    let polls = (polls1 - polls0).max(1);
    println!(
        "slipway-agent idle {idle} s ({} polls, wait_between_runs 1 s, 5 s long polls)",
        polls1 - polls0
    );
    println!(
        "  RSS {:.1} MB   PSS {:.1} MB   (issue bound: RSS <= 15 MB)",
        rss as f64 / 1024.0,
        pss as f64 / 1024.0
    );
    println!(
        "  CPU {cpu_ms:.0} ms in all, {:.2} ms per poll (10 ms clock ticks)",
        cpu_ms / polls as f64
    );
    match official_pss() {
        Some(kb) => println!("  official agent here: PSS {:.1} MB", kb as f64 / 1024.0),
        None => println!(
            "  official agent: not running here (reference figure: about 63 MB PSS, master + child)"
        ),
    }
    // SAFETY: kill has no memory effects.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    child.wait()?;
    Ok(())
}
