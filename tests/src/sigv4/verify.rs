//! Checks an incoming request's SigV4 `Authorization` header against the
//! credentials the sandbox issued, the way an AWS front end does.
//!
//! The signature is recomputed with `aws-sigv4` over exactly the headers the
//! client says it signed, at the client's own `X-Amz-Date`. The headers are
//! handed over as the client listed them and nothing is excluded, because
//! signers disagree about what to sign (the Ruby SDK signs `user-agent`, the
//! Rust SDK does not) and the list in `SignedHeaders` is what counts.
//!
//! Refusals carry AWS's exception names and messages ([`SignatureError::aws_error`]).
//! Query-string (presigned) signatures and a `Date` header in place of
//! `X-Amz-Date` are refused: no client of the JSON services we serve sends them.

use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{
    SessionTokenMode, SignableBody, SignableRequest, SigningSettings, sign,
};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::FormatItem;
use time::macros::format_description;

use super::authorization::Authorization;
pub use super::error::SignatureError;
use super::sign as sigv4_sign;
use crate::credentials::{CredentialStore, IssuedCredential};

/// How far a request's `X-Amz-Date` may be from the server's clock.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

pub(super) const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const AMZ_DATE: &[FormatItem<'static>] =
    format_description!("[year][month][day]T[hour][minute][second]Z");

/// Verifies the request's SigV4 signature for `service` in `region`, and
/// returns the credential that signed it.
#[allow(clippy::too_many_arguments)] // mirrors the parts of an HTTP request
pub fn verify(
    method: &http::Method,
    uri: &http::Uri,
    headers: &http::HeaderMap,
    body: &[u8],
    service: &str,
    region: &str,
    store: &CredentialStore,
    now: SystemTime,
) -> Result<IssuedCredential, SignatureError> {
    let authorization = headers
        .get(http::header::AUTHORIZATION)
        .ok_or(SignatureError::MissingAuthentication)?;
    let auth = Authorization::parse(authorization)?;
    let amz_date = header_str(headers, "x-amz-date").ok_or_else(|| SignatureError::Incomplete {
        detail: "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' \
                 header."
            .to_owned(),
    })?;
    let signed_at = parse_amz_date(amz_date).ok_or_else(|| SignatureError::Incomplete {
        detail: format!("Date must be in ISO-8601 'basic format'. Got '{amz_date}'."),
    })?;
    auth.check_scope(amz_date, service, region)?;
    check_clock(signed_at, now)?;

    let credential =
        store
            .lookup(&auth.access_key_id)
            .ok_or_else(|| SignatureError::UnknownAccessKey {
                access_key_id: auth.access_key_id.clone(),
            })?;
    let sent_token = header_str(headers, "x-amz-security-token");
    if sent_token != credential.session_token.as_deref() {
        return Err(SignatureError::BadSessionToken {
            access_key_id: auth.access_key_id,
        });
    }
    if credential.expiration.is_some_and(|expiry| expiry <= now) {
        return Err(SignatureError::ExpiredToken {
            access_key_id: auth.access_key_id,
        });
    }

    let expected = recompute(
        method,
        uri,
        headers,
        body,
        &auth,
        &credential,
        service,
        region,
        signed_at,
    )?;
    if !constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
        return Err(SignatureError::Mismatch);
    }
    Ok(credential)
}

fn check_clock(signed_at: OffsetDateTime, now: SystemTime) -> Result<(), SignatureError> {
    let now = OffsetDateTime::from(now);
    let skew = time::Duration::try_from(MAX_CLOCK_SKEW).unwrap_or(time::Duration::ZERO);
    let (signed_at_text, now_text) = (format_amz_date(signed_at), format_amz_date(now));
    if signed_at < now - skew {
        return Err(SignatureError::SignatureExpired {
            signed_at: signed_at_text,
            now: now_text,
        });
    }
    if signed_at > now + skew {
        return Err(SignatureError::SignatureNotYetCurrent {
            signed_at: signed_at_text,
            now: now_text,
        });
    }
    Ok(())
}

