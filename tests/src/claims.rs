//! The GitHub Actions context a sandbox token describes, and the JWT claims
//! GitHub derives from it.

use std::time::Duration;

use serde_json::{Value, json};

/// How long GitHub's ID tokens live.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(300);

/// GitHub backdates `nbf` this far before `iat` (as in its docs' examples).
const NOT_BEFORE_SKEW: u64 = 600;

/// The workflow run a token is minted for.
///
/// `Claims::default()` is a push to `main` of `acme/shop`, the context the
/// sandbox's deploy role trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// `OWNER/REPO`.
    pub repository: String,
    /// The repository's numeric id (used by the immutable `sub`).
    pub repository_id: u64,
    /// The owner's numeric id (used by the immutable `sub`).
    pub repository_owner_id: u64,
    /// `refs/heads/…`, `refs/tags/…` or `refs/pull/N/merge`.
    pub git_ref: String,
    /// The deployment environment; when set it decides the `sub`.
    pub environment: Option<String>,
    /// Who started the run.
    pub actor: String,
    /// The actor's numeric id.
    pub actor_id: u64,
    /// `push`, `pull_request`, `workflow_dispatch`, …
    pub event_name: String,
    /// The run's id.
    pub run_id: u64,
    /// The run's attempt, from 1.
    pub run_attempt: u32,
    /// The commit.
    pub sha: String,
    /// The workflow's file, for `workflow_ref` and `job_workflow_ref`.
    pub workflow_file: String,
    /// Use the immutable `repo:OWNER@ID/REPO@ID:…` form of `sub`.
    pub immutable_sub: bool,
}

impl Default for Claims {
    fn default() -> Self {
        Self {
            repository: "acme/shop".into(),
            repository_id: 700_100_200,
            repository_owner_id: 90_010_020,
            git_ref: "refs/heads/main".into(),
            environment: None,
            actor: "octocat".into(),
            actor_id: 583_231,
            event_name: "push".into(),
            run_id: 12_345_678_901,
            run_attempt: 1,
            sha: "4f2d1c0b9a8e7d6c5b4a39281706f5e4d3c2b1a0".into(),
            workflow_file: ".github/workflows/deploy.yml".into(),
            immutable_sub: false,
        }
    }
}

impl Claims {
    /// The repository's owner (`acme`).
    pub fn owner(&self) -> &str {
        self.repository
            .split_once('/')
            .map_or(self.repository.as_str(), |(owner, _)| owner)
    }

    /// The repository's name without the owner (`shop`).
    pub fn repository_name(&self) -> &str {
        self.repository
            .split_once('/')
            .map_or(self.repository.as_str(), |(_, name)| name)
    }

    /// The `sub` claim, in the form [`Claims::immutable_sub`] selects.
    pub fn subject(&self) -> String {
        if self.immutable_sub {
            self.immutable_subject()
        } else {
            self.classic_subject()
        }
    }

    /// `repo:OWNER/REPO:…`.
    pub fn classic_subject(&self) -> String {
        format!("repo:{}:{}", self.repository, self.subject_context())
    }

    /// `repo:OWNER@OWNER_ID/REPO@REPO_ID:…`.
    pub fn immutable_subject(&self) -> String {
        format!(
            "repo:{}@{}/{}@{}:{}",
            self.owner(),
            self.repository_owner_id,
            self.repository_name(),
            self.repository_id,
            self.subject_context()
        )
    }

    /// The part of `sub` after the repository: the environment wins over the
    /// event, which wins over the ref.
    fn subject_context(&self) -> String {
        // GitHub writes a `:` inside a value as `%3A` so the sub stays parseable.
        let escape = |s: &str| s.replace(':', "%3A");
        if let Some(environment) = &self.environment {
            format!("environment:{}", escape(environment))
        } else if self.event_name == "pull_request" {
            "pull_request".into()
        } else {
            format!("ref:{}", escape(&self.git_ref))
        }
    }

    fn ref_type(&self) -> &'static str {
        if self.git_ref.starts_with("refs/tags/") {
            "tag"
        } else {
            "branch"
        }
    }

    /// The JWT payload GitHub would sign for this run, issued at `iat`
    /// (seconds since the epoch) and valid for `lifetime`.
    pub fn to_jwt_claims(
        &self,
        issuer: &str,
        audience: &str,
        iat: u64,
        lifetime: Duration,
    ) -> Value {
        let workflow_ref = format!(
            "{}/{}@{}",
            self.repository, self.workflow_file, self.git_ref
        );
        let mut claims = json!({
            "jti": uuid::Uuid::new_v4().to_string(),
            "sub": self.subject(),
            "aud": audience,
            "ref": self.git_ref,
            "sha": self.sha,
            "repository": self.repository,
            "repository_owner": self.owner(),
            "repository_owner_id": self.repository_owner_id.to_string(),
            "repository_id": self.repository_id.to_string(),
            "repository_visibility": "private",
            "run_id": self.run_id.to_string(),
            "run_number": "42",
            "run_attempt": self.run_attempt.to_string(),
            "actor": self.actor,
            "actor_id": self.actor_id.to_string(),
            "workflow": "deploy",
            "workflow_ref": workflow_ref,
            "workflow_sha": self.sha,
            "job_workflow_ref": workflow_ref,
            "job_workflow_sha": self.sha,
            "head_ref": "",
            "base_ref": "",
            "event_name": self.event_name,
            "ref_type": self.ref_type(),
            "ref_protected": "true",
            "runner_environment": "github-hosted",
            "iss": issuer,
            "nbf": iat.saturating_sub(NOT_BEFORE_SKEW),
            "exp": iat + lifetime.as_secs(),
            "iat": iat,
        });
        if let (Some(environment), Some(map)) = (&self.environment, claims.as_object_mut()) {
            map.insert("environment".into(), Value::from(environment.as_str()));
        }
        claims
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_subject_is_the_main_branch() {
        assert_eq!(
            Claims::default().subject(),
            "repo:acme/shop:ref:refs/heads/main"
        );
    }

    #[test]
    fn environment_wins_over_ref_and_escapes_colons() {
        let claims = Claims {
            environment: Some("prod:eu".into()),
            ..Claims::default()
        };
        assert_eq!(claims.subject(), "repo:acme/shop:environment:prod%3Aeu");
    }

    #[test]
    fn pull_requests_have_their_own_subject() {
        let claims = Claims {
            event_name: "pull_request".into(),
            git_ref: "refs/pull/7/merge".into(),
            ..Claims::default()
        };
        assert_eq!(claims.subject(), "repo:acme/shop:pull_request");
    }

    #[test]
    fn immutable_subject_carries_both_ids() {
        let claims = Claims {
            immutable_sub: true,
            ..Claims::default()
        };
        assert_eq!(
            claims.subject(),
            "repo:acme@90010020/shop@700100200:ref:refs/heads/main"
        );
    }

    #[test]
    fn jwt_claims_live_five_minutes_and_backdate_nbf() {
        let claims = Claims::default().to_jwt_claims(
            "http://iss",
            "sts.amazonaws.com",
            10_000,
            TOKEN_LIFETIME,
        );
        assert_eq!(claims["exp"], 10_300);
        assert_eq!(claims["nbf"], 9_400);
        assert_eq!(claims["aud"], "sts.amazonaws.com");
        assert!(claims.get("environment").is_none());
    }
}
