//! Deployment configurations: the built-in `CodeDeployDefault.*` ones and
//! custom minimum-healthy-hosts rules, and what each rule means for a fleet.

use std::time::SystemTime;

/// How many hosts must stay healthy while a deployment runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MinimumHealthy {
    /// `CodeDeployDefault.OneAtATime`: all hosts but one stay healthy, so
    /// a failure on the last host still lets the deployment succeed.
    MostConcurrency,
    /// An absolute number of hosts.
    HostCount(u32),
    /// A percentage of the fleet, rounded up.
    FleetPercent(u32),
}

impl MinimumHealthy {
    /// The number of hosts of a fleet of `fleet` that must stay healthy.
    pub fn required(self, fleet: usize) -> usize {
        match self {
            MinimumHealthy::MostConcurrency => fleet.saturating_sub(1),
            MinimumHealthy::HostCount(n) => n as usize,
            MinimumHealthy::FleetPercent(p) => (fleet * p as usize).div_ceil(100),
        }
    }

    /// How many hosts must succeed for the deployment to succeed: the
    /// minimum healthy, and never fewer than one.
    pub fn needed_successes(self, fleet: usize) -> usize {
        self.required(fleet).max(1).min(fleet.max(1))
    }

    /// The wire `type` and `value` GetDeploymentConfig reports.
    pub fn wire(self) -> (&'static str, u32) {
        match self {
            // AWS documents this pseudo-type for OneAtATime only.
            MinimumHealthy::MostConcurrency => ("MOST_CONCURRENCY", 1),
            MinimumHealthy::HostCount(n) => ("HOST_COUNT", n),
            MinimumHealthy::FleetPercent(p) => ("FLEET_PERCENT", p),
        }
    }
}

/// One deployment configuration.
#[derive(Debug, Clone)]
pub struct DeploymentConfig {
    pub id: String,
    pub name: String,
    pub minimum_healthy: MinimumHealthy,
    pub create_time: SystemTime,
}

/// The name of the configuration a group gets when none is given.
pub const DEFAULT_CONFIG: &str = "CodeDeployDefault.OneAtATime";

/// The built-in configurations for the Server compute platform.
pub fn builtin(now: SystemTime) -> Vec<DeploymentConfig> {
    [
        (
            "CodeDeployDefault.OneAtATime",
            MinimumHealthy::MostConcurrency,
        ),
        (
            "CodeDeployDefault.HalfAtATime",
            MinimumHealthy::FleetPercent(50),
        ),
        ("CodeDeployDefault.AllAtOnce", MinimumHealthy::HostCount(0)),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (name, minimum_healthy))| DeploymentConfig {
        // Stable ids, so two simulators report the same configuration.
        id: format!("00000000-0000-4000-8000-00000000000{}", i + 1),
        name: name.to_owned(),
        minimum_healthy,
        create_time: now,
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleet_percent_rounds_up_like_the_aws_example() {
        // AWS: nine hosts at FLEET_PERCENT 40 keep four healthy.
        assert_eq!(MinimumHealthy::FleetPercent(40).required(9), 4);
        assert_eq!(MinimumHealthy::FleetPercent(50).required(3), 2);
    }

    #[test]
    fn one_at_a_time_keeps_all_hosts_but_one_healthy() {
        assert_eq!(MinimumHealthy::MostConcurrency.required(3), 2);
        assert_eq!(MinimumHealthy::MostConcurrency.required(1), 0);
        assert_eq!(MinimumHealthy::MostConcurrency.needed_successes(1), 1);
    }

    #[test]
    fn all_at_once_needs_one_success() {
        assert_eq!(MinimumHealthy::HostCount(0).needed_successes(5), 1);
    }
}
