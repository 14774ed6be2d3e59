//! What each assume call carried, so tests can check that a session
//! policy, a tag or an external id really reached STS, not just that the
//! call succeeded.

use super::Params;

/// One AssumeRoleWithWebIdentity or AssumeRole request's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumeRecord {
    /// `AssumeRoleWithWebIdentity` or `AssumeRole`.
    pub action: String,
    /// `RoleArn`.
    pub role_arn: Option<String>,
    /// `RoleSessionName`.
    pub session_name: Option<String>,
    /// `DurationSeconds`, as sent.
    pub duration_seconds: Option<String>,
    /// `Policy`, the inline session policy.
    pub policy: Option<String>,
    /// `PolicyArns.member.N.arn`.
    pub policy_arns: Vec<String>,
    /// `Tags.member.N.Key` / `.Value`.
    pub tags: Vec<(String, String)>,
    /// `TransitiveTagKeys.member.N`.
    pub transitive_tag_keys: Vec<String>,
    /// `ExternalId`.
    pub external_id: Option<String>,
}

impl AssumeRecord {
    pub(crate) fn from_params(action: &str, params: &Params) -> Self {
        let owned = |name| params.get(name).map(str::to_owned);
        Self {
            action: action.to_owned(),
            role_arn: owned("RoleArn"),
            session_name: owned("RoleSessionName"),
            duration_seconds: owned("DurationSeconds"),
            policy: owned("Policy"),
            policy_arns: params.list("PolicyArns", ".arn"),
            tags: params
                .list("Tags", ".Key")
                .into_iter()
                .zip(params.list("Tags", ".Value"))
                .collect(),
            transitive_tag_keys: params.list("TransitiveTagKeys", ""),
            external_id: owned("ExternalId"),
        }
    }
}
