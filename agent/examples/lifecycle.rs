//! The figures of bench/lifecycle: the full in-place lifecycle of the
//! sample shop (tests/sample-app with the reference appspec/ beside it) on
//! one host with the real stack (supervisord, gunicorn, celery, nginx,
//! redis, MariaDB, moto's SSM), timed event by event, two ways in the same
//! run on two identical hosts:
//!
//! - agent: `slipway-agent local --bundle <tree>`, every event from
//!   ApplicationStop to ValidateService, in a mount namespace with the
//!   host's own `srv/` bind-mounted on /srv (the appspec installs to
//!   /srv/shop/release, as the demo's agents do);
//! - direct: the same hook scripts run one after another by this program,
//!   with Install a plain recursive copy: what the lifecycle costs with no
//!   agent at all.
//!
//! First a first deployment on each host, then BENCH_RUNS redeployments
//! (default 2), interleaved. Benchmarks print, never assert time; a failed
//! deployment stops the run with its output. SLIPWAY_AGENT names the agent
//! binary; with BENCH_LOG_DIR set, what each deployment printed is kept
//! there.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_ssm::types::ParameterType;
use slipway_shared::lifecycle::LifecycleEvent;
use slipway_tests::host_stack::Redis;
use slipway_tests::{DjangoHost, MariaDb, Moto, sample_app, venv};

/// The events with a hook in the reference appspec.
const HOOKED: [LifecycleEvent; 5] = [
    LifecycleEvent::ApplicationStop,
    LifecycleEvent::BeforeInstall,
    LifecycleEvent::AfterInstall,
    LifecycleEvent::ApplicationStart,
    LifecycleEvent::ValidateService,
];

/// One deployment's figures: each event's time, in the order run, and the
/// wall time of the whole (process start and exit included).
struct Timing {
    label: String,
    events: Vec<(String, Duration)>,
    total: Duration,
}

/// One of the two hosts: its stack and what its hooks run with.
struct Host {
    name: &'static str,
    stack: DjangoHost,
    env: Vec<(String, String)>,
    /// The agent's deployment root (agent host) or the last bundle (direct).
    root: PathBuf,
    deployed: bool,
}

fn main() {
    let runs = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2usize);
    let agent =
        PathBuf::from(std::env::var("SLIPWAY_AGENT").expect("SLIPWAY_AGENT names the agent"));
    let dir = tempfile::tempdir().expect("a temp dir");
    let srv = Path::new("/srv");
    assert!(
        srv.is_dir(),
        "/srv is missing: the agent's host mounts its own srv/ over it"
    );

    // MariaDB dies with the thread that started it: this one, the main.
    let db = MariaDb::start().expect("MariaDB starts");
    let redis_dir = dir.path().join("redis");
    std::fs::create_dir_all(&redis_dir).expect("redis's directory");
    let redis = Redis::start(&redis_dir).expect("redis starts");
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let moto = runtime.block_on(Moto::start()).expect("moto starts");

    let mut hosts = Vec::new();
    for (i, name) in ["agent", "direct"].into_iter().enumerate() {
        let database = format!("shop_{name}");
        db.create_database(&database, &database, "bench-pw")
            .expect("the database is created");
        let path = format!("/shop/{name}");
        let parameters = [
            ("db/host", "127.0.0.1".to_owned()),
            ("db/port", db.port().to_string()),
            ("db/name", database.clone()),
            ("db/user", database.clone()),
            ("db/password", "bench-pw".to_owned()),
            ("broker_url", redis.url(i as u8)),
            (
                "django_secret_key",
                format!("bench-secret-{name}-{}", "k".repeat(40)),
            ),
        ];
        runtime.block_on(put_parameters(moto.url(), &path, &parameters));
        let stack = DjangoHost::start(&dir.path().join(format!("lc-{name}")), &[])
            .expect("the host's stack starts");
        // The reference stack.env reads /shop/prod; each host has its own.
        let mut stack_env = std::fs::read_to_string(&stack.stack_env).expect("stack.env");
        stack_env.push_str(&format!("SHOP_SSM_PATH={path}\n"));
        std::fs::write(&stack.stack_env, stack_env).expect("stack.env is written");
        let env = vec![
            (
                "PATH".to_owned(),
                format!(
                    "{}:{}",
                    agent.parent().expect("the agent's directory").display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            ),
            (
                "SLIPWAY_STACK_ENV".to_owned(),
                stack.stack_env.display().to_string(),
            ),
            ("AWS_ENDPOINT_URL".to_owned(), moto.url().to_owned()),
            ("AWS_ACCESS_KEY_ID".to_owned(), "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY".to_owned(), "testing".to_owned()),
            ("AWS_REGION".to_owned(), "us-east-1".to_owned()),
        ];
        hosts.push(Host {
            name,
            root: stack.root.join("codedeploy"),
            stack,
            env,
            deployed: false,
        });
    }
    warm_up();
    let load_before = load_average();

    let mut timings: Vec<(usize, Timing)> = Vec::new();
    for n in 0..=runs {
        let label = if n == 0 {
            "first".to_owned()
        } else {
            format!("redeploy {n}")
        };
        for (i, host) in hosts.iter_mut().enumerate() {
            let bundle = dir.path().join(format!("bundle-{}-{n}", host.name));
            sample_app::copy_to(&bundle).expect("the bundle's tree is copied");
            let timing = if host.name == "agent" {
                agent_deploy(&agent, host, &bundle, &label)
            } else {
                direct_deploy(host, &bundle, &label)
            };
            host.deployed = true;
            timings.push((i, timing));
        }
    }
    print(&timings);
    println!(
        "machine: {} cores; load average (1 min) {} before the deployments, {} after: the figures are wall times on a shared machine",
        std::thread::available_parallelism().map_or(0, usize::from),
        load_before,
        load_average()
    );
    drop(hosts);
    drop(moto);
    drop(redis);
    drop(db);
}

