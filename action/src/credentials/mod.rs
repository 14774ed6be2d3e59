//! `slipway credentials`: the job's GitHub OIDC token traded for an IAM
//! role's temporary credentials, which later steps (and the deploy commands,
//! through [`provider::RefreshingCredentials`]) use.
//!
//! # Layout
//! - [`request`]: the inputs, validated before any call.
//! - [`oidc`]: minting the token at the runner's endpoint.
//! - [`sts`]: AssumeRoleWithWebIdentity and GetCallerIdentity, and which of
//!   their failures are worth a retry.
//! - [`retry`]: full-jitter backoff, bounded in count and time.
//! - [`exchange`]: token plus role, with the retry rules.
//! - [`diagnosis`]: why STS refused, and the trust policy that would admit
//!   (where one can help).
//! - [`provider`]: credentials that renew themselves before expiry.
//! - [`chain`]: role chaining's source credentials and session tags.
//! - [`profile`]: a named profile in the shared credentials file.
//! - [`export`]: masks, GITHUB_ENV, GITHUB_OUTPUT and `export` lines, and
//!   emptying them again (cleanup).

pub mod chain;
pub mod diagnosis;
pub mod exchange;
pub mod export;
pub mod oidc;
pub mod profile;
pub mod provider;
pub mod request;
pub mod retry;
pub mod sts;

use std::io::Write;

use crate::cli::CredentialsArgs;
use crate::env::Env;
use crate::github::commands::{Annotation, Level};
use crate::github::summary::{self, code};
use crate::{Error, Result};

use exchange::Exchange;
use request::Request;
use retry::Backoff;
use sts::{Assumed, Identity};

/// The outside world `run` works in.
pub struct Context<'a> {
    /// The environment variables (inputs, GITHUB_*, AWS_ENDPOINT_URL*).
    pub env: &'a Env,
    /// The HTTP client for the token endpoint.
    pub http: reqwest::Client,
    /// Retry rules; [`Backoff::default`] except in tests. The request's
    /// `retry-max-attempts` replaces its count.
    pub backoff: Backoff,
    /// stdout: workflow commands and `export` lines.
    pub out: &'a mut dyn Write,
    /// stderr: what a person reads.
    pub err: &'a mut dyn Write,
}

/// What a successful run produced.
#[derive(Debug)]
pub struct Issued {
    /// The session.
    pub assumed: Assumed,
    /// Who it speaks for.
    pub identity: Identity,
    /// How to get another, for a refreshing provider.
    pub exchange: Exchange,
}

/// Runs `slipway credentials`, within `action-timeout-s` if given.
pub async fn run(args: &CredentialsArgs, cx: &mut Context<'_>) -> Result<Issued> {
    let request = Request::from_inputs(args, cx.env)?;
    within_timeout(&request, issue(&request, cx)).await
}

/// The session of the deploy commands: the role assumed as `slipway
/// credentials` assumes it (masks, a refusal's diagnosis, role chaining,
/// proxy, allowed accounts), with nothing exported to later steps.
pub async fn session(request: &Request, cx: &mut Context<'_>) -> Result<Issued> {
    within_timeout(request, assume_checked(request, cx)).await
}

async fn within_timeout(
    request: &Request,
    work: impl std::future::Future<Output = Result<Issued>>,
) -> Result<Issued> {
    match request.timeout {
        Some(limit) => tokio::time::timeout(limit, work)
            .await
            .map_err(|_| Error::Timeout {
                seconds: limit.as_secs(),
            })?,
        None => work.await,
    }
}

/// `slipway credentials --cleanup` (`command: cleanup`): what the official
/// action's post step does. Under Actions, empty AWS_* variables go to
/// GITHUB_ENV (a runner cannot unset one, and the SDKs and CLI read empty
/// as unset); elsewhere, `unset` lines for `eval`.
pub fn cleanup(env: &Env, out: &mut dyn Write) -> Result<()> {
    if env.is_actions() {
        export::unset(env)
    } else {
        export::unset_in_shell(out)
    }
}

