//! A bed of several hosts: the simulator with `host-1`…`host-N` registered,
//! each with its own IAM user, and the official files that
//! `slipway-sandbox --agents` writes (so these tests also start agents from
//! exactly what the sandbox hands out), one `slipway-agent run` per host.
//!
//! The hosts share this machine, so a bundle's absolute `files:`
//! destination would be shared too: multi-host revisions keep to hooks,
//! which find their host's own directory in `FLEET_DIR` (and its name in
//! `FLEET_HOST`), set in each agent's environment and passed on to hooks.

use std::path::PathBuf;

use aws_sdk_codedeploy::types::{DeploymentInfo, InstanceTarget};
use slipway_tests::agent_hosts::{AgentHost, RegisteredHost};
use slipway_tests::codedeploy::SimulatorHandle;
use slipway_tests::credentials::CredentialStore;

use super::Agent;
use super::services::{self, Group};

const ACCOUNT: &str = "123456789012";

/// The simulator, S3 and the hosts' directories.
pub struct FleetBed {
    pub sim: SimulatorHandle,
    pub codedeploy: aws_sdk_codedeploy::Client,
    pub s3: aws_sdk_s3::Client,
    _moto: slipway_tests::Moto,
    pub dir: tempfile::TempDir,
    pub hosts: Vec<AgentHost>,
}

impl FleetBed {
    /// Starts the simulator with `count` hosts in group `web` of `shop`.
    pub async fn start(count: usize, group: Group) -> FleetBed {
        let store = CredentialStore::default();
        let (sim, codedeploy) = services::simulator(store.clone()).await;
        services::create_group(&codedeploy, group).await;
        let moto = slipway_tests::Moto::start().await.unwrap();
        let s3 = services::s3(moto.url()).await;
        let dir = tempfile::tempdir().unwrap();
        let hosts = (1..=count)
            .map(|i| {
                let name = format!("host-{i}");
                let iam_arn = format!("arn:aws:iam::{ACCOUNT}:user/{name}");
                let credential = services::credential(&format!("AKIAFLEETHOST{i:07}"), &iam_arn);
                store.insert(credential.clone());
                sim.register_on_premises_instance(&name, &iam_arn, &[services::TAG]);
                let host = AgentHost {
                    dir: dir.path().join(&name),
                    host: RegisteredHost {
                        name,
                        iam_arn,
                        credential,
                    },
                };
                host.write(&sim.endpoint(), Some(moto.url()), "us-east-1")
                    .unwrap();
                host
            })
            .collect();
        FleetBed {
            sim,
            codedeploy,
            s3,
            _moto: moto,
            dir,
            hosts,
        }
    }

    /// Host `name`'s directory (its `FLEET_DIR`).
    pub fn host_dir(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Starts `slipway-agent run` for every host, from its written config.
    pub fn agents(&self) -> Vec<Agent> {
        self.hosts.iter().map(|h| self.agent(h)).collect()
    }

    fn agent(&self, host: &AgentHost) -> Agent {
        Agent::start(
            &host.config_path(),
            host.dir.join("agent.log"),
            &[
                ("FLEET_HOST", host.host.name.as_ref()),
                ("FLEET_DIR", host.dir.as_os_str()),
            ],
        )
    }

    /// Every agent's log, for a failed assertion's message.
    pub fn logs(&self) -> String {
        self.hosts
            .iter()
            .map(|h| {
                let log = std::fs::read_to_string(h.dir.join("agent.log")).unwrap_or_default();
                format!("--- {}\n{log}", h.host.name)
            })
            .collect()
    }

    /// Packs `revision` as `kind` (tar, tgz, zip), uploads it under the
    /// revision's name and deploys it; returns the deployment id.
    pub async fn deploy(&self, revision: &crate::common::Revision, kind: &str) -> String {
        let name = revision.dir.file_name().unwrap().to_str().unwrap();
        let key = format!("{name}.{kind}");
        services::deploy(&self.codedeploy, &self.s3, revision, &key, kind).await
    }

    /// Waits for the deployment's final status.
    pub async fn wait_for_end(&self, deployment_id: &str) -> String {
        services::wait_for_end(&self.sim, deployment_id, || self.logs()).await
    }

    /// The rollback CodeDeploy started for `deployment_id`, once it succeeded.
    pub async fn rollback_of(&self, deployment_id: &str) -> String {
        let rollback = self
            .deployment(deployment_id)
            .await
            .rollback_info
            .and_then(|r| r.rollback_deployment_id)
            .unwrap_or_else(|| panic!("{deployment_id} was not rolled back"));
        assert_eq!(
            self.wait_for_end(&rollback).await,
            "Succeeded",
            "{}",
            self.logs()
        );
        rollback
    }

    /// GetDeployment's answer.
    pub async fn deployment(&self, deployment_id: &str) -> DeploymentInfo {
        self.codedeploy
            .get_deployment()
            .deployment_id(deployment_id)
            .send()
            .await
            .unwrap()
            .deployment_info
            .unwrap()
    }

    /// Every host's target in `deployment_id`, in host order.
    pub async fn targets(&self, deployment_id: &str) -> Vec<InstanceTarget> {
        let names: Vec<String> = self.hosts.iter().map(|h| h.host.name.clone()).collect();
        let mut targets: Vec<InstanceTarget> = self
            .codedeploy
            .batch_get_deployment_targets()
            .deployment_id(deployment_id)
            .set_target_ids(Some(names))
            .send()
            .await
            .unwrap()
            .deployment_targets
            .unwrap_or_default()
            .into_iter()
            .filter_map(|t| t.instance_target)
            .collect();
        targets.sort_by(|a, b| a.target_id.cmp(&b.target_id));
        targets
    }
}
