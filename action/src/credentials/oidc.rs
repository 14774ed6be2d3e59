//! Where the GitHub OIDC token (the JWT STS checks) comes from: the runner's
//! token endpoint, or a file outside Actions.
//!
//! The endpoint URL already carries `?api-version=2.0`, so the audience is
//! appended as another query pair; writing `?audience=` would break it. The
//! request token that authorises the call lives about six hours, while each
//! JWT lives about five minutes, so a long job mints as often as it needs.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;
use url::Url;

use super::retry::{self, Backoff, Verdict};
use crate::env::Env;
use crate::{Error, Result};

/// The runner's token endpoint variable.
pub const REQUEST_URL_VAR: &str = "ACTIONS_ID_TOKEN_REQUEST_URL";
/// The runner's bearer token variable.
pub const REQUEST_TOKEN_VAR: &str = "ACTIONS_ID_TOKEN_REQUEST_TOKEN";

/// A source of fresh OIDC tokens.
#[derive(Clone)]
pub enum TokenSource {
    /// The runner's endpoint, with the audience already in the URL.
    Actions {
        /// The endpoint plus `&audience=`.
        url: Url,
        /// `ACTIONS_ID_TOKEN_REQUEST_TOKEN`.
        bearer: String,
    },
    /// A file that some other process keeps fresh.
    File(PathBuf),
    /// None: role chaining signs AssumeRole with credentials instead.
    Unused,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The bearer token is a credential: never in a log.
        match self {
            Self::Actions { url, .. } => f
                .debug_struct("Actions")
                .field("url", &url.as_str())
                .finish_non_exhaustive(),
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
            Self::Unused => f.write_str("Unused"),
        }
    }
}

impl TokenSource {
    /// The file if one is given, else the runner's endpoint for `audience`.
    pub fn new(env: &Env, audience: &str, file: Option<PathBuf>) -> Result<Self> {
        if let Some(path) = file {
            return Ok(Self::File(path));
        }
        let url = env.get(REQUEST_URL_VAR).ok_or(Error::NoIdToken {
            missing: REQUEST_URL_VAR,
        })?;
        let bearer = env.get(REQUEST_TOKEN_VAR).ok_or(Error::NoIdToken {
            missing: REQUEST_TOKEN_VAR,
        })?;
        Ok(Self::Actions {
            url: token_url(url, audience)?,
            bearer: bearer.to_owned(),
        })
    }

    /// Mints (or reads) a token, retrying what is transient.
    pub async fn fetch(&self, http: &reqwest::Client, backoff: &Backoff) -> Result<String> {
        match self {
            Self::File(path) => std::fs::read_to_string(path)
                .map(|t| t.trim().to_owned())
                .map_err(|source| Error::TokenFile {
                    path: path.clone(),
                    source,
                }),
            Self::Unused => Err(Error::NoIdToken {
                missing: REQUEST_URL_VAR,
            }),
            Self::Actions { url, bearer } => {
                retry::run(backoff, |_| request(http, url, bearer), classify)
                    .await
                    .map_err(|failed| failed.error)
            }
        }
    }
}

/// The endpoint URL with `audience` added to its query.
pub fn token_url(request_url: &str, audience: &str) -> Result<Url> {
    let mut url = Url::parse(request_url).map_err(|e| Error::InvalidInput {
        input: REQUEST_URL_VAR.to_owned(),
        reason: format!("`{request_url}` is not a URL ({e})"),
    })?;
    url.query_pairs_mut().append_pair("audience", audience);
    Ok(url)
}

#[derive(Deserialize)]
struct TokenResponse {
    value: String,
}

