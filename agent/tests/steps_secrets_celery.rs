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
