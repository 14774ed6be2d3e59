use std::time::Duration;

use aws_config::imds::client::Client as ImdsClient;
use aws_config::imds::credentials::ImdsCredentialsProvider;
use aws_credential_types::provider::ProvideCredentials;
use serde_json::Value;
use slipway_tests::Sandbox;

use crate::util::sts_as;

fn imds_client(sandbox: &Sandbox) -> ImdsClient {
    ImdsClient::builder()
        .endpoint(sandbox.imds_endpoint())
        .unwrap()
        .max_attempts(1)
        .build()
}

#[tokio::test]
async fn instance_profile_credentials_load_through_aws_config_and_sign_sts_calls() {
    let sandbox = Sandbox::builder().without_moto().start().await.unwrap();
    let provider = ImdsCredentialsProvider::builder()
        .imds_client(imds_client(&sandbox))
        .build();
    let loaded = provider.provide_credentials().await.unwrap();
    assert!(loaded.access_key_id().starts_with("ASIA"));
    assert!(loaded.session_token().is_some());
    assert!(sandbox.imds().tokens_issued() >= 1);

    let issued = sandbox
        .credential_store()
        .lookup(loaded.access_key_id())
        .expect("IMDS records what it hands out");
    assert_eq!(issued, sandbox.imds().credential());
    let identity = sts_as(&sandbox, &issued)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    let expected = format!(
        "arn:aws:sts::123456789012:assumed-role/slipway-host/{}",
        sandbox.imds().instance_id()
    );
    assert_eq!(identity.arn(), Some(expected.as_str()));
}

#[tokio::test]
async fn metadata_paths_answer_like_ec2() {
    let sandbox = Sandbox::builder().without_moto().start().await.unwrap();
    let client = imds_client(&sandbox);
    let get = |path: &'static str| {
        let client = client.clone();
        async move { client.get(path).await.unwrap().as_ref().to_owned() }
    };
    assert_eq!(get("/latest/meta-data/services/partition").await, "aws");
    assert_eq!(
        get("/latest/meta-data/services/domain").await,
        "amazonaws.com"
    );
    assert_eq!(get("/latest/meta-data/placement/region").await, "us-east-1");
    let instance_id = get("/latest/meta-data/instance-id").await;
    assert_eq!(instance_id, sandbox.imds().instance_id());
    // EC2's shape: `i-` and 17 lowercase hex digits.
    let digits = instance_id.strip_prefix("i-").unwrap_or_default();
    assert_eq!(digits.len(), 17, "{instance_id}");
    assert!(
        digits
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{instance_id}"
    );
    let document: Value =
        serde_json::from_str(&get("/latest/dynamic/instance-identity/document").await).unwrap();
    assert_eq!(document["accountId"], "123456789012");
    assert_eq!(document["region"], "us-east-1");
    assert_eq!(document["instanceId"], sandbox.imds().instance_id());
    assert_eq!(
        get("/latest/meta-data/iam/security-credentials/").await,
        "slipway-host"
    );

    let region = aws_config::imds::region::ImdsRegionProvider::builder()
        .imds_client(client.clone())
        .build()
        .region()
        .await;
    assert_eq!(region.as_ref().map(|r| r.as_ref()), Some("us-east-1"));
}

