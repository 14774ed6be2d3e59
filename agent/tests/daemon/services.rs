//! What the single-host and multi-host beds share: the simulator, the
//! operator's clients, the application and group, uploading and deploying
//! a revision, and waiting for a deployment to end.

use std::time::{Duration, Instant};

use aws_sdk_codedeploy::config::{BehaviorVersion, Credentials, Region, retry::RetryConfig};
use aws_sdk_codedeploy::types::{
    AutoRollbackConfiguration, AutoRollbackEvent, BundleType, RevisionLocation,
    RevisionLocationType, S3Location, TagFilter, TagFilterType,
};
use aws_sdk_s3::primitives::ByteStream;
use slipway_tests::codedeploy::{Simulator, SimulatorConfig, SimulatorHandle};
use slipway_tests::credentials::{CredentialStore, IssuedCredential};

use super::DEADLINE;

/// The bundles' bucket.
pub const BUCKET: &str = "releases";
/// Every bed's hosts carry this tag; the group selects it.
pub const TAG: (&str, &str) = ("fleet", "web");

/// How the group `web` of application `shop` deploys.
#[derive(Debug, Clone, Copy)]
pub struct Group {
    /// The deployment configuration's name.
    pub config: &'static str,
    /// Whether a failed deployment rolls back automatically.
    pub rollback_on_failure: bool,
}

/// Static keys for `principal_arn`, accepted once in a store.
pub fn credential(access_key_id: &str, principal_arn: &str) -> IssuedCredential {
    IssuedCredential {
        access_key_id: access_key_id.to_owned(),
        secret_access_key: format!("{access_key_id}/secret/0123456789abcdef"),
        session_token: None,
        expiration: None,
        principal_arn: principal_arn.to_owned(),
    }
}

/// The simulator, answering hosts whose keys are in `store` and an
/// operator; returns it with the operator's CodeDeploy client.
pub async fn simulator(store: CredentialStore) -> (SimulatorHandle, aws_sdk_codedeploy::Client) {
    simulator_configured(store, |_| {}).await
}

/// [`simulator`], its configuration changed by `configure` first.
pub async fn simulator_configured(
    store: CredentialStore,
    configure: impl FnOnce(&mut SimulatorConfig),
) -> (SimulatorHandle, aws_sdk_codedeploy::Client) {
    let operator = credential(
        "AKIAOPERATOR00000001",
        "arn:aws:iam::123456789012:user/release-manager",
    );
    store.insert(operator.clone());
    let mut config = SimulatorConfig::new(store);
    config.poll_wait = Duration::from_secs(2);
    configure(&mut config);
    let sim = Simulator::start(config).await.unwrap();
    let codedeploy = codedeploy_client(&sim.endpoint(), &operator);
    (sim, codedeploy)
}

/// A CodeDeploy client of `endpoint` signing as `operator`, without retries.
pub fn codedeploy_client(
    endpoint: &str,
    operator: &IssuedCredential,
) -> aws_sdk_codedeploy::Client {
    aws_sdk_codedeploy::Client::from_conf(
        aws_sdk_codedeploy::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(Credentials::new(
                &operator.access_key_id,
                &operator.secret_access_key,
                operator.session_token.clone(),
                None,
                "test",
            ))
            .retry_config(RetryConfig::disabled())
            .build(),
    )
}

/// Creates application `shop` and its group `web` over the [`TAG`]ged hosts.
pub async fn create_group(codedeploy: &aws_sdk_codedeploy::Client, group: Group) {
    codedeploy
        .create_application()
        .application_name("shop")
        .send()
        .await
        .unwrap();
    let mut create = group_request(codedeploy, "web").deployment_config_name(group.config);
    if group.rollback_on_failure {
        create = create.auto_rollback_configuration(
            AutoRollbackConfiguration::builder()
                .enabled(true)
                .events(AutoRollbackEvent::DeploymentFailure)
                .build(),
        );
    }
    create.send().await.unwrap();
}

/// Creates another group `name` of application `shop` over the same hosts.
pub async fn create_named_group(codedeploy: &aws_sdk_codedeploy::Client, name: &str) {
    group_request(codedeploy, name).send().await.unwrap();
}

fn group_request(
    codedeploy: &aws_sdk_codedeploy::Client,
    name: &str,
) -> aws_sdk_codedeploy::operation::create_deployment_group::builders::CreateDeploymentGroupFluentBuilder{
    codedeploy
        .create_deployment_group()
        .application_name("shop")
        .deployment_group_name(name)
        .service_role_arn("arn:aws:iam::123456789012:role/codedeploy")
        .on_premises_instance_tag_filters(
            TagFilter::builder()
                .key(TAG.0)
                .value(TAG.1)
                .r#type(TagFilterType::KeyAndValue)
                .build(),
        )
}

/// An S3 client for moto at `url`, with the bundles' bucket created.
pub async fn s3(url: &str) -> aws_sdk_s3::Client {
    let s3 = slipway_tests::moto::s3_client(url);
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    s3
}

/// Packs `revision` as `kind` (tar, tgz, zip), uploads it as `key` and
/// deploys it to group `web`; returns the deployment id.
pub async fn deploy(
    codedeploy: &aws_sdk_codedeploy::Client,
    s3: &aws_sdk_s3::Client,
    revision: &crate::common::Revision,
    key: &str,
    kind: &str,
) -> String {
    deploy_to_group(codedeploy, s3, "web", revision, key, kind).await
}

/// [`deploy`] to group `group`.
pub async fn deploy_to_group(
    codedeploy: &aws_sdk_codedeploy::Client,
    s3: &aws_sdk_s3::Client,
    group: &str,
    revision: &crate::common::Revision,
    key: &str,
    kind: &str,
) -> String {
    let bundle = revision.pack(kind);
    let put = s3
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .body(ByteStream::from(std::fs::read(&bundle).unwrap()))
        .send()
        .await
        .unwrap();
    let bundle_type = match kind {
        "tar" => BundleType::Tar,
        "tgz" => BundleType::TarGZip,
        "zip" => BundleType::Zip,
        other => panic!("no bundle type {other}"),
    };
    let location = RevisionLocation::builder()
        .revision_type(RevisionLocationType::S3)
        .s3_location(
            S3Location::builder()
                .bucket(BUCKET)
                .key(key)
                .bundle_type(bundle_type)
                .e_tag(put.e_tag().unwrap().trim_matches('"'))
                .build(),
        )
        .build();
    codedeploy
        .create_deployment()
        .application_name("shop")
        .deployment_group_name(group)
        .revision(location)
        .send()
        .await
        .unwrap()
        .deployment_id
        .unwrap()
}

/// Waits for the deployment's final status; on timeout, panics with `logs()`.
pub async fn wait_for_end(
    sim: &SimulatorHandle,
    deployment_id: &str,
    logs: impl Fn() -> String,
) -> String {
    let until = Instant::now() + DEADLINE;
    loop {
        match sim.deployment_status(deployment_id).as_deref() {
            Some(s @ ("Succeeded" | "Failed" | "Stopped")) => return s.to_owned(),
            _ if Instant::now() >= until => {
                panic!(
                    "{deployment_id} did not end within {DEADLINE:?}\n{}",
                    logs()
                )
            }
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}
