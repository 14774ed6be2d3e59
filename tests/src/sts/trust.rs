//! IAM roles and the subset of trust-policy language web identity and role
//! chaining need: `Allow` statements, each with one federated principal and
//! `StringEquals` / `StringLike` conditions, or with AWS principals allowed
//! `sts:AssumeRole` (and `sts:TagSession`), optionally on an external id.
//! A role may be assumed when any statement admits the caller.

use std::time::Duration;

use serde_json::Value;

/// The longest session a role allows unless told otherwise (IAM's default).
pub const DEFAULT_MAX_SESSION: Duration = Duration::from_secs(3600);

/// An IAM role that can be assumed with a web identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// The role name; its ARN is `arn:aws:iam::ACCOUNT:role/NAME`.
    pub name: String,
    /// Who may assume it: any one statement admitting a token is enough.
    pub trust: Vec<TrustPolicy>,
    /// The longest `DurationSeconds` it accepts.
    pub max_session_duration: Duration,
    /// AWS principals that may assume it with `sts:AssumeRole`.
    pub aws_trust: Vec<AwsTrust>,
}

impl Role {
    /// A role trusting `trust`, with IAM's default one-hour session limit.
    pub fn new(name: impl Into<String>, trust: TrustPolicy) -> Self {
        Self {
            name: name.into(),
            trust: vec![trust],
            max_session_duration: DEFAULT_MAX_SESSION,
            aws_trust: Vec::new(),
        }
    }

    /// A role only AWS principals may assume, through `trust`.
    pub fn assumable_by(name: impl Into<String>, trust: AwsTrust) -> Self {
        Self {
            name: name.into(),
            trust: Vec::new(),
            max_session_duration: DEFAULT_MAX_SESSION,
            aws_trust: vec![trust],
        }
    }

    /// Adds a statement for AWS principals.
    pub fn also_assumable_by(mut self, trust: AwsTrust) -> Self {
        self.aws_trust.push(trust);
        self
    }

    /// Whether `caller` (an IAM or STS ARN) may call `action`
    /// (`sts:AssumeRole`, `sts:TagSession`) with this `external_id`.
    pub(crate) fn allows(&self, caller: &str, action: &str, external_id: Option<&str>) -> bool {
        self.aws_trust
            .iter()
            .any(|t| t.allows(caller, action, external_id))
    }

    /// Adds another statement the role trusts.
    pub fn also_trusting(mut self, trust: TrustPolicy) -> Self {
        self.trust.push(trust);
        self
    }

    /// Whether any statement admits a token with these verified `claims`.
    pub(crate) fn admits(&self, issuer: &str, sandbox_issuer: &str, claims: &Value) -> bool {
        self.trust
            .iter()
            .any(|statement| statement.admits(issuer, sandbox_issuer, claims))
    }

    /// Changes the role's `MaxSessionDuration`.
    pub fn max_session_duration(mut self, max: Duration) -> Self {
        self.max_session_duration = max;
        self
    }

    /// `arn:aws:iam::ACCOUNT:role/NAME`.
    pub fn arn(&self, account_id: &str) -> String {
        format!("arn:aws:iam::{account_id}:role/{}", self.name)
    }
}

/// Which OIDC provider a role trusts (the statement's `Federated` principal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Federated {
    /// The sandbox's own GitHub issuer, whatever port it got.
    SandboxIssuer,
    /// The provider for this issuer, written as its URL or, as in a
    /// provider ARN, without the scheme (`127.0.0.1:PORT`).
    Issuer(String),
}

/// One `Allow sts:AssumeRoleWithWebIdentity` statement: all conditions
/// must hold; within a condition any value may match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustPolicy {
    /// The trusted provider.
    pub federated: Federated,
    /// The statement's `Condition` block.
    pub conditions: Vec<Condition>,
}

impl TrustPolicy {
    /// Trusts the sandbox issuer for tokens with aud `sts.amazonaws.com`,
    /// with no condition on `sub` yet (add one with [`TrustPolicy::with`]).
    pub fn sandbox_issuer() -> Self {
        Self {
            federated: Federated::SandboxIssuer,
            conditions: vec![Condition::string_equals("aud", &["sts.amazonaws.com"])],
        }
    }

    /// The usual GitHub policy: the sandbox issuer, aud
    /// `sts.amazonaws.com`, and `sub` `StringEquals` one of `subjects`.
    pub fn github(subjects: &[&str]) -> Self {
        Self::sandbox_issuer().with(Condition::string_equals("sub", subjects))
    }

    /// The same with `StringLike` patterns for `sub`.
    pub fn github_like(patterns: &[&str]) -> Self {
        Self::sandbox_issuer().with(Condition::string_like("sub", patterns))
    }

