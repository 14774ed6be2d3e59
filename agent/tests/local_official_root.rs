//! Taking over a deployment root the official agent (v1.8.1) wrote:
//! tests/fixtures/official-root holds its root after two deployments of
//! one group, and the destination tree it left (README.md there says how
//! they were produced). `slipway-agent local` deploys a third revision
//! into a relocated copy of both.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Host, appspec};

/// The group the official agent deployed to (the fixture's directory).
const GROUP: &str = "479e9c1a-bf74-41f3-ab81-9c82ce163ac4";
/// Its two deployments: v1, then v2.
const OFFICIAL_V1: &str = "d-5M13PW3Z3";
const OFFICIAL_V2: &str = "d-J4MTRZKTA";
/// The absolute paths the official agent ran with, inside its own mount
/// namespace; the test rewrites them into its temp dir.
const FIXTURE_ROOT: &str = "/opt/codedeploy-agent/deployment-root";
const FIXTURE_SITE: &str = "/srv/fixture-site";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/official-root")
}

/// The fixture's root and site copied under the host (the root as
/// `host.root()`), with the absolute paths in the instruction files and
/// pointers moved along: what an operator's host holds after the official
/// agent's two deployments.
fn official_host() -> (Host, PathBuf) {
    let host = Host::new();
    let site = host.path().join("site");
    for (from, to) in [
        (
            fixture().join("opt/codedeploy-agent/deployment-root"),
            host.root(),
        ),
        (fixture().join("srv/fixture-site"), site.clone()),
    ] {
        let status = Command::new("cp")
            .arg("-a")
            .arg(&from)
            .arg(&to)
            .status()
            .unwrap();
        assert!(status.success(), "cp -a {}", from.display());
    }
    let instructions = host.root().join("deployment-instructions");
    for entry in std::fs::read_dir(&instructions).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap();
        let moved = text
            .replace(FIXTURE_ROOT, host.root().to_str().unwrap())
            .replace(FIXTURE_SITE, site.to_str().unwrap());
        std::fs::write(entry.path(), moved).unwrap();
    }
    (host, site)
}

/// A revision shaped like the fixture's: `www` and `config/app.conf`
/// under `site`, mode 0640 on what lands in `etc`, the same hook on every event appending
/// "<name> <event> <id>" to FIXTURE_HOOK_LOG, as the fixture's hooks do.
fn revision(host: &Host, site: &Path, name: &str, www: &[&str]) -> String {
    let rev = host.revision(name);
    let mut hooks = String::new();
    for event in [
        "ApplicationStop",
        "BeforeInstall",
        "AfterInstall",
        "ApplicationStart",
        "ValidateService",
    ] {
        hooks.push_str(&format!("  {event}:\n    - location: scripts/hook.sh\n"));
    }
    let mut spec = appspec(
        &[
            ("www", site.join("www").to_str().unwrap()),
            ("config/app.conf", site.join("etc").to_str().unwrap()),
        ],
        &hooks,
    );
    spec.push_str(&format!(
        "permissions:\n  - object: {}\n    pattern: \"**\"\n    mode: \"0640\"\n    type:\n      - file\n",
        site.join("etc").display()
    ));
    rev.appspec(&spec)
    .file("config/app.conf", &format!("listen = 8080 # {name}\n"))
    .script(
        "scripts/hook.sh",
        &format!(
            "echo \"{name} $LIFECYCLE_EVENT $DEPLOYMENT_ID\" >> \"$FIXTURE_HOOK_LOG\"\necho \"{name} $LIFECYCLE_EVENT\""
        ),
    );
    for page in www {
        rev.file(&format!("www/{page}"), &format!("{name} {page}\n"));
    }
    rev.path().to_owned()
}

fn deploy(host: &Host, bundle: &str, hook_log: &Path) -> common::Run {
    host.local_env(
        &[
            "--bundle",
            bundle,
            "--deployment-group-id",
            GROUP,
            "--deployment-group-name",
            "web",
            "--application-name",
            "fixture",
        ],
        &[("FIXTURE_HOOK_LOG".into(), hook_log.to_str().unwrap().into())],
    )
}