/// The app's parameters under `path` in moto's Parameter Store.
async fn put_parameters(endpoint: &str, path: &str, parameters: &[(&str, String)]) {
    let config = aws_sdk_ssm::config::Builder::new()
        .behavior_version_latest()
        .endpoint_url(endpoint)
        .region(aws_sdk_ssm::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_ssm::config::Credentials::new(
            "testing", "testing", None, None, "bench",
        ))
        .build();
    let ssm = aws_sdk_ssm::Client::from_conf(config);
    for (name, value) in parameters {
        ssm.put_parameter()
            .name(format!("{path}/{name}"))
            .value(value)
            .r#type(ParameterType::SecureString)
            .overwrite(true)
            .send()
            .await
            .expect("moto takes the parameter");
    }
}

/// Python's imports from disk once, so neither host's first deployment
/// pays for a cold page cache alone.
fn warm_up() {
    let status = Command::new(venv::bin("python").expect("the venv's python"))
        .args([
            "-c",
            "import django, django.core.management, celery, gunicorn.app.wsgiapp, pymysql",
        ])
        .status()
        .expect("python runs");
    assert!(
        status.success(),
        "the venv imports django, celery, gunicorn"
    );
}

/// `slipway-agent local` in a mount namespace with the host's srv/ on /srv.
fn agent_deploy(agent: &Path, host: &Host, bundle: &Path, label: &str) -> Timing {
    let mut command = Command::new("unshare");
    command
        .args(["--mount", "--", "sh", "-c"])
        .arg(r#"mount --bind "$1" /srv && exec "$2" local --bundle "$3" --root "$4""#)
        .arg("lifecycle-bench")
        .arg(host.stack.root.join("srv"))
        .arg(agent)
        .arg(bundle)
        .arg(&host.root)
        .envs(host.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null());
    let started = Instant::now();
    let output = command.output().expect("unshare runs");
    let total = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    keep_log(&format!("agent-{label}"), &output.stdout);
    // `deployment <id> in <dir>`: the hooks' output is in its scripts.log.
    if let Some((_, deployment)) = stdout.lines().next().and_then(|l| l.rsplit_once(" in ")) {
        let scripts = std::fs::read(Path::new(deployment).join("logs/scripts.log"));
        keep_log(
            &format!("agent-{label}-scripts"),
            &scripts.unwrap_or_default(),
        );
    }
    assert!(
        output.status.success(),
        "the agent's {label} deployment failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // `<Event> <ms> ms  Succeeded`, one line per event.
    let events = stdout
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let event = LifecycleEvent::from_name(words.next()?)?;
            let ms: f64 = words.next()?.parse().ok()?;
            Some((
                event.name().to_owned(),
                Duration::from_secs_f64(ms / 1000.0),
            ))
        })
        .collect();
    Timing {
        label: label.to_owned(),
        events,
        total,
    }
}