    /// Adds a condition.
    pub fn with(mut self, condition: Condition) -> Self {
        self.conditions.push(condition);
        self
    }

    /// Whether a token with these verified `claims`, issued by `issuer`,
    /// satisfies the statement. `sandbox_issuer` resolves
    /// [`Federated::SandboxIssuer`].
    pub(crate) fn admits(&self, issuer: &str, sandbox_issuer: &str, claims: &Value) -> bool {
        let trusted = match &self.federated {
            Federated::SandboxIssuer => sandbox_issuer,
            Federated::Issuer(url) => url.as_str(),
        };
        provider_host(trusted) == provider_host(issuer)
            && self.conditions.iter().all(|c| c.holds(claims))
    }
}

/// One `Allow` statement for AWS principals: `Principal.AWS`, its actions,
/// and an optional `StringEquals` on `sts:ExternalId`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsTrust {
    /// Account ids, `arn:aws:iam::ACCOUNT:root`, role or user ARNs, or `*`.
    pub principals: Vec<String>,
    /// `sts:AssumeRole`, `sts:TagSession`, `sts:*`.
    pub actions: Vec<String>,
    /// The external id the caller must give, if any.
    pub external_id: Option<String>,
}

impl AwsTrust {
    /// `principal` may `sts:AssumeRole` (no tags).
    pub fn assume_role(principal: &str) -> Self {
        Self {
            principals: vec![principal.to_owned()],
            actions: vec!["sts:AssumeRole".to_owned()],
            external_id: None,
        }
    }

    /// Also allows `sts:TagSession`, which session tags need.
    pub fn with_tag_session(mut self) -> Self {
        self.actions.push("sts:TagSession".to_owned());
        self
    }

    /// Requires this external id.
    pub fn with_external_id(mut self, id: &str) -> Self {
        self.external_id = Some(id.to_owned());
        self
    }

    fn allows(&self, caller: &str, action: &str, external_id: Option<&str>) -> bool {
        self.actions
            .iter()
            .any(|a| a == action || a == "sts:*" || a == "*")
            && self.principals.iter().any(|p| principal_matches(p, caller))
            && self
                .external_id
                .as_deref()
                .is_none_or(|wanted| external_id == Some(wanted))
    }
}

/// How IAM matches a trust policy's AWS principal against the caller: an
/// account (or its `:root`) admits anyone in it; a role admits its
/// sessions; anything else must be the caller's ARN.
fn principal_matches(principal: &str, caller: &str) -> bool {
    let caller_account = caller.split(':').nth(4).unwrap_or_default();
    if principal == "*" || principal == caller {
        return true;
    }
    if principal.len() == 12 && principal.bytes().all(|b| b.is_ascii_digit()) {
        return principal == caller_account;
    }
    let Some((account, resource)) = principal
        .strip_prefix("arn:aws:iam::")
        .and_then(|rest| rest.split_once(':'))
    else {
        return false;
    };
    if resource == "root" {
        return account == caller_account;
    }
    let Some(role) = resource.strip_prefix("role/") else {
        return false;
    };
    let role_name = role.rsplit('/').next().unwrap_or(role);
    caller
        .strip_prefix(&format!("arn:aws:sts::{account}:assumed-role/"))
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(name, _session)| name == role_name)
}

/// A condition operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// Exact, case-sensitive.
    StringEquals,
    /// Case-sensitive, with `*` (any run) and `?` (one character).
    StringLike,
}

/// `"<Operator>": { "<issuer-host>:<claim>": [values] }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// How values are compared.
    pub operator: Operator,
    /// The claim (`aud`, `sub`, or one of GitHub's: `repository`, `ref`, …).
    pub claim: String,
    /// Any one matching is enough.
    pub values: Vec<String>,
}

impl Condition {
    /// `StringEquals` on `claim`.
    pub fn string_equals(claim: &str, values: &[&str]) -> Self {
        Self::new(Operator::StringEquals, claim, values)
    }

    /// `StringLike` on `claim`.
    pub fn string_like(claim: &str, values: &[&str]) -> Self {
        Self::new(Operator::StringLike, claim, values)
    }

    fn new(operator: Operator, claim: &str, values: &[&str]) -> Self {
        Self {
            operator,
            claim: claim.into(),
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        }
    }

    /// A missing claim fails the condition, as in IAM (no `IfExists`).
    fn holds(&self, claims: &Value) -> bool {
        claim_strings(claims.get(&self.claim)).iter().any(|actual| {
            self.values.iter().any(|wanted| match self.operator {
                Operator::StringEquals => actual == wanted,
                Operator::StringLike => glob_matches(wanted, actual),
            })
        })
    }
}

