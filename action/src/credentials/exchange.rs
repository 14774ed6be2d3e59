//! One trade of a fresh OIDC token for the role's credentials, with the
//! retry rules: shared by `slipway credentials` and the refreshing provider.

use std::sync::Mutex;
use std::time::Duration;

use super::diagnosis::Claims;
use super::oidc::TokenSource;
use super::request::RoleArn;
use super::retry::{self, Backoff};
use super::sts::{self, AssumeParams, Assumed, Chain};
use crate::{Error, Result};

/// Everything needed to mint a token and assume the role, as often as
/// needed.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// Where tokens come from.
    pub tokens: TokenSource,
    /// The client for the token endpoint.
    pub http: reqwest::Client,
    /// STS without credentials.
    pub sts: aws_sdk_sts::Client,
    /// The role.
    pub role: RoleArn,
    /// The session name.
    pub session_name: String,
    /// The session's lifetime.
    pub duration: Duration,
    /// An inline session policy.
    pub policy: Option<String>,
    /// Managed session policy ARNs.
    pub policy_arns: Vec<String>,
    /// Retry rules for both the token and STS.
    pub backoff: Backoff,
    /// With role chaining, AssumeRole from these credentials instead of
    /// the token (which is then never fetched).
    pub chain: Option<Chain>,
}

impl Exchange {
    /// Mints a token and assumes the role. An expired token is replaced by a
    /// fresh one; throttling, IdP outages, 5xx and network errors are
    /// retried; anything else fails on its first answer.
    pub async fn assume(&self) -> Result<Assumed> {
        let params = AssumeParams {
            role_arn: &self.role.arn,
            session_name: &self.session_name,
            duration: self.duration,
            policy: self.policy.as_deref(),
            policy_arns: &self.policy_arns,
        };
        // The token in use, replaced when STS calls it expired. Behind a
        // mutex only because each attempt's future borrows it; attempts
        // never overlap.
        let token: Mutex<Option<String>> = Mutex::new(None);
        let current = || token.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let set = |jwt: Option<String>| *token.lock().unwrap_or_else(|e| e.into_inner()) = jwt;
        if let Some(chain) = &self.chain {
            return retry::run(
                &self.backoff,
                |_| sts::assume_role(&self.sts, &params, chain),
                |e| match e.verdict() {
                    // No token to renew: an expired source key stays expired.
                    retry::Verdict::FreshToken => retry::Verdict::Fail,
                    verdict => verdict,
                },
            )
            .await
            .map_err(|failed| Error::ChainRole {
                role_arn: self.role.arn.clone(),
                attempts: failed.attempts,
                external_id: chain.external_id.is_some(),
                tagged: !chain.tags.is_empty(),
                source: failed.error,
            });
        }
        let params = &params;
        let outcome = retry::run(
            &self.backoff,
            |_| async {
                let jwt = match current() {
                    Some(jwt) => jwt,
                    None => {
                        let jwt = self
                            .tokens
                            .fetch(&self.http, &self.backoff)
                            .await
                            .map_err(Step::Token)?;
                        set(Some(jwt.clone()));
                        jwt
                    }
                };
                let result = sts::assume(&self.sts, params, &jwt).await;
                if result
                    .as_ref()
                    .is_err_and(|e| e.verdict() == retry::Verdict::FreshToken)
                {
                    set(None);
                }
                result.map_err(Step::Sts)
            },
            |step| match step {
                Step::Token(_) => retry::Verdict::Fail,
                Step::Sts(e) => e.verdict(),
            },
        )
        .await;
        let token = current();
        outcome.map_err(|failed| match failed.error {
            // The token fetch has retried on its own already.
            Step::Token(e) => e,
            Step::Sts(source) => Error::AssumeRole {
                role_arn: self.role.arn.clone(),
                attempts: failed.attempts,
                claims: token.as_deref().and_then(Claims::decode).map(Box::new),
                source,
            },
        })
    }
}

/// Which half of an attempt failed.
enum Step {
    Token(Error),
    Sts(sts::StsError),
}
