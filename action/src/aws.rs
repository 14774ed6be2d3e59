//! The SDK clients of the deploy commands, with credentials from the role
//! (assumed in-process, renewed before expiry) or the standard AWS chain.

use aws_config::{BehaviorVersion, Region};
use aws_smithy_async::time::SharedTimeSource;

use crate::cli::CredentialsArgs;
use crate::credentials;
use crate::credentials::provider::RefreshingCredentials;
use crate::credentials::request::Request;
use crate::credentials::retry::Backoff;
use crate::deploy::error::Result;
use crate::env::Env;
use crate::github::inputs::Inputs;

/// S3 and CodeDeploy clients for one command.
#[derive(Debug, Clone)]
pub struct Clients {
    /// S3.
    pub s3: aws_sdk_s3::Client,
    /// CodeDeploy.
    pub codedeploy: aws_sdk_codedeploy::Client,
    /// The region both speak to.
    pub region: String,
    /// The renewing provider, when a role was assumed (tests count renewals).
    pub role: Option<RefreshingCredentials>,
}

/// The clients `args` and the environment ask for: with `role-to-assume`,
/// the role through the job's OIDC token; without, the standard chain
/// (environment, profile, IMDS), as after configure-aws-credentials.
pub async fn clients(args: &CredentialsArgs, env: &Env, http: reqwest::Client) -> Result<Clients> {
    let inputs = Inputs::new(env);
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    let mut role = None;
    let region = if inputs
        .get("role-to-assume", args.role_to_assume.as_deref())
        .is_some()
    {
        let request = Request::from_inputs(args, env)?;
        // Masks go to stderr, which the runner scans for workflow commands
        // as it scans stdout, so that stdout stays the command's own
        // (`status --json` is read by scripts).
        let (mut out, mut err) = (std::io::stderr(), std::io::stderr());
        let mut cx = credentials::Context {
            env,
            http,
            backoff: Backoff::default(),
            out: &mut out,
            err: &mut err,
        };
        // Assumed now, as `slipway credentials` would (a refusal diagnosed),
        // so it is reported before any bundling.
        let provider = credentials::session(&request, &mut cx)
            .await?
            .into_provider(SharedTimeSource::default());
        loader = loader.credentials_provider(provider.clone());
        role = Some(provider);
        request.region
    } else {
        inputs
            .get("aws-region", args.aws_region.as_deref())
            .or_else(|| env.get("AWS_REGION").map(str::to_owned))
            .or_else(|| env.get("AWS_DEFAULT_REGION").map(str::to_owned))
            .ok_or_else(|| crate::Error::MissingInput {
                input: "aws-region".into(),
            })?
    };
    let shared = loader.region(Region::new(region.clone())).load().await;
    let mut s3 = aws_sdk_s3::config::Builder::from(&shared);
    if let Some(url) = env.endpoint_url("S3") {
        // Local S3 (moto, MinIO) has no per-bucket host names.
        s3 = s3.endpoint_url(url).force_path_style(true);
    }
    let mut codedeploy = aws_sdk_codedeploy::config::Builder::from(&shared);
    if let Some(url) = env.endpoint_url("CODEDEPLOY") {
        codedeploy = codedeploy.endpoint_url(url);
    }
    Ok(Clients {
        s3: aws_sdk_s3::Client::from_conf(s3.build()),
        codedeploy: aws_sdk_codedeploy::Client::from_conf(codedeploy.build()),
        region,
        role,
    })
}