/// An issuer as IAM names its provider: no scheme, no trailing slash
/// (`token.actions.githubusercontent.com`, `127.0.0.1:PORT`).
pub fn provider_host(issuer: &str) -> &str {
    issuer
        .split_once("://")
        .map_or(issuer, |(_, rest)| rest)
        .trim_end_matches('/')
}

/// `arn:aws:iam::ACCOUNT:oidc-provider/HOST[:PORT][/PATH]`.
pub(crate) fn provider_arn(account_id: &str, issuer: &str) -> String {
    format!(
        "arn:aws:iam::{account_id}:oidc-provider/{}",
        provider_host(issuer)
    )
}

/// A claim as IAM sees it: strings as they are, numbers and booleans as
/// text, arrays (a multi-valued `aud`) element by element.
fn claim_strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Number(n)) => vec![n.to_string()],
        Some(Value::Bool(b)) => vec![b.to_string()],
        Some(Value::Array(items)) => items.iter().flat_map(|v| claim_strings(Some(v))).collect(),
        _ => Vec::new(),
    }
}

/// IAM's `StringLike`: `*` matches any run of characters, `?` exactly one.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    // Where the last `*` was, and the text position it has swallowed up to.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn string_like_wildcards() {
        assert!(glob_matches(
            "repo:acme/shop:*",
            "repo:acme/shop:ref:refs/heads/main"
        ));
        assert!(glob_matches(
            "repo:acme/*:ref:refs/heads/ma?n",
            "repo:acme/shop:ref:refs/heads/main"
        ));
        assert!(glob_matches("*", ""));
        assert!(glob_matches("a*b*c", "aXXbYYc"));
        assert!(!glob_matches(
            "repo:acme/shop:*",
            "repo:acme/shopfront:ref:x"
        ));
        assert!(!glob_matches("a?c", "ac"));
        assert!(!glob_matches("Repo:*", "repo:x"));
    }

    #[test]
    fn every_condition_must_hold_and_any_value_may_match() {
        let policy = TrustPolicy::github(&[
            "repo:acme/shop:ref:refs/heads/main",
            "repo:acme/shop:environment:prod",
        ]);
        let claims = json!({"aud": "sts.amazonaws.com", "sub": "repo:acme/shop:environment:prod"});
        assert!(policy.admits("http://iss", "http://iss", &claims));
        let wrong_aud = json!({"aud": "sigstore", "sub": "repo:acme/shop:environment:prod"});
        assert!(!policy.admits("http://iss", "http://iss", &wrong_aud));
    }

    #[test]
    fn a_missing_claim_fails_the_condition() {
        let policy =
            TrustPolicy::github(&["x"]).with(Condition::string_equals("environment", &["prod"]));
        let claims = json!({"aud": "sts.amazonaws.com", "sub": "x"});
        assert!(!policy.admits("http://iss", "http://iss", &claims));
    }

    #[test]
    fn provider_arn_drops_the_scheme() {
        assert_eq!(
            provider_arn(
                "123456789012",
                "https://token.actions.githubusercontent.com/"
            ),
            "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
        );
    }

    #[test]
    fn any_statement_of_a_role_may_admit() {
        let role =
            Role::new("r", TrustPolicy::github(&["a"])).also_trusting(TrustPolicy::github(&["b"]));
        let claims = json!({"aud": "sts.amazonaws.com", "sub": "b"});
        assert!(role.admits("http://iss", "http://iss", &claims));
        let claims = json!({"aud": "sts.amazonaws.com", "sub": "c"});
        assert!(!role.admits("http://iss", "http://iss", &claims));
    }

    #[test]
    fn aws_principals_match_as_in_iam() {
        let session = "arn:aws:sts::111111111111:assumed-role/deploy/s1";
        assert!(principal_matches("111111111111", session));
        assert!(principal_matches("arn:aws:iam::111111111111:root", session));
        assert!(principal_matches(
            "arn:aws:iam::111111111111:role/deploy",
            session
        ));
        assert!(!principal_matches(
            "arn:aws:iam::111111111111:role/other",
            session
        ));
        assert!(!principal_matches(
            "arn:aws:iam::222222222222:root",
            session
        ));
        let trust = AwsTrust::assume_role("111111111111").with_external_id("x1");
        assert!(trust.allows(session, "sts:AssumeRole", Some("x1")));
        assert!(!trust.allows(session, "sts:AssumeRole", Some("x2")));
        assert!(!trust.allows(session, "sts:AssumeRole", None));
        assert!(!trust.allows(session, "sts:TagSession", Some("x1")));
    }

    #[test]
    fn another_issuer_is_not_trusted() {
        let policy = TrustPolicy::github(&["x"]);
        let claims = json!({"aud": "sts.amazonaws.com", "sub": "x"});
        assert!(!policy.admits("http://other", "http://iss", &claims));
    }
}
