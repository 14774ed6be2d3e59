//! IAM roles and the subset of trust-policy language web identity needs:
//! `Allow` statements, each with one federated principal and `StringEquals`
//! / `StringLike` conditions. A role may be assumed when any statement
//! admits the token.

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
}

impl Role {
    /// A role trusting `trust`, with IAM's default one-hour session limit.
    pub fn new(name: impl Into<String>, trust: TrustPolicy) -> Self {
        Self {
            name: name.into(),
            trust: vec![trust],
            max_session_duration: DEFAULT_MAX_SESSION,
        }
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
    fn another_issuer_is_not_trusted() {
        let policy = TrustPolicy::github(&["x"]);
        let claims = json!({"aud": "sts.amazonaws.com", "sub": "x"});
        assert!(!policy.admits("http://other", "http://iss", &claims));
    }
}