#[tokio::test]
async fn v1_requests_and_bad_tokens_are_refused() {
    let sandbox = Sandbox::builder().without_moto().start().await.unwrap();
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", sandbox.imds_endpoint());
    let instance_id = url("/latest/meta-data/instance-id");

    let v1 = http.get(&instance_id).send().await.unwrap();
    assert_eq!(v1.status(), 401);

    let wrong = http
        .get(&instance_id)
        .header("x-aws-ec2-metadata-token", "not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    for ttl in [None, Some("0"), Some("21601"), Some("soon")] {
        let mut put = http.put(url("/latest/api/token"));
        if let Some(ttl) = ttl {
            put = put.header("x-aws-ec2-metadata-token-ttl-seconds", ttl);
        }
        assert_eq!(put.send().await.unwrap().status(), 400, "ttl {ttl:?}");
    }
    let proxied = http
        .put(url("/latest/api/token"))
        .header("x-aws-ec2-metadata-token-ttl-seconds", "60")
        .header("x-forwarded-for", "10.0.0.1")
        .send()
        .await
        .unwrap();
    assert_eq!(proxied.status(), 403);

    let put_token = |ttl: &'static str| {
        http.put(url("/latest/api/token"))
            .header("x-aws-ec2-metadata-token-ttl-seconds", ttl)
            .send()
    };
    let get_with = |token: String| {
        http.get(&instance_id)
            .header("x-aws-ec2-metadata-token", token)
            .send()
    };
    let lasting = put_token("600").await.unwrap();
    assert_eq!(
        lasting.headers()["x-aws-ec2-metadata-token-ttl-seconds"],
        "600"
    );
    let lasting = lasting.text().await.unwrap();
    assert_eq!(get_with(lasting).await.unwrap().status(), 200);

    // A one-second token stops working; poll rather than guess when.
    let short = put_token("1").await.unwrap().text().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while get_with(short.clone()).await.unwrap().status() != 401 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "token never expired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    sandbox.imds().set_v1_allowed(true);
    let v1 = http.get(&instance_id).send().await.unwrap();
    assert_eq!(v1.status(), 200);
    assert_eq!(v1.text().await.unwrap(), sandbox.imds().instance_id());
    let missing = http
        .get(url("/latest/meta-data/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn short_lived_instance_credentials_rotate() {
    let sandbox = Sandbox::builder().without_moto().start().await.unwrap();
    sandbox
        .imds()
        .set_credential_lifetime(Duration::from_secs(2));
    let first = sandbox.imds().credential();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while sandbox.imds().credential().access_key_id == first.access_key_id {
        assert!(
            tokio::time::Instant::now() < deadline,
            "credentials never rotated"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn every_added_host_has_its_own_identity_and_credentials() {
    let mut sandbox = Sandbox::builder().without_moto().start().await.unwrap();
    let second = sandbox.add_host().await.unwrap();
    assert_ne!(second.instance_id(), sandbox.imds().instance_id());
    assert_ne!(second.endpoint(), sandbox.imds_endpoint());
    let client = ImdsClient::builder()
        .endpoint(second.endpoint())
        .unwrap()
        .build();
    let id = client.get("/latest/meta-data/instance-id").await.unwrap();
    assert_eq!(id.as_ref(), second.instance_id());
    let key_id = second.credential().access_key_id;
    assert!(sandbox.credential_store().lookup(&key_id).is_some());
    assert_ne!(key_id, sandbox.imds().credential().access_key_id);
}

#[tokio::test]
async fn a_host_without_an_instance_profile_has_no_credentials() {
    let sandbox = Sandbox::builder().without_moto().start().await.unwrap();
    sandbox.imds().set_role_attached(false);
    let provider = ImdsCredentialsProvider::builder()
        .imds_client(imds_client(&sandbox))
        .build();
    let error = provider.provide_credentials().await.unwrap_err();
    assert!(
        matches!(
            error,
            aws_credential_types::provider::error::CredentialsError::CredentialsNotLoaded(_)
        ),
        "{error:?}"
    );
    sandbox.imds().set_role_attached(true);
    assert!(provider.provide_credentials().await.is_ok());
}

#[tokio::test]
async fn refused_tokens_leave_v1_which_is_counted_and_revoked_tokens_answer_401() {
    let sandbox = Sandbox::builder()
        .without_moto()
        .allow_imds_v1()
        .start()
        .await
        .unwrap();
    let imds = sandbox.imds();
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", sandbox.imds_endpoint());
    let instance_id = url("/latest/meta-data/instance-id");
    let put_token = || {
        http.put(url("/latest/api/token"))
            .header("x-aws-ec2-metadata-token-ttl-seconds", "60")
            .send()
    };

    imds.set_tokens_refused(true);
    assert_eq!(put_token().await.unwrap().status(), 403);
    let v1 = http.get(&instance_id).send().await.unwrap();
    assert_eq!(v1.text().await.unwrap(), imds.instance_id());
    assert_eq!((imds.tokens_issued(), imds.v1_requests()), (0, 1));

    imds.set_tokens_refused(false);
    let token = put_token().await.unwrap().text().await.unwrap();
    let with_token = || {
        http.get(&instance_id)
            .header("x-aws-ec2-metadata-token", &token)
            .send()
    };
    assert_eq!(with_token().await.unwrap().status(), 200);
    imds.revoke_tokens();
    assert_eq!(with_token().await.unwrap().status(), 401);
    assert_eq!(imds.v1_requests(), 1, "requests with a token are not v1");
}
