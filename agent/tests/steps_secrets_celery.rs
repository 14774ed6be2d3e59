//! The secrets step against moto's SSM, and the Celery program refusals.

mod stack;

use std::os::unix::fs::PermissionsExt;

use aws_sdk_ssm::types::ParameterType;

fn agent(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_slipway-agent"))
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_LOG", "debug")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_render_every_parameter_under_the_path_to_a_0600_file_and_no_output_holds_a_value()
{
    let moto = slipway_tests::Moto::start().await.unwrap();
    let env = [
        ("AWS_ENDPOINT_URL", moto.url()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
    ];
    let config = aws_sdk_ssm::config::Builder::new()
        .behavior_version_latest()
        .endpoint_url(moto.url())
        .region(aws_sdk_ssm::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_ssm::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .build();
    let ssm = aws_sdk_ssm::Client::from_conf(config);
    // More than one page (GetParametersByPath returns at most 10).
    let mut values = Vec::new();
    for i in 0..12 {
        let value = format!("s3cr3t-value-{i}");
        ssm.put_parameter()
            .name(format!("/myapp/prod/group{}/key-{i}", i % 2))
            .value(&value)
            .r#type(ParameterType::SecureString)
            .send()
            .await
            .unwrap();
        values.push(value);
    }
    ssm.put_parameter()
        .name("/other/KEY")
        .value("not-mine")
        .r#type(ParameterType::String)
        .send()
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.env");
    let output = agent(
        &[
            "step",
            "secrets",
            "--path",
            "/myapp/prod",
            "--env-file",
            file.to_str().unwrap(),
        ],
        &env,
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("GROUP0_KEY_0=s3cr3t-value-0\n"), "{text}");
    assert_eq!(text.lines().count(), 12);
    assert!(!text.contains("not-mine"));
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    for value in &values {
        assert!(
            !stdout.contains(value) && !stderr.contains(value),
            "{value} leaked"
        );
    }
    assert!(stdout.contains("GROUP1_KEY_11"), "{stdout}");
}

/// The stdout of a step that must have succeeded.
fn succeeded(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn celery_program(dir: &std::path::Path, extra: &str) -> std::path::PathBuf {
    let path = dir.join("celery.conf");
    std::fs::write(
        &path,
        format!(
            "[program:celery]\ncommand=celery -A app worker -n w1@%%h\nkillasgroup=true\n{extra}"
        ),
    )
    .unwrap();
    path
}

#[test]
fn celery_with_stopasgroup_is_refused_and_a_short_stopwaitsecs_warns() {
    let dir = tempfile::tempdir().unwrap();
    let config = celery_program(dir.path(), "stopasgroup=true\nstopwaitsecs=600\n");
    let output = agent(
        &[
            "step",
            "celery-check",
            "--program-config",
            config.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("celery.conf: program celery: stopasgroup=true"),
        "{stderr}"
    );

    let config = celery_program(dir.path(), "stopasgroup=false\nstopwaitsecs=30\n");
    let args = [
        "step",
        "celery-check",
        "--program-config",
        config.to_str().unwrap(),
        "--task-time-limit",
        "60",
    ];
    let output = agent(&args, &[]);
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("stopwaitsecs=30 does not exceed"));

    // A takeover beside it is checked too: it needs its own node name.
    let config = celery_program(
        dir.path(),
        "stopwaitsecs=90\n[program:celery-next]\ncommand=celery -A app worker -n w1@%%h\nautostart=false\n",
    );
    assert_eq!(config.to_str().unwrap(), args[3]);
    let output = agent(&args, &[]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("celery.conf: program celery-next: command: -n w1@%%h")
            && stderr.contains("own node name"),
        "{stderr}"
    );
}

fn celery_restart(sv: &stack::Supervisord, config: &std::path::Path) -> std::process::Output {
    let socket = sv.socket.display().to_string();
    let config = config.display().to_string();
    let args = [
        "step",
        "celery-restart",
        "--socket",
        &socket,
        "--program-config",
        &config,
    ];
    agent(&args, &[("RUST_LOG", "warn")])
}

#[tokio::test(flavor = "multi_thread")]
async fn celery_restart_warm_stops_and_starts_the_worker_program() {
    let dir = tempfile::tempdir().unwrap();
    let sv = stack::Supervisord::start(&dir.path().join("sv"));
    let config = sv.write_program(
        "celery",
        "[program:celery]\ncommand=sleep 1000\nstartsecs=1\nstopasgroup=false\nkillasgroup=true\nstopwaitsecs=30\n",
    );
    let client = sv.client();
    client.update().await.unwrap();
    let before = client
        .wait_for("celery", "RUNNING", stack::DEADLINE, |p| p.state == 20)
        .await
        .unwrap()
        .pid;
    let output = celery_restart(&sv, &config);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let after = client.process_info("celery").await.unwrap();
    assert_eq!(after.state, 20);
    assert_ne!(after.pid, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_in_flight_survives_the_celery_restart_and_completes() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    let redis = slipway_tests::host_stack::Redis::start(dir.path()).unwrap();
    let marker = dir.path().join("started");
    std::fs::write(
        app.join("tasks.py"),
        format!(
            "import time, pathlib\nfrom celery import Celery\n\
app = Celery('tasks', broker='redis://127.0.0.1:{port}/0', backend='redis://127.0.0.1:{port}/1')\n\
@app.task\ndef slow():\n    pathlib.Path({marker:?}).write_text('x')\n    time.sleep(4)\n    return 'finished'\n",
            port = redis.port,
            marker = marker.display().to_string(),
        ),
    )
    .unwrap();
    let sv = stack::Supervisord::start(&dir.path().join("sv"));
    let config = sv.write_program(
        "celery",
        &format!(
            "[program:celery]\ncommand={celery} -A tasks worker -n w1@%%h --concurrency 2 --without-mingle --without-gossip\n\
directory={app}\nenvironment=C_FORCE_ROOT=\"1\"\nstartsecs=1\nstopasgroup=false\nkillasgroup=true\nstopwaitsecs=60\nredirect_stderr=true\n",
            celery = stack::venv_bin("celery").display(),
            app = app.display(),
        ),
    );
    let client = sv.client();
    client.update().await.unwrap();
    client
        .wait_for("celery", "RUNNING", stack::DEADLINE, |p| p.state == 20)
        .await
        .unwrap();
    let python = stack::venv_bin("python");
    let id = std::process::Command::new(&python)
        .args(["-c", "from tasks import slow; print(slow.delay().id)"])
        .current_dir(&app)
        .output()
        .unwrap();
    assert!(
        id.status.success(),
        "{}",
        String::from_utf8_lossy(&id.stderr)
    );
    let id = String::from_utf8_lossy(&id.stdout).trim().to_owned();
    stack::wait_until("the task to start", || marker.exists());

    let output = celery_restart(&sv, &config);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result = std::process::Command::new(&python)
        .args([
            "-c",
            &format!("from tasks import app; print(app.AsyncResult({id:?}).get(timeout=60))"),
        ])
        .current_dir(&app)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&result.stdout).trim(),
        "finished",
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
}

/// The tasks: `slow` runs until the gate file exists and says where it
/// ran; `quick` says which worker took it, on which release.
const TASKS: &str = r#"import time, pathlib
from celery import Celery
app = Celery('tasks', broker='redis://127.0.0.1:PORT/0', backend='redis://127.0.0.1:PORT/1')

@app.task
def slow():
    pathlib.Path(MARKER).write_text('x')
    give_up = time.time() + 120
    while not pathlib.Path(GATE).exists() and time.time() < give_up:
        time.sleep(0.1)
    return 'finished on ' + pathlib.Path.cwd().name

@app.task(bind=True)
def quick(self):
    return self.request.hostname.split('@')[0] + ' on ' + pathlib.Path.cwd().name
"#;

/// A Celery worker on releases r1 and r2 under `current`, with its takeover
/// `celery-next` declared beside it, and a slow task held open by a gate
/// file, so a warm stop lasts until the test opens it.
struct TwoReleases {
    dir: tempfile::TempDir,
    _redis: slipway_tests::host_stack::Redis,
    sv: stack::Supervisord,
    client: slipway_agent::steps::supervisor::Supervisor,
    app_root: std::path::PathBuf,
    config: std::path::PathBuf,
    gate: std::path::PathBuf,
}

impl TwoReleases {
    /// With the takeover declared or not.
    async fn start(takeover: bool) -> TwoReleases {
        let dir = tempfile::tempdir().unwrap();
        let redis = slipway_tests::host_stack::Redis::start(dir.path()).unwrap();
        let app_root = dir.path().join("app");
        let marker = dir.path().join("started");
        let gate = dir.path().join("gate");
        for release in ["r1", "r2"] {
            let code = app_root.join("releases").join(release);
            std::fs::create_dir_all(&code).unwrap();
            std::fs::write(
                code.join("tasks.py"),
                TASKS
                    .replace("PORT", &redis.port.to_string())
                    .replace("MARKER", &format!("{:?}", marker.display().to_string()))
                    .replace("GATE", &format!("{:?}", gate.display().to_string())),
            )
            .unwrap();
        }
        std::os::unix::fs::symlink("releases/r1", app_root.join("current")).unwrap();
        let sv = stack::Supervisord::start(&dir.path().join("sv"));
        let program = |name: &str, node: &str, extra: &str| {
            format!(
                "[program:{name}]\ncommand={celery} -A tasks worker -n {node}@%%h --concurrency 2 --without-mingle --without-gossip\n\
directory={current}\nenvironment=C_FORCE_ROOT=\"1\"\nstartsecs=1\nstopasgroup=false\nkillasgroup=true\nstopwaitsecs=150\nredirect_stderr=true\n{extra}\n",
                celery = stack::venv_bin("celery").display(),
                current = app_root.join("current").display(),
            )
        };
        let mut programs = program("celery", "w1", "");
        if takeover {
            programs += &program("celery-next", "next", "autostart=false");
        }
        let config = sv.write_program("celery", &programs);
        let client = sv.client();
        client.update().await.unwrap();
        client
            .wait_for("celery", "RUNNING", stack::DEADLINE, |p| p.state == 20)
            .await
            .unwrap();
        let fixture = TwoReleases {
            dir,
            _redis: redis,
            sv,
            client,
            app_root,
            config,
            gate,
        };
        // The slow task is in flight on r1's worker.
        let slow = fixture.send("slow");
        stack::wait_until("the slow task to start", || marker.exists());
        std::fs::write(fixture.dir.path().join("slow.id"), slow).unwrap();
        // The new release.
        let link = fixture.app_root.join("current.new");
        std::os::unix::fs::symlink("releases/r2", &link).unwrap();
        std::fs::rename(&link, fixture.app_root.join("current")).unwrap();
        fixture
    }

    fn python(&self, code: &str) -> String {
        let output = std::process::Command::new(stack::venv_bin("python"))
            .args(["-c", code])
            .current_dir(self.app_root.join("current"))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Sends task `name`, returning its id.
    fn send(&self, name: &str) -> String {
        self.python(&format!(
            "from tasks import {name}; print({name}.delay().id)"
        ))
    }

    /// Sends ten quick tasks and returns the first result. One alone can
    /// race the old worker's warm shutdown: a fetch it had in flight when
    /// the shutdown began reserves the task, which goes back to the queue
    /// only when that worker exits (here, after the gate opens); the rest
    /// are left to whoever consumes.
    fn first_of_many_quick_tasks(&self) -> String {
        self.python(
            r#"
import time
from tasks import app, quick
ids = [quick.delay().id for _ in range(10)]
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    done = [r for r in map(app.AsyncResult, ids) if r.ready()]
    if done:
        print(done[0].get())
        break
    time.sleep(0.1)
else:
    raise SystemExit("none of ten quick tasks was done in 120 s")
"#,
        )
    }

    fn result(&self, id: &str) -> String {
        self.python(&format!(
            "from tasks import app; print(app.AsyncResult({id:?}).get(timeout=90))"
        ))
    }

    fn slow_id(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("slow.id")).unwrap()
    }

    /// `step celery-restart`, journaled under the app root, started.
    fn restart(&self) -> std::process::Child {
        std::process::Command::new(env!("CARGO_BIN_EXE_slipway-agent"))
            .args(["step", "celery-restart", "--socket"])
            .arg(&self.sv.socket)
            .arg("--program-config")
            .arg(&self.config)
            .arg("--app-root")
            .arg(&self.app_root)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Waits until the old worker is in its warm shutdown (no longer
    /// consuming, its task held by the gate) with the takeover running.
    async fn wait_for_the_takeover(&self) {
        self.client
            .wait_for("celery-next", "RUNNING", stack::DEADLINE, |p| p.state == 20)
            .await
            .unwrap();
        self.wait_for_the_warm_shutdown().await;
    }

    /// Waits until the old worker is in its warm shutdown.
    async fn wait_for_the_warm_shutdown(&self) {
        self.client
            .wait_for("celery", "STOPPING", stack::DEADLINE, |p| p.state == 40)
            .await
            .unwrap();
        let mut log = String::new();
        let mut offset = 0;
        let client = &self.client;
        let deadline = tokio::time::Instant::now() + stack::DEADLINE;
        while !log.contains("Warm shutdown") {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no warm shutdown: {log}"
            );
            let tail = client.tail_stdout("celery", offset, 1 << 16).await.unwrap();
            offset = tail.next_offset;
            log.push_str(&tail.text);
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// The worker runs on r2, its takeover is stopped, r1's worker is gone.
    async fn assert_switched(&self, old_pid: u32) {
        let celery = self.client.process_info("celery").await.unwrap();
        assert_eq!(celery.state, 20);
        assert_eq!(
            std::fs::read_link(format!("/proc/{}/cwd", celery.pid)).unwrap(),
            std::fs::canonicalize(self.app_root.join("releases/r2")).unwrap()
        );
        assert_eq!(
            self.client.process_info("celery-next").await.unwrap().state,
            0
        );
        assert!(!std::path::Path::new(&format!("/proc/{old_pid}")).exists());
        assert!(!self.app_root.join(".slipway/celery.journal").exists());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_warm_switch_lets_the_task_in_flight_finish_while_the_takeover_consumes_new_tasks() {
    let fixture = TwoReleases::start(true).await;
    let old_pid = fixture.client.process_info("celery").await.unwrap().pid;
    let step = fixture.restart();
    fixture.wait_for_the_takeover().await;
    // Sent during the switch, with the old worker still finishing its task:
    // the takeover, already on r2, consumes it without waiting for the stop.
    let sent = std::time::Instant::now();
    assert_eq!(fixture.first_of_many_quick_tasks(), "next on r2");
    eprintln!(
        "a task sent during the warm switch: done in {} ms, the old worker still stopping",
        sent.elapsed().as_millis()
    );
    assert_eq!(
        fixture.client.process_info("celery").await.unwrap().state,
        40
    );
    std::fs::write(&fixture.gate, "").unwrap();
    let output = step.wait_with_output().unwrap();
    let stdout = succeeded(&output);
    assert!(
        stdout.contains("celery switched warm: celery-next consumed while it restarted"),
        "{stdout}"
    );
    assert_eq!(fixture.result(&fixture.slow_id()), "finished on r1");
    fixture.assert_switched(old_pid).await;
    // And the worker consumes on r2 under its own name again.
    let quick = fixture.send("quick");
    assert_eq!(fixture.result(&quick), "w1 on r2");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_warm_switch_killed_while_the_old_worker_finishes_is_finished_by_recover() {
    let fixture = TwoReleases::start(true).await;
    let old_pid = fixture.client.process_info("celery").await.unwrap().pid;
    let mut step = fixture.restart();
    fixture.wait_for_the_takeover().await;
    step.kill().unwrap();
    step.wait().unwrap();
    assert!(fixture.app_root.join(".slipway/celery.journal").exists());
    std::fs::write(&fixture.gate, "").unwrap();
    let output = agent(
        &[
            "step",
            "recover",
            "--socket",
            fixture.sv.socket.to_str().unwrap(),
            "--app-root",
            fixture.app_root.to_str().unwrap(),
            "--program",
            "celery",
        ],
        &[("RUST_LOG", "warn")],
    );
    let stdout = succeeded(&output);
    assert!(
        stdout.contains(
            "was interrupted after: celery warm stop asked for; finished: celery running"
        ),
        "{stdout}"
    );
    assert_eq!(fixture.result(&fixture.slow_id()), "finished on r1");
    fixture.assert_switched(old_pid).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_takeover_a_task_sent_during_the_restart_waits_for_the_restarted_worker() {
    let fixture = TwoReleases::start(false).await;
    let step = fixture.restart();
    fixture.wait_for_the_warm_shutdown().await;
    let sent = std::time::Instant::now();
    let quick = fixture.send("quick");
    // Nothing consumes it until the old worker's task ends and it restarts.
    std::fs::write(&fixture.gate, "").unwrap();
    assert_eq!(fixture.result(&quick), "w1 on r2");
    eprintln!(
        "a task sent during the stop-then-start: done in {} ms once the task in flight ended",
        sent.elapsed().as_millis()
    );
    let stdout = succeeded(&step.wait_with_output().unwrap());
    assert!(
        stdout.contains("celery warm-stopped and started"),
        "{stdout}"
    );
    assert_eq!(fixture.result(&fixture.slow_id()), "finished on r1");
}
