//! Why STS refused the token, and the trust-policy statement that would
//! admit it.
//!
//! STS says only "Not authorized to perform sts:AssumeRoleWithWebIdentity"
//! for every mismatch. The token itself says what it claims, so reading it
//! (unverified: STS already judged it) and comparing it with the usual
//! mistakes names the cause in nearly every case: an environment-style
//! `sub` against a branch policy, the immutable `repo:OWNER@ID/REPO@ID`
//! form, a wrong audience, a missing OIDC provider, or a mistyped role.

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

/// The most likely reason STS refused the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// The job has an environment, so `sub` is `…:environment:NAME`.
    EnvironmentSub,
    /// `sub` names the owner and repository with their ids.
    ImmutableSub,
    /// A pull request run: `sub` is `…:pull_request`.
    PullRequestSub,
    /// A branch or tag `sub` that the policy does not list.
    RefSub,
    /// The token's `aud` is not what STS or the policy expects.
    WrongAudience,
    /// The account has no IAM OIDC provider for the token's issuer.
    MissingProvider,
    /// STS could not validate the token at all.
    InvalidToken,
    /// The token could not be read, so only the role is left to suspect.
    Unknown,
}

/// A refused AssumeRoleWithWebIdentity explained.
#[derive(Debug, Clone)]
pub struct Diagnosis {
    /// What STS said.
    pub refusal: String,
    /// The role that was asked for.
    pub role_arn: String,
    /// The token's claims, if readable.
    pub claims: Option<Claims>,
    /// The most likely cause.
    pub cause: Cause,
    /// The cause in a sentence that says what to change.
    pub explanation: String,
    /// Other causes that fit the same answer.
    pub also_check: Vec<String>,
    /// A statement that admits exactly this token.
    pub statement: Option<TrustStatement>,
}

/// Explains a refusal, or `None` when `error` is not one a trust policy or
/// an OIDC provider causes.
pub fn diagnose(error: &StsError, claims: Option<&Claims>, role: &RoleArn) -> Option<Diagnosis> {
    let code = error.code.as_deref()?;
    if !matches!(
        code,
        "AccessDenied" | "InvalidIdentityToken" | "IDPRejectedClaim"
    ) {
        return None;
    }
    let message = error.message.as_deref().unwrap_or("");
    let statement = claims.and_then(|c| TrustStatement::admitting(c, role));
    let (cause, explanation) = match claims {
        None => (
            Cause::Unknown,
            "the token is not a readable JWT, so STS cannot have matched it to any trust policy"
                .to_owned(),
        ),
        Some(claims) => cause(code, message, claims, role),
    };
    let mut also_check = Vec::new();
    if code == "AccessDenied" {
        also_check.push(format!(
            "a typo in the role ARN or its account: STS answers AccessDenied for a role that does not exist ({})",
            role.arn
        ));
        if let Some(host) = claims.and_then(Claims::provider_host) {
            also_check.push(format!(
                "the trust policy's Principal.Federated must be arn:{}:iam::{}:oidc-provider/{host}",
                role.partition, role.account
            ));
        }
    }
    Some(Diagnosis {
        refusal: error.to_string(),
        role_arn: role.arn.clone(),
        claims: claims.cloned(),
        cause,
        explanation,
        also_check,
        statement,
    })
}