/// The signature the client should have sent, computed by `aws-sigv4`.
#[allow(clippy::too_many_arguments)]
fn recompute(
    method: &http::Method,
    uri: &http::Uri,
    headers: &http::HeaderMap,
    body: &[u8],
    auth: &Authorization,
    credential: &IssuedCredential,
    service: &str,
    region: &str,
    signed_at: OffsetDateTime,
) -> Result<String, SignatureError> {
    // aws-sigv4 adds these two itself, from the signing time and the credential.
    let added_by_signer = ["x-amz-date", "x-amz-security-token"];
    let mut signed = Vec::new();
    for name in &auth.signed_headers {
        if added_by_signer.contains(&name.as_str()) {
            continue;
        }
        let values = headers.get_all(name.as_str());
        let mut any = false;
        for value in values {
            any = true;
            let value = value.to_str().map_err(|_| SignatureError::Mismatch)?;
            signed.push((name.as_str(), value));
        }
        if !any {
            if name == "host" {
                // Without it aws-sigv4 would fall back to the URI's authority,
                // which a server-side request line does not have.
                return Err(SignatureError::Incomplete {
                    detail: "Request is missing the 'Host' header.".to_owned(),
                });
            }
            signed.push((name.as_str(), ""));
        }
    }

    let mut settings = SigningSettings::default();
    settings.excluded_headers = Some(Vec::new());
    if !auth
        .signed_headers
        .iter()
        .any(|h| h == "x-amz-security-token")
    {
        settings.session_token_mode = SessionTokenMode::Exclude;
    }
    // A signed x-amz-content-sha256 is the payload hash the client signed
    // with; S3-style clients send UNSIGNED-PAYLOAD there.
    let content_sha256 = auth
        .signed_headers
        .iter()
        .any(|h| h == "x-amz-content-sha256")
        .then(|| header_str(headers, "x-amz-content-sha256"))
        .flatten();
    let payload = match content_sha256 {
        None => SignableBody::Bytes(body),
        Some("UNSIGNED-PAYLOAD") => SignableBody::UnsignedPayload,
        Some(hash) if hash == hex::encode(Sha256::digest(body)) => {
            SignableBody::Precomputed(hash.to_owned())
        }
        Some(_) => return Err(SignatureError::Mismatch),
    };
    let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
    let request =
        SignableRequest::new(method.as_str(), path_and_query, signed.into_iter(), payload)
            .map_err(|_| SignatureError::Mismatch)?;
    let output = sigv4_sign::with_signing_params(
        credential,
        region,
        service,
        signed_at.into(),
        settings,
        |params| sign(request, &params.into()),
    )
    .map_err(|_| SignatureError::Mismatch)?
    .map_err(|_| SignatureError::Mismatch)?;
    Ok(output.signature().to_owned())
}

fn header_str<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Parses an `X-Amz-Date` value such as `20261201T093000Z`.
pub fn parse_amz_date(text: &str) -> Option<OffsetDateTime> {
    time::PrimitiveDateTime::parse(text, AMZ_DATE)
        .ok()
        .map(|t| t.assume_utc())
}