/// The reference hook scripts run in sequence, Install a recursive copy;
/// ApplicationStop only once something was deployed, as the agent does.
fn direct_deploy(host: &Host, bundle: &Path, label: &str) -> Timing {
    let id = slipway_shared::new_deployment_id();
    let release = host.stack.app_root.join("release");
    let mut events = Vec::new();
    let started = Instant::now();
    for event in LifecycleEvent::in_place(false) {
        let t = Instant::now();
        if *event == LifecycleEvent::Install {
            let status = Command::new("cp")
                .arg("-R")
                .arg(bundle)
                .arg(&release)
                .status()
                .expect("cp runs");
            assert!(status.success(), "copying the bundle to {release:?}");
        } else if HOOKED.contains(event) {
            if *event == LifecycleEvent::ApplicationStop && !host.deployed {
                continue;
            }
            let output = Command::new(bundle.join(format!("scripts/{}", script(*event))))
                .envs(host.env.iter().map(|(k, v)| (k, v)))
                .env("LIFECYCLE_EVENT", event.name())
                .env("DEPLOYMENT_ID", &id)
                .env("APPLICATION_NAME", "shop")
                .env("DEPLOYMENT_GROUP_NAME", "LocalFleet")
                .stdin(Stdio::null())
                .output()
                .expect("the hook runs");
            keep_log(&format!("direct-{label}-{}", event.name()), &output.stdout);
            assert!(
                output.status.success(),
                "{} of the direct {label} deployment failed:\n{}\n{}",
                event.name(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        } else {
            continue;
        }
        events.push((event.name().to_owned(), t.elapsed()));
    }
    Timing {
        label: label.to_owned(),
        events,
        total: started.elapsed(),
    }
}

/// With BENCH_LOG_DIR set, keeps what a deployment or hook printed there.
fn keep_log(name: &str, output: &[u8]) {
    if let Some(dir) = std::env::var_os("BENCH_LOG_DIR") {
        let path = Path::new(&dir).join(format!("{}.log", name.replace(' ', "-")));
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(path, output);
    }
}

/// The reference appspec's script for a hooked event.
fn script(event: LifecycleEvent) -> &'static str {
    match event {
        LifecycleEvent::ApplicationStop => "application-stop",
        LifecycleEvent::BeforeInstall => "before-install",
        LifecycleEvent::AfterInstall => "after-install",
        LifecycleEvent::ApplicationStart => "application-start",
        _ => "validate-service",
    }
}

/// The 1-minute load average, as /proc/loadavg gives it.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

fn print(timings: &[(usize, Timing)]) {
    println!(
        "the sample shop, full in-place lifecycle on one host (supervisord, gunicorn 3 workers, celery, nginx, redis, MariaDB, moto SSM)"
    );
    println!(
        "agent: slipway-agent local (the reference appspec and hooks); direct: the same hooks run in sequence, Install = cp -R"
    );
    let mut header = format!("{:<18}", "event");
    for (i, t) in timings {
        let who = if *i == 0 { "agent" } else { "direct" };
        header.push_str(&format!(" {:>16}", format!("{who} {}", t.label)));
    }
    println!("{header}");
    for event in LifecycleEvent::in_place(false) {
        let mut row = format!("{:<18}", event.name());
        for (_, t) in timings {
            let cell = t
                .events
                .iter()
                .find(|(name, _)| name == event.name())
                .map(|(_, d)| format!("{:.2} s", d.as_secs_f64()))
                .unwrap_or_else(|| "-".into());
            row.push_str(&format!(" {cell:>16}"));
        }
        println!("{row}");
    }
    let mut row = format!("{:<18}", "total (wall)");
    for (_, t) in timings {
        row.push_str(&format!(
            " {:>16}",
            format!("{:.2} s", t.total.as_secs_f64())
        ));
    }
    println!("{row}");
    println!("target (issue 12): a full lifecycle on the sample app in at most 10 s");
}
