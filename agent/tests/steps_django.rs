//! `step migrate` and `step collectstatic` on the sample shop, against a
//! real MariaDB: hosts deploying at once migrate once, a held lock times
//! out by name, a broken release fails with its ImportError.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use slipway_tests::{MariaDb, sample_app};

const LOCK: &str = "slipway-migrate:shop";

/// An app root with the sample shop as `releases/<id>` for each id, and the
/// secrets env file `step secrets` would render pointing at `db`.
fn app_root(releases: &[&str], db: Option<&MariaDb>) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    for id in releases {
        sample_app::copy_to(&root.path().join("releases").join(id)).unwrap();
    }
    if let Some(db) = db {
        std::fs::write(
            root.path().join("shop.env"),
            format!(
                "DB_HOST=127.0.0.1\nDB_PORT={}\nDB_NAME=shop\nDB_USER=shop\nDB_PASSWORD=pw-1\n",
                db.port()
            ),
        )
        .unwrap();
    }
    root
}

fn database() -> MariaDb {
    let db = MariaDb::start().unwrap();
    db.create_database("shop", "shop", "pw-1").unwrap();
    db
}

fn python() -> PathBuf {
    slipway_tests::venv::bin("python").expect("scripts/setup builds .venv")
}

fn step(name: &str, root: &Path, release: &str, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_slipway-agent"));
    command
        .args(["step", name, "--app-root"])
        .arg(root)
        .args(["--release", release, "--python"])
        .arg(python())
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Polls every 100 ms until `ready`, panicking after a generous deadline.
fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Another host's session holding the migration lock until it is dropped.
struct HeldLock(Child);

impl HeldLock {
    fn take(db: &MariaDb) -> HeldLock {
        let mut client = db
            .client()
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        writeln!(
            client.stdin.as_mut().unwrap(),
            "SELECT GET_LOCK('{LOCK}', 60);"
        )
        .unwrap();
        wait_until("the test's session to hold the lock", || {
            db.query(&format!("SELECT IS_USED_LOCK('{LOCK}') IS NOT NULL"))
                .unwrap()
                == "1"
        });
        HeldLock(client)
    }

    /// Ends the session, which releases the lock.
    fn release(mut self) {
        drop(self.0.stdin.take());
        self.0.wait().unwrap();
    }
}

fn sessions_waiting_for_the_lock(db: &MariaDb) -> usize {
    db.query(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT GET_LOCK(%'",
    )
    .unwrap()
    .parse()
    .unwrap()
}

#[test]
fn two_hosts_migrating_at_once_apply_the_migrations_once_and_both_succeed() {
    let db = database();
    let root = app_root(&["host-a", "host-b"], Some(&db));
    // Both start while the lock is held, so they are sure to overlap.
    let held = HeldLock::take(&db);
    let a = step("migrate", root.path(), "host-a", &[]).spawn().unwrap();
    let b = step("migrate", root.path(), "host-b", &[]).spawn().unwrap();
    wait_until("both hosts to wait on the lock", || {
        sessions_waiting_for_the_lock(&db) == 2
    });
    held.release();
    let outputs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];

    let mut applied = 0;
    let mut nothing = 0;
    for (output, release) in outputs.iter().zip(["host-a", "host-b"]) {
        let (stdout, stderr) = text(output);
        assert!(output.status.success(), "{release}: {stdout}\n{stderr}");
        if stdout.contains(&format!(
            "migrate: release {release} applied 3 migration(s): \
             contenttypes.0001_initial, contenttypes.0002_remove_content_type_name, shop.0001_initial"
        )) {
            applied += 1;
        }
        if stdout.contains(&format!("migrate: release {release}: nothing to apply")) {
            nothing += 1;
        }
    }
    assert_eq!((applied, nothing), (1, 1), "{outputs:?}");
    assert_eq!(
        db.query("SELECT app, name FROM shop.django_migrations ORDER BY id")
            .unwrap(),
        "contenttypes\t0001_initial\ncontenttypes\t0002_remove_content_type_name\nshop\t0001_initial"
    );
    assert_eq!(
        db.query("SELECT COUNT(*) FROM shop.shop_order").unwrap(),
        "0"
    );
    assert_eq!(
        db.query(&format!("SELECT IS_USED_LOCK('{LOCK}') IS NULL"))
            .unwrap(),
        "1",
        "the lock is released"
    );
}

#[test]
fn a_lock_held_past_the_timeout_fails_migrate_naming_the_lock() {
    let db = database();
    let root = app_root(&["r1"], Some(&db));
    let held = HeldLock::take(&db);
    let output = step("migrate", root.path(), "r1", &["--lock-timeout", "1"])
        .output()
        .unwrap();
    held.release();
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("manage.py migrate on release r1 failed")
            && stderr.contains(&format!("lock {LOCK} not obtained within 1s")),
        "{stderr}"
    );
    assert_eq!(
        db.query("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'shop'")
            .unwrap(),
        "0",
        "nothing was migrated"
    );
}