fn cause(code: &str, message: &str, claims: &Claims, role: &RoleArn) -> (Cause, String) {
    let sub = claims.sub.as_deref().unwrap_or("");
    let aud = claims.aud.join(", ");
    let iss = claims.iss.as_deref().unwrap_or("(none)");
    let expected_aud = if role.partition == "aws-cn" {
        CHINA_AUDIENCE
    } else {
        DEFAULT_AUDIENCE
    };
    if code == "InvalidIdentityToken" {
        if message.contains("OpenIDConnect provider") || message.contains("OpenID Connect provider")
        {
            return (
                Cause::MissingProvider,
                format!(
                    "account {} has no IAM OIDC provider for the issuer {iss}: create one with that exact URL \
                     and client ID (audience) {aud}. On GHES or with an enterprise issuer, the URL must match \
                     the token's iss, not token.actions.githubusercontent.com",
                    role.account
                ),
            );
        }
        if message.to_lowercase().contains("audience") {
            return (
                Cause::WrongAudience,
                format!(
                    "the IAM OIDC provider for {iss} does not list the token's audience `{aud}` as a client ID: \
                     add it there, or request the audience the provider lists with the `audience` input \
                     (default {expected_aud})"
                ),
            );
        }
        return (
            Cause::InvalidToken,
            format!(
                "STS could not validate the token ({message}); check that the provider's URL is exactly {iss}"
            ),
        );
    }
    if !claims.aud.iter().any(|a| a == expected_aud) {
        return (
            Cause::WrongAudience,
            format!(
                "the token's aud is `{aud}`, but trust policies for GitHub check `…:aud` against {expected_aud}: \
                 remove the `audience` input, or put `{aud}` in the condition"
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
            format!("the run is for a pull request, so its sub is `{sub}`, which names no branch"),
        );
    }
    (
        Cause::RefSub,
        format!(
            "the trust policy's sub condition does not admit `{sub}`: the policy lists other branches or tags, \
             or it expects an environment this job does not have"
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

/// One statement of a role's trust policy, in IAM's JSON shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrustStatement {
    #[serde(rename = "Effect")]
    effect: &'static str,
    #[serde(rename = "Principal")]
    principal: Principal,
    #[serde(rename = "Action")]
    action: &'static str,
    #[serde(rename = "Condition")]
    condition: Condition,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct Principal {
    #[serde(rename = "Federated")]
    federated: String,
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
            principal: Principal {
                federated: format!(
                    "arn:{}:iam::{}:oidc-provider/{host}",
                    role.partition, role.account
                ),
            },
            action: "sts:AssumeRoleWithWebIdentity",
            condition: Condition {
                string_equals: BTreeMap::from([
                    (format!("{host}:aud"), aud.clone()),
                    (format!("{host}:sub"), sub.to_owned()),
                ]),
            },
        })
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
        let claims = self.claims.clone().unwrap_or_default();
        let mut md = format!(
            "### slipway credentials: AssumeRoleWithWebIdentity refused\n\n{}\n\n| | |\n|---|---|\n",
            code(&self.refusal)
        );
        for (name, value) in self.rows(&claims) {
            md.push_str(&format!(
                "| {name} | {} |\n",
                value.map_or("(absent)".to_owned(), |v| code(&v))
            ));
        }
        md.push_str(&format!("\n**Most likely cause:** {}.\n", self.explanation));
        for other in &self.also_check {
            md.push_str(&format!("\nAlso check: {other}.\n"));
        }
        if let Some(statement) = &self.statement {
            md.push_str(&format!(
                "\nThis trust-policy statement admits this token:\n\n```json\n{}\n```\n",
                statement.to_json()
            ));
        }
        md
    }

    fn rows(&self, claims: &Claims) -> [(&'static str, Option<String>); 7] {
        let aud = claims.aud.join(", ");
        [
            ("role", Some(self.role_arn.clone())),
            ("iss", claims.iss.clone()),
            ("aud", (!aud.is_empty()).then_some(aud)),
            ("sub", claims.sub.clone()),
            ("ref", claims.git_ref.clone()),
            ("environment", claims.environment.clone()),
            ("event_name", claims.event_name.clone()),
        ]
    }
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "AssumeRoleWithWebIdentity refused: {}", self.refusal)?;
        let claims = self.claims.clone().unwrap_or_default();
        for (name, value) in self.rows(&claims) {
            writeln!(f, "  {name:<12} {}", value.as_deref().unwrap_or("(absent)"))?;
        }
        writeln!(f, "Most likely cause: {}.", self.explanation)?;
        for other in &self.also_check {
            writeln!(f, "Also check: {other}.")?;
        }
        if let Some(statement) = &self.statement {
            writeln!(f, "This trust-policy statement admits this token:")?;
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
        assert_eq!(d.cause, Cause::WrongAudience);
        assert!(
            d.explanation.contains("https://github.com/acme"),
            "{}",
            d.explanation
        );
        let d = diagnose(&invalid("Incorrect token audience"), Some(&c), &role()).unwrap();
        assert_eq!(d.cause, Cause::WrongAudience);
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
    fn a_branch_sub_suggests_the_policy_and_a_role_typo() {
        let d = diagnose(
            &denied(),
            Some(&claims("repo:acme/shop:ref:refs/heads/feature")),
            &role(),
        )
        .unwrap();
        assert_eq!(d.cause, Cause::RefSub);
        assert!(
            d.also_check
                .iter()
                .any(|a| a.contains("typo in the role ARN"))
        );
        let d = diagnose(
            &denied(),
            Some(&claims("repo:acme/shop:pull_request")),
            &role(),
        )
        .unwrap();
        assert_eq!(d.cause, Cause::PullRequestSub);
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
