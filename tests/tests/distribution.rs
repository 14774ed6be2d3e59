//! Distribution: the release archives `make release-local` builds (names,
//! checksums and shape as `action/install.sh` downloads them), the agent's
//! Debian package from `scripts/deb` (contents, conffiles, the systemd unit
//! under `systemd-analyze verify`), and the package's takeover of a host
//! from the official agent, installed and removed with `dpkg --root` in a
//! throwaway root that has the official agent's layout.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
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

fn run(cmd: &mut Command) -> Output {
    // Packaging a debug binary: what is checked is names, contents and
    // scripts, not compression, which would take minutes at release levels.
    cmd.env("DEB_COMPRESSION", "none")
        .env("RELEASE_GZIP_LEVEL", "1");
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn host_target() -> String {
    let out = run(Command::new("rustc").arg("-vV"));
    stdout(&out)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .unwrap()
        .to_owned()
}

/// Builds the agent's package from the debug binary into `out`.
fn build_deb(out: &Path) -> PathBuf {
    let made = run(Command::new(workspace().join("scripts/deb"))
        .arg("--bin")
        .arg(workspace_bin("slipway-agent"))
        .arg("--out")
        .arg(out));
    PathBuf::from(stdout(&made).trim())
}

#[test]
fn release_local_archives_are_what_install_sh_downloads() {
    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path().join("dist");
    let bins = workspace_bin("slipway-agent")
        .parent()
        .unwrap()
        .to_path_buf();
    workspace_bin("slipway");
    run(Command::new(workspace().join("scripts/release-local"))
        .arg("--bin-dir")
        .arg(&bins)
        .arg("--out")
        .arg(&dist));

    let target = host_target();
    let sums = std::fs::read_to_string(dist.join("SHA256SUMS")).unwrap();
    for name in [
        format!("slipway-{target}.tar.gz"),
        format!("slipway-agent-{target}.tar.gz"),
    ] {
        assert!(
            sums.lines().any(|l| l.ends_with(&format!("  {name}"))),
            "SHA256SUMS lists no {name}:\n{sums}"
        );
        let listing = stdout(&run(Command::new("tar").arg("-tvzf").arg(dist.join(&name))));
        let bin = name.split(&format!("-{target}")).next().unwrap();
        let entries: Vec<&str> = listing.lines().collect();
        assert_eq!(entries.len(), 1, "{name} holds more than {bin}: {listing}");
        assert!(entries[0].starts_with("-rwxr-xr-x 0/0 "), "{listing}");
        assert!(entries[0].ends_with(&format!(" {bin}")), "{listing}");
    }
    run(Command::new("sha256sum")
        .arg("-c")
        .arg("SHA256SUMS")
        .current_dir(&dist));

    // install.sh names the asset for the runner (musl on Linux); the same
    // archive under that name, with its true checksum, must install and run.
    let install_target = match std::env::consts::ARCH {
        "aarch64" => "aarch64-unknown-linux-musl",
        _ => "x86_64-unknown-linux-musl",
    };
    let runner_arch = if std::env::consts::ARCH == "aarch64" {
        "ARM64"
    } else {
        "X64"
    };
    let release = tmp.path().join("releases/v0.1.0");
    std::fs::create_dir_all(&release).unwrap();
    let asset = format!("slipway-{install_target}.tar.gz");
    std::fs::copy(
        dist.join(format!("slipway-{target}.tar.gz")),
        release.join(&asset),
    )
    .unwrap();
    let sum = sums
        .lines()
        .find(|l| l.ends_with(&format!("  slipway-{target}.tar.gz")))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    std::fs::write(release.join("SHA256SUMS"), format!("{sum}  {asset}\n")).unwrap();
    let output = tmp.path().join("output");
    std::fs::write(&output, "").unwrap();
    run(Command::new(workspace().join("action/install.sh"))
        .env("RUNNER_OS", "Linux")
        .env("RUNNER_ARCH", runner_arch)
        .env("RUNNER_TEMP", tmp.path().join("runner-temp"))
        .env("GITHUB_OUTPUT", &output)
        .env("SLIPWAY_ACTION_REF", "v0.1.0")
        .env("SLIPWAY_ACTION_REPOSITORY", "acme/slipway")
        .env(
            "SLIPWAY_DOWNLOAD_URL",
            format!("file://{}", tmp.path().join("releases").display()),
        ));
    let bin = std::fs::read_to_string(&output).unwrap();
    let bin = bin.trim().strip_prefix("bin=").unwrap();
    let version = stdout(&run(Command::new(bin).arg("--version")));
    assert!(version.starts_with("slipway "), "{version}");
}

#[test]
fn deb_holds_the_agent_its_unit_config_logrotate_and_help() {
    let tmp = tempfile::tempdir().unwrap();
    let deb = build_deb(tmp.path());
    let listing = stdout(&run(Command::new("dpkg-deb").arg("-c").arg(&deb)));
    for path in [
        "./usr/bin/slipway-agent",
        "./lib/systemd/system/slipway-agent.service",
        "./etc/slipway-agent/codedeployagent.yml",
        "./etc/logrotate.d/slipway-agent",
        "./usr/lib/slipway-agent/migrate",
        "./usr/share/doc/slipway-agent/README",
        "./usr/share/doc/slipway-agent/copyright",
        "./usr/share/doc/slipway-agent/slipway-agent.txt",
    ] {
        assert!(
            listing
                .lines()
                .any(|l| l.ends_with(&format!(" {path}")) && l.contains("root/root")),
            "the package has no {path} owned by root:\n{listing}"
        );
    }
    let info = stdout(&run(Command::new("dpkg-deb").arg("-f").arg(&deb)));
    assert!(info.contains("Package: slipway-agent\n"), "{info}");

    let root = tmp.path().join("root");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root));
    let help = std::fs::read_to_string(root.join("usr/share/doc/slipway-agent/slipway-agent.txt"))
        .unwrap();
    assert!(help.contains("Usage: slipway-agent"), "{help}");
    run(Command::new("dpkg-deb")
        .arg("-e")
        .arg(&deb)
        .arg(root.join("DEBIAN")));
    let listed = std::fs::read_to_string(root.join("DEBIAN/conffiles")).unwrap();
    assert_eq!(
        listed.lines().collect::<Vec<_>>(),
        [
            "/etc/slipway-agent/codedeployagent.yml",
            "/etc/logrotate.d/slipway-agent"
        ]
    );
}

