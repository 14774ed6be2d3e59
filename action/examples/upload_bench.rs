//! `slipway`'s upload (multipart, parallel parts, SHA-256 checksums,
//! SSE-KMS) of one file to moto, beside `aws s3 cp` of the same file to the
//! same server, in the same run. Run through `bench/upload`.

use std::process::Command;
use std::time::{Duration, Instant};

use slipway_action::bundle::{self, Bundle};
use slipway_action::upload::{self, Destination, Encryption};
use slipway_shared::bundle::BundleType;
use slipway_shared::problem::Report;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mb: u64 = std::env::args().nth(1).map_or(Ok(200), |a| a.parse())?;
    let runs: usize = std::env::args().nth(2).map_or(Ok(3), |a| a.parse())?;
    let aws = std::env::args()
        .nth(3)
        .unwrap_or_else(|| ".venv/bin/aws".into());
    let moto = slipway_tests::moto::Moto::start().await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bundle.tar.gz");
    // Incompressible, like a gzip stream.
    let mut data = vec![0u8; (mb * 1024 * 1024) as usize];
    rand::fill(&mut data[..]);
    std::fs::write(&path, &data)?;
    drop(data);
    let (sha256, size) = bundle::hash_file(&path)?;
    let s3 = moto.s3_client();
    s3.create_bucket().bucket("bench").send().await?;
    let mut best_slipway = Duration::MAX;
    let mut best_cli = Duration::MAX;
    for run in 0..runs {
        // A new commit each run, so the object is never already there.
        let bundle = Bundle {
            path: path.clone(),
            format: BundleType::Tgz,
            commit: format!("{run:040x}"),
            sha256,
            size,
            files: 1,
            report: Report::default(),
        };
        let destination = Destination {
            bucket: "bench".into(),
            prefix: "slipway".into(),
            application: "shop".into(),
            encryption: Encryption::S3,
            metadata: Vec::new(),
        };
        let start = Instant::now();
        upload::upload(
            &s3,
            &bundle,
            &destination,
            slipway_action::follow::render::Style::Lines,
            &mut std::io::sink(),
        )
        .await?;
        best_slipway = best_slipway.min(start.elapsed());

        let start = Instant::now();
        let status = Command::new(&aws)
            .args(["s3", "cp", "--only-show-errors", "--sse", "AES256"])
            .arg(&path)
            .arg(format!("s3://bench/cli/{run}.tar.gz"))
            .env("AWS_ENDPOINT_URL", moto.url())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .status()?;
        anyhow::ensure!(status.success(), "aws s3 cp failed");
        best_cli = best_cli.min(start.elapsed());
    }
    println!("{mb} MB to moto, best of {runs}");
    println!(
        "{:<40} {:>8.3} s",
        "slipway upload (multipart, 4 parts in flight)",
        best_slipway.as_secs_f64()
    );
    println!("{:<40} {:>8.3} s", "aws s3 cp", best_cli.as_secs_f64());
    println!(
        "ratio aws/slipway: {:.2}x",
        best_cli.as_secs_f64() / best_slipway.as_secs_f64()
    );
    Ok(())
}
