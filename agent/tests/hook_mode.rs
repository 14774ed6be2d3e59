//! `slipway-agent hook` run as the official CodeDeploy agent runs a hook:
//! a minimal daemon environment plus LIFECYCLE_EVENT, DEPLOYMENT_ID,
//! APPLICATION_NAME, DEPLOYMENT_GROUP_NAME and DEPLOYMENT_GROUP_ID.

use std::path::PathBuf;
use std::process::Output;

use slipway_tests::{MariaDb, sample_app, venv};

const DEPLOYMENT: &str = "d-ABCDEF123";

/// Runs `slipway-agent hook ARGS…` with only what the official agent's
/// hook would have: PATH, HOME and its five variables for `event`.
fn hook(event: &str, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_slipway-agent"))
        .arg("hook")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", "/root")
        .env("LIFECYCLE_EVENT", event)
        .env("DEPLOYMENT_ID", DEPLOYMENT)
        .env("APPLICATION_NAME", "shop")
        .env("DEPLOYMENT_GROUP_NAME", "prod")
        .env(
            "DEPLOYMENT_GROUP_ID",
            "2d7b0c36-5a0e-4d39-9d43-6f1f3c2e9a11",
        )
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A host: the installed bundle, an app root, a stack.env and a hooks config.
struct Host {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Host {
    fn new(events: &str, db: Option<&MariaDb>) -> Host {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        sample_app::copy_to(&d.join("bundle")).unwrap();
        std::fs::create_dir_all(d.join("app")).unwrap();
        if let Some(db) = db {
            std::fs::write(
                d.join("app/shop.env"),
                format!(
                    "DB_PORT={}\nDB_NAME=shop\nDB_USER=shop\nDB_PASSWORD=pw-2\n",
                    db.port()
                ),
            )
            .unwrap();
        }
        std::fs::write(
            d.join("stack.env"),
            format!(
                "# as appspec/config/stack.env\nSLIPWAY_APP_ROOT={}\nSHOP_BUNDLE={}\nSHOP_PYTHON={}\n",
                d.join("app").display(),
                d.join("bundle").display(),
                venv::bin("python").unwrap().display()
            ),
        )
        .unwrap();
        let config = d.join("hooks.yml");
        std::fs::write(
            &config,
            format!(
                "env_file: {}\nevents:\n{events}",
                d.join("stack.env").display()
            ),
        )
        .unwrap();
        Host { dir, config }
    }

    fn path(&self, rest: &str) -> PathBuf {
        self.dir.path().join(rest)
    }

    fn run(&self, event: &str) -> Output {
        hook(event, &["--config", self.config.to_str().unwrap()])
    }
}

#[test]
fn after_install_under_the_official_agents_environment_copies_migrates_and_collects() {
    let db = MariaDb::start().unwrap();
    db.create_database("shop", "shop", "pw-2").unwrap();
    let host = Host::new(
        "  ApplicationStop: []\n  AfterInstall:\n    - release-copy --from ${SHOP_BUNDLE}\n    \
         - migrate --python ${SHOP_PYTHON}\n    - collectstatic --python ${SHOP_PYTHON}\n",
        Some(&db),
    );

    let output = host.run("AfterInstall");
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!(
            "hook: AfterInstall of deployment {DEPLOYMENT} (application shop, deployment group prod \
             2d7b0c36-5a0e-4d39-9d43-6f1f3c2e9a11): 3 step(s) from {}",
            host.config.display()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "+ slipway-agent step release-copy --from {}",
            host.path("bundle").display()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "migrate: release {DEPLOYMENT} applied 3 migration(s)"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "collectstatic: release {DEPLOYMENT}: 1 static file copied"
        )),
        "{stdout}"
    );
    let release = host.path("app/releases").join(DEPLOYMENT);
    assert!(release.join("staticfiles/shop/shop.css").is_file());
    assert_eq!(
        db.query("SELECT COUNT(*) FROM shop.django_migrations")
            .unwrap(),
        "3"
    );

    let output = host.run("ApplicationStop");
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("hook: ApplicationStop of deployment"),
        "{stdout}"
    );
}

#[test]
fn an_unknown_or_unconfigured_event_fails_naming_it() {
    let host = Host::new("  ApplicationStop: []\n", None);
    let output = host.run("AfterInstal");
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains("LIFECYCLE_EVENT=AfterInstal is not a lifecycle event that runs hooks"),
        "{stderr}"
    );

    let output = host.run("ValidateService");
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains(&format!(
            "{}: no steps for ValidateService; add `ValidateService: []` under `events:` to run none",
            host.config.display()
        )),
        "{stderr}"
    );
}

#[test]
fn a_failing_step_stops_the_event_and_names_its_line() {
    let host = Host::new(
        "  AfterInstall:\n    - collectstatic --python ${SHOP_PYTHON}\n    \
         - release-copy --from ${SHOP_BUNDLE}\n",
        None,
    );
    let output = host.run("AfterInstall");
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains(&format!(
            "AfterInstall: the step at {}:4 failed: release {DEPLOYMENT} under {}: no manage.py",
            host.config.display(),
            host.path("app").display()
        )),
        "{stderr}"
    );
    assert!(
        !host.path("app/releases").join(DEPLOYMENT).exists(),
        "the next step did not run"
    );
}

#[test]
fn a_mistake_in_another_events_steps_fails_before_anything_runs() {
    let host = Host::new(
        "  AfterInstall:\n    - release-copy --from ${SHOP_BUNDLE}\n  \
         ValidateService:\n    - nginx-reload --pid-file ${NO_SUCH_VAR}\n",
        None,
    );
    let output = host.run("AfterInstall");
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains(&format!(
            "{}:6: NO_SUCH_VAR is not set",
            host.config.display()
        )),
        "{stderr}"
    );
    assert!(!host.path("app/releases").exists());
}

#[test]
fn the_reference_hooks_config_checks_against_the_reference_stack_env() {
    let appspec = venv::workspace_root().join("appspec/config");
    let dir = tempfile::tempdir().unwrap();
    // This machine has no `shop` user; everything else is as shipped.
    let stack_env = std::fs::read_to_string(appspec.join("stack.env"))
        .unwrap()
        .replace("SHOP_OWNER=shop", "SHOP_OWNER=root");
    let env_file = dir.path().join("stack.env");
    std::fs::write(&env_file, stack_env).unwrap();
    let output = hook(
        "",
        &[
            "--check",
            "--config",
            appspec.join("hooks.yml").to_str().unwrap(),
            "--env-file",
            env_file.to_str().unwrap(),
        ],
    );
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.ends_with("hooks.yml: 5 events, 11 steps, all parse\n"),
        "{stdout}"
    );
}
