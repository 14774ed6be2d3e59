use serde_json::Value;
use slipway_tests::{Sandbox, SigningKey};

/// POSTs `body` to STS as a form and returns status, code, message, and
/// whether the document has STS's exact error shape.
async fn post_sts(sandbox: &Sandbox, body: impl Into<reqwest::Body>) -> (u16, String, String) {
    let response = reqwest::Client::new()
        .post(sandbox.sts_endpoint())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let request_id = response.headers()["x-amzn-requestid"]
        .to_str()
        .unwrap()
        .to_owned();
    let xml = response.text().await.unwrap();
    assert_error_shape(&xml, &request_id);
    (
        status,
        between(&xml, "<Code>", "</Code>"),
        between(&xml, "<Message>", "</Message>"),
    )
}

fn assert_error_shape(xml: &str, request_id: &str) {
    let shape = [
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">",
        "<Error>",
        "<Type>",
        "<Code>",
        "<Message>",
        "</Error>",
        &format!("<RequestId>{request_id}</RequestId>"),
        "</ErrorResponse>",
    ];
    let mut rest = xml;
    for part in shape {
        let at = rest
            .find(part)
            .unwrap_or_else(|| panic!("{part} missing or out of order in {xml}"));
        rest = &rest[at + part.len()..];
    }
}

fn between(text: &str, start: &str, end: &str) -> String {
    let from = text.find(start).map(|i| i + start.len()).unwrap_or(0);
    let to = text[from..].find(end).map_or(text.len(), |i| from + i);
    text[from..to].to_owned()
}

fn assume_form(token: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("Action", "AssumeRoleWithWebIdentity")
        .append_pair("Version", "2011-06-15")
        .append_pair("RoleArn", "arn:aws:iam::123456789012:role/slipway-deploy")
        .append_pair("RoleSessionName", "gha-run-1")
        .append_pair("WebIdentityToken", token)
        .finish()
}

#[tokio::test]
async fn malformed_sts_requests_get_query_protocol_errors() {
    let sandbox = Sandbox::builder().without_moto().start().await.unwrap();
    let (status, code, _) = post_sts(&sandbox, "").await;
    assert_eq!((status, code.as_str()), (400, "MissingAction"));

    let (status, code, message) =
        post_sts(&sandbox, "Action=AssumeRoleWithSAML&Version=2011-06-15").await;
    assert_eq!((status, code.as_str()), (400, "InvalidAction"));
    assert_eq!(
        message,
        "Could not find operation AssumeRoleWithSAML for version 2011-06-15"
    );

    // AssumeRole exists, and must be signed.
    let (status, code, _) = post_sts(&sandbox, "Action=AssumeRole&Version=2011-06-15").await;
    assert_eq!((status, code.as_str()), (403, "MissingAuthenticationToken"));

    let (status, code, message) = post_sts(
        &sandbox,
        "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleSessionName=a%20b",
    )
    .await;
    assert_eq!((status, code.as_str()), (400, "ValidationError"));
    assert!(
        message.starts_with("3 validation errors detected: "),
        "{message}"
    );
    assert!(message.contains("Value null at 'roleArn'"), "{message}");

    // Bytes that are no form at all, not even UTF-8.
    let (status, code, _) = post_sts(&sandbox, vec![0xff, 0xfe, 0x00, b'=', 0x80]).await;
    assert_eq!((status, code.as_str()), (400, "MissingAction"));

    let (status, code, _) =
        post_sts(&sandbox, "x".repeat(slipway_tests::sts::MAX_BODY_BYTES + 1)).await;
    assert_eq!((status, code.as_str()), (413, "RequestEntityTooLarge"));
}

