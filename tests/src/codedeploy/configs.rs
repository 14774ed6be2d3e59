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

/// How a Lambda or ECS configuration shifts traffic, as AWS documents
/// its predefined ones (percentages, intervals in minutes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrafficRouting {
    AllAtOnce,
    TimeBasedCanary { percentage: u32, interval: u32 },
    TimeBasedLinear { percentage: u32, interval: u32 },
}

/// What a configuration governs: hosts of the Server platform, or traffic
/// shifting on Lambda and ECS, which the simulator lists but never runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigRule {
    Server(MinimumHealthy),
    Lambda(TrafficRouting),
    Ecs(TrafficRouting),
}

impl ConfigRule {
    /// The `computePlatform` the configuration is for.
    pub fn compute_platform(self) -> &'static str {
        match self {
            ConfigRule::Server(_) => "Server",
            ConfigRule::Lambda(_) => "Lambda",
            ConfigRule::Ecs(_) => "ECS",
        }
    }

    /// The minimum healthy hosts of a Server configuration.
    pub fn minimum_healthy(self) -> Option<MinimumHealthy> {
        match self {
            ConfigRule::Server(m) => Some(m),
            ConfigRule::Lambda(_) | ConfigRule::Ecs(_) => None,
        }
    }

    pub fn traffic_routing(self) -> Option<TrafficRouting> {
        match self {
            ConfigRule::Server(_) => None,
            ConfigRule::Lambda(t) | ConfigRule::Ecs(t) => Some(t),
        }
    }
}

/// One deployment configuration.
#[derive(Debug, Clone)]
pub struct DeploymentConfig {
    pub id: String,
    pub name: String,
    pub rule: ConfigRule,
    pub create_time: SystemTime,
}

/// The name of the configuration a group gets when none is given.
pub const DEFAULT_CONFIG: &str = "CodeDeployDefault.OneAtATime";

/// Every predefined configuration AWS lists, for each compute platform.
pub fn builtin(now: SystemTime) -> Vec<DeploymentConfig> {
    use ConfigRule::{Ecs, Lambda, Server};
    use TrafficRouting::{AllAtOnce, TimeBasedCanary, TimeBasedLinear};
    let canary = |percentage, interval| TimeBasedCanary {
        percentage,
        interval,
    };
    let linear = |percentage, interval| TimeBasedLinear {
        percentage,
        interval,
    };
    [
        ("OneAtATime", Server(MinimumHealthy::MostConcurrency)),
        ("HalfAtATime", Server(MinimumHealthy::FleetPercent(50))),
        ("AllAtOnce", Server(MinimumHealthy::HostCount(0))),
        ("LambdaCanary10Percent5Minutes", Lambda(canary(10, 5))),
        ("LambdaCanary10Percent10Minutes", Lambda(canary(10, 10))),
        ("LambdaCanary10Percent15Minutes", Lambda(canary(10, 15))),
        ("LambdaCanary10Percent30Minutes", Lambda(canary(10, 30))),
        ("LambdaLinear10PercentEvery1Minute", Lambda(linear(10, 1))),
        ("LambdaLinear10PercentEvery2Minutes", Lambda(linear(10, 2))),
        ("LambdaLinear10PercentEvery3Minutes", Lambda(linear(10, 3))),
        (
            "LambdaLinear10PercentEvery10Minutes",
            Lambda(linear(10, 10)),
        ),
        ("LambdaAllAtOnce", Lambda(AllAtOnce)),
        ("ECSLinear10PercentEvery1Minutes", Ecs(linear(10, 1))),
        ("ECSLinear10PercentEvery3Minutes", Ecs(linear(10, 3))),
        ("ECSCanary10Percent5Minutes", Ecs(canary(10, 5))),
        ("ECSCanary10Percent15Minutes", Ecs(canary(10, 15))),
        ("ECSAllAtOnce", Ecs(AllAtOnce)),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (name, rule))| DeploymentConfig {
        // Stable ids, so two simulators report the same configuration.
        id: format!("00000000-0000-4000-8000-{:012}", i + 1),
        name: format!("CodeDeployDefault.{name}"),
        rule,
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
    fn every_platform_has_its_predefined_configs_with_distinct_ids() {
        let all = builtin(SystemTime::UNIX_EPOCH);
        for platform in ["Server", "Lambda", "ECS"] {
            assert!(
                all.iter()
                    .any(|c| c.rule.compute_platform() == platform
                        && c.name.ends_with("AllAtOnce")),
                "{platform}"
            );
        }
        let ids: std::collections::BTreeSet<_> = all.iter().map(|c| &c.id).collect();
        assert_eq!(ids.len(), all.len());
        // The Server ids are the ones the simulator always reported.
        assert_eq!(all[0].id, "00000000-0000-4000-8000-000000000001");
    }

    #[test]
    fn all_at_once_needs_one_success() {
        assert_eq!(MinimumHealthy::HostCount(0).needed_successes(5), 1);
    }
}