fn read(path: impl AsRef<Path>) -> String {
    let path = path.as_ref();
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `[YYYY-mm-dd HH:MM:SS.mmm] [d-ID]message`, as lib/instance_agent/log.rb writes.
fn deployments_log_line(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix('[')?;
    let (stamp, rest) = rest.split_once("] [")?;
    let digits = stamp.replace(['-', ' ', ':', '.'], "");
    let shaped =
        stamp.len() == 23 && digits.len() == 17 && digits.chars().all(|c| c.is_ascii_digit());
    let (id, message) = rest.split_once(']')?;
    shaped.then_some((id, message))
}

/// `YYYY-mm-dd HH:MM:SS message`, as the official hook executor writes
/// scripts.log; the message.
fn scripts_log_line(line: &str) -> Option<&str> {
    let (stamp, message) = (line.get(..19)?, line.get(20..)?);
    let digits = stamp.replace(['-', ' ', ':'], "");
    let shaped = digits.len() == 14
        && digits.chars().all(|c| c.is_ascii_digit())
        && line.as_bytes()[19] == b' ';
    shaped.then_some(message)
}

#[test]
fn a_root_the_official_agent_wrote_is_taken_over_and_its_cleanup_replayed() {
    let (host, site) = official_host();
    let group = host.root().join(GROUP);
    let instructions = host.root().join("deployment-instructions");
    let official_log = read(
        host.root()
            .join("deployment-logs/codedeploy-agent-deployments.log"),
    );
    let official_install = read(instructions.join(format!("{GROUP}-install.json")));
    // What the official agent left: v2 installed, v1's extra files gone.
    assert_eq!(read(site.join("www/new.html")), "new page\n");
    assert!(!site.join("www/old.html").exists());

    // v3 no longer has new.html. Under DISALLOW, index.html and app.conf
    // (already there) can only be installed once the official cleanup file
    // has been replayed and has removed them.
    let hook_log = host.path().join("hooks.log");
    let v3 = revision(&host, &site, "v3", &["index.html", "about.html"]);
    let run = deploy(&host, &v3, &hook_log);
    run.assert_ok();
    let ours = run.deployment_dir();
    let id = ours.file_name().unwrap().to_str().unwrap().to_owned();
    assert_eq!(ours, group.join(&id));

    // ApplicationStop ran the script of the revision the official agent
    // installed last (v2's archive), then v3's hooks ran.
    assert_eq!(
        read(&hook_log),
        [
            "v2 ApplicationStop",
            "v3 BeforeInstall",
            "v3 AfterInstall",
            "v3 ApplicationStart",
            "v3 ValidateService",
        ]
        .iter()
        .map(|l| format!("{l} {id}\n"))
        .collect::<String>()
    );

    // The official cleanup was replayed: new.html is gone, the rest is v3.
    assert!(!site.join("www/new.html").exists());
    assert_eq!(read(site.join("www/index.html")), "v3 index.html\n");
    assert_eq!(read(site.join("www/about.html")), "v3 about.html\n");
    assert_eq!(read(site.join("etc/app.conf")), "listen = 8080 # v3\n");
    let mode = std::fs::metadata(site.join("etc/app.conf"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);

    // Pointers: the bare absolute path, no newline, as the official agent wrote them.
    for pointer in ["most_recent_install", "last_successful_install"] {
        assert_eq!(
            read(instructions.join(format!("{GROUP}_{pointer}"))),
            ours.to_str().unwrap(),
            "{pointer}"
        );
    }
    // The new cleanup file lists what v3 created, one path per line, in order.
    let www = site.join("www");
    let etc = site.join("etc");
    let expected: Vec<PathBuf> = vec![
        site.clone(),
        www.clone(),
        www.join("about.html"),
        www.join("index.html"),
        etc.clone(),
        etc.join("app.conf"),
    ];
    let cleanup = read(instructions.join(format!("{GROUP}-cleanup")));
    let mut listed: Vec<PathBuf> = cleanup.lines().map(PathBuf::from).collect();
    assert!(cleanup.ends_with('\n'), "{cleanup}");
    listed.sort();
    let mut sorted = expected.clone();
    sorted.sort();
    assert_eq!(listed, sorted, "{cleanup}");
    // install.json: the official shape, sources in our deployment's archive.
    let install: serde_json::Value =
        serde_json::from_str(&read(instructions.join(format!("{GROUP}-install.json")))).unwrap();
    let steps = install["instructions"].as_array().unwrap();
    let copy = steps
        .iter()
        .find(|s| s["type"] == "copy" && s["destination"] == etc.join("app.conf").to_str().unwrap())
        .unwrap_or_else(|| panic!("{install}"));
    assert_eq!(
        copy["source"],
        ours.join("deployment-archive/config/app.conf")
            .to_str()
            .unwrap()
    );
    // Each kind of instruction has the official entry's keys.
    let keys = |install: &serde_json::Value| -> std::collections::BTreeMap<String, Vec<String>> {
        install["instructions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                let o = i.as_object().unwrap();
                (
                    i["type"].as_str().unwrap().to_owned(),
                    o.keys().cloned().collect(),
                )
            })
            .collect()
    };
    assert_eq!(
        keys(&install),
        keys(&serde_json::from_str(&official_install).unwrap())
    );
    assert!(
        steps
            .iter()
            .any(|s| s["type"] == "mkdir" && s["directory"] == site.to_str().unwrap()),
        "{install}"
    );

    // The deployments log: the official lines kept, ours appended in the same format.
    let log = read(
        host.root()
            .join("deployment-logs/codedeploy-agent-deployments.log"),
    );
    assert!(
        log.starts_with(&official_log),
        "the official lines are kept"
    );
    let appended: Vec<&str> = log[official_log.len()..].lines().collect();
    assert!(!appended.is_empty());
    for line in official_log.lines().skip(1).chain(appended.iter().copied()) {
        assert!(
            deployments_log_line(line).is_some(),
            "not the official format: {line:?}"
        );
    }
    assert_eq!(
        deployments_log_line(appended[0]),
        Some((id.as_str(), "LifecycleEvent - ApplicationStop"))
    );
    assert!(
        appended
            .iter()
            .any(|l| deployments_log_line(l)
                == Some((id.as_str(), "[stdout]v2 ApplicationStop in web"))),
        "{log}"
    );
    // scripts.log in our deployment: the official line format.
    // scripts.log in our deployment: line for line the official format,
    // checked on the official agent's own file too.
    let official_scripts = read(group.join(OFFICIAL_V2).join("logs/scripts.log"));
    let scripts = read(ours.join("logs/scripts.log"));
    let messages = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| {
                scripts_log_line(l)
                    .unwrap_or_else(|| panic!("not the official format: {l:?}"))
                    .to_owned()
            })
            .collect()
    };
    assert_eq!(
        messages(&official_scripts)[..2],
        [
            "LifecycleEvent - ApplicationStop",
            "Script - scripts/hook.sh"
        ]
    );
    let ours_messages = messages(&scripts);
    assert_eq!(
        ours_messages[..2],
        [
            "LifecycleEvent - ApplicationStop",
            "Script - scripts/hook.sh"
        ]
    );
    assert!(
        ours_messages.contains(&"[stdout]v2 ApplicationStop in web".to_owned()),
        "{scripts}"
    );

    // The official agent's deployments stay (max_revisions is 5).
    assert!(group.join(OFFICIAL_V1).join("deployment-archive").is_dir());
    assert!(group.join(OFFICIAL_V2).join("deployment-archive").is_dir());

    // And what we wrote is read back: a fourth revision runs ApplicationStop
    // from v3 and replays v3's cleanup (about.html goes).
    std::fs::remove_file(&hook_log).unwrap();
    let v4 = revision(&host, &site, "v4", &["index.html"]);
    let run = deploy(&host, &v4, &hook_log);
    run.assert_ok();
    assert!(
        read(&hook_log).starts_with("v3 ApplicationStop "),
        "{}",
        read(&hook_log)
    );
    assert!(!site.join("www/about.html").exists());
    assert_eq!(read(site.join("www/index.html")), "v4 index.html\n");
}
