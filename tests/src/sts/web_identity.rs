//! AssumeRoleWithWebIdentity: parameter validation, the JWT's signature,
//! lifetime, issuer and audience, then the role's trust policy.

use std::time::{Duration, SystemTime};

use jsonwebtoken::{Algorithm, Validation};
use quick_xml::escape::partial_escape as escape;
use serde_json::Value;

use super::error::StsError;
use super::trust::{provider_arn, provider_host};
use super::{Params, StsState, result_document};
use crate::credentials::IssuedCredential;
use crate::ids;
use crate::sync::lock;
use crate::timestamp::{iso8601, truncate_to_seconds, unix_now};

const DEFAULT_DURATION: u64 = 3600;
const MIN_DURATION: u64 = 900;
const MAX_DURATION: u64 = 43_200;

const NOT_A_JWT: &str = "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)";

/// The request's parameters once they pass STS's input validation.
struct Request<'a> {
    role_arn: &'a str,
    session_name: &'a str,
    token: &'a str,
    duration: Option<u64>,
    policy: Option<&'a str>,
}

/// The longest inline session policy STS takes, in characters.
const MAX_POLICY: usize = 2048;

pub(super) async fn assume(
    state: &StsState,
    request_id: &str,
    params: &Params,
) -> Result<String, StsError> {
    let request = validate(params)?;
    if !is_role_arn(request.role_arn) {
        return Err(StsError::validation("Request ARN is invalid"));
    }
    if let Some(policy) = request.policy
        && serde_json::from_str::<Value>(policy).map_or(true, |p| !p.is_object())
    {
        return Err(StsError::malformed_policy());
    }
    let claims = verify_token(state, request.token).await?;
    let issuer = claims["iss"].as_str().unwrap_or_default().to_owned();
    let role = lock(&state.roles).get(request.role_arn).cloned();
    let role = match role {
        Some(role) if role.admits(&issuer, &state.sandbox_issuer, &claims) => role,
        // A missing role and an unmet condition read the same, as in IAM.
        _ => return Err(StsError::access_denied()),
    };
    let asked = request.duration.unwrap_or(DEFAULT_DURATION);
    if asked > role.max_session_duration.as_secs() {
        return Err(StsError::validation(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        ));
    }
    let lifetime = lock(&state.lifetime_override).unwrap_or(Duration::from_secs(asked));
    let expiration = truncate_to_seconds(SystemTime::now() + lifetime);
    let assumed_arn = format!(
        "arn:aws:sts::{}:assumed-role/{}/{}",
        state.account_id, role.name, request.session_name
    );
    let credential = IssuedCredential {
        access_key_id: ids::access_key_id("ASIA"),
        secret_access_key: state.secret_access_key(),
        session_token: Some(ids::session_token()),
        expiration: Some(expiration),
        principal_arn: assumed_arn.clone(),
    };
    state.credentials.insert(credential.clone());
    let provider = provider_arn(&state.account_id, &issuer);
    let result = format!(
        "    <SubjectFromWebIdentityToken>{sub}</SubjectFromWebIdentityToken>\n    <Audience>{aud}</Audience>\n    <AssumedRoleUser>\n      <Arn>{arn}</Arn>\n      <AssumedRoleId>{role_id}</AssumedRoleId>\n    </AssumedRoleUser>\n    <Credentials>\n      <AccessKeyId>{akid}</AccessKeyId>\n      <SecretAccessKey>{secret}</SecretAccessKey>\n      <SessionToken>{token}</SessionToken>\n      <Expiration>{expiration}</Expiration>\n    </Credentials>\n    <Provider>{provider}</Provider>\n{packed}",
        sub = escape(claims["sub"].as_str().unwrap_or_default()),
        aud = escape(first_audience(&claims).unwrap_or_default()),
        arn = escape(assumed_arn.as_str()),
        role_id = escape(ids::user_id(&assumed_arn).as_str()),
        akid = credential.access_key_id,
        secret = credential.secret_access_key,
        token = credential.session_token.as_deref().unwrap_or_default(),
        expiration = iso8601(expiration),
        provider = escape(provider.as_str()),
        packed = request.policy.map_or(String::new(), |p| packed_size(
            p,
            credential.session_token.as_deref()
        )),
    );
    Ok(result_document(
        "AssumeRoleWithWebIdentity",
        &result,
        request_id,
    ))
}

