//! Role chaining: AssumeRole signed with the credentials an earlier step
//! left in the environment (the usual layout: a web-identity role in one
//! account, the deploy role in another), the session tags the official
//! action sends with it, and why STS refused.

use aws_credential_types::Credentials;

use super::diagnosis::{Cause, Diagnosis, TrustStatement};
use super::request::{Request, RoleArn};
use super::sts::{Chain, StsError};
use crate::env::Env;
use crate::{Error, Result};

/// The chain for `request` from the environment's AWS_* credentials.
pub fn from_env(env: &Env, request: &Request) -> Result<Chain> {
    let var = |name: &'static str| {
        env.get(name)
            .map(str::to_owned)
            .ok_or(Error::NoSourceCredentials { missing: name })
    };
    let source = Credentials::new(
        var("AWS_ACCESS_KEY_ID")?,
        var("AWS_SECRET_ACCESS_KEY")?,
        env.get("AWS_SESSION_TOKEN").map(str::to_owned),
        None,
        "environment",
    );
    Ok(Chain {
        source,
        external_id: request.external_id.clone(),
        tags: if request.skip_session_tagging {
            Vec::new()
        } else {
            session_tags(env)
        },
        transitive_tag_keys: request.transitive_tag_keys.clone(),
    })
}

/// The tags the official action puts on a chained session, from the
/// run's GITHUB_* variables; a variable that is not set gives no tag.
pub fn session_tags(env: &Env) -> Vec<(String, String)> {
    let mut tags = vec![("GitHub".to_owned(), "Actions".to_owned())];
    for (key, var) in [
        ("Repository", "GITHUB_REPOSITORY"),
        ("Workflow", "GITHUB_WORKFLOW"),
        ("Action", "GITHUB_ACTION"),
        ("Actor", "GITHUB_ACTOR"),
        ("Commit", "GITHUB_SHA"),
        ("Branch", "GITHUB_REF"),
    ] {
        if let Some(value) = env.get(var) {
            tags.push((key.to_owned(), tag_value(value)));
        }
    }
    tags
}

/// A tag value STS accepts: letters, digits, spaces and `_.:/=+-@`, at
/// most 256 characters; anything else becomes `*`, as the official action
/// writes it.
fn tag_value(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c) {
                c
            } else {
                '*'
            }
        })
        .take(256)
        .collect()
}

/// Explains a refused AssumeRole, or `None` when a trust policy is not
/// what decides it.
pub fn diagnose(
    error: &StsError,
    role: &RoleArn,
    external_id: Option<&str>,
    tagged: bool,
) -> Option<Diagnosis> {
    let message = error.message.as_deref().unwrap_or("");
    let caller = message
        .strip_prefix("User: ")
        .and_then(|rest| rest.split_once(" is not authorized"))
        .map(|(caller, _)| caller.to_owned());
    let mut rows = vec![
        ("role", Some(role.arn.clone())),
        ("caller", caller.clone()),
        ("external id", external_id.map(|_| "given".to_owned())),
        (
            "session tags",
            Some(if tagged { "sent" } else { "none" }.to_owned()),
        ),
    ];
    rows.retain(|(name, value)| *name != "external id" || value.is_some());
    let base = |cause, explanation: String, also_check, statement| Diagnosis {
        operation: "AssumeRole",
        refusal: error.to_string(),
        rows: rows.clone(),
        role_arn: role.arn.clone(),
        claims: None,
        cause,
        explanation,
        also_check,
        warning: None,
        statement,
    };
    if error.is("ValidationError") && message.contains("role chaining") {
        return Some(base(
            Cause::ChainedDuration,
            "a session assumed from another role's session lasts at most an hour: set \
             role-duration-seconds to 3600 or less, or give the first role's trust policy this \
             workflow's token so it needs no chaining"
                .to_owned(),
            Vec::new(),
            None,
        ));
    }
    if !error.is("AccessDenied") {
        return None;
    }
    let principal = caller.as_deref().map(principal_of);
    let statement = principal
        .as_deref()
        .map(|p| TrustStatement::for_principal(p, tagged, external_id));
    let who = principal.as_deref().unwrap_or("the caller");
    if message.contains("sts:TagSession") {
        return Some(base(
            Cause::TagSession,
            format!(
                "the role's trust policy lets {who} call sts:AssumeRole but not sts:TagSession, which \
                 the session tags need: add sts:TagSession to that statement, or set \
                 role-skip-session-tagging: true"
            ),
            Vec::new(),
            statement,
        ));
    }
    let external = match external_id {
        Some(_) => {
            ", or it requires an sts:ExternalId other than the role-external-id given".to_owned()
        }
        None => ", or it requires an sts:ExternalId (set role-external-id)".to_owned(),
    };
    Some(base(
        Cause::RoleOrTrust,
        format!(
            "(1) the role {} does not exist in account {} (mistyped, deleted, or in another account), or \
             (2) its trust policy does not name {who} for sts:AssumeRole{external}. STS answers both \
             with the same AccessDenied. To tell them apart, run `aws iam get-role --role-name {}` \
             with account {}'s own credentials: NoSuchEntity means (1); otherwise its \
             AssumeRolePolicyDocument shows (2)",
            role.arn, role.account, role.name, role.account
        ),
        Vec::new(),
        statement,
    ))
}