#[test]
fn the_unit_verifies_and_leaves_detached_hook_processes_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let deb = build_deb(tmp.path());
    let root = tmp.path().join("root");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root));
    let unit =
        std::fs::read_to_string(root.join("lib/systemd/system/slipway-agent.service")).unwrap();

    // The agent ends its own hooks' process groups; systemd must not kill
    // what a hook detached (the official unit's default does).
    let settings: Vec<&str> = unit.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(settings.contains(&"KillMode=process"), "{unit}");
    assert!(
        settings.contains(&"Conflicts=codedeploy-agent.service"),
        "{unit}"
    );
    // Hooks use sudo and write /etc, /srv and a runas user's home.
    for breaks_hooks in [
        "NoNewPrivileges=yes",
        "ProtectSystem=",
        "ProtectHome=",
        "PrivateTmp=",
    ] {
        assert!(
            !settings.iter().any(|l| l.starts_with(breaks_hooks)),
            "{breaks_hooks} would break hooks:\n{unit}"
        );
    }

    // systemd-analyze needs the ExecStart binary where the unit names it.
    let units = tmp.path().join("units");
    std::fs::create_dir_all(&units).unwrap();
    let here = root.join("usr/bin/slipway-agent");
    std::fs::write(
        units.join("slipway-agent.service"),
        unit.replace("/usr/bin/slipway-agent", here.to_str().unwrap()),
    )
    .unwrap();
    let verify = run(Command::new("systemd-analyze")
        .arg("verify")
        .arg(units.join("slipway-agent.service")));
    assert!(
        verify.stderr.is_empty(),
        "systemd-analyze verify warned:\n{}",
        String::from_utf8_lossy(&verify.stderr)
    );
}

/// A throwaway root with the official agent's layout: its config, its
/// on-premises registration, its deployment root and its enabled unit.
fn official_agent_root(root: &Path) {
    for dir in [
        "var/lib/dpkg/info",
        "var/lib/dpkg/updates",
        "var/lib/dpkg/triggers",
        "etc/codedeploy-agent/conf",
        "lib/systemd/system",
        "opt/codedeploy-agent/deployment-root/deployment-instructions",
    ] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    for file in ["var/lib/dpkg/status", "var/lib/dpkg/available"] {
        std::fs::write(root.join(file), "").unwrap();
    }
    std::fs::write(
        root.join("etc/codedeploy-agent/conf/codedeployagent.yml"),
        ":root_dir: '/opt/codedeploy-agent/deployment-root'\n:max_revisions: 3\n",
    )
    .unwrap();
    std::fs::write(
        root.join("etc/codedeploy-agent/conf/codedeploy.onpremises.yml"),
        "---\niam_session_arn: arn:aws:sts::123456789012:assumed-role/host/h1\naws_credentials_file: /etc/codedeploy-agent/conf/credentials\nregion: eu-west-1\n",
    )
    .unwrap();
    std::fs::write(
        root.join("opt/codedeploy-agent/deployment-root/deployment-instructions/g-1_last_successful_install"),
        "/opt/codedeploy-agent/deployment-root/g-1/d-1",
    )
    .unwrap();
    std::fs::write(
        root.join("lib/systemd/system/codedeploy-agent.service"),
        "[Unit]\nDescription=AWS CodeDeploy Host Agent\n[Service]\nExecStart=/opt/codedeploy-agent/bin/codedeploy-agent start\n[Install]\nWantedBy=multi-user.target\n",
    )
    .unwrap();
    run(Command::new("systemctl")
        .arg(format!("--root={}", root.display()))
        .args(["enable", "codedeploy-agent.service"]));
}

