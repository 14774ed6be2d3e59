use std::path::Path;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use aws_sdk_ssm::types::ParameterType;
use aws_smithy_types::retry::RetryConfig;
use slipway_tests::{IssuedCredential, Sandbox};

use crate::util::{assume, credentials};

fn s3(sandbox: &Sandbox, credential: &IssuedCredential) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new(sandbox.region().to_owned()))
        .endpoint_url(sandbox.s3_endpoint())
        .force_path_style(true)
        .credentials_provider(credentials(credential))
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

fn ssm(sandbox: &Sandbox, credential: &IssuedCredential) -> aws_sdk_ssm::Client {
    let config = aws_sdk_ssm::Config::builder()
        .behavior_version(aws_sdk_ssm::config::BehaviorVersion::latest())
        .region(aws_sdk_ssm::config::Region::new(
            sandbox.region().to_owned(),
        ))
        .endpoint_url(sandbox.ssm_endpoint())
        .credentials_provider(credentials(credential))
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_ssm::Client::from_conf(config)
}

/// One moto for the whole theme: starting it is the slow part of a sandbox.
#[tokio::test]
async fn moto_serves_s3_and_ssm_to_sts_credentials_and_dies_with_the_sandbox() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let token = sandbox.oidc().mint("sts.amazonaws.com");
    let output = assume(&sandbox, &sandbox.deploy_role_arn(), &token)
        .send()
        .await
        .unwrap();
    let key_id = output.credentials().unwrap().access_key_id();
    let issued = sandbox.credential_store().lookup(key_id).unwrap();

    let s3 = s3(&sandbox, &issued);
    s3.create_bucket()
        .bucket("slipway-bundles")
        .send()
        .await
        .unwrap();
    let body = b"appspec bundle".to_vec();
    s3.put_object()
        .bucket("slipway-bundles")
        .key("shop/4f2d1c0.tar.gz")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    let object = s3
        .get_object()
        .bucket("slipway-bundles")
        .key("shop/4f2d1c0.tar.gz")
        .send()
        .await
        .unwrap();
    assert_eq!(
        object.body.collect().await.unwrap().into_bytes().as_ref(),
        body
    );

    // Bundles go up encrypted with KMS; moto keeps and reports the key.
    s3.put_object()
        .bucket("slipway-bundles")
        .key("shop/encrypted.tar.gz")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("alias/slipway-bundles")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    let head = s3
        .head_object()
        .bucket("slipway-bundles")
        .key("shop/encrypted.tar.gz")
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert!(head.ssekms_key_id().is_some());

    let ssm = ssm(&sandbox, sandbox.static_credentials());
    ssm.put_parameter()
        .name("/shop/prod/DATABASE_URL")
        .value("postgres://db/shop")
        .r#type(ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let parameter = ssm
        .get_parameter()
        .name("/shop/prod/DATABASE_URL")
        .with_decryption(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        parameter.parameter().and_then(|p| p.value()),
        Some("postgres://db/shop")
    );

    let pid = sandbox.moto_pid().unwrap();
    let proc_dir = format!("/proc/{pid}");
    assert!(Path::new(&proc_dir).exists());
    drop(sandbox);
    assert!(
        !Path::new(&proc_dir).exists(),
        "moto (pid {pid}) outlived its sandbox"
    );
}