#[tokio::test]
async fn bad_tokens_are_invalid_identity_tokens() {
    let sandbox = Sandbox::builder().without_moto().start().await.unwrap();
    let oidc = sandbox.oidc();

    let (status, code, message) = post_sts(&sandbox, assume_form("not-a-jwt")).await;
    assert_eq!((status, code.as_str()), (400, "InvalidIdentityToken"));
    assert!(
        message.starts_with("The ID Token provided is not a valid JWT."),
        "{message}"
    );

    // Same header and signature, a payload claiming another repository.
    let token = oidc.mint("sts.amazonaws.com");
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims = oidc.jwt_claims("sts.amazonaws.com");
    claims["sub"] = Value::from("repo:evil/shop:ref:refs/heads/main");
    let forged_payload = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string())
    };
    let tampered = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
    let (status, code, message) = post_sts(&sandbox, assume_form(&tampered)).await;
    assert_eq!((status, code.as_str()), (400, "InvalidIdentityToken"));
    assert!(message.contains("signature"), "{message}");

    // A well-formed token from a key the issuer never published.
    let stranger = SigningKey::generate().unwrap();
    let token = stranger
        .sign(&oidc.jwt_claims("sts.amazonaws.com"))
        .unwrap();
    let (status, code, message) = post_sts(&sandbox, assume_form(&token)).await;
    assert_eq!((status, code.as_str()), (400, "InvalidIdentityToken"));
    assert!(
        message.starts_with("Couldn't retrieve verification key from your identity provider"),
        "{message}"
    );

    // Tokens are never echoed back, not even in part.
    let long = format!("{}{}", "A".repeat(25_000), token);
    let (status, code, message) = post_sts(&sandbox, assume_form(&long)).await;
    assert_eq!((status, code.as_str()), (400, "ValidationError"));
    assert_eq!(
        message,
        "1 validation error detected: Value at 'webIdentityToken' failed to satisfy constraint: Member must have length less than or equal to 20000"
    );
}

#[tokio::test]
async fn unsigned_or_unknown_callers_are_refused() {
    let sandbox = Sandbox::builder().without_moto().start().await.unwrap();
    let (status, code, message) =
        post_sts(&sandbox, "Action=GetCallerIdentity&Version=2011-06-15").await;
    assert_eq!((status, code.as_str()), (403, "MissingAuthenticationToken"));
    assert_eq!(message, "Request is missing Authentication Token");

    let mut stranger = sandbox.static_credentials().clone();
    stranger.access_key_id = "AKIAIOSFODNN7EXAMPLE".into();
    let error = crate::util::sts_as(&sandbox, &stranger)
        .get_caller_identity()
        .send()
        .await
        .unwrap_err();
    let error = error.into_service_error();
    use aws_sdk_sts::error::ProvideErrorMetadata;
    assert_eq!(error.code(), Some("InvalidClientTokenId"));

    let mut wrong_secret = sandbox.static_credentials().clone();
    wrong_secret.secret_access_key = "not-the-secret".into();
    let error = crate::util::sts_as(&sandbox, &wrong_secret)
        .get_caller_identity()
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(error.code(), Some("SignatureDoesNotMatch"));
    assert!(
        error
            .message()
            .is_some_and(|m| m.starts_with("The request signature we calculated does not match")),
        "{error:?}"
    );
}

#[tokio::test]
async fn token_endpoint_refuses_missing_or_wrong_bearers() {
    let sandbox = Sandbox::builder().without_moto().start().await.unwrap();
    let oidc = sandbox.oidc();
    let client = reqwest::Client::new();
    let url = format!("{}&audience=sts.amazonaws.com", oidc.request_url());
    for request in [
        client.get(&url),
        client.get(&url).bearer_auth("wrong"),
        client
            .get(&url)
            .header("authorization", oidc.request_token()),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["typeKey"], "UnauthorizedRequestException");
        assert!(body["message"].as_str().unwrap().starts_with("TF400813"));
    }
    let without_version = url.replace("api-version=2.0&", "");
    let response = client
        .get(without_version)
        .bearer_auth(oidc.request_token())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(oidc.tokens_issued(), 0);
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_refused_without_a_length() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sandbox = Sandbox::builder().without_moto().start().await.unwrap();
    let address = sandbox
        .sts_endpoint()
        .trim_start_matches("http://")
        .to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b'a'; 16 * 1024];
    // Stop writing once the server has answered and closed.
    for _ in 0..(slipway_tests::sts::MAX_BODY_BYTES / chunk.len() + 2) {
        let framed = [
            format!("{:x}\r\n", chunk.len()).into_bytes(),
            chunk.clone(),
            b"\r\n".to_vec(),
        ]
        .concat();
        if stream.write_all(&framed).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(
        response.contains("<Code>RequestEntityTooLarge</Code>"),
        "{response}"
    );
}