/// STS's own input validation, reported all at once in its words.
fn validate(params: &Params) -> Result<Request<'_>, StsError> {
    let mut problems = Vec::new();
    // AWS leaves sensitive members' values out of its messages.
    let mut required = |name: &'static str, member: &'static str, min: usize, max: usize| {
        let value = params.get(name);
        let sensitive = member == "webIdentityToken";
        let at = |v: &str| match sensitive {
            true => format!("Value at '{member}'"),
            false => format!("Value '{}' at '{member}'", shown(v)),
        };
        match value {
            None => problems.push(format!(
                "Value null at '{member}' failed to satisfy constraint: Member must not be null"
            )),
            Some(v) if v.chars().count() < min => problems.push(format!(
                "{} failed to satisfy constraint: Member must have length greater than or equal to {min}",
                at(v)
            )),
            Some(v) if v.chars().count() > max => problems.push(format!(
                "{} failed to satisfy constraint: Member must have length less than or equal to {max}",
                at(v)
            )),
            Some(_) => {}
        }
        value.unwrap_or_default()
    };
    let role_arn = required("RoleArn", "roleArn", 20, 2048);
    let session_name = required("RoleSessionName", "roleSessionName", 2, 64);
    let token = required("WebIdentityToken", "webIdentityToken", 4, 20_000);
    let session_ok = |c: char| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c);
    if !session_name.is_empty() && !session_name.chars().all(session_ok) {
        problems.push(format!(
            "Value '{}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*",
            shown(session_name)
        ));
    }
    let policy = params.get("Policy");
    if let Some(policy) = policy.filter(|p| p.chars().count() > MAX_POLICY) {
        problems.push(format!(
            "Value '{}' at 'policy' failed to satisfy constraint: Member must have length less than or equal to {MAX_POLICY}",
            shown(policy)
        ));
    }
    let duration = match params.get("DurationSeconds") {
        None => None,
        Some(raw) => match raw.parse::<u64>() {
            Ok(d) if d < MIN_DURATION => {
                problems.push(format!("Value '{d}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to {MIN_DURATION}"));
                None
            }
            Ok(d) if d > MAX_DURATION => {
                problems.push(format!("Value '{d}' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to {MAX_DURATION}"));
                None
            }
            Ok(d) => Some(d),
            Err(_) => {
                problems.push(format!(
                    "Value '{}' at 'durationSeconds' failed to satisfy constraint: Member must be a number",
                    shown(raw)
                ));
                None
            }
        },
    };
    match problems.len() {
        0 => Ok(Request {
            role_arn,
            session_name,
            token,
            duration,
            policy,
        }),
        1 => Err(StsError::validation(format!(
            "1 validation error detected: {}",
            problems[0]
        ))),
        n => Err(StsError::validation(format!(
            "{n} validation errors detected: {}",
            problems.join("; ")
        ))),
    }
}

/// With a session policy, how full the packed policy and the session token
/// are (`PackedPolicySize`, and its 2026 successors `SessionTokenUtilization`
/// and `SessionTokenSize`).
fn packed_size(policy: &str, session_token: Option<&str>) -> String {
    let percent = policy.chars().count() * 100 / MAX_POLICY;
    let token_size = session_token.map_or(0, str::len);
    format!(
        "    <PackedPolicySize>{percent}</PackedPolicySize>\n    <SessionTokenUtilization>{percent}</SessionTokenUtilization>\n    <SessionTokenSize>{token_size}</SessionTokenSize>\n"
    )
}

/// `arn:aws:iam::ACCOUNT:role/[PATH/]NAME`, as IAM spells role ARNs.
fn is_role_arn(arn: &str) -> bool {
    let Some((account, path_and_name)) = arn
        .strip_prefix("arn:aws:iam::")
        .and_then(|rest| rest.split_once(":role/"))
    else {
        return false;
    };
    let name_ok = |c: char| c.is_ascii_alphanumeric() || "_+=,.@-/".contains(c);
    account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && !path_and_name.is_empty()
        && !path_and_name.ends_with('/')
        && path_and_name.chars().all(name_ok)
}

/// Echoes a rejected value, but never a whole token, and never a long one.
fn shown(value: &str) -> String {
    const MAX_ECHO: usize = 64;
    if value.chars().count() > MAX_ECHO {
        let head: String = value.chars().take(MAX_ECHO).collect();
        format!("{head}...")
    } else {
        value.to_owned()
    }
}

