//! GetCallerIdentity: who signed the request, checked by its SigV4 signature.

use std::time::SystemTime;

use axum::http::{HeaderMap, Method, Uri};
use quick_xml::escape::partial_escape as escape;

use super::error::StsError;
use super::{StsState, result_document};
use crate::ids;
use crate::sigv4_verify::{self, SignatureError};

/// The parts of the request a signature covers.
pub(super) struct Signed<'a> {
    pub(super) method: &'a Method,
    pub(super) uri: &'a Uri,
    pub(super) headers: &'a HeaderMap,
    pub(super) body: &'a [u8],
}

/// Who signed the request, or STS's refusal.
pub(super) fn signer(
    state: &StsState,
    request: &Signed<'_>,
) -> Result<crate::IssuedCredential, StsError> {
    sigv4_verify::verify(
        request.method,
        request.uri,
        request.headers,
        request.body,
        "sts",
        &state.region,
        &state.credentials,
        SystemTime::now(),
    )
    .map_err(|error| refusal(&error))
}

pub(super) fn identity(
    state: &StsState,
    request_id: &str,
    request: &Signed<'_>,
) -> Result<String, StsError> {
    let caller = signer(state, request)?;
    // A principal in another account (a chained role) reports its own.
    let account = caller
        .principal_arn
        .split(':')
        .nth(4)
        .filter(|a| !a.is_empty())
        .unwrap_or(&state.account_id);
    let result = format!(
        "    <Arn>{}</Arn>\n    <UserId>{}</UserId>\n    <Account>{}</Account>\n",
        escape(caller.principal_arn.as_str()),
        escape(ids::user_id(&caller.principal_arn).as_str()),
        escape(account),
    );
    Ok(result_document("GetCallerIdentity", &result, request_id))
}

/// STS names signature errors in its Query dialect, not the JSON
/// services' `…Exception` names that `sigv4_verify` reports.
fn refusal(error: &SignatureError) -> StsError {
    let (_, message, _) = error.aws_error();
    match error {
        SignatureError::MissingAuthentication => StsError::missing_authentication(),
        SignatureError::UnknownAccessKey { .. } | SignatureError::BadSessionToken { .. } => {
            StsError::invalid_client_token()
        }
        SignatureError::ExpiredToken { .. } => StsError::expired_client_token(),
        SignatureError::Incomplete { .. } => StsError::signature("IncompleteSignature", message),
        SignatureError::WrongScope { .. }
        | SignatureError::SignatureExpired { .. }
        | SignatureError::SignatureNotYetCurrent { .. } => {
            StsError::signature("SignatureDoesNotMatch", message)
        }
        SignatureError::Mismatch => StsError::signature("SignatureDoesNotMatch", message),
    }
}