#[tokio::test]
async fn tokens_with_other_algorithms_or_not_yet_valid_are_refused() {
    let sandbox = Sandbox::builder().without_moto().start().await.unwrap();
    let oidc = sandbox.oidc();
    let claims = oidc.jwt_claims("sts.amazonaws.com");

    let secret = jsonwebtoken::EncodingKey::from_secret(b"shared-secret").unwrap();
    let hs256 = jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &secret).unwrap();
    let (status, code, _) = post_sts(&sandbox, assume_form(&hs256)).await;
    assert_eq!((status, code.as_str()), (400, "InvalidIdentityToken"));

    let mut early = claims.clone();
    let now = early["iat"].as_u64().unwrap();
    early["nbf"] = Value::from(now + 3600);
    early["exp"] = Value::from(now + 3900);
    let token = oidc.signing_key().sign(&early).unwrap();
    let (status, code, message) = post_sts(&sandbox, assume_form(&token)).await;
    assert_eq!((status, code.as_str()), (400, "InvalidIdentityToken"));
    assert!(message.starts_with("Token is not yet valid"), "{message}");

    let mut anonymous = claims;
    anonymous.as_object_mut().unwrap().remove("iss");
    let token = oidc.signing_key().sign(&anonymous).unwrap();
    let (status, code, _) = post_sts(&sandbox, assume_form(&token)).await;
    assert_eq!((status, code.as_str()), (400, "InvalidIdentityToken"));
}

#[tokio::test]
async fn expired_sts_credentials_are_refused_on_signed_calls() {
    let sandbox = Sandbox::builder().without_moto().start().await.unwrap();
    sandbox
        .sts()
        .set_credential_lifetime(std::time::Duration::from_secs(1));
    let token = sandbox.oidc().mint("sts.amazonaws.com");
    let output = crate::util::assume(&sandbox, &sandbox.deploy_role_arn(), &token)
        .send()
        .await
        .unwrap();
    let key_id = output.credentials().unwrap().access_key_id();
    let mut issued = sandbox.credential_store().lookup(key_id).unwrap();
    // The SDK would refuse to sign with credentials it knows are stale.
    issued.expiration = None;
    let client = crate::util::sts_as(&sandbox, &issued);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match client.get_caller_identity().send().await {
            Ok(_) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "credentials never expired"
                );
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(error) => {
                use aws_sdk_sts::error::ProvideErrorMetadata;
                let error = error.into_service_error();
                assert_eq!(error.code(), Some("ExpiredToken"));
                assert_eq!(
                    error.message(),
                    Some("The security token included in the request is expired")
                );
                break;
            }
        }
    }
}

#[tokio::test]
async fn unknown_issuer_paths_answer_in_the_actions_error_shape() {
    let sandbox = Sandbox::builder().without_moto().start().await.unwrap();
    let response = reqwest::get(format!("{}/nothing/here", sandbox.oidc().issuer_url()))
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert!(body["message"].is_string());
    assert_eq!(body["typeKey"], "ResourceNotFoundException");
}

/// Sends `method` to the token endpoint with the right bearer and `query`
/// appended to the request URL; returns the status and the JSON error.
async fn token_endpoint_error(
    sandbox: &Sandbox,
    method: reqwest::Method,
    query: &str,
) -> (u16, Value) {
    let oidc = sandbox.oidc();
    let response = reqwest::Client::new()
        .request(method, format!("{}{query}", oidc.request_url()))
        .bearer_auth(oidc.request_token())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn token_endpoint_answers_a_wrong_method_in_the_actions_error_shape() {
    let sandbox = Sandbox::builder().without_moto().start().await.unwrap();
    let (status, body) = token_endpoint_error(
        &sandbox,
        reqwest::Method::POST,
        "&audience=sts.amazonaws.com",
    )
    .await;
    assert_eq!(status, 405);
    assert_eq!(body["typeKey"], "VssServiceException");
    assert_eq!(
        body["message"],
        "The requested resource does not support http method 'POST'."
    );
    assert_eq!(sandbox.oidc().tokens_issued(), 0);
}

#[tokio::test]
async fn an_audience_appended_with_a_second_question_mark_is_refused() {
    let sandbox = Sandbox::builder().without_moto().start().await.unwrap();
    // The mistake di/id#441 shows: `…?api-version=2.0?audience=sigstore`.
    let (status, body) =
        token_endpoint_error(&sandbox, reqwest::Method::GET, "?audience=sigstore").await;
    assert_eq!(status, 400);
    assert_eq!(body["typeKey"], "VssServiceException");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("No api-version was supplied")),
        "{body}"
    );
    assert_eq!(sandbox.oidc().tokens_issued(), 0);
}
