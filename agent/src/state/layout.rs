//! The official deployment root:
//! `<root>/<group-id>/<deployment-id>/{bundle.tar, deployment-archive/, logs/scripts.log}`,
//! `<root>/deployment-instructions/` and `<root>/deployment-logs/`.

use std::path::{Path, PathBuf};

/// Paths within one deployment root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The root at `root`. Relative roots are made absolute, because the
    /// pointer files hold absolute paths.
    pub fn new(root: &Path) -> Layout {
        let root = std::path::absolute(root).unwrap_or_else(|_| root.to_owned());
        Layout { root }
    }

    /// The root itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A deployment group's directory.
    pub fn group_dir(&self, group_id: &str) -> PathBuf {
        self.root.join(group_id)
    }

    /// One deployment's directory.
    pub fn deployment_dir(&self, group_id: &str, deployment_id: &str) -> PathBuf {
        self.group_dir(group_id).join(deployment_id)
    }

    /// `deployment-instructions/`.
    pub fn instructions_dir(&self) -> PathBuf {
        self.root.join("deployment-instructions")
    }

    /// `deployment-logs/codedeploy-agent-deployments.log`.
    pub fn deployments_log(&self) -> PathBuf {
        self.root
            .join("deployment-logs")
            .join("codedeploy-agent-deployments.log")
    }

    /// `<group-id>-cleanup`: what the group's last Install created.
    pub fn cleanup_file(&self, group_id: &str) -> PathBuf {
        self.instructions_dir().join(format!("{group_id}-cleanup"))
    }

    /// `<group-id>-install.json`: the group's last install instructions.
    pub fn install_file(&self, group_id: &str) -> PathBuf {
        self.instructions_dir()
            .join(format!("{group_id}-install.json"))
    }

    /// `<group-id>_most_recent_install`.
    pub fn most_recent_pointer(&self, group_id: &str) -> PathBuf {
        self.instructions_dir()
            .join(format!("{group_id}_most_recent_install"))
    }

    /// `<group-id>_last_successful_install`.
    pub fn last_successful_pointer(&self, group_id: &str) -> PathBuf {
        self.instructions_dir()
            .join(format!("{group_id}_last_successful_install"))
    }
}

/// The parts of one deployment's directory.
pub trait DeploymentDir {
    /// `bundle.tar`: the downloaded bundle, whatever its type.
    fn bundle(&self) -> PathBuf;
    /// `deployment-archive/`: the unpacked revision.
    fn archive(&self) -> PathBuf;
    /// `logs/scripts.log`.
    fn scripts_log(&self) -> PathBuf;
}

impl DeploymentDir for Path {
    fn bundle(&self) -> PathBuf {
        self.join("bundle.tar")
    }
    fn archive(&self) -> PathBuf {
        self.join("deployment-archive")
    }
    fn scripts_log(&self) -> PathBuf {
        self.join("logs").join("scripts.log")
    }
}