async fn issue(request: &Request, cx: &mut Context<'_>) -> Result<Issued> {
    let issued = assume_checked(request, cx).await?;
    let actions = cx.env.is_actions();
    let Issued {
        assumed, identity, ..
    } = &issued;
    if let Some(name) = &request.aws_profile {
        profile::write(
            cx.env,
            name,
            &assumed.credentials,
            &request.region,
            request.overwrite_aws_profile,
        )?;
    }
    if actions {
        export::to_runner(cx.env, request, assumed, identity)?;
    } else {
        export::to_shell(cx.out, request, assumed)?;
    }
    let expiration = export::timestamp(assumed.expiration);
    writeln!(
        cx.err,
        "slipway: assumed {} until {expiration}",
        identity.arn
    )
    .map_err(Error::Output)?;
    if actions {
        summary::append(
            cx.env,
            &format!(
                "### slipway credentials\n\nAssumed {} as {} until {expiration}.\n",
                code(&request.role.arn),
                code(&identity.arn)
            ),
        )?;
    }
    Ok(issued)
}

/// Assumes the role and checks whose it is: everything of `slipway
/// credentials` but handing the keys on.
async fn assume_checked(request: &Request, cx: &mut Context<'_>) -> Result<Issued> {
    let actions = cx.env.is_actions();
    if actions && request.unset_current_credentials {
        export::unset(cx.env)?;
    }
    if actions && request.mask_account_id {
        // The role ARN names the account, and a refusal's diagnosis prints
        // it: mask it before any call can fail.
        export::mask(cx.out, &[request.role.account.as_str()])?;
    }
    let endpoint = sts::endpoint_override(cx.env, request.sts_endpoint.as_deref());
    if let Some(url) = &endpoint {
        let origin = if request.sts_endpoint.is_some() {
            "sts-endpoint"
        } else if cx.env.get("AWS_ENDPOINT_URL_STS").is_some() {
            "AWS_ENDPOINT_URL_STS"
        } else {
            "AWS_ENDPOINT_URL"
        };
        sts::check_endpoint(url).map_err(|reason| Error::InvalidInput {
            input: origin.to_owned(),
            reason,
        })?;
    }
    let mut config = sts::config(&request.region, endpoint.as_deref());
    let mut http = cx.http.clone();
    if let Some(proxy) = &request.proxy {
        let client = sts::proxied_http_client(&proxy.url, proxy.no_proxy.as_deref())
            .map_err(|reason| Error::Proxy { reason })?;
        config = config.to_builder().http_client(client).build();
        http = proxied_reqwest(proxy)?;
    }
    let chain = if request.role_chaining {
        // Credentials emptied by unset-current-credentials are gone for
        // this step too, as in the official action.
        let env = if request.unset_current_credentials {
            &Env::default()
        } else {
            cx.env
        };
        Some(chain::from_env(env, request)?)
    } else {
        None
    };
    let tokens = if chain.is_some() {
        oidc::TokenSource::Unused
    } else {
        oidc::TokenSource::new(cx.env, &request.audience, request.token_file.clone())?
    };
    let exchange = Exchange {
        tokens,
        http,
        sts: aws_sdk_sts::Client::from_conf(config.clone()),
        role: request.role.clone(),
        session_name: request.session_name.clone(),
        duration: request.duration,
        policy: request.inline_session_policy.clone(),
        policy_arns: request.managed_session_policies.clone(),
        backoff: cx.backoff.with_max_attempts(request.max_attempts),
        chain,
    };
    let called = endpoint
        .clone()
        .unwrap_or_else(|| sts::StsError::default_endpoint(&request.region));
    let assumed = match assume(&exchange, request, &called).await {
        Ok(assumed) => assumed,
        Err(error) => {
            explain(&error, request, actions, cx)?;
            return Err(error);
        }
    };
    if actions {
        // Before anything else can print them.
        export::mask(cx.out, &export::secrets(&assumed.credentials))?;
    }
    let identity = sts::caller_identity_retried(&config, &assumed.credentials, &exchange.backoff)
        .await
        .map_err(|e| Error::CallerIdentity(e.at(&called)))?;
    if actions && request.mask_account_id && identity.account != request.role.account {
        export::mask(cx.out, &[identity.account.as_str()])?;
    }
    if !request.allowed_account_ids.is_empty()
        && !request.allowed_account_ids.contains(&identity.account)
    {
        return Err(Error::AccountNotAllowed {
            account: identity.account.clone(),
            allowed: request.allowed_account_ids.join(","),
        });
    }
    Ok(Issued {
        assumed,
        identity,
        exchange,
    })
}