/// Formats an instant the way `X-Amz-Date` carries it.
pub fn format_amz_date(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(AMZ_DATE)
        .unwrap_or_default()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVICE: &str = "codedeploy-commands";
    const REGION: &str = "us-east-1";

    fn store_with(credential: &IssuedCredential) -> CredentialStore {
        let store = CredentialStore::default();
        store.insert(credential.clone());
        store
    }

    fn static_key() -> IssuedCredential {
        IssuedCredential {
            access_key_id: "AKIAHOSTPLANETEST001".to_owned(),
            secret_access_key: "hostplane/secret/key/0123456789abcdefghij".to_owned(),
            session_token: None,
            expiration: None,
            principal_arn: "arn:aws:iam::123456789012:user/host-1".to_owned(),
        }
    }

    fn session_key(expiration: SystemTime) -> IssuedCredential {
        IssuedCredential {
            access_key_id: "ASIAHOSTPLANETEST002".to_owned(),
            secret_access_key: "session/secret/key/0123456789abcdefghijk".to_owned(),
            session_token: Some("FwoGZXIvYXdzEXAMPLETOKEN".to_owned()),
            expiration: Some(expiration),
            principal_arn: "arn:aws:sts::123456789012:assumed-role/host/i-1".to_owned(),
        }
    }

    /// A request signed by aws-sigv4 with its default settings, as the SDKs send it.
    fn signed_request(
        credential: &IssuedCredential,
        body: &[u8],
        at: SystemTime,
    ) -> http::Request<Vec<u8>> {
        let mut request = http::Request::post("http://127.0.0.1:4567/")
            .header("host", "127.0.0.1:4567")
            .header("content-type", "application/x-amz-json-1.1")
            .header(
                "x-amz-target",
                "CodeDeployCommandService_v20141006.PollHostCommand",
            )
            .header("user-agent", "scripted-host/1")
            .body(body.to_vec())
            .unwrap();
        sign_in_place(
            &mut request,
            credential,
            at,
            SigningSettings::default(),
            None,
        );
        request
    }

    fn sign_in_place(
        request: &mut http::Request<Vec<u8>>,
        credential: &IssuedCredential,
        at: SystemTime,
        settings: SigningSettings,
        payload: Option<SignableBody<'_>>,
    ) {
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
            .collect();
        let signable = SignableRequest::new(
            "POST",
            "http://127.0.0.1:4567/",
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            payload.unwrap_or(SignableBody::Bytes(request.body())),
        )
        .unwrap();
        let signed =
            sigv4_sign::with_signing_params(credential, REGION, SERVICE, at, settings, |params| {
                sign(signable, &params.into())
            })
            .unwrap();
        let (instructions, _) = signed.unwrap().into_parts();
        instructions.apply_to_request_http1x(request);
    }

    fn check(
        request: &http::Request<Vec<u8>>,
        store: &CredentialStore,
        now: SystemTime,
    ) -> Result<IssuedCredential, SignatureError> {
        let path_only: http::Uri = "/".parse().unwrap();
        verify(
            request.method(),
            &path_only,
            request.headers(),
            request.body(),
            SERVICE,
            REGION,
            store,
            now,
        )
    }

    const BODY: &[u8] = br#"{"HostIdentifier":"arn:aws:iam::123456789012:user/host-1"}"#;

    #[test]
    fn accepts_a_request_signed_with_a_static_key() {
        let key = static_key();
        let now = SystemTime::now();
        let request = signed_request(&key, BODY, now);
        assert_eq!(check(&request, &store_with(&key), now), Ok(key));
    }

    #[test]
    fn accepts_a_request_signed_with_a_session_key() {
        let now = SystemTime::now();
        let key = session_key(now + Duration::from_secs(3600));
        let request = signed_request(&key, BODY, now);
        assert_eq!(check(&request, &store_with(&key), now), Ok(key));
    }

    #[test]
    fn accepts_a_signer_that_also_signs_user_agent() {
        // The Ruby SDK signs every header but authorization, x-amzn-trace-id and expect.
        let key = static_key();
        let now = SystemTime::now();
        let mut request = signed_request(&key, BODY, now);
        let auth = request.headers()["authorization"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            !auth.contains("user-agent"),
            "aws-sigv4 leaves user-agent out: {auth}"
        );
        let mut settings = SigningSettings::default();
        settings.excluded_headers = Some(Vec::new());
        request.headers_mut().remove("authorization");
        request.headers_mut().remove("x-amz-date");
        sign_in_place(&mut request, &key, now, settings, None);
        let auth = request.headers()["authorization"].to_str().unwrap();
        assert!(auth.contains("user-agent"), "{auth}");
        assert_eq!(check(&request, &store_with(&key), now), Ok(key));
    }

    fn signed_with_content_sha256(
        body_hash: Option<String>,
    ) -> (IssuedCredential, http::Request<Vec<u8>>) {
        use aws_sigv4::http_request::PayloadChecksumKind;
        let key = static_key();
        let mut request = signed_request(&key, BODY, SystemTime::now());
        request.headers_mut().remove("authorization");
        request.headers_mut().remove("x-amz-date");
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let payload = match body_hash {
            Some(hash) => SignableBody::Precomputed(hash),
            None => SignableBody::UnsignedPayload,
        };
        sign_in_place(
            &mut request,
            &key,
            SystemTime::now(),
            settings,
            Some(payload),
        );
        (key, request)
    }

    #[test]
    fn accepts_a_signed_content_hash_or_unsigned_payload() {
        let (key, request) = signed_with_content_sha256(None);
        assert_eq!(
            request.headers()["x-amz-content-sha256"],
            "UNSIGNED-PAYLOAD"
        );
        assert_eq!(
            check(&request, &store_with(&key), SystemTime::now()),
            Ok(key)
        );
        let (key, request) = signed_with_content_sha256(Some(hex::encode(Sha256::digest(BODY))));
        assert_eq!(
            check(&request, &store_with(&key), SystemTime::now()),
            Ok(key)
        );
    }

    #[test]
    fn refuses_a_content_hash_that_is_not_the_body_s() {
        let (key, request) =
            signed_with_content_sha256(Some(hex::encode(Sha256::digest(b"other"))));
        assert_eq!(
            check(&request, &store_with(&key), SystemTime::now()),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn refuses_a_tampered_body() {
        let key = static_key();
        let now = SystemTime::now();
        let mut request = signed_request(&key, BODY, now);
        *request.body_mut() =
            br#"{"HostIdentifier":"arn:aws:iam::123456789012:user/evil"}"#.to_vec();
        let err = check(&request, &store_with(&key), now).unwrap_err();
        assert_eq!(err, SignatureError::Mismatch);
        let (kind, message, status) = err.aws_error();
        assert_eq!((kind, status), ("InvalidSignatureException", 403));
        assert!(message.starts_with("The request signature we calculated does not match"));
    }

    #[test]
    fn refuses_a_tampered_signed_header() {
        let key = static_key();
        let now = SystemTime::now();
        let mut request = signed_request(&key, BODY, now);
        request.headers_mut().insert(
            "x-amz-target",
            "CodeDeployCommandService_v20141006.PutHostCommandComplete"
                .parse()
                .unwrap(),
        );
        assert_eq!(
            check(&request, &store_with(&key), now),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn refuses_a_wrong_secret() {
        let key = static_key();
        let now = SystemTime::now();
        let forged = IssuedCredential {
            secret_access_key: "not-the-issued-secret".to_owned(),
            ..key.clone()
        };
        let request = signed_request(&forged, BODY, now);
        assert_eq!(
            check(&request, &store_with(&key), now),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn refuses_an_unknown_access_key() {
        let now = SystemTime::now();
        let request = signed_request(&static_key(), BODY, now);
        let err = check(&request, &CredentialStore::default(), now).unwrap_err();
        assert!(matches!(err, SignatureError::UnknownAccessKey { .. }));
        assert_eq!(
            err.aws_error(),
            (
                "UnrecognizedClientException",
                "The security token included in the request is invalid.".to_owned(),
                403
            )
        );
    }

    #[test]
    fn refuses_a_session_key_without_its_token() {
        let now = SystemTime::now();
        let key = session_key(now + Duration::from_secs(3600));
        let tokenless = IssuedCredential {
            session_token: None,
            ..key.clone()
        };
        let request = signed_request(&tokenless, BODY, now);
        let err = check(&request, &store_with(&key), now).unwrap_err();
        assert_eq!(err.aws_error().0, "UnrecognizedClientException");
    }

    #[test]
    fn refuses_an_expired_session() {
        let now = SystemTime::now();
        let key = session_key(now - Duration::from_secs(1));
        let request = signed_request(&key, BODY, now);
        let err = check(&request, &store_with(&key), now).unwrap_err();
        assert_eq!(
            err.aws_error(),
            (
                "ExpiredTokenException",
                "The security token included in the request is expired".to_owned(),
                403
            )
        );
    }

    #[test]
    fn refuses_a_request_without_authorization() {
        let key = static_key();
        let now = SystemTime::now();
        let mut request = signed_request(&key, BODY, now);
        request.headers_mut().remove("authorization");
        let err = check(&request, &store_with(&key), now).unwrap_err();
        assert_eq!(
            err.aws_error(),
            (
                "MissingAuthenticationTokenException",
                "Missing Authentication Token".to_owned(),
                403
            )
        );
    }

    #[test]
    fn refuses_a_request_without_its_date_header() {
        let key = static_key();
        let now = SystemTime::now();
        let mut request = signed_request(&key, BODY, now);
        request.headers_mut().remove("x-amz-date");
        let err = check(&request, &store_with(&key), now).unwrap_err();
        assert_eq!(err.aws_error().0, "IncompleteSignatureException");
    }

    #[test]
    fn names_every_missing_authorization_parameter() {
        let key = static_key();
        let now = SystemTime::now();
        let mut request = signed_request(&key, BODY, now);
        request.headers_mut().insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIAHOSTPLANETEST001/20261201/us-east-1/x/aws4_request"
                .parse()
                .unwrap(),
        );
        let err = check(&request, &store_with(&key), now).unwrap_err();
        let (kind, message, _) = err.aws_error();
        assert_eq!(kind, "IncompleteSignatureException");
        assert_eq!(
            message,
            "Authorization header requires 'Signature' parameter. \
             Authorization header requires 'SignedHeaders' parameter."
        );
    }

    #[test]
    fn refuses_a_signature_scoped_to_another_service() {
        let key = static_key();
        let now = SystemTime::now();
        let request = signed_request(&key, BODY, now);
        let path_only: http::Uri = "/".parse().unwrap();
        let err = verify(
            request.method(),
            &path_only,
            request.headers(),
            request.body(),
            "codedeploy",
            REGION,
            &store_with(&key),
            now,
        )
        .unwrap_err();
        assert_eq!(
            err.aws_error().1,
            "Credential should be scoped to correct service: 'codedeploy'."
        );
    }

    #[test]
    fn refuses_a_signature_older_than_fifteen_minutes() {
        let key = static_key();
        let now = OffsetDateTime::from_unix_timestamp(1_796_117_400).unwrap(); // 2026-12-01T09:30:00Z
        let signed_at = now - time::Duration::minutes(16);
        let request = signed_request(&key, BODY, signed_at.into());
        let err = check(&request, &store_with(&key), now.into()).unwrap_err();
        assert_eq!(
            err.aws_error(),
            (
                "InvalidSignatureException",
                "Signature expired: 20261201T091400Z is now earlier than 20261201T091500Z \
                 (20261201T093000Z - 15 min.)"
                    .to_owned(),
                403
            )
        );
    }

    #[test]
    fn refuses_a_signature_from_more_than_fifteen_minutes_ahead() {
        let key = static_key();
        let now = SystemTime::now();
        let request = signed_request(&key, BODY, now + Duration::from_secs(16 * 60));
        let err = check(&request, &store_with(&key), now).unwrap_err();
        let (kind, message, _) = err.aws_error();
        assert_eq!(kind, "InvalidSignatureException");
        assert!(
            message.starts_with("Signature not yet current:"),
            "{message}"
        );
    }

    #[test]
    fn accepts_a_signature_within_the_allowed_skew() {
        let key = static_key();
        let now = SystemTime::now();
        let request = signed_request(&key, BODY, now - Duration::from_secs(14 * 60));
        assert_eq!(check(&request, &store_with(&key), now), Ok(key));
    }
}
