//! `slipway-sandbox --hosts N --agents DIR`: each host registered with its
//! own IAM user and given the official agent's configuration files, from
//! which a real `slipway-agent run` starts unchanged and deploys; with
//! `--django`, each host's own supervisord and nginx, a shared MariaDB and
//! redis, and the environment each agent runs with, all stopped with it.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_codedeploy::types::{
    BundleType, RevisionLocation, RevisionLocationType, S3Location, TagFilter, TagFilterType,
};

/// Generous: moto's start and a deployment on a busy 2-core machine.
const DEADLINE: Duration = Duration::from_secs(120);

/// A process this test started: SIGINT on drop (the sandbox stops moto on
/// it; the agent stops polling), SIGKILL if it does not exit.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            // SAFETY: kill only signals the child this test started.
            unsafe { libc::kill(self.0.id() as i32, libc::SIGINT) };
            let until = Instant::now() + Duration::from_secs(30);
            while matches!(self.0.try_wait(), Ok(None)) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A binary of the workspace, built beside this test by `cargo test --workspace`.
fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

/// The `export NAME=VALUE` lines of the sandbox's env file, once written.
async fn sandbox_env(path: &Path, sandbox: &mut Child) -> HashMap<String, String> {
    let until = Instant::now() + DEADLINE;
    while !path.exists() {
        assert!(
            sandbox.try_wait().unwrap().is_none(),
            "slipway-sandbox exited"
        );
        assert!(Instant::now() < until, "slipway-sandbox never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim_matches('\'').to_owned()))
        .collect()
}

/// `slipway-sandbox FLAGS --agents DIR/agents --env-file DIR/env`, once
/// ready, and its exported environment.
async fn start_sandbox(dir: &Path, flags: &[&str]) -> (Running, HashMap<String, String>) {
    let env_file = dir.join("env");
    let mut sandbox = Running(
        Command::new(env!("CARGO_BIN_EXE_slipway-sandbox"))
            .args(flags)
            .arg("--agents")
            .arg(dir.join("agents"))
            .arg("--env-file")
            .arg(&env_file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let env = sandbox_env(&env_file, &mut sandbox.0).await;
    (sandbox, env)
}

/// A tgz bundle installing `index.html` into `dest`, whose AfterInstall
/// hook writes the event it ran in to `dest/hook-ran`.
fn bundle(dir: &Path, dest: &Path) -> Vec<u8> {
    let src = dir.join("revision");
    std::fs::create_dir_all(src.join("scripts")).unwrap();
    std::fs::write(
        src.join("appspec.yml"),
        format!(
            "version: 0.0\nos: linux\nfiles:\n  - source: index.html\n    destination: {}\n\
             hooks:\n  AfterInstall:\n    - location: scripts/after.sh\n      timeout: 60\n",
            dest.display()
        ),
    )
    .unwrap();
    std::fs::write(src.join("index.html"), "release one\n").unwrap();
    let hook = src.join("scripts/after.sh");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\necho \"$LIFECYCLE_EVENT\" > {}/hook-ran\n",
            dest.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let tgz = dir.join("bundle.tgz");
    let status = Command::new("tar")
        .arg("-czf")
        .arg(&tgz)
        .arg("-C")
        .arg(&src)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read(tgz).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_started_from_the_written_files_deploys() {
    let dir = tempfile::tempdir().unwrap();
    let agents = dir.path().join("agents");
    let (_sandbox, env) = start_sandbox(dir.path(), &["--hosts", "1"]).await;

    let host = agents.join("host-1");
    let on_premises = std::fs::read_to_string(host.join("codedeploy.onpremises.yml")).unwrap();
    assert!(
        on_premises.contains("iam_user_arn: 'arn:aws:iam::123456789012:user/host-1'"),
        "{on_premises}"
    );
    let mode = std::fs::metadata(host.join("codedeploy.onpremises.yml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the keys are for the agent alone");
    let config = std::fs::read_to_string(host.join("codedeployagent.yml")).unwrap();
    assert!(
        config.contains(&format!(
            ":deploy_control_endpoint: '{}'",
            env["AWS_ENDPOINT_URL_CODEDEPLOY"]
        )),
        "{config}"
    );

    let agent_log = dir.path().join("agent.log");
    let _agent = Running(
        Command::new(workspace_bin("slipway-agent"))
            .arg("run")
            .arg("--config")
            .arg(host.join("codedeployagent.yml"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&agent_log).unwrap())
            .spawn()
            .unwrap(),
    );

    // The operator's side, with the sandbox's own keys.
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(env["AWS_REGION"].clone()))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            &env["AWS_ACCESS_KEY_ID"],
            &env["AWS_SECRET_ACCESS_KEY"],
            None,
            None,
            "sandbox",
        ))
        .load()
        .await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&shared)
            .endpoint_url(&env["AWS_ENDPOINT_URL_S3"])
            .force_path_style(true)
            .build(),
    );
    let codedeploy = aws_sdk_codedeploy::Client::from_conf(
        aws_sdk_codedeploy::config::Builder::from(&shared)
            .endpoint_url(&env["AWS_ENDPOINT_URL_CODEDEPLOY"])
            .build(),
    );
    s3.create_bucket().bucket("releases").send().await.unwrap();
    let dest = dir.path().join("www");
    let put = s3
        .put_object()
        .bucket("releases")
        .key("shop-1.tgz")
        .body(bundle(dir.path(), &dest).into())
        .send()
        .await
        .unwrap();
    codedeploy
        .create_application()
        .application_name("shop")
        .send()
        .await
        .unwrap();
    codedeploy
        .create_deployment_group()
        .application_name("shop")
        .deployment_group_name("web")
        .service_role_arn("arn:aws:iam::123456789012:role/codedeploy")
        .on_premises_instance_tag_filters(
            TagFilter::builder()
                .key("slipway-demo")
                .value("web")
                .r#type(TagFilterType::KeyAndValue)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let id = codedeploy
        .create_deployment()
        .application_name("shop")
        .deployment_group_name("web")
        .revision(
            RevisionLocation::builder()
                .revision_type(RevisionLocationType::S3)
                .s3_location(
                    S3Location::builder()
                        .bucket("releases")
                        .key("shop-1.tgz")
                        .bundle_type(BundleType::TarGZip)
                        .e_tag(put.e_tag().unwrap().trim_matches('"'))
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap()
        .deployment_id
        .unwrap();

    let until = Instant::now() + DEADLINE;
    let status = loop {
        let info = codedeploy
            .get_deployment()
            .deployment_id(&id)
            .send()
            .await
            .unwrap()
            .deployment_info
            .unwrap();
        let status = info.status.unwrap();
        if matches!(status.as_str(), "Succeeded" | "Failed" | "Stopped") {
            break status;
        }
        assert!(
            Instant::now() < until,
            "{id} is still {status:?}; the agent's log:\n{}",
            std::fs::read_to_string(&agent_log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let log = std::fs::read_to_string(&agent_log).unwrap_or_default();
    assert_eq!(status.as_str(), "Succeeded", "{log}");
    assert_eq!(
        std::fs::read_to_string(dest.join("index.html")).unwrap(),
        "release one\n"
    );
    assert_eq!(
        std::fs::read_to_string(dest.join("hook-ran")).unwrap(),
        "AfterInstall\n"
    );
    assert!(
        log.contains("arn:aws:iam::123456789012:user/host-1"),
        "the agent polls as host-1's IAM user:\n{log}"
    );
    assert!(
        host.join("deployment-root/deployment-instructions")
            .is_dir(),
        "the deployment root is the host's own"
    );
}

#[test]
fn agents_without_hosts_is_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_slipway-sandbox"))
        .arg("--agents")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--agents DIR needs --hosts N"), "{stderr}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// Processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            entry.file_name().to_str()?.parse::<u32>().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            text.contains(needle).then_some(text)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn django_hosts_get_their_own_stack_and_the_shared_database_and_all_stop_with_the_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let agents = dir.path().join("agents");
    let (mut sandbox, env) = start_sandbox(dir.path(), &["--hosts", "2", "--django"]).await;

    // The database the platform team puts in Parameter Store takes the
    // exported credentials.
    let login = Command::new("mariadb")
        .args(["--protocol=TCP", "-h", &env["SHOP_DB_HOST"], "-P"])
        .arg(&env["SHOP_DB_PORT"])
        .arg("-u")
        .arg(&env["SHOP_DB_USER"])
        .arg(format!("-p{}", env["SHOP_DB_PASSWORD"]))
        .args(["-N", "-e", "SELECT DATABASE()"])
        .arg(&env["SHOP_DB_NAME"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&login.stdout).trim(),
        "shop",
        "{}",
        String::from_utf8_lossy(&login.stderr)
    );
    assert!(env["SHOP_BROKER_URL"].starts_with("redis://127.0.0.1:"));

    let mut sites = Vec::new();
    for i in 1..=2 {
        let host = agents.join(format!("host-{i}"));
        let site = env[&format!("SHOP_SITE_HOST_{i}")].clone();
        // nginx answers (502 until a release runs behind it).
        let port: u16 = site.rsplit(':').next().unwrap().parse().unwrap();
        let (status, _) = slipway_tests::host_stack::get(port, "/healthz").unwrap();
        assert_eq!(status, 502, "{site}");
        sites.push(site.clone());

        let agent_env = std::fs::read_to_string(host.join("agent.env")).unwrap();
        let stack_env = host.join("etc/slipway/stack.env");
        for line in [
            format!("SLIPWAY_STACK_ENV={}", stack_env.display()),
            format!("AWS_ENDPOINT_URL_SSM={}", env["AWS_ENDPOINT_URL_S3"]),
            format!(
                "AWS_SHARED_CREDENTIALS_FILE={}",
                host.join("credentials").display()
            ),
            "AWS_REGION=us-east-1".to_owned(),
        ] {
            assert!(agent_env.lines().any(|l| l == line), "{line}: {agent_env}");
        }
        let stack = std::fs::read_to_string(&stack_env).unwrap();
        assert!(
            stack.contains(&format!("SHOP_HEALTH_URL={site}/healthz"))
                && stack.contains(&format!(
                    "SLIPWAY_APP_ROOT={}",
                    host.join("srv/shop").display()
                )),
            "{stack}"
        );
        // The credentials are the host's own IAM user's.
        let on_premises = std::fs::read_to_string(host.join("codedeploy.onpremises.yml")).unwrap();
        let key_id = on_premises
            .lines()
            .find_map(|l| l.strip_prefix("aws_access_key_id: "))
            .unwrap()
            .trim_matches('\'');
        let credentials = std::fs::read_to_string(host.join("credentials")).unwrap();
        assert!(
            credentials.contains(&format!("aws_access_key_id = {key_id}")),
            "{credentials}"
        );
        for file in ["agent.env", "credentials"] {
            let mode = std::fs::metadata(host.join(file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
    }
    assert_ne!(sites[0], sites[1], "each host its own nginx");
    let root = agents.display().to_string();
    assert!(
        processes_mentioning(&root).len() >= 5,
        "the sandbox, two supervisords, two nginx masters: {:?}",
        processes_mentioning(&root)
    );

    // SIGINT: the sandbox stops every host's programs, redis and MariaDB.
    // SAFETY: kill only signals the child this test started.
    unsafe { libc::kill(sandbox.0.id() as i32, libc::SIGINT) };
    let until = Instant::now() + DEADLINE;
    while sandbox.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < until, "slipway-sandbox did not stop");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(processes_mentioning(&root), Vec::<String>::new());
    let redis_port = env["SHOP_BROKER_URL"]
        .trim_start_matches("redis://127.0.0.1:")
        .trim_end_matches("/0")
        .to_owned();
    for (what, port) in [("MariaDB", &env["SHOP_DB_PORT"]), ("redis", &redis_port)] {
        let port: u16 = port.parse().unwrap();
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "{what} still listens on {port}"
        );
    }
}
