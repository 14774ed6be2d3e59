//! The process environment as a value.
//!
//! Commands read their environment from an [`Env`] handed to them rather than
//! from `std::env`, so a test can run the real code path with the variables a
//! runner would set, without touching the test process's own environment.

use std::collections::HashMap;

/// A snapshot of environment variables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    /// The current process's variables. Names or values that are not UTF-8
    /// are left out: no variable we read can be spelled that way.
    pub fn from_process() -> Self {
        Self::from_pairs(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
        )
    }

    /// An environment holding exactly `pairs`.
    pub fn from_pairs<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// The variable's value, if it is set and not empty.
    ///
    /// Empty counts as unset: a runner cannot unset a variable for later
    /// steps, so the toolkit and the AWS SDKs write and read `""` as "unset".
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The endpoint configured for `service` (`STS`, `S3`, `CODEDEPLOY`):
    /// `AWS_ENDPOINT_URL_<SERVICE>`, else `AWS_ENDPOINT_URL`, as the AWS
    /// SDKs resolve them, and none under
    /// `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`.
    pub fn endpoint_url(&self, service: &str) -> Option<String> {
        if self.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS") == Some("true") {
            return None;
        }
        self.get(&format!("AWS_ENDPOINT_URL_{service}"))
            .or_else(|| self.get("AWS_ENDPOINT_URL"))
            .map(str::to_owned)
    }

    /// Whether this process runs as a GitHub Actions step.
    pub fn is_actions(&self) -> bool {
        crate::github::is_actions(|name| self.get(name).map(str::to_owned))
    }

    /// Sets `name`, for callers that build an environment by hand.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.vars.insert(name.into(), value.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_variable_reads_as_unset() {
        let env = Env::from_pairs([("AWS_REGION", ""), ("AWS_DEFAULT_REGION", "eu-west-1")]);
        assert_eq!(env.get("AWS_REGION"), None);
        assert_eq!(env.get("AWS_DEFAULT_REGION"), Some("eu-west-1"));
    }

    #[test]
    fn actions_is_detected_from_github_actions_true() {
        assert!(Env::from_pairs([("GITHUB_ACTIONS", "true")]).is_actions());
        assert!(!Env::from_pairs([("GITHUB_ACTIONS", "1")]).is_actions());
        assert!(!Env::default().is_actions());
    }
}