fn dpkg(root: &Path) -> Command {
    let mut cmd = Command::new("dpkg");
    cmd.arg(format!("--root={}", root.display()))
        // The maintainer scripts run outside the root with DPKG_ROOT set;
        // the throwaway root has no shell or libc of its own.
        .args([
            "--force-script-chrootless",
            "--force-depends",
            "--log=/dev/null",
        ]);
    cmd
}

/// Whether `systemctl --root` left the unit's enablement link (absolute,
/// so it dangles outside the root: look at the link, not its target).
fn enabled(root: &Path, unit: &str) -> bool {
    let link = root
        .join("etc/systemd/system/multi-user.target.wants")
        .join(unit);
    std::fs::symlink_metadata(link).is_ok()
}

/// Every file under `dir` with its bytes, and every symlink with its target.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let kind = std::fs::symlink_metadata(&path).unwrap().file_type();
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                files.push((path, target.into_os_string().into_encoded_bytes()));
            } else {
                files.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn installing_takes_the_host_over_from_the_official_agent_and_removing_gives_it_back() {
    let tmp = tempfile::tempdir().unwrap();
    let deb = build_deb(tmp.path());
    let root = tmp.path().join("root");
    official_agent_root(&root);
    let official_before = snapshot(&root.join("etc/codedeploy-agent"));
    let deployments_before = snapshot(&root.join("opt/codedeploy-agent"));

    let installed = stdout(&run(dpkg(&root).arg("-i").arg(&deb)));
    assert!(
        installed.contains("stop and disable codedeploy-agent, keeping it installed"),
        "{installed}"
    );
    assert!(!enabled(&root, "codedeploy-agent.service"));
    assert!(enabled(&root, "slipway-agent.service"));
    let env = std::fs::read_to_string(root.join("etc/slipway-agent/agent.env")).unwrap();
    assert!(
        env.contains("SLIPWAY_AGENT_CONFIG=/etc/codedeploy-agent/conf/codedeployagent.yml\n"),
        "{env}"
    );
    // Every variable written is one the unit's ExecStart passes on.
    let unit =
        std::fs::read_to_string(workspace().join("packaging/deb/slipway-agent.service")).unwrap();
    let exec_start = unit.lines().find(|l| l.starts_with("ExecStart=")).unwrap();
    for name in env
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('=').map(|(name, _)| name))
    {
        assert!(
            exec_start.contains(&format!("${{{name}}}")),
            "{name} is unused: {env}"
        );
    }
    assert_eq!(
        snapshot(&root.join("etc/codedeploy-agent")),
        official_before
    );
    assert!(
        root.join("lib/systemd/system/codedeploy-agent.service")
            .exists()
    );

    let removed = stdout(&run(dpkg(&root).arg("--purge").arg("slipway-agent")));
    assert!(
        removed.contains("codedeploy-agent enabled again"),
        "{removed}"
    );
    assert!(enabled(&root, "codedeploy-agent.service"));
    assert!(!enabled(&root, "slipway-agent.service"));
    assert!(!root.join("etc/slipway-agent/agent.env").exists());
    assert_eq!(
        snapshot(&root.join("opt/codedeploy-agent")),
        deployments_before
    );
}

#[test]
fn a_dry_run_migration_prints_the_plan_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    official_agent_root(&root);
    let before = snapshot(&root);

    let plan = stdout(&run(Command::new(
        workspace().join("packaging/deb/migrate"),
    )
    .arg("--dry-run")
    .env("DPKG_ROOT", &root)));
    assert!(
        plan.contains("would stop and disable codedeploy-agent"),
        "{plan}"
    );
    assert!(
        plan.contains("would write /etc/slipway-agent/agent.env"),
        "{plan}"
    );
    assert!(
        plan.contains("deployment root /opt/codedeploy-agent/deployment-root"),
        "{plan}"
    );
    assert_eq!(snapshot(&root), before);
}

#[test]
fn a_host_without_the_official_agent_gets_the_packaged_defaults() {
    let tmp = tempfile::tempdir().unwrap();
    let deb = build_deb(tmp.path());
    let root = tmp.path().join("root");
    for dir in [
        "var/lib/dpkg/info",
        "var/lib/dpkg/updates",
        "var/lib/dpkg/triggers",
    ] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    for file in ["var/lib/dpkg/status", "var/lib/dpkg/available"] {
        std::fs::write(root.join(file), "").unwrap();
    }
    let installed = stdout(&run(dpkg(&root).arg("-i").arg(&deb)));
    assert!(!installed.contains("codedeploy-agent,"), "{installed}");
    let env = std::fs::read_to_string(root.join("etc/slipway-agent/agent.env")).unwrap();
    assert!(
        env.contains("SLIPWAY_AGENT_CONFIG=/etc/slipway-agent/codedeployagent.yml\n"),
        "{env}"
    );
    let removed = stdout(&run(dpkg(&root).arg("--remove").arg("slipway-agent")));
    assert!(!removed.contains("enabled again"), "{removed}");
}
