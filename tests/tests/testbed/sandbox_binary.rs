use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Names the binary must print, in any order.
const EXPECTED: &[&str] = &[
    "AWS_ENDPOINT_URL_STS",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_SSM",
    "AWS_ENDPOINT_URL_KMS",
    "AWS_ENDPOINT_URL_CODEDEPLOY",
    "ACTIONS_ID_TOKEN_REQUEST_URL",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
    "SLIPWAY_ROLE_ARN",
];

/// The processes whose parent is `pid`, from `/proc/*/stat`.
fn children_of(pid: u32) -> Vec<u32> {
    let mut children = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // The command name may hold spaces; fields resume after its ')'.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let ppid = rest.split_whitespace().nth(1);
        if ppid == Some(pid.to_string().as_str()) {
            children.extend(
                entry
                    .file_name()
                    .to_str()
                    .and_then(|n| n.parse::<u32>().ok()),
            );
        }
    }
    children
}

/// The `slipway-sandbox` this test started: killed on drop, so a failed
/// assertion does not leave it (and its moto) running.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn unquote(value: &str) -> String {
    value
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .map_or_else(|| value.to_owned(), |v| v.replace(r"'\''", "'"))
}

/// The AWS CLI from `.venv`, given nothing but the printed environment,
/// reaches STS, S3, KMS and the CodeDeploy simulator.
fn aws_cli_works_with(env: &HashMap<String, String>) {
    let aws = slipway_tests::venv::bin("aws").unwrap();
    let run = |args: &[&str]| {
        let output = Command::new(&aws)
            .args(args)
            .env_clear()
            .envs(env)
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", std::env::temp_dir())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "aws {args:?}: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    };
    let identity: serde_json::Value =
        serde_json::from_str(&run(&["sts", "get-caller-identity", "--output", "json"])).unwrap();
    assert_eq!(identity["Arn"], "arn:aws:iam::123456789012:user/sandbox");
    run(&["s3api", "create-bucket", "--bucket", "slipway-cli"]);
    let key: serde_json::Value =
        serde_json::from_str(&run(&["kms", "create-key", "--output", "json"])).unwrap();
    assert!(key["KeyMetadata"]["KeyId"].is_string());
    let config: serde_json::Value = serde_json::from_str(&run(&[
        "deploy",
        "get-deployment-config",
        "--deployment-config-name",
        "CodeDeployDefault.AllAtOnce",
        "--output",
        "json",
    ]))
    .unwrap();
    assert_eq!(
        config["deploymentConfigInfo"]["minimumHealthyHosts"]["type"],
        "HOST_COUNT"
    );
}

#[tokio::test]
async fn sandbox_binary_prints_a_working_environment_and_stops_cleanly_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("sandbox/env");
    let mut sandbox = Running(
        Command::new(env!("CARGO_BIN_EXE_slipway-sandbox"))
            .arg("--env-file")
            .arg(&env_file)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let child = &mut sandbox.0;
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut env = HashMap::new();
    let mut printed = String::new();
    while !EXPECTED.iter().all(|name| env.contains_key(*name)) {
        // Generous: moto's Python start-up on a busy 2-core machine.
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("slipway-sandbox printed no environment");
        let (name, value) = line
            .strip_prefix("export ")
            .and_then(|l| l.split_once('='))
            .unwrap_or_else(|| panic!("not an export line: {line}"));
        env.insert(name.to_owned(), unquote(value));
        printed.push_str(&line);
        printed.push('\n');
    }
    // The file is complete by the time stdout has every line.
    let mut from_file = fs::read_to_string(&env_file).unwrap();
    from_file.truncate(printed.len());
    assert_eq!(from_file, printed);
    aws_cli_works_with(&env);

    // What it printed is enough to fetch a token and assume the role.
    let token_url = format!(
        "{}&audience=sts.amazonaws.com",
        env["ACTIONS_ID_TOKEN_REQUEST_URL"]
    );
    let body: serde_json::Value = reqwest::Client::new()
        .get(token_url)
        .bearer_auth(&env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = body["value"].as_str().unwrap();
    let config = aws_sdk_sts::Config::builder()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .region(aws_sdk_sts::config::Region::new(env["AWS_REGION"].clone()))
        .endpoint_url(&env["AWS_ENDPOINT_URL_STS"])
        .build();
    let output = aws_sdk_sts::Client::from_conf(config)
        .assume_role_with_web_identity()
        .role_arn(&env["SLIPWAY_ROLE_ARN"])
        .role_session_name("demo")
        .web_identity_token(token)
        .send()
        .await
        .unwrap();
    assert!(output.credentials().is_some());

    let moto: Vec<u32> = children_of(child.id());
    assert_eq!(moto.len(), 1, "expected moto as the only child: {moto:?}");
    // SAFETY: kill only sends SIGINT to the child this test started.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() <= deadline,
            "slipway-sandbox ignored SIGINT"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit status {status}");
    assert!(!env_file.exists(), "the env file outlived the sandbox");
    for pid in moto {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "moto (pid {pid}) outlived slipway-sandbox"
        );
    }
}
