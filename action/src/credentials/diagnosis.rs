//! Why STS refused the token, and the trust-policy statement that would
//! admit it.
//!
//! STS says only "Not authorized to perform sts:AssumeRoleWithWebIdentity"
//! for every mismatch, and for a role that does not exist. The token itself
//! says what it claims, so reading it (unverified: STS already judged it)
//! names the cause where the claims make one likelier: an environment-style
//! `sub` against a branch policy, a pull request, the immutable
//! `repo:OWNER@ID/REPO@ID` form. For ordinary claims a missing role and an
//! unmatched `sub` stay equally likely, and the report says how to tell
//! them apart. A trust statement is offered only where one can help: the
//! audience list, the provider and the token's signature are checked on the
//! OIDC provider before any trust policy is read.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::request::{CHINA_AUDIENCE, DEFAULT_AUDIENCE, RoleArn};
use super::sts::StsError;

/// The claims of a GitHub OIDC token that decide a trust policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Claims {
    /// The issuer; its host (and path) prefixes every condition key.
    pub iss: Option<String>,
    /// The audience; a JWT may hold one or several.
    #[serde(default, deserialize_with = "one_or_many")]
    pub aud: Vec<String>,
    /// The subject the trust policy's `…:sub` condition tests.
    pub sub: Option<String>,
    /// The git ref the run is for.
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    /// The job's deployment environment, if any.
    pub environment: Option<String>,
    /// The event that started the run.
    pub event_name: Option<String>,
    /// `owner/name`.
    pub repository: Option<String>,
    /// Expiry, seconds since the epoch.
    pub exp: Option<i64>,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::One(s)) => vec![s],
        Some(OneOrMany::Many(v)) => v,
    })
}

impl Claims {
    /// The token's claims, unverified; `None` if it is not a JWT.
    pub fn decode(token: &str) -> Option<Self> {
        jsonwebtoken::dangerous::insecure_decode::<Self>(token)
            .ok()
            .map(|data| data.claims)
    }

    /// The issuer as IAM names it in provider ARNs and condition keys:
    /// without the scheme or a trailing slash.
    pub fn provider_host(&self) -> Option<&str> {
        let iss = self.iss.as_deref()?;
        let host = iss
            .strip_prefix("https://")
            .or_else(|| iss.strip_prefix("http://"))
            .unwrap_or(iss);
        Some(host.trim_end_matches('/'))
    }
}

/// Why STS refused the token, as far as the claims can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// The job has an environment, so `sub` is `…:environment:NAME`.
    EnvironmentSub,
    /// `sub` names the owner and repository with their ids.
    ImmutableSub,
    /// A pull request run: `sub` is `…:pull_request`.
    PullRequestSub,
    /// Ordinary claims (a branch or tag, no environment, no pull request):
    /// a missing or mistyped role and an unmatched `sub` are equally likely,
    /// because STS answers both with the same AccessDenied.
    RoleOrSub,
    /// The provider accepts the token's `aud`, but the trust policy's
    /// `…:aud` condition names another.
    AudienceCondition,
    /// The token's `aud` is not among the OIDC provider's client IDs: STS
    /// checks that before any trust policy.
    WrongAudience,
    /// The account has no IAM OIDC provider for the token's issuer.
    MissingProvider,
    /// STS could not validate the token (signature, keys, lifetime).
    InvalidToken,
    /// The token could not be read, so only the role is left to suspect.
    Unknown,
    /// AssumeRole: a missing role and a trust policy that does not name the
    /// caller are equally likely.
    RoleOrTrust,
    /// AssumeRole with session tags: the trust policy lacks sts:TagSession.
    TagSession,
    /// AssumeRole from a role session asked for more than an hour.
    ChainedDuration,
}

impl Cause {
    /// How the explanation is introduced.
    pub fn headline(&self) -> &'static str {
        match self {
            Cause::RoleOrSub | Cause::RoleOrTrust => "Two equally likely causes",
            _ => "Most likely cause",
        }
    }
}

