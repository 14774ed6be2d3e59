//! action/install.sh: the release binary with its checksum checked, or a
//! cargo build when there is no release asset. Releases are served from
//! file:// and `cargo` is a stand-in that records its arguments.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/install.sh");
const ASSET: &str = "slipway-x86_64-unknown-linux-musl.tar.gz";

struct Runner {
    dir: TempDir,
}

impl Runner {
    fn new() -> Self {
        let runner = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        for sub in ["releases", "temp", "fake-bin"] {
            std::fs::create_dir_all(runner.path(sub)).unwrap();
        }
        // A cargo that "installs" by writing the binary where --root says.
        let cargo = runner.path("fake-bin/cargo");
        std::fs::write(
            &cargo,
            "#!/bin/sh\necho \"$@\" > \"$(dirname \"$0\")/cargo-args\"\nwhile [ \"$1\" != --root ]; do shift; done\nmkdir -p \"$2/bin\" && printf '#!/bin/sh\\necho built\\n' > \"$2/bin/slipway\" && chmod +x \"$2/bin/slipway\"\n",
        )
        .unwrap();
        chmod_x(&cargo);
        runner
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// Publishes release `version` with a `slipway` that prints `says`, and
    /// a SHA256SUMS line for it (the true one unless `sum` is given).
    fn release(&self, version: &str, says: &str, sum: Option<&str>) {
        let dir = self.path(&format!("releases/{version}"));
        let build = self.path("build");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(&build).unwrap();
        std::fs::write(build.join("slipway"), format!("#!/bin/sh\necho {says}\n")).unwrap();
        chmod_x(&build.join("slipway"));
        let asset = dir.join(ASSET);
        sh(&format!(
            "tar -czf '{}' -C '{}' slipway",
            asset.display(),
            build.display()
        ));
        let real =
            String::from_utf8(sh(&format!("sha256sum '{}'", asset.display())).stdout).unwrap();
        let sum = sum.map_or_else(|| real.split(' ').next().unwrap().to_owned(), str::to_owned);
        std::fs::write(dir.join("SHA256SUMS"), format!("{sum}  {ASSET}\n")).unwrap();
    }

    fn install(&self, action_ref: &str) -> Output {
        let output_file = self.path("github_output");
        let _ = std::fs::remove_file(&output_file);
        Command::new("bash")
            .arg(SCRIPT)
            .env_clear()
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin", self.path("fake-bin").display()),
            )
            .env("RUNNER_OS", "Linux")
            .env("RUNNER_ARCH", "X64")
            .env("RUNNER_TEMP", self.path("temp"))
            .env("GITHUB_OUTPUT", &output_file)
            .env("GITHUB_ACTION_PATH", "/the/action")
            .env("SLIPWAY_ACTION_REPOSITORY", "acme/slipway")
            .env("SLIPWAY_ACTION_REF", action_ref)
            .env(
                "SLIPWAY_DOWNLOAD_URL",
                format!("file://{}", self.path("releases").display()),
            )
            .output()
            .unwrap()
    }

    /// The `bin` output and what running it prints.
    fn installed(&self) -> (PathBuf, String) {
        let outputs = std::fs::read_to_string(self.path("github_output")).unwrap();
        let bin = PathBuf::from(outputs.trim().strip_prefix("bin=").expect("a bin= output"));
        let says = String::from_utf8(Command::new(&bin).output().unwrap().stdout).unwrap();
        (bin, says.trim().to_owned())
    }
}

fn chmod_x(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn sh(script: &str) -> Output {
    let output = Command::new("sh").arg("-c").arg(script).output().unwrap();
    assert!(output.status.success(), "{script}: {output:?}");
    output
}

#[test]
fn a_release_binary_with_a_matching_checksum_is_installed() {
    let runner = Runner::new();
    runner.release("v1.2.3", "released", None);
    let output = runner.install("v1.2.3");
    assert!(output.status.success(), "{output:?}");
    let (bin, says) = runner.installed();
    assert_eq!(says, "released");
    assert!(
        bin.ends_with("slipway/v1.2.3/bin/slipway"),
        "{}",
        bin.display()
    );
    assert!(
        !runner.path("fake-bin/cargo-args").exists(),
        "cargo was not needed"
    );
}

#[test]
fn a_checksum_mismatch_fails_and_never_falls_back() {
    let runner = Runner::new();
    runner.release("v1.2.3", "tampered", Some(&"0".repeat(64)));
    let output = runner.install("v1.2.3");
    assert!(!output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("::error title=slipway install::SHA-256 of"),
        "{stdout}"
    );
    assert!(!runner.path("fake-bin/cargo-args").exists());
    assert!(!runner.path("temp/slipway/v1.2.3/bin/slipway").exists());
}

#[test]
fn a_ref_without_a_release_is_built_with_cargo_install() {
    let runner = Runner::new();
    let output = runner.install("main");
    assert!(output.status.success(), "{output:?}");
    let (_, says) = runner.installed();
    assert_eq!(says, "built");
    let args = std::fs::read_to_string(runner.path("fake-bin/cargo-args")).unwrap();
    assert!(args.starts_with("install --locked"), "{args}");
    assert!(args.contains("--path /the/action/action"), "{args}");
}

#[test]
fn a_second_step_reuses_the_installed_binary() {
    let runner = Runner::new();
    runner.release("v1.2.3", "released", None);
    assert!(runner.install("v1.2.3").status.success());
    std::fs::remove_dir_all(runner.path("releases/v1.2.3")).unwrap();
    let output = runner.install("v1.2.3");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(runner.installed().1, "released");
}
