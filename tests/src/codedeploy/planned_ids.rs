//! Identifiers a test plans for the simulator to hand out, so that requests
//! recorded against another run (the official agent's transcript) name the
//! same deployment and commands when they are replayed. Without a plan,
//! ids are fresh and random, as AWS's are.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use slipway_shared::new_deployment_id;

use crate::sync::lock;

/// The deployment and command ids the simulator hands out next, shared
/// between a test and the simulator it configured.
#[derive(Debug, Clone, Default)]
pub struct PlannedIds(Arc<Mutex<Planned>>);

#[derive(Debug, Default)]
struct Planned {
    deployments: VecDeque<String>,
    commands: VecDeque<String>,
}

impl PlannedIds {
    /// The next deployment created (by CreateDeployment or a rollback) gets
    /// `id`; planned ids are used in the order planned.
    pub fn plan_deployment(&self, id: &str) {
        lock(&self.0).deployments.push_back(id.to_owned());
    }

    /// The next host command made gets `id` (its HostCommandIdentifier).
    pub fn plan_command(&self, id: &str) {
        lock(&self.0).commands.push_back(id.to_owned());
    }

    pub(crate) fn deployment_id(&self) -> String {
        lock(&self.0)
            .deployments
            .pop_front()
            .unwrap_or_else(new_deployment_id)
    }

    pub(crate) fn command_id(&self) -> String {
        lock(&self.0)
            .commands
            .pop_front()
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planned_ids_come_first_then_fresh_ones() {
        let ids = PlannedIds::default();
        ids.plan_command("c1");
        ids.plan_deployment("d-AAAAAAAAA");
        assert_eq!(ids.command_id(), "c1");
        assert_ne!(ids.command_id(), "c1");
        assert_eq!(ids.deployment_id(), "d-AAAAAAAAA");
        assert!(ids.deployment_id().starts_with("d-"));
    }
}