/// A refused AssumeRoleWithWebIdentity explained.
#[derive(Debug, Clone)]
pub struct Diagnosis {
    /// The refused operation.
    pub operation: &'static str,
    /// What STS said.
    pub refusal: String,
    /// What was asked, row by row (role, claims or caller).
    pub rows: Vec<(&'static str, Option<String>)>,
    /// The role that was asked for.
    pub role_arn: String,
    /// The token's claims, if readable.
    pub claims: Option<Claims>,
    /// The cause.
    pub cause: Cause,
    /// The cause in a sentence (or two) that says what to change.
    pub explanation: String,
    /// Other causes that fit the same answer.
    pub also_check: Vec<String>,
    /// A risk that comes with the statement below, said before it.
    pub warning: Option<String>,
    /// A statement that admits exactly this token, only where adding one
    /// to the role's trust policy can fix the refusal.
    pub statement: Option<TrustStatement>,
}

/// Explains a refusal, or `None` when `error` is not one a trust policy or
/// an OIDC provider causes.
pub fn diagnose(error: &StsError, claims: Option<&Claims>, role: &RoleArn) -> Option<Diagnosis> {
    let code = error.code.as_deref()?;
    // IDPRejectedClaim and the rest are not decided by the provider or a
    // trust policy: no diagnosis is better than a wrong one.
    if !matches!(code, "AccessDenied" | "InvalidIdentityToken") {
        return None;
    }
    let message = error.message.as_deref().unwrap_or("");
    let (cause, explanation) = match claims {
        None => (
            Cause::Unknown,
            "the token is not a readable JWT, so STS cannot have matched it to any trust policy"
                .to_owned(),
        ),
        Some(claims) => cause(code, message, claims, role),
    };
    // A statement helps only when STS got as far as the trust policy: an
    // AccessDenied. Audience, provider and signature problems are decided
    // on the OIDC provider before any trust policy is read.
    let statement = match cause {
        Cause::EnvironmentSub
        | Cause::ImmutableSub
        | Cause::PullRequestSub
        | Cause::RoleOrSub
        | Cause::AudienceCondition => claims.and_then(|c| TrustStatement::admitting(c, role)),
        _ => None,
    };
    let mut also_check = Vec::new();
    if code == "AccessDenied" && cause != Cause::RoleOrSub {
        also_check.push(role_missing_check(role));
    }
    if code == "AccessDenied"
        && let Some(host) = claims.and_then(Claims::provider_host)
    {
        also_check.push(format!(
            "the trust policy's Principal.Federated must be arn:{}:iam::{}:oidc-provider/{host}",
            role.partition, role.account
        ));
    }
    if cause == Cause::AudienceCondition {
        also_check.push(format!(
            "that the trust policy's sub condition admits `{}`",
            claims.and_then(|c| c.sub.as_deref()).unwrap_or("")
        ));
    }
    let warning = (cause == Cause::PullRequestSub).then(|| pull_request_warning(claims));
    Some(Diagnosis {
        operation: "AssumeRoleWithWebIdentity",
        rows: claim_rows(&role.arn, &claims.cloned().unwrap_or_default()),
        refusal: error.to_string(),
        role_arn: role.arn.clone(),
        claims: claims.cloned(),
        cause,
        explanation,
        also_check,
        warning,
        statement,
    })
}

/// STS answers AccessDenied for a role that does not exist, so the role
/// itself is always a suspect.
fn role_missing_check(role: &RoleArn) -> String {
    format!(
        "that the role exists: STS answers the same AccessDenied for a missing or mistyped role. \
         `aws iam get-role --role-name {}` with account {}'s own credentials says NoSuchEntity if it does not, \
         and the account in {} must be the one the workflow deploys to",
        role.name, role.account, role.arn
    )
}

fn pull_request_warning(claims: Option<&Claims>) -> String {
    let repo = claims
        .and_then(|c| c.repository.as_deref())
        .unwrap_or("OWNER/REPO");
    format!(
        "trusting `repo:{repo}:pull_request` lets every pull request of {repo}, from any branch, \
         assume this role with all its permissions. Give pull requests a separate, read-only role, \
         or deploy from a `push` to main or from an environment instead"
    )
}

fn cause(code: &str, message: &str, claims: &Claims, role: &RoleArn) -> (Cause, String) {
    let sub = claims.sub.as_deref().unwrap_or("");
    let aud = claims.aud.join(", ");
    let iss = claims.iss.as_deref().unwrap_or("(none)");
    let host = claims.provider_host().unwrap_or(iss);
    let provider_arn = format!(
        "arn:{}:iam::{}:oidc-provider/{host}",
        role.partition, role.account
    );
    let expected_aud = if role.partition == "aws-cn" {
        CHINA_AUDIENCE
    } else {
        DEFAULT_AUDIENCE
    };
    if code == "InvalidIdentityToken" {
        let lower = message.to_lowercase();
        if lower.contains("openidconnect provider") || lower.contains("openid connect provider") {
            return (
                Cause::MissingProvider,
                format!(
                    "account {} has no IAM OIDC provider for the issuer {iss}: create one with that exact URL \
                     and the client ID (audience) {aud} (`aws iam create-open-id-connect-provider --url {iss} \
                     --client-id-list {aud}`). On GHES or with an enterprise issuer, the URL must match \
                     the token's iss, not token.actions.githubusercontent.com. No trust-policy change helps \
                     until the provider exists",
                    role.account
                ),
            );
        }
        if lower.contains("audience") {
            return (
                Cause::WrongAudience,
                format!(
                    "the token's aud `{aud}` is not among the client IDs (audiences) of the IAM OIDC provider \
                     {provider_arn}. STS checks that list before it reads any trust policy, so no trust-policy \
                     change helps: add `{aud}` to the provider's client IDs (`aws iam \
                     add-client-id-to-open-id-connect-provider --open-id-connect-provider-arn {provider_arn} \
                     --client-id {aud}`), or set the `audience` input to one the provider lists (default {expected_aud})"
                ),
            );
        }
        let check = if lower.contains("verification key") || lower.contains("retrieve") {
            format!(
                "STS could not fetch the key that signed the token: {iss}/.well-known/openid-configuration \
                 and the jwks_uri it names must be reachable from the internet over HTTPS and list the \
                 token's kid (a GHES or self-hosted issuer behind a firewall cannot be used)"
            )
        } else if lower.contains("signature") {
            format!(
                "the token's signature does not verify against the keys {iss} publishes: the token was \
                 not signed by that issuer (a token copied from another issuer, or altered), or the \
                 provider {provider_arn} is registered for a URL whose keys differ from the token's iss"
            )
        } else if lower.contains("not a valid jwt") {
            "the web identity token is not a JWT: pass the ID token itself (not an access token, and \
             not a truncated or re-encoded file)"
                .to_owned()
        } else {
            // A lifetime or another check STS names itself: its own words
            // are the most that can be said for sure.
            "STS's message above says which check failed".to_owned()
        };
        return (
            Cause::InvalidToken,
            format!(
                "STS could not validate the token ({message}), so no trust policy can admit it; {check}"
            ),
        );
    }
    if !claims.aud.iter().any(|a| a == expected_aud) {
        return (
            Cause::AudienceCondition,
            format!(
                "the token's aud is `{aud}`, not {expected_aud}: the OIDC provider accepts it, so it is the \
                 trust policy that refused, and one whose `…:aud` condition names {expected_aud} (as GitHub's \
                 and AWS's examples do) never matches: remove the `audience` input, or put `{aud}` in the \
                 condition"
            ),
        );
    }
    if is_immutable_sub(sub) {
        return (
            Cause::ImmutableSub,
            format!(
                "the token's sub `{sub}` has the immutable `OWNER@ID/REPO@ID` form (repositories created, renamed \
                 or transferred after 15 July 2026, or opted in), which a policy naming only the owner and \
                 repository does not match: add this form to the condition"
            ),
        );
    }
    if let Some(environment) = sub_part(sub, ":environment:") {
        return (
            Cause::EnvironmentSub,
            format!(
                "the job runs in the environment `{environment}`, so its sub is `{sub}`, not a `…:ref:…` one: a \
                 policy written for a branch or tag never matches a job with an environment"
            ),
        );
    }
    if sub.ends_with(":pull_request") {
        return (
            Cause::PullRequestSub,
            format!(
                "the run is for a pull request, so its sub is `{sub}`, which names no branch: a policy \
                 written for a branch or an environment never matches it"
            ),
        );
    }
    (
        Cause::RoleOrSub,
        format!(
            "(1) the role {} does not exist in account {} (mistyped, deleted, or in another account), or \
             (2) its trust policy's sub condition does not admit `{sub}`. STS answers both with the same \
             AccessDenied. To tell them apart, run `aws iam get-role --role-name {}` with account {}'s own \
             credentials: NoSuchEntity means (1), and check that {} is the account the workflow expects; \
             if the role is there, it is (2)",
            role.arn, role.account, role.name, role.account, role.account
        ),
    )
}

/// `repo:OWNER@ID/REPO@ID:…`
fn is_immutable_sub(sub: &str) -> bool {
    let Some(rest) = sub.strip_prefix("repo:") else {
        return false;
    };
    let repo = rest.split(':').next().unwrap_or("");
    let has_id = |part: &str| {
        part.rsplit_once('@').is_some_and(|(name, id)| {
            !name.is_empty() && !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())
        })
    };
    matches!(repo.split_once('/'), Some((owner, name)) if has_id(owner) && has_id(name))
}

