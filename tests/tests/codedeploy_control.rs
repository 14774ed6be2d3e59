//! The simulator's control plane, driven by aws-sdk-codedeploy and by boto3
//! (botocore parses every response with AWS's own model), and its answers
//! to bad input.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_codedeploy::Client;
use aws_sdk_codedeploy::config::retry::RetryConfig;
use aws_sdk_codedeploy::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_codedeploy::error::ProvideErrorMetadata;
use aws_sdk_codedeploy::types::{
    AutoRollbackConfiguration, AutoRollbackEvent, BundleType, DeploymentStatus,
    MinimumHealthyHosts, MinimumHealthyHostsType, RevisionLocation, RevisionLocationType,
    S3Location, Tag, TagFilter, TagFilterType, TargetStatus,
};
use aws_sdk_codedeploy::types::{ComputePlatform, LifecycleEventStatus, RegistrationStatus};
use serde_json::{Value, json};
use slipway_tests::codedeploy::{Simulator, SimulatorConfig, SimulatorHandle};
use slipway_tests::credentials::{CredentialStore, IssuedCredential};
use slipway_tests::sigv4_sign::RequestSigner;

const ACCESS_KEY: &str = "AKIAEXAMPLECONTROL01";
const SECRET_KEY: &str = "control-plane-test-secret-key-0123456789";

async fn start() -> (SimulatorHandle, Client) {
    start_paged(SimulatorConfig::new(CredentialStore::default()).page_size).await
}

/// A simulator whose list operations page after `page_size` ids.
async fn start_paged(page_size: usize) -> (SimulatorHandle, Client) {
    let store = CredentialStore::default();
    store.insert(IssuedCredential {
        access_key_id: ACCESS_KEY.to_owned(),
        secret_access_key: SECRET_KEY.to_owned(),
        session_token: None,
        expiration: None,
        principal_arn: "arn:aws:iam::123456789012:user/release".to_owned(),
    });
    let mut config = SimulatorConfig::new(store);
    config.poll_wait = Duration::from_millis(500);
    config.page_size = page_size;
    let sim = Simulator::start(config).await.expect("simulator starts");
    let client = Client::from_conf(
        aws_sdk_codedeploy::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(sim.endpoint())
            .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test"))
            .retry_config(RetryConfig::disabled())
            .build(),
    );
    (sim, client)
}

fn s3_revision(key: &str) -> RevisionLocation {
    RevisionLocation::builder()
        .revision_type(RevisionLocationType::S3)
        .s3_location(
            S3Location::builder()
                .bucket("releases")
                .key(key)
                .bundle_type(BundleType::TarGZip)
                .e_tag("0123abcd")
                .version("v1")
                .build(),
        )
        .build()
}

fn web_filter() -> TagFilter {
    TagFilter::builder()
        .key("role")
        .value("web")
        .r#type(TagFilterType::KeyAndValue)
        .build()
}