async fn request(http: &reqwest::Client, url: &Url, bearer: &str) -> Result<String> {
    let failed = |source: reqwest::Error| Error::TokenRequest {
        url: url.to_string(),
        // The URL is in our message already.
        source: source.without_url(),
    };
    let response = http
        .get(url.clone())
        .bearer_auth(bearer)
        .header("accept", "application/json; api-version=2.0")
        .send()
        .await
        .map_err(failed)?;
    let status = response.status();
    if !status.is_success() {
        return Err(Error::TokenRefused {
            url: url.to_string(),
            status: status.as_u16(),
            hint: match status.as_u16() {
                401 | 403 => {
                    ": the request token was refused; it lives about 6 hours, so a job that ran longer needs a new run"
                }
                _ => "",
            },
        });
    }
    let body = response.bytes().await.map_err(failed)?;
    let token: TokenResponse =
        serde_json::from_slice(&body).map_err(|source| Error::TokenResponse {
            url: url.to_string(),
            source,
        })?;
    Ok(token.value)
}

/// Network trouble, throttling and server errors are transient; any other
/// refusal will not change on a retry.
fn classify(error: &Error) -> Verdict {
    match error {
        Error::TokenRequest { source, .. } if !source.is_builder() => Verdict::Retry,
        Error::TokenRefused { status, .. } if *status == 429 || *status >= 500 => Verdict::Retry,
        _ => Verdict::Fail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audience_is_appended_to_the_existing_query() {
        let url = token_url(
            "https://pipelines.actions.githubusercontent.com/abc/idtoken?api-version=2.0",
            "sts.amazonaws.com",
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            "https://pipelines.actions.githubusercontent.com/abc/idtoken?api-version=2.0&audience=sts.amazonaws.com"
        );
    }

    #[test]
    fn an_audience_with_reserved_characters_is_encoded() {
        let url = token_url(
            "http://127.0.0.1:1/token?api-version=2.0",
            "https://x/y?z&w",
        )
        .unwrap();
        assert_eq!(
            url.query(),
            Some("api-version=2.0&audience=https%3A%2F%2Fx%2Fy%3Fz%26w")
        );
    }

    #[test]
    fn a_url_without_a_query_gets_one() {
        let url = token_url("http://127.0.0.1:1/token", "sts.amazonaws.com").unwrap();
        assert_eq!(url.query(), Some("audience=sts.amazonaws.com"));
    }

    #[test]
    fn missing_variables_explain_the_id_token_permission() {
        let err = TokenSource::new(&Env::default(), "sts.amazonaws.com", None).unwrap_err();
        let text = err.to_string();
        for needed in [
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            "id-token: write",
            "fork",
            "Dependabot",
        ] {
            assert!(text.contains(needed), "{needed}: {text}");
        }
        let env = Env::from_pairs([(REQUEST_URL_VAR, "http://127.0.0.1:1/t?api-version=2.0")]);
        let err = TokenSource::new(&env, "sts.amazonaws.com", None).unwrap_err();
        assert!(err.to_string().contains(REQUEST_TOKEN_VAR), "{err}");
    }

    #[test]
    fn the_bearer_token_stays_out_of_debug_output() {
        let env = Env::from_pairs([
            (REQUEST_URL_VAR, "http://127.0.0.1:1/t?api-version=2.0"),
            (REQUEST_TOKEN_VAR, "very-secret-bearer"),
        ]);
        let source = TokenSource::new(&env, "sts.amazonaws.com", None).unwrap();
        assert!(!format!("{source:?}").contains("very-secret-bearer"));
    }

    #[test]
    fn only_server_errors_and_throttling_are_retried() {
        let refused = |status| Error::TokenRefused {
            url: "u".into(),
            status,
            hint: "",
        };
        assert_eq!(classify(&refused(500)), Verdict::Retry);
        assert_eq!(classify(&refused(503)), Verdict::Retry);
        assert_eq!(classify(&refused(429)), Verdict::Retry);
        assert_eq!(classify(&refused(401)), Verdict::Fail);
        assert_eq!(classify(&refused(404)), Verdict::Fail);
    }

    #[tokio::test]
    async fn a_token_file_is_read_and_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "header.payload.sig\n").unwrap();
        let source = TokenSource::new(&Env::default(), "sts.amazonaws.com", Some(path)).unwrap();
        let token = source
            .fetch(&reqwest::Client::new(), &Backoff::default())
            .await
            .unwrap();
        assert_eq!(token, "header.payload.sig");
    }
}
