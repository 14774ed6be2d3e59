//! Signing a request with SigV4 as the AWS SDKs do: what the scripted hosts
//! send, and what bad-input tests start from before they spoil a part.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;

use crate::credentials::IssuedCredential;

/// Why a request could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// The signing parameters were incomplete.
    #[error("build SigV4 signing parameters for {service}")]
    Params {
        /// The signing name.
        service: String,
        /// What was missing.
        #[source]
        source: v4::signing_params::BuildError,
    },
    /// The request could not be signed as given.
    #[error("sign a request to {url}")]
    Sign {
        /// The request's URL.
        url: String,
        /// Why.
        #[source]
        source: aws_sigv4::http_request::SigningError,
    },
}

/// Who signs, for which service and region.
#[derive(Debug, Clone, Copy)]
pub struct RequestSigner<'a> {
    /// The keys.
    pub credential: &'a IssuedCredential,
    /// The region in the credential scope.
    pub region: &'a str,
    /// The signing name, such as `codedeploy-commands`.
    pub service: &'a str,
}

impl RequestSigner<'_> {
    /// The headers SigV4 adds (`authorization`, `x-amz-date`, and
    /// `x-amz-security-token` for temporary keys) to a `method` request to
    /// `url` that carries `headers` and `body`, signed at `at`. Every header
    /// given is signed, `host` included.
    pub fn sign_headers(
        &self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
        at: SystemTime,
    ) -> Result<Vec<(String, String)>, SigningError> {
        sign_headers(method, url, headers, body, self, at)
    }
}

/// Calls `f` with the SigV4 parameters for signing as `credential` for
/// `service` in `region` at `at`: the one builder the signer and the
/// verifier (which re-signs what it received) share.
pub(crate) fn with_signing_params<T>(
    credential: &IssuedCredential,
    region: &str,
    service: &str,
    at: SystemTime,
    settings: SigningSettings,
    f: impl FnOnce(v4::SigningParams<'_, SigningSettings>) -> T,
) -> Result<T, v4::signing_params::BuildError> {
    let identity = Credentials::new(
        &credential.access_key_id,
        &credential.secret_access_key,
        credential.session_token.clone(),
        None,
        "slipway-tests",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(at)
        .settings(settings)
        .build()?;
    Ok(f(params))
}

fn sign_headers(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
    signer: &RequestSigner<'_>,
    at: SystemTime,
) -> Result<Vec<(String, String)>, SigningError> {
    let RequestSigner {
        credential,
        region,
        service,
    } = *signer;
    let sign_error = |source| SigningError::Sign {
        url: url.to_owned(),
        source,
    };
    let signed = with_signing_params(
        credential,
        region,
        service,
        at,
        SigningSettings::default(),
        |params| {
            let signable = SignableRequest::new(
                method,
                url,
                headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                SignableBody::Bytes(body),
            )?;
            sign(signable, &params.into())
        },
    )
    .map_err(|source| SigningError::Params {
        service: service.to_owned(),
        source,
    })?;
    let (instructions, _) = signed.map_err(sign_error)?.into_parts();
    Ok(instructions
        .headers()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect())
}
