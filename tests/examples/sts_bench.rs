//! Latency of AssumeRoleWithWebIdentity through the sandbox, beside two
//! baselines measured in the same run against the same STS server: a
//! signed GetCallerIdentity through the same SDK client stack, and a plain
//! HTTP round trip (an unsigned request STS refuses at once). Also times
//! how long a sandbox takes to start, with and without moto.
//!
//! Run by `bench/sts-assume-role`; the argument is the number of samples.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::Context;
use aws_sdk_sts::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_types::retry::RetryConfig;
use slipway_tests::Sandbox;

const WARM_UP: usize = 20;
const STARTS: usize = 5;
/// Issue 3: the whole sandbox, moto included, starts in under 3 s.
const START_TARGET: Duration = Duration::from_secs(3);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let samples: usize = match std::env::args().nth(1) {
        Some(arg) => arg.parse().context("samples must be a number")?,
        None => 300,
    };
    anyhow::ensure!(samples > 0, "samples must be at least 1");
    let sandbox = Sandbox::builder().without_moto().start().await?;
    let config = aws_sdk_sts::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(sandbox.region().to_owned()))
        .endpoint_url(sandbox.sts_endpoint())
        .retry_config(RetryConfig::disabled());
    let unsigned = aws_sdk_sts::Client::from_conf(config.clone().build());
    let keys = sandbox.static_credentials();
    let signed = aws_sdk_sts::Client::from_conf(
        config
            .credentials_provider(Credentials::new(
                keys.access_key_id.clone(),
                keys.secret_access_key.clone(),
                None,
                None,
                "bench",
            ))
            .build(),
    );
    let http = reqwest::Client::new();
    let token = sandbox.oidc().mint("sts.amazonaws.com");
    let role = sandbox.deploy_role_arn();

    println!(
        "sts-assume-role: {samples} samples each after {WARM_UP} warm-up calls, one STS server"
    );
    let assume = measure(samples, || async {
        unsigned
            .assume_role_with_web_identity()
            .role_arn(&role)
            .role_session_name("bench")
            .web_identity_token(&token)
            .send()
            .await
            .map(drop)
            .context("AssumeRoleWithWebIdentity")
    })
    .await?;
    let caller = measure(samples, || async {
        signed
            .get_caller_identity()
            .send()
            .await
            .map(drop)
            .context("GetCallerIdentity")
    })
    .await?;
    let plain = measure(samples, || async {
        http.post(sandbox.sts_endpoint())
            .body("Version=2011-06-15")
            .send()
            .await
            .context("plain HTTP")?
            .bytes()
            .await
            .map(drop)
            .context("plain HTTP body")
    })
    .await?;
    report("AssumeRoleWithWebIdentity (aws-sdk-sts)", &assume);
    report("baseline: GetCallerIdentity (aws-sdk-sts, signed)", &caller);
    report(
        "baseline: plain HTTP round trip (reqwest, MissingAction)",
        &plain,
    );
    println!(
        "AssumeRoleWithWebIdentity costs {:.2}x GetCallerIdentity, {:.2}x a plain round trip (median)",
        ratio(&assume, &caller),
        ratio(&assume, &plain)
    );
    drop(sandbox);

    let mut bare = Vec::new();
    let mut full = Vec::new();
    for _ in 0..STARTS {
        let start = Instant::now();
        Sandbox::builder()
            .without_moto()
            .start()
            .await?
            .shutdown()
            .await;
        bare.push(start.elapsed());
        let start = Instant::now();
        let sandbox = Sandbox::builder().start().await?;
        full.push(start.elapsed());
        sandbox.shutdown().await;
    }
    report("sandbox start, without moto", &sorted(bare));
    let full = sorted(full);
    report("sandbox start, with moto (S3/SSM/KMS)", &full);
    let slowest = full.last().copied().unwrap_or_default();
    println!(
        "slowest full start {:.3} s against the 3 s target: {}",
        slowest.as_secs_f64(),
        if slowest < START_TARGET {
            "met"
        } else {
            "MISSED"
        }
    );
    Ok(())
}

async fn measure<F, Fut>(samples: usize, mut call: F) -> anyhow::Result<Vec<Duration>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    for _ in 0..WARM_UP {
        call().await?;
    }
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let start = Instant::now();
        call().await?;
        times.push(start.elapsed());
    }
    Ok(sorted(times))
}

fn sorted(mut times: Vec<Duration>) -> Vec<Duration> {
    times.sort();
    times
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn ratio(a: &[Duration], b: &[Duration]) -> f64 {
    percentile(a, 50).as_secs_f64() / percentile(b, 50).as_secs_f64()
}

fn report(name: &str, sorted: &[Duration]) {
    println!(
        "  {name:<58} median {:>9.3} ms   p90 {:>9.3} ms",
        percentile(sorted, 50).as_secs_f64() * 1e3,
        percentile(sorted, 90).as_secs_f64() * 1e3,
    );
}
