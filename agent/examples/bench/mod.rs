//! Shared by the agent's benchmarks: reading a process's memory and CPU
//! from /proc, and starting `slipway-agent run` as an on-premises host of
//! a simulator.

#![allow(dead_code)] // each bench takes what it needs

use std::path::Path;
use std::process::{Child, Command, Stdio};

use slipway_tests::credentials::IssuedCredential;

/// A `key:` line of `/proc/<pid>/<file>`, in kB.
pub fn proc_kb(pid: u32, file: &str, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/{file}"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// User plus system CPU of `pid`, in clock ticks (10 ms).
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15; after the ")" they are 12 and 13.
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    field(11).unwrap_or(0) + field(12).unwrap_or(0)
}

/// Milliseconds per clock tick (USER_HZ is 100 on Linux).
pub const MS_PER_TICK: f64 = 10.0;

/// The official agent's processes' total PSS in kB, if it runs here.
pub fn official_pss() -> Option<u64> {
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

/// Where one agent polls and what it signs with.
pub struct AgentSetup<'a> {
    pub binary: &'a Path,
    pub dir: &'a Path,
    pub endpoint: &'a str,
    pub host_arn: &'a str,
    pub key: &'a IssuedCredential,
    /// `s3_endpoint_override`.
    pub s3: Option<&'a str>,
    /// Official and Slipway keys added to the configuration.
    pub extra: &'a str,
}

/// Writes the official `codedeployagent.yml` and `codedeploy.onpremises.yml`
/// under `setup.dir` and starts `slipway-agent run` from them, logging
/// warnings only.
pub fn start_agent(setup: &AgentSetup<'_>) -> std::io::Result<Child> {
    let dir = setup.dir;
    std::fs::create_dir_all(dir)?;
    let onprem = dir.join("codedeploy.onpremises.yml");
    std::fs::write(
        &onprem,
        format!(
            "iam_user_arn: {}\naws_access_key_id: {}\naws_secret_access_key: {}\nregion: us-east-1\n",
            setup.host_arn, setup.key.access_key_id, setup.key.secret_access_key
        ),
    )?;
    let s3 = setup
        .s3
        .map(|s| format!(":s3_endpoint_override: {s}\n"))
        .unwrap_or_default();
    let conf = dir.join("codedeployagent.yml");
    std::fs::write(
        &conf,
        format!(
            ":root_dir: {}\n:log_dir: {}\n:deploy_control_endpoint: {}\n:on_premises_config_file: {}\n:status_socket: {}\n{s3}{}",
            dir.join("root").display(),
            dir.join("log").display(),
            setup.endpoint,
            onprem.display(),
            dir.join("status.sock").display(),
            setup.extra,
        ),
    )?;
    Command::new(setup.binary)
        .args(["run", "--config"])
        .arg(&conf)
        .env("RUST_LOG", "warn")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
}

/// SIGTERM, then waits.
pub fn stop(child: &mut Child) {
    // SAFETY: kill has no memory effects.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
}
