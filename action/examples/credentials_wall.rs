//! The measuring half of `bench/credentials-wall`: starts a sandbox (OIDC
//! issuer and STS, no moto) and prints the median wall time of
//! `slipway credentials` on the happy path and on AccessDenied, beside
//! `node -e ''` measured in the same run.
//!
//! Usage: `credentials_wall SLIPWAY_BINARY [RUNS]`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use slipway_tests::{Claims, Sandbox};

const WARMUP: usize = 3;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let slipway = args
        .next()
        .context("usage: credentials_wall SLIPWAY_BINARY [RUNS]")?;
    let runs: usize = args
        .next()
        .map_or(Ok(21), |n| n.parse())
        .context("RUNS is a number")?;

    // The sandbox serves from the runtime's worker threads while this
    // thread spawns and times the processes.
    let runtime = tokio::runtime::Runtime::new()?;
    let sandbox = runtime.block_on(Sandbox::builder().without_moto().start())?;
    let dir = tempfile::tempdir()?;
    let step = |name: &str| -> Command {
        let mut command = Command::new(&slipway);
        command
            .arg("credentials")
            .env_clear()
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_ENV", dir.path().join(format!("{name}.env")))
            .env("GITHUB_OUTPUT", dir.path().join(format!("{name}.output")))
            .env("GITHUB_REPOSITORY", "acme/shop")
            .env("GITHUB_RUN_ID", "12345678901")
            .env("GITHUB_RUN_ATTEMPT", "1")
            .env("ACTIONS_ID_TOKEN_REQUEST_URL", sandbox.oidc().request_url())
            .env(
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
                sandbox.oidc().request_token(),
            )
            .env("AWS_ENDPOINT_URL_STS", sandbox.sts_endpoint())
            .env("INPUT_AWS-REGION", sandbox.region())
            .env("INPUT_ROLE-TO-ASSUME", sandbox.deploy_role_arn())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
    };

    let node = median(runs, true, || {
        let mut command = Command::new("node");
        command.args(["-e", ""]);
        command
    })
    .context("node -e ''")?;
    let happy = median(runs, true, || step("happy")).context("happy path")?;
    let calls_before = sandbox.sts().assume_calls();
    sandbox.oidc().set_claims(Claims {
        environment: Some("production".into()),
        ..Claims::default()
    });
    let denied = median(runs, false, || step("denied")).context("AccessDenied")?;
    let denied_calls = sandbox.sts().assume_calls() - calls_before;

    println!(
        "slipway credentials, median wall time of {runs} runs ({WARMUP} warm-up runs first), same machine, same run:"
    );
    println!(
        "  {:<34} {:>8}  baseline: the floor of any JavaScript action",
        "node -e ''",
        ms(node)
    );
    println!(
        "  {:<34} {:>8}  {:.1}x node; target < 50 ms (official JS action: 130 ms)",
        "happy path (token, assume, whoami)",
        ms(happy),
        happy.as_secs_f64() / node.as_secs_f64()
    );
    println!(
        "  {:<34} {:>8}  target < 1 s (official JS action: 0-205 s); {:.1} STS calls per run",
        "AccessDenied with diagnosis",
        ms(denied),
        denied_calls as f64 / (runs + WARMUP) as f64
    );
    Ok(())
}

/// Runs `command()` `WARMUP + runs` times and returns the median of the
/// last `runs`; each must exit with success iff `succeed`.
fn median(runs: usize, succeed: bool, command: impl Fn() -> Command) -> anyhow::Result<Duration> {
    let mut times = Vec::with_capacity(runs);
    for i in 0..WARMUP + runs {
        let start = Instant::now();
        let status = command().status()?;
        let elapsed = start.elapsed();
        if status.success() != succeed {
            bail!("run {i} exited with {status}, expected success = {succeed}");
        }
        if i >= WARMUP {
            times.push(elapsed);
        }
    }
    times.sort();
    Ok(times[times.len() / 2])
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
