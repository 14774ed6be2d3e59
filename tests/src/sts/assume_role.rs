//! AssumeRole: the signed caller assumes a role whose trust policy names
//! it, possibly in another account (the usual cross-account layout).
//! Session tags need `sts:TagSession` as well; an external id in the trust
//! policy must be given; a chained session lasts at most an hour.

use std::time::{Duration, SystemTime};

use quick_xml::escape::partial_escape as escape;

use super::caller::{self, Signed};
use super::error::StsError;
use super::{Params, StsState, result_document};
use crate::credentials::IssuedCredential;
use crate::ids;
use crate::sync::lock;
use crate::timestamp::{iso8601, truncate_to_seconds};

const DEFAULT_DURATION: u64 = 3600;
/// Role chaining caps a session at an hour, whatever the role allows.
const CHAINED_MAX: u64 = 3600;

pub(super) fn assume(
    state: &StsState,
    request_id: &str,
    params: &Params,
    signed: &Signed<'_>,
) -> Result<String, StsError> {
    let caller = caller::signer(state, signed)?;
    let (Some(role_arn), Some(session_name)) =
        (params.get("RoleArn"), params.get("RoleSessionName"))
    else {
        return Err(StsError::validation(
            "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null",
        ));
    };
    let session_ok = |c: char| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c);
    if !(2..=64).contains(&session_name.len()) || !session_name.chars().all(session_ok) {
        return Err(StsError::validation(format!(
            "1 validation error detected: Value '{session_name}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"
        )));
    }
    let external_id = params.get("ExternalId");
    let tagged = params.get("Tags.member.1.Key").is_some();
    let denied = |action: &str| StsError::access_denied_to(&caller.principal_arn, action, role_arn);
    let role = lock(&state.roles).get(role_arn).cloned();
    // A missing role reads as a refusal, as in IAM.
    let role = role.ok_or_else(|| denied("sts:AssumeRole"))?;
    if !role.allows(&caller.principal_arn, "sts:AssumeRole", external_id) {
        return Err(denied("sts:AssumeRole"));
    }
    if tagged && !role.allows(&caller.principal_arn, "sts:TagSession", external_id) {
        return Err(denied("sts:TagSession"));
    }
    let chained = caller.principal_arn.contains(":assumed-role/");
    let asked = match params.get("DurationSeconds") {
        None => DEFAULT_DURATION,
        Some(raw) => raw.parse::<u64>().map_err(|_| {
            StsError::validation(format!(
                "1 validation error detected: Value '{raw}' at 'durationSeconds' failed to satisfy constraint: Member must be a number"
            ))
        })?,
    };
    if chained && asked > CHAINED_MAX {
        return Err(StsError::validation(
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
        ));
    }
    if asked > role.max_session_duration.as_secs() {
        return Err(StsError::validation(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        ));
    }
    let account = role_arn.split(':').nth(4).unwrap_or_default();
    let lifetime = lock(&state.lifetime_override).unwrap_or(Duration::from_secs(asked));
    let expiration = truncate_to_seconds(SystemTime::now() + lifetime);
    let assumed_arn = format!(
        "arn:aws:sts::{account}:assumed-role/{}/{session_name}",
        role.name
    );
    let credential = IssuedCredential {
        access_key_id: ids::access_key_id("ASIA"),
        secret_access_key: state.secret_access_key(),
        session_token: Some(ids::session_token()),
        expiration: Some(expiration),
        principal_arn: assumed_arn.clone(),
    };
    state.credentials.insert(credential.clone());
    let result = format!(
        "    <AssumedRoleUser>\n      <Arn>{arn}</Arn>\n      <AssumedRoleId>{role_id}</AssumedRoleId>\n    </AssumedRoleUser>\n    <Credentials>\n      <AccessKeyId>{akid}</AccessKeyId>\n      <SecretAccessKey>{secret}</SecretAccessKey>\n      <SessionToken>{token}</SessionToken>\n      <Expiration>{expiration}</Expiration>\n    </Credentials>\n",
        arn = escape(assumed_arn.as_str()),
        role_id = escape(ids::user_id(&assumed_arn).as_str()),
        akid = credential.access_key_id,
        secret = escape(credential.secret_access_key.as_str()),
        token = credential.session_token.as_deref().unwrap_or_default(),
        expiration = iso8601(expiration),
    );
    Ok(result_document("AssumeRole", &result, request_id))
}