/// The official action's number of tries for a secret key without special
/// characters.
const SPECIAL_CHARACTER_ATTEMPTS: u32 = 12;

/// Assumes the role, again and again with `special-characters-workaround`
/// until the secret key is letters and digits only; names the endpoint in
/// an STS failure.
async fn assume(exchange: &Exchange, request: &Request, called: &str) -> Result<Assumed> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let assumed = exchange.assume().await.map_err(|error| match error {
            Error::AssumeRole {
                role_arn,
                attempts,
                claims,
                source,
            } => Error::AssumeRole {
                role_arn,
                attempts,
                claims,
                source: source.at(called),
            },
            Error::ChainRole {
                role_arn,
                attempts,
                external_id,
                tagged,
                source,
            } => Error::ChainRole {
                role_arn,
                attempts,
                external_id,
                tagged,
                source: source.at(called),
            },
            other => other,
        })?;
        let plain = assumed
            .credentials
            .secret_access_key()
            .chars()
            .all(|c| c.is_ascii_alphanumeric());
        if !request.special_characters_workaround || plain {
            return Ok(assumed);
        }
        if attempts >= SPECIAL_CHARACTER_ATTEMPTS {
            return Err(Error::SpecialCharacters { attempts });
        }
        tracing::debug!(
            attempts,
            "the secret key has special characters; assuming again"
        );
    }
}

/// A reqwest client for the token endpoint through the proxy.
fn proxied_reqwest(proxy: &request::Proxy) -> Result<reqwest::Client> {
    let invalid = |e: reqwest::Error| Error::Proxy {
        reason: format!("`{}`: {e}", proxy.url),
    };
    let mut rule = reqwest::Proxy::all(&proxy.url).map_err(invalid)?;
    if let Some(hosts) = &proxy.no_proxy {
        rule = rule.no_proxy(reqwest::NoProxy::from_string(hosts));
    }
    reqwest::Client::builder()
        .proxy(rule)
        .connect_timeout(std::time::Duration::from_secs(10))
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(invalid)
}

impl Issued {
    /// Credentials for the deploy commands' SDK clients that start from this
    /// session and renew it before it ends.
    pub fn into_provider(
        self,
        time: aws_smithy_async::time::SharedTimeSource,
    ) -> provider::RefreshingCredentials {
        provider::RefreshingCredentials::starting_with(self.exchange, time, self.assumed)
    }
}

/// Prints the diagnosis of a refusal: the report on stderr, the cause as an
/// annotation under Actions.
fn explain(error: &Error, request: &Request, actions: bool, cx: &mut Context<'_>) -> Result<()> {
    let diagnosis = match error {
        Error::AssumeRole { claims, source, .. } => {
            diagnosis::diagnose(source, claims.as_deref(), &request.role)
        }
        Error::ChainRole {
            source,
            external_id,
            tagged,
            ..
        } => chain::diagnose(
            source,
            &request.role,
            request.external_id.as_deref().filter(|_| *external_id),
            *tagged,
        ),
        _ => None,
    };
    let Some(diagnosis) = diagnosis else {
        return Ok(());
    };
    write!(cx.err, "{diagnosis}").map_err(Error::Output)?;
    if actions {
        summary::append(cx.env, &diagnosis.to_markdown())?;
        let annotation = Annotation {
            level: Level::Error,
            file: None,
            line: None,
            col: None,
            title: Some(diagnosis.cause.headline()),
            message: &diagnosis.explanation,
        };
        writeln!(cx.out, "{annotation}").map_err(Error::Output)?;
    }
    Ok(())
}