fn code<E, R>(err: aws_sdk_codedeploy::error::SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata,
{
    err.code().unwrap_or("<none>").to_owned()
}

/// Polls `check` until it returns Some, for up to 30 s.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Application `shop` with group `prod` (AllAtOnce, on-premises hosts
/// tagged role=web, rollback on failure) and host `web-1` in it.
async fn shop_with_prod_group(cd: &Client) {
    cd.create_application()
        .application_name("shop")
        .send()
        .await
        .unwrap();
    let rollback = AutoRollbackConfiguration::builder()
        .enabled(true)
        .events(AutoRollbackEvent::DeploymentFailure)
        .build();
    cd.create_deployment_group()
        .application_name("shop")
        .deployment_group_name("prod")
        .service_role_arn("arn:aws:iam::123456789012:role/codedeploy")
        .deployment_config_name("CodeDeployDefault.AllAtOnce")
        .on_premises_instance_tag_filters(web_filter())
        .auto_rollback_configuration(rollback)
        .send()
        .await
        .unwrap();
    register(cd, "web-1", &[("role", "web")]).await;
}

#[tokio::test]
async fn applications_are_created_described_and_unique() {
    let (_sim, cd) = start().await;
    let app_id = cd
        .create_application()
        .application_name("shop")
        .send()
        .await
        .unwrap()
        .application_id
        .unwrap();
    let app = cd
        .get_application()
        .application_name("shop")
        .send()
        .await
        .unwrap();
    assert_eq!(app.application.unwrap().application_id.unwrap(), app_id);
    let dup = cd
        .create_application()
        .application_name("shop")
        .send()
        .await;
    assert_eq!(code(dup.unwrap_err()), "ApplicationAlreadyExistsException");
}

#[tokio::test]
async fn deployment_configs_are_created_and_described() {
    let (_sim, cd) = start().await;
    let custom = cd
        .create_deployment_config()
        .deployment_config_name("TwoThirds")
        .minimum_healthy_hosts(
            MinimumHealthyHosts::builder()
                .r#type(MinimumHealthyHostsType::FleetPercent)
                .value(66)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(custom.deployment_config_id.is_some());
    let half = cd
        .get_deployment_config()
        .deployment_config_name("CodeDeployDefault.HalfAtATime")
        .send()
        .await
        .unwrap()
        .deployment_config_info
        .unwrap();
    let min = half.minimum_healthy_hosts.unwrap();
    assert_eq!(min.r#type, Some(MinimumHealthyHostsType::FleetPercent));
    assert_eq!(min.value, 50);
    let missing = cd
        .get_deployment_config()
        .deployment_config_name("Nope")
        .send()
        .await;
    assert_eq!(
        code(missing.unwrap_err()),
        "DeploymentConfigDoesNotExistException"
    );
}

#[tokio::test]
async fn deployment_groups_are_created_updated_and_described() {
    let (_sim, cd) = start().await;
    cd.create_application()
        .application_name("shop")
        .send()
        .await
        .unwrap();
    let rollback = AutoRollbackConfiguration::builder()
        .enabled(true)
        .events(AutoRollbackEvent::DeploymentFailure)
        .build();
    cd.create_deployment_group()
        .application_name("shop")
        .deployment_group_name("prod")
        .service_role_arn("arn:aws:iam::123456789012:role/codedeploy")
        .deployment_config_name("CodeDeployDefault.AllAtOnce")
        .on_premises_instance_tag_filters(web_filter())
        .auto_rollback_configuration(rollback)
        .send()
        .await
        .unwrap();
    cd.update_deployment_group()
        .application_name("shop")
        .current_deployment_group_name("prod")
        .deployment_config_name("CodeDeployDefault.OneAtATime")
        .send()
        .await
        .unwrap();
    let group = cd
        .get_deployment_group()
        .application_name("shop")
        .deployment_group_name("prod")
        .send()
        .await
        .unwrap()
        .deployment_group_info
        .unwrap();
    assert_eq!(
        group.deployment_config_name.as_deref(),
        Some("CodeDeployDefault.OneAtATime")
    );
    assert_eq!(group.on_premises_instance_tag_filters(), &[web_filter()]);
    assert!(group.auto_rollback_configuration.unwrap().enabled);
    let no_group = cd
        .get_deployment_group()
        .application_name("shop")
        .deployment_group_name("staging")
        .send()
        .await;
    assert_eq!(
        code(no_group.unwrap_err()),
        "DeploymentGroupDoesNotExistException"
    );
    let no_app = cd
        .get_deployment_group()
        .application_name("ghost")
        .deployment_group_name("prod")
        .send()
        .await;
    assert_eq!(
        code(no_app.unwrap_err()),
        "ApplicationDoesNotExistException"
    );
}

#[tokio::test]
async fn revisions_are_registered_found_and_checked() {
    let (_sim, cd) = start().await;
    cd.create_application()
        .application_name("shop")
        .send()
        .await
        .unwrap();
    cd.register_application_revision()
        .application_name("shop")
        .description("first build")
        .revision(s3_revision("shop/1.tgz"))
        .send()
        .await
        .unwrap();
    let got = cd
        .get_application_revision()
        .application_name("shop")
        .revision(s3_revision("shop/1.tgz"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.revision_info.unwrap().description.as_deref(),
        Some("first build")
    );
    let bad_revision = RevisionLocation::builder()
        .revision_type(RevisionLocationType::S3)
        .s3_location(S3Location::builder().bucket("releases").build())
        .build();
    let invalid = cd
        .register_application_revision()
        .application_name("shop")
        .revision(bad_revision)
        .send()
        .await;
    assert_eq!(code(invalid.unwrap_err()), "InvalidRevisionException");
}

#[tokio::test]
async fn on_premises_instances_are_registered_and_tagged() {
    let (_sim, cd) = start().await;
    cd.register_on_premises_instance()
        .instance_name("web-1")
        .iam_user_arn("arn:aws:iam::123456789012:user/web-1")
        .send()
        .await
        .unwrap();
    cd.add_tags_to_on_premises_instances()
        .instance_names("web-1")
        .tags(Tag::builder().key("role").value("web").build())
        .send()
        .await
        .unwrap();
    let unregistered = cd
        .add_tags_to_on_premises_instances()
        .instance_names("web-9")
        .tags(Tag::builder().key("role").value("web").build())
        .send()
        .await;
    assert_eq!(
        code(unregistered.unwrap_err()),
        "InstanceNotRegisteredException"
    );
}

#[tokio::test]
async fn a_deployment_is_created_described_listed_and_stopped() {
    let (_sim, cd) = start().await;
    shop_with_prod_group(&cd).await;
    cd.register_application_revision()
        .application_name("shop")
        .revision(s3_revision("shop/1.tgz"))
        .send()
        .await
        .unwrap();
    let before = SystemTime::now() - Duration::from_secs(60);
    let id = cd
        .create_deployment()
        .application_name("shop")
        .deployment_group_name("prod")
        .revision(s3_revision("shop/2.tgz"))
        .description("release 2")
        .ignore_application_stop_failures(true)
        .file_exists_behavior(aws_sdk_codedeploy::types::FileExistsBehavior::Overwrite)
        .send()
        .await
        .unwrap()
        .deployment_id
        .unwrap();
    let limit = cd
        .create_deployment()
        .application_name("shop")
        .deployment_group_name("prod")
        .revision(s3_revision("shop/3.tgz"))
        .send()
        .await;
    assert_eq!(code(limit.unwrap_err()), "DeploymentLimitExceededException");

    // Nobody polls, so web-1's first command waits: the deployment is
    // InProgress with one target InProgress.
    let info = eventually("deployment to start", || async {
        let d = cd.get_deployment().deployment_id(&id).send().await.unwrap();
        let info = d.deployment_info.unwrap();
        (info.status == Some(DeploymentStatus::InProgress)).then_some(info)
    })
    .await;
    assert_eq!(info.description.as_deref(), Some("release 2"));
    assert!(info.ignore_application_stop_failures);
    assert_eq!(info.creator.unwrap().as_str(), "user");
    assert_eq!(info.deployment_overview.unwrap().in_progress, 1);

    let listed = cd
        .list_deployments()
        .application_name("shop")
        .deployment_group_name("prod")
        .include_only_statuses(DeploymentStatus::InProgress)
        .create_time_range(
            aws_sdk_codedeploy::types::TimeRange::builder()
                .start(before.into())
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(listed.deployments(), std::slice::from_ref(&id));
    let batch = cd
        .batch_get_deployments()
        .deployment_ids(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(batch.deployments_info().len(), 1);

    let targets = cd
        .list_deployment_targets()
        .deployment_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(targets.target_ids(), ["web-1"]);
    let detail = cd
        .batch_get_deployment_targets()
        .deployment_id(&id)
        .target_ids("web-1")
        .send()
        .await
        .unwrap();
    let target = detail.deployment_targets()[0]
        .instance_target
        .clone()
        .unwrap();
    assert_eq!(target.status, Some(TargetStatus::InProgress));
    let events: Vec<&str> = target
        .lifecycle_events()
        .iter()
        .map(|e| e.lifecycle_event_name.as_deref().unwrap())
        .collect();
    assert_eq!(events[0], "ApplicationStop");
    assert_eq!(events.len(), 7);
    #[allow(deprecated)] // the issue asks for the instance operations too
    let instances = cd
        .list_deployment_instances()
        .deployment_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(instances.instances_list(), ["web-1"]);
    #[allow(deprecated)]
    let summary = cd
        .get_deployment_instance()
        .deployment_id(&id)
        .instance_id("web-1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        summary.instance_summary.unwrap().lifecycle_events().len(),
        7
    );

    // Nothing was handed to the host yet, so the stop completes at once.
    let stop = cd
        .stop_deployment()
        .deployment_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(stop.status.unwrap().as_str(), "Succeeded");
    let stopped = cd.get_deployment().deployment_id(&id).send().await.unwrap();
    let stopped = stopped.deployment_info.unwrap();
    assert_eq!(stopped.status, Some(DeploymentStatus::Stopped));
    assert_eq!(
        stopped.error_information.unwrap().code.unwrap().as_str(),
        "MANUAL_STOP"
    );
    let again = cd.stop_deployment().deployment_id(&id).send().await;
    assert_eq!(
        code(again.unwrap_err()),
        "DeploymentAlreadyCompletedException"
    );

    let revisions = cd
        .list_application_revisions()
        .application_name("shop")
        .send()
        .await
        .unwrap();
    assert_eq!(revisions.revisions().len(), 2);
    let group = cd
        .get_deployment_group()
        .application_name("shop")
        .deployment_group_name("prod")
        .send()
        .await
        .unwrap()
        .deployment_group_info
        .unwrap();
    let last = group.last_attempted_deployment.unwrap();
    assert_eq!(last.deployment_id.as_deref(), Some(id.as_str()));
    assert_eq!(last.status, Some(DeploymentStatus::Stopped));
    assert!(group.last_successful_deployment.is_none());

    let malformed = cd.get_deployment().deployment_id("nope").send().await;
    assert_eq!(code(malformed.unwrap_err()), "InvalidDeploymentIdException");
    let unknown = cd
        .get_deployment()
        .deployment_id("d-AAAAAAAAA")
        .send()
        .await;
    assert_eq!(
        code(unknown.unwrap_err()),
        "DeploymentDoesNotExistException"
    );
}

async fn register(cd: &Client, name: &str, tags: &[(&str, &str)]) {
    cd.register_on_premises_instance()
        .instance_name(name)
        .iam_user_arn(format!("arn:aws:iam::123456789012:user/{name}"))
        .send()
        .await
        .unwrap();
    if !tags.is_empty() {
        cd.add_tags_to_on_premises_instances()
            .instance_names(name)
            .set_tags(Some(
                tags.iter()
                    .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
                    .collect(),
            ))
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn on_premises_instances_are_listed_untagged_and_deregistered_freeing_their_identity() {
    let (_sim, cd) = start().await;
    register(&cd, "web-1", &[("role", "web"), ("env", "prod")]).await;
    register(&cd, "db-1", &[("role", "db")]).await;

    let web = cd
        .list_on_premises_instances()
        .tag_filters(web_filter())
        .send()
        .await
        .unwrap();
    assert_eq!(web.instance_names(), ["web-1"]);

    cd.remove_tags_from_on_premises_instances()
        .instance_names("web-1")
        .tags(Tag::builder().key("env").value("prod").build())
        // A tag the instance does not carry is no error.
        .tags(Tag::builder().key("env").value("dev").build())
        .send()
        .await
        .unwrap();
    let infos = cd
        .batch_get_on_premises_instances()
        .instance_names("web-1")
        .instance_names("ghost")
        .send()
        .await
        .unwrap();
    let [info] = infos.instance_infos() else {
        panic!("one instance: {infos:?}");
    };
    assert_eq!(
        info.tags(),
        [Tag::builder().key("role").value("web").build()]
    );
    assert!(info.deregister_time.is_none());

    cd.deregister_on_premises_instance()
        .instance_name("web-1")
        .send()
        .await
        .unwrap();
    let web1 = cd
        .get_on_premises_instance()
        .instance_name("web-1")
        .send()
        .await
        .unwrap()
        .instance_info
        .unwrap();
    assert!(web1.deregister_time.is_some());
    for (status, names) in [
        (RegistrationStatus::Registered, vec!["db-1"]),
        (RegistrationStatus::Deregistered, vec!["web-1"]),
    ] {
        let listed = cd
            .list_on_premises_instances()
            .registration_status(status.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(listed.instance_names(), names, "{status:?}");
    }
    let untag = cd
        .remove_tags_from_on_premises_instances()
        .instance_names("web-1")
        .tags(Tag::builder().key("role").value("web").build())
        .send()
        .await;
    assert_eq!(code(untag.unwrap_err()), "InstanceNotRegisteredException");

    // The host's IAM identity may now be registered again, under a new name.
    cd.register_on_premises_instance()
        .instance_name("web-1b")
        .iam_user_arn("arn:aws:iam::123456789012:user/web-1")
        .send()
        .await
        .unwrap();
    let taken = cd
        .register_on_premises_instance()
        .instance_name("web-1c")
        .iam_user_arn("arn:aws:iam::123456789012:user/web-1")
        .send()
        .await;
    assert_eq!(
        code(taken.unwrap_err()),
        "IamUserArnAlreadyRegisteredException"
    );
}

#[tokio::test]
#[allow(deprecated)] // the official CLI still calls the instance operations
async fn batch_gets_answer_for_applications_groups_and_deployment_instances() {
    let (_sim, cd) = start().await;
    for app in ["shop", "blog"] {
        cd.create_application()
            .application_name(app)
            .send()
            .await
            .unwrap();
    }
    let apps = cd
        .batch_get_applications()
        .application_names("shop")
        .application_names("blog")
        .send()
        .await
        .unwrap();
    let names: Vec<_> = apps
        .applications_info()
        .iter()
        .map(|a| a.application_name.as_deref().unwrap())
        .collect();
    assert_eq!(names, ["shop", "blog"]);
    let ghost = cd
        .batch_get_applications()
        .application_names("shop")
        .application_names("ghost")
        .send()
        .await;
    assert_eq!(code(ghost.unwrap_err()), "ApplicationDoesNotExistException");

    for group in ["prod", "staging"] {
        cd.create_deployment_group()
            .application_name("shop")
            .deployment_group_name(group)
            .service_role_arn("arn:aws:iam::123456789012:role/codedeploy")
            .on_premises_instance_tag_filters(web_filter())
            .send()
            .await
            .unwrap();
    }
    let groups = cd
        .batch_get_deployment_groups()
        .application_name("shop")
        .deployment_group_names("prod")
        .deployment_group_names("qa")
        .send()
        .await
        .unwrap();
    assert_eq!(groups.deployment_groups_info().len(), 1);
    assert!(groups.error_message().unwrap().contains("qa"), "{groups:?}");

    register(&cd, "web-1", &[("role", "web")]).await;
    let id = cd
        .create_deployment()
        .application_name("shop")
        .deployment_group_name("prod")
        .revision(s3_revision("shop/1.tgz"))
        .send()
        .await
        .unwrap()
        .deployment_id
        .unwrap();
    // Nobody polls: web-1 waits on its first command.
    let summary = eventually("web-1 to start", || async {
        let got = cd
            .batch_get_deployment_instances()
            .deployment_id(&id)
            .instance_ids("web-1")
            .instance_ids("web-9")
            .send()
            .await
            .ok()?;
        let summary = got.instances_summary().first()?.clone();
        assert!(got.error_message().unwrap().contains("web-9"), "{got:?}");
        (summary.status == Some(aws_sdk_codedeploy::types::InstanceStatus::InProgress))
            .then_some(summary)
    })
    .await;
    // ApplicationStop is skipped on a first deployment, and a skipped
    // event carries its end time as AWS shows it.
    let stop = &summary.lifecycle_events()[0];
    assert_eq!(
        stop.lifecycle_event_name.as_deref(),
        Some("ApplicationStop")
    );
    assert_eq!(stop.status, Some(LifecycleEventStatus::Skipped));
    assert!(stop.end_time.is_some(), "{stop:?}");
    cd.stop_deployment()
        .deployment_id(&id)
        .send()
        .await
        .unwrap();

    cd.delete_deployment_group()
        .application_name("shop")
        .deployment_group_name("staging")
        .send()
        .await
        .unwrap();
    let listed = cd
        .list_deployment_groups()
        .application_name("shop")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.deployment_groups(), ["prod"]);
    let gone = cd
        .get_deployment_group()
        .application_name("shop")
        .deployment_group_name("staging")
        .send()
        .await;
    assert_eq!(
        code(gone.unwrap_err()),
        "DeploymentGroupDoesNotExistException"
    );
}

#[tokio::test]
async fn list_operations_hand_out_pages_with_next_tokens() {
    let (_sim, cd) = start_paged(2).await;
    for app in ["a", "b", "c", "d", "e"] {
        cd.create_application()
            .application_name(app)
            .send()
            .await
            .unwrap();
    }
    let first = cd.list_applications().send().await.unwrap();
    assert_eq!(first.applications(), ["a", "b"]);
    let token = first.next_token.clone().expect("a second page");
    let second = cd
        .list_applications()
        .next_token(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(second.applications(), ["c", "d"]);
    // The SDK's paginator follows the tokens to the end.
    let all: Vec<String> = cd
        .list_applications()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(all, ["a", "b", "c", "d", "e"]);
    for bad in ["not-a-token", token.as_str()] {
        // A token from another operation is as invalid as a made-up one.
        let refused = cd.list_deployment_configs().next_token(bad).send().await;
        assert_eq!(code(refused.unwrap_err()), "InvalidNextTokenException");
    }
    let configs: Vec<String> = cd
        .list_deployment_configs()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert!(configs.len() > 2, "{configs:?}");
}

#[tokio::test]
async fn every_predefined_deployment_config_is_listed_and_described() {
    let (_sim, cd) = start().await;
    cd.create_deployment_config()
        .deployment_config_name("TwoThirds")
        .minimum_healthy_hosts(
            MinimumHealthyHosts::builder()
                .r#type(MinimumHealthyHostsType::FleetPercent)
                .value(66)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let names = cd
        .list_deployment_configs()
        .send()
        .await
        .unwrap()
        .deployment_configs_list
        .unwrap();
    for expected in [
        "CodeDeployDefault.OneAtATime",
        "CodeDeployDefault.HalfAtATime",
        "CodeDeployDefault.AllAtOnce",
        "CodeDeployDefault.LambdaCanary10Percent5Minutes",
        "CodeDeployDefault.LambdaLinear10PercentEvery10Minutes",
        "CodeDeployDefault.LambdaAllAtOnce",
        "CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
        "CodeDeployDefault.ECSCanary10Percent15Minutes",
        "CodeDeployDefault.ECSAllAtOnce",
        "TwoThirds",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected}: {names:?}");
    }
    for name in &names {
        let info = cd
            .get_deployment_config()
            .deployment_config_name(name)
            .send()
            .await
            .unwrap()
            .deployment_config_info
            .unwrap();
        assert_eq!(info.deployment_config_name.as_deref(), Some(name.as_str()));
        let platform = info.compute_platform.unwrap();
        if platform == ComputePlatform::Server {
            assert!(info.minimum_healthy_hosts.is_some(), "{name}");
        } else {
            assert!(info.traffic_routing_config.is_some(), "{name}");
        }
    }
    let canary = cd
        .get_deployment_config()
        .deployment_config_name("CodeDeployDefault.ECSCanary10Percent15Minutes")
        .send()
        .await
        .unwrap()
        .deployment_config_info
        .unwrap()
        .traffic_routing_config
        .unwrap()
        .time_based_canary
        .unwrap();
    assert_eq!((canary.canary_percentage, canary.canary_interval), (10, 15));
    // A Server group cannot use a Lambda config.
    cd.create_application()
        .application_name("shop")
        .send()
        .await
        .unwrap();
    let lambda = cd
        .create_deployment_group()
        .application_name("shop")
        .deployment_group_name("prod")
        .service_role_arn("arn:aws:iam::123456789012:role/codedeploy")
        .deployment_config_name("CodeDeployDefault.LambdaAllAtOnce")
        .send()
        .await;
    assert_eq!(
        code(lambda.unwrap_err()),
        "InvalidDeploymentConfigNameException"
    );
}

#[tokio::test]
async fn an_unknown_operation_is_named_in_the_error() {
    let (sim, _) = start().await;
    let (status, reply) = post(
        &sim.endpoint(),
        "CodeDeploy_20141006.Frobnicate",
        "{}",
        "codedeploy",
        SECRET_KEY,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(reply["__type"], "UnknownOperationException");
    assert!(
        reply["message"]
            .as_str()
            .is_some_and(|m| m.contains("CodeDeploy_20141006.Frobnicate")),
        "{reply}"
    );
}

fn venv_python() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python")
}

/// Calls every implemented operation through boto3; botocore serializes
/// each request and parses each response with AWS's service model.
const BOTO3_SCRIPT: &str = r#"
import datetime, os, sys, time
import boto3, botocore
cd = boto3.client("codedeploy", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1",
                  aws_access_key_id=os.environ["AK"], aws_secret_access_key=os.environ["SK"],
                  config=botocore.config.Config(retries={"max_attempts": 1}))
rev = {"revisionType": "S3", "s3Location": {"bucket": "b", "key": "k.zip", "bundleType": "zip"}}
cd.create_application(applicationName="app")
app = cd.get_application(applicationName="app")["application"]
assert isinstance(app["createTime"], datetime.datetime), app
cd.create_deployment_config(deploymentConfigName="Three", minimumHealthyHosts={"type": "HOST_COUNT", "value": 3})
assert cd.get_deployment_config(deploymentConfigName="Three")["deploymentConfigInfo"]["minimumHealthyHosts"]["value"] == 3
one = cd.get_deployment_config(deploymentConfigName="CodeDeployDefault.OneAtATime")["deploymentConfigInfo"]
assert isinstance(one["createTime"], datetime.datetime)
cd.create_deployment_group(applicationName="app", deploymentGroupName="g", serviceRoleArn="arn:aws:iam::123456789012:role/r",
    ec2TagFilters=[{"Key": "role", "Value": "web", "Type": "KEY_AND_VALUE"}],
    autoRollbackConfiguration={"enabled": True, "events": ["DEPLOYMENT_FAILURE"]})
cd.update_deployment_group(applicationName="app", currentDeploymentGroupName="g", newDeploymentGroupName="g2")
g = cd.get_deployment_group(applicationName="app", deploymentGroupName="g2")["deploymentGroupInfo"]
assert g["ec2TagFilters"][0]["Key"] == "role", g
cd.register_application_revision(applicationName="app", revision=rev, description="d")
r = cd.get_application_revision(applicationName="app", revision=rev)
assert isinstance(r["revisionInfo"]["registerTime"], datetime.datetime)
assert len(cd.list_application_revisions(applicationName="app", sortBy="registerTime", sortOrder="descending")["revisions"]) == 1
cd.register_on_premises_instance(instanceName="h1", iamSessionArn="arn:aws:sts::123456789012:assumed-role/host/h1")
cd.add_tags_to_on_premises_instances(instanceNames=["h1"], tags=[{"Key": "role", "Value": "web"}])
h1 = cd.get_on_premises_instance(instanceName="h1")["instanceInfo"]
assert h1["iamSessionArn"].endswith("/h1") and h1["tags"] == [{"Key": "role", "Value": "web"}], h1
assert isinstance(h1["registerTime"], datetime.datetime)
assert cd.list_applications()["applications"] == ["app"]
assert cd.list_deployment_groups(applicationName="app")["deploymentGroups"] == ["g2"]
assert "CodeDeployDefault.HalfAtATime" in cd.list_deployment_configs()["deploymentConfigsList"]
configs = cd.get_paginator("list_deployment_configs").paginate().build_full_result()["deploymentConfigsList"]
for name in configs:
    info = cd.get_deployment_config(deploymentConfigName=name)["deploymentConfigInfo"]
    assert info["computePlatform"] in ("Server", "Lambda", "ECS"), info
assert cd.batch_get_applications(applicationNames=["app"])["applicationsInfo"][0]["applicationName"] == "app"
assert cd.batch_get_deployment_groups(applicationName="app", deploymentGroupNames=["g2"])["deploymentGroupsInfo"][0]["deploymentGroupName"] == "g2"
cd.remove_tags_from_on_premises_instances(instanceNames=["h1"], tags=[{"Key": "role", "Value": "web"}])
cd.deregister_on_premises_instance(instanceName="h1")
assert cd.list_on_premises_instances(registrationStatus="Deregistered")["instanceNames"] == ["h1"]
h1 = cd.batch_get_on_premises_instances(instanceNames=["h1"])["instanceInfos"][0]
assert isinstance(h1["deregisterTime"], datetime.datetime) and h1.get("tags", []) == [], h1
# No EC2 instance matches the group: the deployment fails with NO_INSTANCES.
dep = cd.create_deployment(applicationName="app", deploymentGroupName="g2", revision=rev)["deploymentId"]
for _ in range(600):
    info = cd.get_deployment(deploymentId=dep)["deploymentInfo"]
    if info["status"] not in ("Created", "InProgress"):
        break
    time.sleep(0.05)
assert info["status"] == "Failed", info
assert info["errorInformation"]["code"] == "NO_INSTANCES", info
assert isinstance(info["createTime"], datetime.datetime) and isinstance(info["completeTime"], datetime.datetime)
assert cd.batch_get_deployments(deploymentIds=[dep])["deploymentsInfo"][0]["deploymentId"] == dep
assert cd.list_deployments(applicationName="app", deploymentGroupName="g2", includeOnlyStatuses=["Failed"])["deployments"] == [dep]
assert cd.list_deployment_targets(deploymentId=dep)["targetIds"] == []
assert cd.list_deployment_instances(deploymentId=dep)["instancesList"] == []
try:
    cd.batch_get_deployment_targets(deploymentId=dep, targetIds=["h1"])
    raise SystemExit("expected DeploymentTargetDoesNotExistException")
except cd.exceptions.DeploymentTargetDoesNotExistException:
    pass
try:
    cd.get_deployment_instance(deploymentId=dep, instanceId="h1")
    raise SystemExit("expected InstanceDoesNotExistException")
except cd.exceptions.InstanceDoesNotExistException:
    pass
try:
    cd.stop_deployment(deploymentId=dep, autoRollbackEnabled=True)
    raise SystemExit("expected DeploymentAlreadyCompletedException")
except cd.exceptions.DeploymentAlreadyCompletedException as e:
    assert e.response["Error"]["Message"], e.response
assert "h1" in cd.batch_get_deployment_instances(deploymentId=dep, instanceIds=["h1"])["errorMessage"]
assert cd.delete_deployment_group(applicationName="app", deploymentGroupName="g2")["hooksNotCleanedUp"] == []
try:
    cd.get_deployment(deploymentId="d-ZZZZZZZZZ")
    raise SystemExit("expected DeploymentDoesNotExistException")
except cd.exceptions.DeploymentDoesNotExistException:
    pass
print("ok")
"#;

#[tokio::test]
async fn boto3_parses_every_control_operation() {
    let (sim, _) = start().await;
    let out = tokio::process::Command::new(venv_python())
        .arg("-c")
        .arg(BOTO3_SCRIPT)
        .env("ENDPOINT", sim.endpoint())
        .env("AK", ACCESS_KEY)
        .env("SK", SECRET_KEY)
        .env_remove("AWS_PROFILE")
        .kill_on_drop(true)
        .output()
        .await
        .expect("run .venv/bin/python (scripts/setup builds it)");
    assert!(
        out.status.success(),
        "boto3 script failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A POST to the simulator, signed with aws-sigv4 when `signed`.
async fn post(
    endpoint: &str,
    target: &str,
    body: &str,
    service: &str,
    secret: &str,
) -> (u16, Value) {
    let host = endpoint.trim_start_matches("http://").to_owned();
    let mut headers = vec![
        ("host".to_owned(), host),
        (
            "content-type".to_owned(),
            "application/x-amz-json-1.1".to_owned(),
        ),
        ("x-amz-target".to_owned(), target.to_owned()),
    ];
    if !secret.is_empty() {
        let credential = IssuedCredential {
            access_key_id: ACCESS_KEY.to_owned(),
            secret_access_key: secret.to_owned(),
            session_token: None,
            expiration: None,
            principal_arn: String::new(),
        };
        let url = format!("{endpoint}/");
        let signer = RequestSigner {
            credential: &credential,
            region: "us-east-1",
            service,
        };
        let signature = signer
            .sign_headers("POST", &url, &headers, body.as_bytes(), SystemTime::now())
            .unwrap();
        headers.extend(signature);
    }
    let client = reqwest::Client::new();
    let mut builder = client.post(format!("{endpoint}/"));
    for (k, v) in headers.iter().filter(|(k, _)| k != "host") {
        builder = builder.header(k, v);
    }
    let response = builder.body(body.to_owned()).send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn bad_input_gets_aws_error_shapes() {
    let (sim, _) = start().await;
    let ep = sim.endpoint();
    let control = "CodeDeploy_20141006.GetApplication";
    let commands = "CodeDeployCommandService_v20141006.PollHostCommand";

    let cases: [(&str, &str, &str, &str, u16, &str); 8] = [
        (
            control,
            "{\"applicationName\":",
            "codedeploy",
            SECRET_KEY,
            400,
            "SerializationException",
        ),
        (
            control,
            "{\"applicationName\":7}",
            "codedeploy",
            SECRET_KEY,
            400,
            "SerializationException",
        ),
        (
            control,
            "{}",
            "codedeploy",
            SECRET_KEY,
            400,
            "ApplicationNameRequiredException",
        ),
        (
            "CodeDeploy_20141006.Frobnicate",
            "{}",
            "codedeploy",
            SECRET_KEY,
            400,
            "UnknownOperationException",
        ),
        (
            "Nope.GetApplication",
            "{}",
            "codedeploy",
            SECRET_KEY,
            400,
            "UnknownOperationException",
        ),
        (
            commands,
            "{}",
            "codedeploy-commands",
            "",
            403,
            "MissingAuthenticationTokenException",
        ),
        (
            commands,
            "{}",
            "codedeploy-commands",
            "not-the-secret",
            403,
            "InvalidSignatureException",
        ),
        // Signed for the control plane's service name.
        (
            commands,
            "{}",
            "codedeploy",
            SECRET_KEY,
            403,
            "InvalidSignatureException",
        ),
    ];
    for (target, body, service, secret, status, kind) in cases {
        let (got, reply) = post(&ep, target, body, service, secret).await;
        assert_eq!(
            (got, reply["__type"].as_str()),
            (status, Some(kind)),
            "{target} {body} signed for {service}: {reply}"
        );
    }
    let host = json!({ "HostIdentifier": "arn:aws:iam::123456789012:user/stranger" }).to_string();
    let (status, body) = post(&ep, commands, &host, "codedeploy-commands", SECRET_KEY).await;
    assert_eq!(
        (status, body["__type"].as_str()),
        (400, Some("ClientException"))
    );
    assert!(
        body["message"].as_str().unwrap().contains("stranger"),
        "{body}"
    );
    let complete =
        json!({ "HostCommandIdentifier": "nope", "CommandStatus": "Succeeded" }).to_string();
    let (status, body) = post(
        &ep,
        "CodeDeployCommandService_v20141006.PutHostCommandComplete",
        &complete,
        "codedeploy-commands",
        SECRET_KEY,
    )
    .await;
    assert_eq!(
        (status, body["__type"].as_str()),
        (400, Some("ClientException"))
    );
}

#[tokio::test]
async fn an_unreadable_create_time_range_is_a_serialization_exception_not_a_crash() {
    let (sim, cd) = start().await;
    let list = "CodeDeploy_20141006.ListDeployments";
    for body in [
        r#"{"createTimeRange":{"start":1e300}}"#,
        r#"{"createTimeRange":{"end":1e19}}"#,
        r#"{"createTimeRange":{"end":"yesterday"}}"#,
    ] {
        let (status, reply) = post(&sim.endpoint(), list, body, "codedeploy", SECRET_KEY).await;
        assert_eq!(
            (status, reply["__type"].as_str()),
            (400, Some("SerializationException")),
            "{body}: {reply}"
        );
    }
    // The simulator is still serving.
    let listed = cd.list_deployments().send().await.unwrap();
    assert!(listed.deployments().is_empty());
}

#[tokio::test]
async fn malformed_json_on_the_command_plane_is_a_serialization_exception() {
    let (sim, _) = start().await;
    for (body, field) in [
        ("{\"HostIdentifier\":", None),
        ("[\"HostIdentifier\"]", None),
        ("{\"HostIdentifier\":7}", Some("HostIdentifier")),
    ] {
        let (status, reply) = post(
            &sim.endpoint(),
            "CodeDeployCommandService_v20141006.PollHostCommand",
            body,
            "codedeploy-commands",
            SECRET_KEY,
        )
        .await;
        assert_eq!(
            (status, reply["__type"].as_str()),
            (400, Some("SerializationException")),
            "{body}: {reply}"
        );
        if let Some(field) = field {
            assert!(
                reply["message"].as_str().unwrap().contains(field),
                "{reply}"
            );
        }
    }
}

/// The official agent with `enable_auth_policy: true` speaks the 2019-11-11
/// command model: bare `CodeDeployCommandService.` targets, signed for
/// `codedeploy-commands-secure`.
#[tokio::test]
async fn the_secure_command_model_is_served_with_its_own_signing_name() {
    let (sim, _) = start().await;
    let host = json!({ "HostIdentifier": "arn:aws:iam::123456789012:user/stranger" }).to_string();
    let target = "CodeDeployCommandService.PollHostCommand";
    // Routed and verified: the refusal is about the host, not the request.
    // Signed for the 2014 model's name, the signature does not match.
    for (service, status, kind) in [
        ("codedeploy-commands-secure", 400, "ClientException"),
        ("codedeploy-commands", 403, "InvalidSignatureException"),
    ] {
        let (got, reply) = post(&sim.endpoint(), target, &host, service, SECRET_KEY).await;
        assert_eq!(
            (got, reply["__type"].as_str()),
            (status, Some(kind)),
            "signed for {service}: {reply}"
        );
        if kind == "ClientException" {
            assert!(
                reply["message"].as_str().unwrap().contains("stranger"),
                "{reply}"
            );
        }
    }
}