/// The token's claims once its signature, lifetime, issuer and audience
/// all check out, in the order STS reports them.
async fn verify_token(state: &StsState, token: &str) -> Result<Value, StsError> {
    let not_a_jwt = || StsError::invalid_identity_token(NOT_A_JWT);
    let header = jsonwebtoken::decode_header(token).map_err(|_| not_a_jwt())?;
    // The issuer decides which keys to check the signature with, so it is
    // read before the signature is known to be good.
    let unverified: Value = jsonwebtoken::dangerous::insecure_decode::<Value>(token)
        .map_err(|_| not_a_jwt())?
        .claims;
    let issuer = unverified
        .get("iss")
        .and_then(Value::as_str)
        .ok_or_else(not_a_jwt)?
        .to_owned();
    let client_ids = lock(&state.providers)
        .get(provider_host(&issuer))
        .cloned()
        .ok_or_else(|| {
            StsError::invalid_identity_token(format!(
                "No OpenIDConnect provider found in your account for {issuer}"
            ))
        })?;
    if header.alg != Algorithm::RS256 {
        return Err(StsError::invalid_identity_token(format!(
            "Unsupported token signing algorithm {:?}",
            header.alg
        )));
    }
    let kid = header.kid.as_deref().unwrap_or_default();
    let key = state.jwks.key(&issuer, kid).await?;
    let mut validation = Validation::new(Algorithm::RS256);
    // Lifetime and audience are checked below, to answer in STS's words.
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map_err(|_| StsError::invalid_identity_token("Token signature could not be verified"))?
        .claims;
    let now = unix_now();
    let exp = claims
        .get("exp")
        .and_then(Value::as_u64)
        .ok_or_else(not_a_jwt)?;
    if now >= exp {
        return Err(StsError::expired_token(now, exp));
    }
    if let Some(nbf) = claims.get("nbf").and_then(Value::as_u64)
        && now < nbf
    {
        return Err(StsError::invalid_identity_token(format!(
            "Token is not yet valid: current date/time {now} must be after the not-before date/time {nbf}"
        )));
    }
    let audience_ok = audiences(&claims)
        .iter()
        .any(|aud| client_ids.iter().any(|c| c == aud));
    if !audience_ok {
        return Err(StsError::invalid_identity_token("Incorrect token audience"));
    }
    Ok(claims)
}

fn audiences(claims: &Value) -> Vec<&str> {
    match claims.get("aud") {
        Some(Value::String(aud)) => vec![aud.as_str()],
        Some(Value::Array(auds)) => auds.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn first_audience(claims: &Value) -> Option<&str> {
    audiences(claims).into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        Params::parse("", body.as_bytes())
    }

    #[test]
    fn missing_parameters_are_reported_together() {
        let Err(error) = validate(&params(&[("RoleSessionName", "s1")])) else {
            panic!("validation passed");
        };
        let xml = format!("{error:?}");
        assert!(xml.contains("2 validation errors detected"), "{xml}");
        assert!(xml.contains("Value null at 'roleArn'"), "{xml}");
        assert!(xml.contains("Value null at 'webIdentityToken'"), "{xml}");
    }

    #[test]
    fn role_arns_are_checked_for_shape() {
        assert!(is_role_arn("arn:aws:iam::123456789012:role/slipway-deploy"));
        assert!(is_role_arn(
            "arn:aws:iam::123456789012:role/ci/github/deploy"
        ));
        assert!(!is_role_arn("slipway-deploy"));
        assert!(!is_role_arn("arn:aws:iam::12345:role/x"));
        assert!(!is_role_arn("arn:aws:iam::123456789012:user/x"));
        assert!(!is_role_arn("arn:aws:iam::123456789012:role/"));
        assert!(!is_role_arn("arn:aws:iam::123456789012:role/has space"));
    }

    #[test]
    fn session_names_follow_the_sts_pattern() {
        let bad = params(&[
            ("RoleArn", "arn:aws:iam::123456789012:role/x"),
            ("RoleSessionName", "has space"),
            ("WebIdentityToken", "abcd"),
        ]);
        let Err(error) = validate(&bad) else {
            panic!("validation passed");
        };
        assert!(format!("{error:?}").contains("regular expression pattern"));
    }
}
