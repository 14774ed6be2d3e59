//! GetCallerIdentity: who signed the request, by its access key id.

use std::time::SystemTime;

use axum::http::HeaderMap;
use quick_xml::escape::partial_escape as escape;

use super::error::StsError;
use super::{StsState, result_document};
use crate::credentials::IssuedCredential;
use crate::ids;

pub(super) fn identity(
    state: &StsState,
    request_id: &str,
    headers: &HeaderMap,
) -> Result<String, StsError> {
    let caller = authenticate(state, headers)?;
    let result = format!(
        "    <Arn>{}</Arn>\n    <UserId>{}</UserId>\n    <Account>{}</Account>\n",
        escape(caller.principal_arn.as_str()),
        escape(ids::user_id(&caller.principal_arn).as_str()),
        escape(state.account_id.as_str()),
    );
    Ok(result_document("GetCallerIdentity", &result, request_id))
}

/// The credential named in the SigV4 `Authorization` header, if the
/// sandbox issued it, it has not expired, and the session token matches.
///
/// The signature itself is not recomputed here.
fn authenticate(state: &StsState, headers: &HeaderMap) -> Result<IssuedCredential, StsError> {
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(StsError::missing_authentication)?;
    let access_key_id = authorization
        .split_once("Credential=")
        .and_then(|(_, rest)| rest.split('/').next())
        .ok_or_else(StsError::missing_authentication)?;
    let credential = state
        .credentials
        .lookup(access_key_id)
        .ok_or_else(StsError::invalid_client_token)?;
    let presented = headers
        .get("x-amz-security-token")
        .and_then(|v| v.to_str().ok());
    if presented != credential.session_token.as_deref() {
        return Err(StsError::invalid_client_token());
    }
    if credential
        .expiration
        .is_some_and(|exp| exp <= SystemTime::now())
    {
        return Err(StsError::expired_client_token());
    }
    Ok(credential)
}
