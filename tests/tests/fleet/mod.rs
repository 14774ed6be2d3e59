//! A simulator with an application, an on-premises deployment group and N
//! registered scripted hosts: the setup the host-plane tests and the
//! `codedeploy-hosts` bench share.

#![allow(dead_code)] // each user takes what it needs

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use aws_sdk_codedeploy::config::{BehaviorVersion, Credentials, Region, retry::RetryConfig};
use aws_sdk_codedeploy::types::{
    BundleType, LifecycleEvent, RevisionLocation, RevisionLocationType, S3Location, TagFilter,
    TagFilterType,
};
use slipway_tests::codedeploy::{EnvelopeFormat, Simulator, SimulatorConfig, SimulatorHandle};
use slipway_tests::credentials::{CredentialStore, IssuedCredential};
use slipway_tests::scripted_host::{HostConfig, RunningHost, Script, ScriptedHost};

pub const APPLICATION: &str = "shop";
pub const GROUP: &str = "web";
const TAG: (&str, &str) = ("fleet", "web");

/// The simulator, an SDK client for its control plane, and the hosts' configs.
pub struct Fleet {
    pub sim: SimulatorHandle,
    pub codedeploy: aws_sdk_codedeploy::Client,
    pub hosts: Vec<HostConfig>,
}

fn credential(access_key_id: String, principal_arn: String) -> IssuedCredential {
    IssuedCredential {
        secret_access_key: format!("{access_key_id}/secret/0123456789abcdef"),
        access_key_id,
        session_token: None,
        expiration: None,
        principal_arn,
    }
}

impl Fleet {
    /// Starts a simulator with `hosts` on-premises instances registered in
    /// group `web` of application `shop`, deploying with `config_name`.
    pub async fn start(
        hosts: usize,
        config_name: &str,
        envelope: EnvelopeFormat,
        poll_wait: Duration,
    ) -> Result<Self> {
        let store = CredentialStore::default();
        let operator = credential(
            "AKIAOPERATOR00000001".to_owned(),
            "arn:aws:iam::123456789012:user/release-manager".to_owned(),
        );
        store.insert(operator.clone());
        let mut config = SimulatorConfig::new(store.clone());
        config.envelope = envelope;
        config.poll_wait = poll_wait;
        let sim = Simulator::start(config)
            .await
            .context("start the simulator")?;

        let sdk_config = aws_sdk_codedeploy::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(sim.endpoint())
            .credentials_provider(Credentials::new(
                &operator.access_key_id,
                &operator.secret_access_key,
                None,
                None,
                "fleet",
            ))
            .retry_config(RetryConfig::disabled())
            .build();
        let codedeploy = aws_sdk_codedeploy::Client::from_conf(sdk_config);

        // One socket pool for all hosts, so a big fleet does not build a TLS
        // stack per host; each host still signs with its own keys.
        let http = reqwest::Client::builder()
            .read_timeout(slipway_tests::scripted_host::HTTP_READ_TIMEOUT)
            .pool_max_idle_per_host(hosts.max(1) * 2)
            .build()?;
        let mut configs = Vec::with_capacity(hosts);
        for i in 0..hosts {
            let name = format!("host-{i:03}");
            let iam_arn = format!("arn:aws:iam::123456789012:user/{name}");
            let key = credential(format!("AKIAHOST{i:012}"), iam_arn.clone());
            store.insert(key.clone());
            sim.register_on_premises_instance(&name, &iam_arn, &[TAG]);
            let mut host = HostConfig::new(sim.endpoint(), "us-east-1", iam_arn, key);
            host.http = http.clone();
            configs.push(host);
        }

        codedeploy
            .create_application()
            .application_name(APPLICATION)
            .send()
            .await
            .context("create the application")?;
        codedeploy
            .create_deployment_group()
            .application_name(APPLICATION)
            .deployment_group_name(GROUP)
            .deployment_config_name(config_name)
            .service_role_arn("arn:aws:iam::123456789012:role/codedeploy")
            .on_premises_instance_tag_filters(
                TagFilter::builder()
                    .key(TAG.0)
                    .value(TAG.1)
                    .r#type(TagFilterType::KeyAndValue)
                    .build(),
            )
            .send()
            .await
            .context("create the deployment group")?;
        Ok(Self {
            sim,
            codedeploy,
            hosts: configs,
        })
    }

    /// Starts every host polling, each with `script(index)`.
    pub fn spawn_hosts(&self, script: impl Fn(usize) -> Script) -> Vec<RunningHost> {
        self.hosts
            .iter()
            .enumerate()
            .map(|(i, config)| ScriptedHost::new(config.clone(), script(i)).spawn())
            .collect()
    }

    /// Creates a deployment of `key` (a bundle the scripted hosts never
    /// download) to the group; returns its id.
    pub async fn deploy(&self, key: &str) -> Result<String> {
        self.deploy_s3("releases", key, "0123456789abcdef").await
    }

    /// Creates a deployment of the tgz bundle `bucket/key` to the group.
    pub async fn deploy_s3(&self, bucket: &str, key: &str, etag: &str) -> Result<String> {
        let revision = RevisionLocation::builder()
            .revision_type(RevisionLocationType::S3)
            .s3_location(
                S3Location::builder()
                    .bucket(bucket)
                    .key(key)
                    .bundle_type(BundleType::TarGZip)
                    .e_tag(etag)
                    .build(),
            )
            .build();
        let created = self
            .codedeploy
            .create_deployment()
            .application_name(APPLICATION)
            .deployment_group_name(GROUP)
            .revision(revision)
            .send()
            .await
            .context("create the deployment")?;
        created
            .deployment_id
            .context("CreateDeployment returned no deployment id")
    }

    /// Waits, polling the simulator's state every 5 ms, until the deployment
    /// reaches a final status; returns it.
    pub async fn wait_for_end(&self, deployment_id: &str, deadline: Duration) -> Result<String> {
        let until = Instant::now() + deadline;
        loop {
            match self.sim.deployment_status(deployment_id).as_deref() {
                Some(status @ ("Succeeded" | "Failed" | "Stopped")) => return Ok(status.to_owned()),
                _ if Instant::now() >= until => {
                    bail!("deployment {deployment_id} did not end within {deadline:?}")
                }
                _ => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    }

    /// The lifecycle events of `host` in `deployment_id`, as
    /// BatchGetDeploymentTargets reports them.
    pub async fn lifecycle_events(
        &self,
        deployment_id: &str,
        host: &str,
    ) -> Result<Vec<LifecycleEvent>> {
        let output = self
            .codedeploy
            .batch_get_deployment_targets()
            .deployment_id(deployment_id)
            .target_ids(host)
            .send()
            .await
            .context("BatchGetDeploymentTargets")?;
        let target = output
            .deployment_targets
            .and_then(|mut t| t.pop())
            .and_then(|t| t.instance_target)
            .with_context(|| format!("no instance target {host} in {deployment_id}"))?;
        Ok(target.lifecycle_events.unwrap_or_default())
    }

    /// Waits until `n` PollHostCommand calls are held open at once.
    pub async fn wait_for_waiting_polls(&self, n: usize, deadline: Duration) -> Result<()> {
        let until = Instant::now() + deadline;
        while self.sim.waiting_polls() < n {
            if Instant::now() >= until {
                bail!(
                    "only {} of {n} polls waiting after {deadline:?}",
                    self.sim.waiting_polls()
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }
}