#[test]
fn collectstatic_writes_the_release_static_files() {
    let root = app_root(&["r1"], None);
    let output = step("collectstatic", root.path(), "r1", &[])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("collectstatic: release r1: 1 static file copied to"),
        "{stdout}"
    );
    let collected = root.path().join("releases/r1/staticfiles/shop/shop.css");
    assert_eq!(
        std::fs::read_to_string(collected).unwrap(),
        std::fs::read_to_string(sample_app::dir().join("shop/static/shop/shop.css")).unwrap()
    );
}

#[test]
fn a_release_that_cannot_import_fails_migrate_with_the_import_error() {
    let root = app_root(&["broken"], None);
    sample_app::break_import(&root.path().join("releases/broken")).unwrap();
    let output = step("migrate", root.path(), "broken", &[])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("manage.py migrate on release broken failed")
            && stderr.contains("ImportError: cannot import name 'no_such_name'"),
        "{stderr}"
    );
}

/// Runs `slipway-agent ARGS…`, asserting success; returns stdout.
fn agent_ok(args: &[String]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_slipway-agent"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{args:?}: {stdout}\n{stderr}");
    stdout
}

#[test]
fn a_django_host_serves_the_sample_app_and_the_reference_application_start_moves_it_to_v2_and_v3_with_new_gunicorn_arguments_blue_green()
 {
    let db = database();
    let dir = tempfile::tempdir().unwrap();
    let redis = slipway_tests::host_stack::Redis::start(dir.path()).unwrap();
    let db_port = db.port().to_string();
    let broker = redis.url(0);
    let host = slipway_tests::DjangoHost::start(
        &dir.path().join("host"),
        &[
            ("DB_PORT", &db_port),
            ("DB_PASSWORD", "pw-1"),
            ("BROKER_URL", &broker),
        ],
    )
    .unwrap();
    let s = |p: &Path| p.display().to_string();
    let (root, socket) = (s(&host.app_root), s(host.socket()));
    let python = s(&python());
    let gunicorn = s(&slipway_tests::venv::bin("gunicorn").unwrap());
    for (i, release) in ["v1", "v2", "v3"].into_iter().enumerate() {
        let bundle = dir.path().join(format!("bundle-{release}"));
        sample_app::copy_to(&bundle).unwrap();
        let common = |step: &str| -> Vec<String> {
            ["step", step, "--app-root", &root, "--release", release]
                .map(String::from)
                .to_vec()
        };
        let with = |step: &str, extra: &[&str]| -> Vec<String> {
            let mut args = common(step);
            args.extend(extra.iter().map(|a| a.to_string()));
            args
        };
        agent_ok(&with("release-copy", &["--from", &s(&bundle)]));
        let migrated = agent_ok(&with("migrate", &["--python", &python]));
        assert_eq!(migrated.contains("nothing to apply"), i > 0, "{migrated}");
        agent_ok(&with("collectstatic", &["--python", &python]));
        let program = ["--program-config".into(), s(&host.gunicorn_conf)];
        let gunicorn_args = [
            &program[..],
            &[
                "--socket".into(),
                socket.clone(),
                "--app".into(),
                "shop.wsgi:application".into(),
                "--gunicorn".into(),
                gunicorn.clone(),
                "--health-url".into(),
                host.health_url(),
            ],
        ]
        .concat();
        if i == 0 {
            // First deploy: the programs are added before `current` exists,
            // so gunicorn fails to start until gunicorn-reload switches
            // `current` and starts it.
            agent_ok(&["step", "supervisor-update", "--socket", &socket].map(String::from));
        }
        if i == 0 {
            let mut reload = common("gunicorn-reload");
            reload.extend(gunicorn_args);
            agent_ok(&reload);
            // The reference celery.conf declares the takeover.
            let stdout = agent_ok(
                &[
                    "step",
                    "celery-restart",
                    "--socket",
                    &socket,
                    "--program-config",
                    &s(&host.celery_conf),
                ]
                .map(String::from),
            );
            assert!(
                stdout.contains("celery switched warm: celery-next consumed while it restarted"),
                "{stdout}"
            );
        } else if release == "v2" {
            // AfterInstall's preflight, then the reference ApplicationStart
            // script on the host's stack.env: its reload does not repeat
            // the preflight on the same release, venv and program config.
            let mut check = common("gunicorn-check");
            check.extend(program.iter().cloned());
            check.extend(
                ["--app", "shop.wsgi:application", "--gunicorn", &gunicorn].map(String::from),
            );
            agent_ok(&check);
            let stdout = application_start(&host, release);
            assert!(
                stdout.contains("passed the preflight in gunicorn-check; nothing changed since"),
                "{stdout}"
            );
        } else {
            // A deploy that also changes gunicorn's own arguments, which a
            // HUP would not apply: the reference script goes blue/green.
            let conf = std::fs::read_to_string(&host.gunicorn_conf).unwrap();
            assert!(conf.contains("--workers 3"), "{conf}");
            std::fs::write(
                &host.gunicorn_conf,
                conf.replace("--workers 3", "--workers 4"),
            )
            .unwrap();
            let stdout = application_start(&host, release);
            assert!(
                stdout.contains("blue/green through gunicorn-standby")
                    && stdout.contains("gunicorn-standby stopped and removed"),
                "{stdout}"
            );
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let client = slipway_agent::steps::supervisor::Supervisor::new(host.socket());
            let info = runtime.block_on(client.process_info("gunicorn")).unwrap();
            let cmdline = std::fs::read(format!("/proc/{}/cmdline", info.pid)).unwrap();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            assert!(cmdline.contains("--workers 4"), "{cmdline}");
            assert!(
                runtime
                    .block_on(client.process_info("gunicorn-standby"))
                    .is_err()
            );
        }
        assert_eq!(host.serving().as_deref(), Some(release));
        let (status, css) =
            slipway_tests::host_stack::get(host.nginx_port(), "/static/shop/shop.css").unwrap();
        assert_eq!(status, 200, "{css}");
        // The worker now runs the new release: a task reports it.
        let output = Command::new(&python)
            .args(["manage.py", "shell", "--verbosity", "0", "--command"])
            .arg("from shop.tasks import slow; print(slow.delay(0.2).get(timeout=60))")
            .current_dir(host.app_root.join("current"))
            .output()
            .unwrap();
        let (stdout, stderr) = text(&output);
        assert_eq!(stdout.trim(), release, "{stderr}");
        // Each switch ends with the takeover stopped.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = slipway_agent::steps::supervisor::Supervisor::new(host.socket());
        let takeover = runtime.block_on(client.process_info("celery-next"));
        assert_eq!(takeover.unwrap().state, 0, "{release}");
    }
}

/// Runs appspec/scripts/application-start as a hook would, with the host's
/// stack.env and this build's slipway-agent first on PATH; what it printed.
fn application_start(host: &slipway_tests::DjangoHost, release: &str) -> String {
    let agent = Path::new(env!("CARGO_BIN_EXE_slipway-agent"));
    let path = format!(
        "{}:{}",
        agent.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let script = slipway_tests::venv::workspace_root().join("appspec/scripts/application-start");
    let output = Command::new(script)
        .env("PATH", path)
        .env("SLIPWAY_STACK_ENV", &host.stack_env)
        .env("LIFECYCLE_EVENT", "ApplicationStart")
        .env("DEPLOYMENT_ID", release)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("nginx: config tested and reloaded"),
        "{stdout}"
    );
    stdout
}