/// The principal a trust policy names for a caller: a role for its
/// sessions (`…:assumed-role/NAME/SESSION` → `…:role/NAME`), else the ARN.
fn principal_of(caller: &str) -> String {
    let parts: Vec<&str> = caller.splitn(6, ':').collect();
    if let ["arn", partition, "sts", "", account, resource] = parts[..]
        && let Some(rest) = resource.strip_prefix("assumed-role/")
        && let Some((name, _session)) = rest.split_once('/')
    {
        return format!("arn:{partition}:iam::{account}:role/{name}");
    }
    caller.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::sts::FailureKind;

    fn role() -> RoleArn {
        RoleArn::parse("arn:aws:iam::222222222222:role/target").unwrap()
    }

    fn denied(action: &str) -> StsError {
        StsError::new(
            FailureKind::Service,
            Some("AccessDenied"),
            Some(&format!(
                "User: arn:aws:sts::111111111111:assumed-role/deploy/s1 is not authorized to perform: {action} on resource: arn:aws:iam::222222222222:role/target"
            )),
            Some(403),
        )
    }

    #[test]
    fn a_session_is_trusted_through_its_role() {
        assert_eq!(
            principal_of("arn:aws:sts::111111111111:assumed-role/deploy/s1"),
            "arn:aws:iam::111111111111:role/deploy"
        );
        assert_eq!(
            principal_of("arn:aws:iam::111111111111:user/ci"),
            "arn:aws:iam::111111111111:user/ci"
        );
    }

    #[test]
    fn an_assume_role_refusal_names_both_causes_and_the_statement() {
        let d = diagnose(&denied("sts:AssumeRole"), &role(), Some("x-1"), true).unwrap();
        assert_eq!(d.cause, Cause::RoleOrTrust);
        let text = d.to_string();
        assert!(text.contains("does not name arn:aws:iam::111111111111:role/deploy for sts:AssumeRole, or it requires an sts:ExternalId other than"), "{text}");
        let json: serde_json::Value =
            serde_json::from_str(&d.statement.unwrap().to_json()).unwrap();
        assert_eq!(
            json["Principal"]["AWS"],
            "arn:aws:iam::111111111111:role/deploy"
        );
        assert_eq!(json["Action"][1], "sts:TagSession");
        assert_eq!(json["Condition"]["StringEquals"]["sts:ExternalId"], "x-1");
    }

    #[test]
    fn a_tag_session_refusal_says_so() {
        let d = diagnose(&denied("sts:TagSession"), &role(), None, true).unwrap();
        assert_eq!(d.cause, Cause::TagSession);
        assert!(d.explanation.contains("role-skip-session-tagging: true"));
    }

    #[test]
    fn tags_come_from_the_run_and_are_cleaned() {
        let env = Env::from_pairs([
            ("GITHUB_REPOSITORY", "acme/shop"),
            ("GITHUB_WORKFLOW", "deploy (prod) #1"),
            ("GITHUB_REF", "refs/heads/main"),
        ]);
        assert_eq!(
            session_tags(&env),
            [
                ("GitHub", "Actions"),
                ("Repository", "acme/shop"),
                ("Workflow", "deploy *prod* *1"),
                ("Branch", "refs/heads/main"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
    }
}