fn sub_part<'a>(sub: &'a str, marker: &str) -> Option<&'a str> {
    sub.split_once(marker).map(|(_, rest)| rest)
}

fn claim_rows(role_arn: &str, claims: &Claims) -> Vec<(&'static str, Option<String>)> {
    let aud = claims.aud.join(", ");
    vec![
        ("role", Some(role_arn.to_owned())),
        ("iss", claims.iss.clone()),
        ("aud", (!aud.is_empty()).then_some(aud)),
        ("sub", claims.sub.clone()),
        ("ref", claims.git_ref.clone()),
        ("environment", claims.environment.clone()),
        ("event_name", claims.event_name.clone()),
    ]
}

/// One statement of a role's trust policy, in IAM's JSON shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrustStatement {
    #[serde(rename = "Effect")]
    effect: &'static str,
    #[serde(rename = "Principal")]
    principal: Principal,
    #[serde(rename = "Action")]
    action: Action,
    #[serde(rename = "Condition", skip_serializing_if = "Option::is_none")]
    condition: Option<Condition>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
enum Principal {
    Federated(String),
    #[serde(rename = "AWS")]
    Aws(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
enum Action {
    One(&'static str),
    Many(Vec<&'static str>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct Condition {
    #[serde(rename = "StringEquals")]
    string_equals: BTreeMap<String, String>,
}

impl TrustStatement {
    /// The statement that admits a token with exactly these `aud` and `sub`
    /// for `role`'s account; `None` if the token lacks either.
    pub fn admitting(claims: &Claims, role: &RoleArn) -> Option<Self> {
        let host = claims.provider_host()?;
        let aud = claims.aud.first()?;
        let sub = claims.sub.as_deref()?;
        Some(Self {
            effect: "Allow",
            principal: Principal::Federated(format!(
                "arn:{}:iam::{}:oidc-provider/{host}",
                role.partition, role.account
            )),
            action: Action::One("sts:AssumeRoleWithWebIdentity"),
            condition: Some(Condition {
                string_equals: BTreeMap::from([
                    (format!("{host}:aud"), aud.clone()),
                    (format!("{host}:sub"), sub.to_owned()),
                ]),
            }),
        })
    }

    /// The statement that lets AWS principal `principal` assume the role
    /// (and tag its session, with `tags`), with this external id.
    pub fn for_principal(principal: &str, tags: bool, external_id: Option<&str>) -> Self {
        Self {
            effect: "Allow",
            principal: Principal::Aws(principal.to_owned()),
            action: if tags {
                Action::Many(vec!["sts:AssumeRole", "sts:TagSession"])
            } else {
                Action::One("sts:AssumeRole")
            },
            condition: external_id.map(|id| Condition {
                string_equals: BTreeMap::from([("sts:ExternalId".to_owned(), id.to_owned())]),
            }),
        }
    }

    /// Pretty JSON, ready to paste into the policy's `Statement` list.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

impl Diagnosis {
    /// The same report as Markdown, for the job summary.
    pub fn to_markdown(&self) -> String {
        use crate::github::summary::code;
        let mut md = format!(
            "### slipway credentials: {} refused\n\n{}\n\n| | |\n|---|---|\n",
            self.operation,
            code(&self.refusal)
        );
        for (name, value) in self.rows.clone() {
            md.push_str(&format!(
                "| {name} | {} |\n",
                value.map_or("(absent)".to_owned(), |v| code(&v))
            ));
        }
        md.push_str(&format!(
            "\n**{}:** {}.\n",
            self.cause.headline(),
            self.explanation
        ));
        for other in &self.also_check {
            md.push_str(&format!("\nAlso check: {other}.\n"));
        }
        if let Some(warning) = &self.warning {
            md.push_str(&format!("\n**Warning:** {warning}.\n"));
        }
        if let Some(statement) = &self.statement {
            md.push_str(&format!(
                "\n{}:\n\n```json\n{}\n```\n",
                self.statement_intro(),
                statement.to_json()
            ));
        }
        md
    }

    /// The line before the statement: it admits the token only into a role
    /// that exists.
    fn statement_intro(&self) -> &'static str {
        match self.cause {
            Cause::RoleOrSub => "If the role exists, this trust-policy statement admits this token",
            Cause::RoleOrTrust => {
                "If the role exists, this trust-policy statement admits this caller"
            }
            Cause::TagSession => "This trust-policy statement admits this caller",
            _ => "This trust-policy statement admits this token",
        }
    }
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} refused: {}", self.operation, self.refusal)?;
        for (name, value) in &self.rows {
            writeln!(f, "  {name:<12} {}", value.as_deref().unwrap_or("(absent)"))?;
        }
        writeln!(f, "{}: {}.", self.cause.headline(), self.explanation)?;
        for other in &self.also_check {
            writeln!(f, "Also check: {other}.")?;
        }
        if let Some(warning) = &self.warning {
            writeln!(f, "Warning: {warning}.")?;
        }
        if let Some(statement) = &self.statement {
            writeln!(f, "{}:", self.statement_intro())?;
            writeln!(f, "{}", statement.to_json())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::sts::FailureKind;

    const NOT_AUTHORIZED: &str = "Not authorized to perform sts:AssumeRoleWithWebIdentity";

    fn role() -> RoleArn {
        RoleArn::parse("arn:aws:iam::123456789012:role/deploy").unwrap()
    }

    fn claims(sub: &str) -> Claims {
        Claims {
            iss: Some("https://token.actions.githubusercontent.com".into()),
            aud: vec!["sts.amazonaws.com".into()],
            sub: Some(sub.into()),
            git_ref: Some("refs/heads/main".into()),
            environment: None,
            event_name: Some("push".into()),
            repository: Some("acme/shop".into()),
            exp: None,
        }
    }

    fn denied() -> StsError {
        StsError::new(
            FailureKind::Service,
            Some("AccessDenied"),
            Some(NOT_AUTHORIZED),
            Some(403),
        )
    }

    fn invalid(message: &str) -> StsError {
        StsError::new(
            FailureKind::Service,
            Some("InvalidIdentityToken"),
            Some(message),
            Some(400),
        )
    }

    #[test]
    fn an_environment_sub_is_named_with_the_condition_that_fixes_it() {
        let mut c = claims("repo:acme/shop:environment:production");
        c.environment = Some("production".into());
        let d = diagnose(&denied(), Some(&c), &role()).unwrap();
        assert_eq!(d.cause, Cause::EnvironmentSub);
        assert!(d.explanation.contains("`production`"), "{}", d.explanation);
        let json = d.statement.unwrap().to_json();
        assert!(
            json.contains(r#""token.actions.githubusercontent.com:sub": "repo:acme/shop:environment:production""#),
            "{json}"
        );
        assert!(
            json.contains(r#""Federated": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com""#),
            "{json}"
        );
    }

    #[test]
    fn the_statement_is_valid_iam_json_in_iam_order() {
        let statement =
            TrustStatement::admitting(&claims("repo:acme/shop:ref:refs/heads/main"), &role())
                .unwrap();
        let json = statement.to_json();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["Action"], "sts:AssumeRoleWithWebIdentity");
        assert_eq!(
            value["Condition"]["StringEquals"]["token.actions.githubusercontent.com:aud"],
            "sts.amazonaws.com"
        );
        let order: Vec<_> = ["Effect", "Principal", "Action", "Condition"]
            .iter()
            .map(|k| json.find(k).unwrap())
            .collect();
        assert!(order.is_sorted(), "{json}");
    }

    #[test]
    fn the_immutable_sub_form_is_recognised() {
        assert!(is_immutable_sub(
            "repo:acme@1234/shop@5678:ref:refs/heads/main"
        ));
        assert!(!is_immutable_sub("repo:acme/shop:ref:refs/heads/main"));
        assert!(!is_immutable_sub(
            "repo:acme@x/shop@5678:ref:refs/heads/main"
        ));
        let d = diagnose(
            &denied(),
            Some(&claims("repo:acme@1234/shop@5678:ref:refs/heads/main")),
            &role(),
        )
        .unwrap();
        assert_eq!(d.cause, Cause::ImmutableSub);
    }

    #[test]
    fn a_wrong_audience_is_named_whether_sts_denies_or_rejects() {
        let mut c = claims("repo:acme/shop:ref:refs/heads/main");
        c.aud = vec!["https://github.com/acme".into()];
        let d = diagnose(&denied(), Some(&c), &role()).unwrap();
        assert!(
            d.explanation.contains("https://github.com/acme"),
            "{}",
            d.explanation
        );
        assert_eq!(d.cause, Cause::AudienceCondition);
        assert!(d.statement.is_some(), "the provider took it: a policy can");
        let d = diagnose(&invalid("Incorrect token audience"), Some(&c), &role()).unwrap();
        assert_eq!(d.cause, Cause::WrongAudience);
        assert!(d.statement.is_none());
        assert!(
            d.explanation
                .contains("client IDs (audiences) of the IAM OIDC provider"),
            "{}",
            d.explanation
        );
        assert!(
            d.explanation.contains("no trust-policy change helps"),
            "{}",
            d.explanation
        );
    }

    #[test]
    fn token_validation_failures_print_no_statement() {
        let c = claims("repo:acme/shop:ref:refs/heads/main");
        for (message, says) in [
            (
                "Token signature could not be verified",
                "signature does not verify",
            ),
            (
                "Couldn't retrieve verification key from your identity provider",
                "could not fetch the key",
            ),
            (
                "No OpenIDConnect provider found in your account for https://x",
                "has no IAM OIDC provider",
            ),
            (
                "Token is not yet valid: current date/time 1 must be after the not-before date/time 2",
                "STS's message above says which check failed",
            ),
        ] {
            let d = diagnose(&invalid(message), Some(&c), &role()).unwrap();
            assert!(d.statement.is_none(), "{message}");
            assert!(d.explanation.contains(says), "{}", d.explanation);
            assert!(!d.to_string().contains("admits this token"), "{d}");
        }
    }

    #[test]
    fn a_pull_request_statement_comes_with_a_warning() {
        let mut c = claims("repo:acme/shop:pull_request");
        c.event_name = Some("pull_request".into());
        let d = diagnose(&denied(), Some(&c), &role()).unwrap();
        assert_eq!(d.cause, Cause::PullRequestSub);
        let text = d.to_string();
        let warning = text
            .find("Warning: trusting `repo:acme/shop:pull_request` lets every pull request")
            .unwrap();
        assert!(warning < text.find("admits this token").unwrap(), "{text}");
        assert!(text.contains("separate, read-only role"), "{text}");
    }

    #[test]
    fn other_rejections_get_no_diagnosis() {
        let rejected = StsError::new(
            FailureKind::Service,
            Some("IDPRejectedClaim"),
            Some("claim rejected"),
            Some(403),
        );
        assert!(diagnose(&rejected, Some(&claims("x")), &role()).is_none());
    }

    #[test]
    fn a_missing_provider_names_the_issuer_and_account() {
        let message = "No OpenIDConnect provider found in your account for https://token.actions.githubusercontent.com";
        let d = diagnose(
            &invalid(message),
            Some(&claims("repo:acme/shop:ref:refs/heads/main")),
            &role(),
        )
        .unwrap();
        assert_eq!(d.cause, Cause::MissingProvider);
        assert!(d.explanation.contains("123456789012"));
        assert!(
            d.explanation
                .contains("https://token.actions.githubusercontent.com")
        );
    }

    #[test]
    fn ordinary_claims_name_the_role_and_the_sub_as_equally_likely() {
        let d = diagnose(
            &denied(),
            Some(&claims("repo:acme/shop:ref:refs/heads/feature")),
            &role(),
        )
        .unwrap();
        assert_eq!(d.cause, Cause::RoleOrSub);
        let text = d.to_string();
        assert!(text.contains("Two equally likely causes: (1) the role arn:aws:iam::123456789012:role/deploy does not exist"), "{text}");
        assert!(text.contains("(2) its trust policy's sub condition does not admit `repo:acme/shop:ref:refs/heads/feature`"), "{text}");
        assert!(
            text.contains(
                "`aws iam get-role --role-name deploy` with account 123456789012's own credentials"
            ),
            "{text}"
        );
        assert!(
            text.contains("If the role exists, this trust-policy statement admits this token:"),
            "{text}"
        );
        assert!(!text.contains("Most likely cause"), "{text}");
    }

    #[test]
    fn a_telling_claim_leads_but_the_role_is_still_checked() {
        let d = diagnose(
            &denied(),
            Some(&claims("repo:acme/shop:environment:prod")),
            &role(),
        )
        .unwrap();
        assert_eq!(d.cause, Cause::EnvironmentSub);
        assert!(
            d.also_check
                .iter()
                .any(|a| a.contains("aws iam get-role --role-name deploy"))
        );
    }

    #[test]
    fn transient_errors_get_no_diagnosis() {
        let throttled = StsError::new(
            FailureKind::Service,
            Some("Throttling"),
            Some("Rate exceeded"),
            Some(400),
        );
        assert!(diagnose(&throttled, Some(&claims("x")), &role()).is_none());
    }

    #[test]
    fn the_report_prints_every_claim_and_the_role() {
        let mut c = claims("repo:acme/shop:environment:production");
        c.environment = Some("production".into());
        let text = diagnose(&denied(), Some(&c), &role()).unwrap().to_string();
        for needed in [
            "AccessDenied: Not authorized",
            "arn:aws:iam::123456789012:role/deploy",
            "iss          https://token.actions.githubusercontent.com",
            "aud          sts.amazonaws.com",
            "sub          repo:acme/shop:environment:production",
            "ref          refs/heads/main",
            "environment  production",
            "event_name   push",
            "Most likely cause:",
            "\"StringEquals\"",
        ] {
            assert!(text.contains(needed), "{needed:?} missing from:\n{text}");
        }
    }

    #[test]
    fn the_markdown_report_fences_the_statement() {
        let md = diagnose(
            &denied(),
            Some(&claims("repo:acme/shop:ref:refs/heads/dev")),
            &role(),
        )
        .unwrap()
        .to_markdown();
        assert!(
            md.contains("| sub | `repo:acme/shop:ref:refs/heads/dev` |"),
            "{md}"
        );
        assert!(md.contains("| environment | (absent) |"), "{md}");
        assert!(md.contains("```json\n{"), "{md}");
    }

    #[test]
    fn claims_decode_from_an_unverified_jwt() {
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let token = format!(
            "{}.{}.sig",
            b64(r#"{"alg":"RS256","typ":"JWT"}"#),
            b64(
                r#"{"iss":"http://127.0.0.1:9/","aud":["a","b"],"sub":"repo:o/r:pull_request","ref":"refs/pull/1/merge"}"#
            )
        );
        let c = Claims::decode(&token).unwrap();
        assert_eq!(c.aud, ["a", "b"]);
        assert_eq!(c.git_ref.as_deref(), Some("refs/pull/1/merge"));
        assert_eq!(c.provider_host(), Some("127.0.0.1:9"));
        assert!(Claims::decode("not-a-jwt").is_none());
    }
}
