//! The sandbox: every local AWS and GitHub service a test or a demo needs,
//! started together and stopped together.

use std::time::Duration;

use crate::Error;
use crate::claims::Claims;
use crate::codedeploy::{EnvelopeFormat, Simulator, SimulatorConfig, SimulatorHandle};
use crate::credentials::{CredentialStore, IssuedCredential};
use crate::ids;
use crate::imds::{Imds, ImdsConfig};
use crate::moto::Moto;
use crate::oidc::OidcIssuer;
use crate::server::HttpServer;
use crate::sts::{Role, Sts, StsConfig, TrustPolicy};

/// The region every sandbox service claims to be in.
pub const REGION: &str = "us-east-1";
/// The one account the sandbox simulates.
pub const ACCOUNT_ID: &str = "123456789012";
/// The role whose trust admits the issuer's default token.
pub const DEPLOY_ROLE: &str = "slipway-deploy";

/// Running services. Dropping it stops every server and process it started;
/// [`Sandbox::shutdown`] does the same, letting open requests finish.
///
/// The in-process servers are tasks on the tokio runtime that called
/// [`SandboxBuilder::start`]: they serve while that runtime runs (a
/// `#[tokio::test]`'s single thread is enough, as long as the test awaits).
pub struct Sandbox {
    oidc: OidcIssuer,
    sts: Sts,
    imds: Imds,
    credentials: CredentialStore,
    static_credentials: IssuedCredential,
    oidc_url: String,
    sts_url: String,
    imds_url: String,
    servers: Vec<HttpServer>,
    moto: Option<Moto>,
    codedeploy: SimulatorHandle,
}

/// Chooses what a [`Sandbox`] starts.
#[derive(Debug, Clone)]
pub struct SandboxBuilder {
    moto: bool,
    roles: Vec<Role>,
    claims: Claims,
    imds_v1: bool,
    codedeploy_host_timeout: Option<Duration>,
    codedeploy_poll_wait: Option<Duration>,
    codedeploy_envelope: EnvelopeFormat,
}

impl std::fmt::Debug for Sandbox {
    // Endpoints only: the static secret stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("oidc", &self.oidc_url)
            .field("sts", &self.sts_url)
            .field("imds", &self.imds_url)
            .field("moto", &self.moto_endpoint())
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    /// A builder for the default sandbox: moto, the issuer, STS, IMDS, the
    /// CodeDeploy simulator, and the deploy role.
    pub fn builder() -> SandboxBuilder {
        SandboxBuilder {
            moto: true,
            roles: Vec::new(),
            claims: Claims::default(),
            imds_v1: false,
            codedeploy_host_timeout: None,
            codedeploy_poll_wait: None,
            codedeploy_envelope: EnvelopeFormat::default(),
        }
    }

    /// The CodeDeploy simulator's URL: both the control plane
    /// (`AWS_ENDPOINT_URL_CODEDEPLOY`) and the host command plane (an
    /// agent's `deploy_control_endpoint`).
    pub fn codedeploy_endpoint(&self) -> String {
        self.codedeploy.endpoint()
    }

    /// The CodeDeploy simulator's test controls (register hosts, host
    /// timeout, status peeks).
    pub fn codedeploy(&self) -> &SimulatorHandle {
        &self.codedeploy
    }

    /// `us-east-1`.
    pub fn region(&self) -> &str {
        REGION
    }

    /// `123456789012`.
    pub fn account_id(&self) -> &str {
        ACCOUNT_ID
    }

    /// STS's URL, `http://127.0.0.1:PORT`.
    pub fn sts_endpoint(&self) -> String {
        self.sts_url.clone()
    }

    /// moto's URL, the same for S3, SSM and KMS.
    ///
    /// # Panics
    /// If the sandbox was built [`SandboxBuilder::without_moto`].
    pub fn s3_endpoint(&self) -> String {
        self.moto_url()
    }

    /// moto's URL (see [`Sandbox::s3_endpoint`]).
    pub fn ssm_endpoint(&self) -> String {
        self.moto_url()
    }

    /// moto's URL (see [`Sandbox::s3_endpoint`]).
    pub fn kms_endpoint(&self) -> String {
        self.moto_url()
    }

    /// moto's URL, if it was started.
    pub fn moto_endpoint(&self) -> Option<String> {
        self.moto.as_ref().map(|m| m.url().to_owned())
    }

    /// moto's process id, if it was started (tests check it is gone after).
    pub fn moto_pid(&self) -> Option<u32> {
        self.moto.as_ref().map(Moto::pid)
    }

    fn moto_url(&self) -> String {
        self.moto_endpoint()
            .expect("this sandbox was started without_moto(): it has no S3, SSM or KMS endpoint")
    }

    /// IMDS's URL, `http://127.0.0.1:PORT` (the base that
    /// `AWS_EC2_METADATA_SERVICE_ENDPOINT` takes).
    pub fn imds_endpoint(&self) -> String {
        self.imds_url.clone()
    }

    /// The simulated EC2 host's metadata service.
    pub fn imds(&self) -> &Imds {
        &self.imds
    }

    /// Starts the metadata service of one more simulated EC2 host (its own
    /// instance id and instance-profile credentials, in the same store); it
    /// stops with the sandbox.
    pub async fn add_host(&mut self) -> Result<Imds, Error> {
        let (imds, server) = Imds::start(host_config(&self.credentials, false)).await?;
        self.servers.push(server);
        Ok(imds)
    }

    /// The GitHub OIDC issuer.
    pub fn oidc(&self) -> &OidcIssuer {
        &self.oidc
    }

    /// STS.
    pub fn sts(&self) -> &Sts {
        &self.sts
    }

    /// Every credential the sandbox issued or accepts.
    pub fn credential_store(&self) -> &CredentialStore {
        &self.credentials
    }

    /// Long-lived keys the sandbox accepts on signed calls (`AKIA…`).
    pub fn static_credentials(&self) -> &IssuedCredential {
        &self.static_credentials
    }

    /// The deploy role: it trusts `repo:acme/shop:ref:refs/heads/main` with
    /// aud `sts.amazonaws.com` from the sandbox issuer.
    pub fn deploy_role_arn(&self) -> String {
        self.sts.role_arn(DEPLOY_ROLE)
    }

    /// The environment a person would export to point slipway, the AWS CLI
    /// or boto3 at the sandbox, exactly as `slipway-sandbox` prints it.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("AWS_ENDPOINT_URL_STS", self.sts_endpoint()),
            ("AWS_ENDPOINT_URL_CODEDEPLOY", self.codedeploy_endpoint()),
        ];
        if let Some(moto) = self.moto_endpoint() {
            env.push(("AWS_ENDPOINT_URL_S3", moto.clone()));
            env.push(("AWS_ENDPOINT_URL_SSM", moto.clone()));
            env.push(("AWS_ENDPOINT_URL_KMS", moto));
        }
        env.extend([
            ("ACTIONS_ID_TOKEN_REQUEST_URL", self.oidc.request_url()),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", self.oidc.request_token()),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", self.imds_endpoint()),
            (
                "AWS_ACCESS_KEY_ID",
                self.static_credentials.access_key_id.clone(),
            ),
            (
                "AWS_SECRET_ACCESS_KEY",
                self.static_credentials.secret_access_key.clone(),
            ),
            ("AWS_REGION", REGION.to_owned()),
            // The AWS CLI v1 and boto3 read only this one.
            ("AWS_DEFAULT_REGION", REGION.to_owned()),
            ("SLIPWAY_ROLE_ARN", self.deploy_role_arn()),
        ]);
        env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }

    /// The issuer's URL (also available as [`OidcIssuer::issuer_url`]).
    pub fn oidc_endpoint(&self) -> String {
        self.oidc_url.clone()
    }

    /// Stops every service, letting open requests finish first.
    pub async fn shutdown(mut self) {
        for server in std::mem::take(&mut self.servers) {
            server.stop().await;
        }
        // Dropping moto kills its process group and reaps it.
        drop(self.moto.take());
    }
}

impl SandboxBuilder {
    /// Skips moto: for fast tests that need only the issuer, STS and IMDS.
    pub fn without_moto(mut self) -> Self {
        self.moto = false;
        self
    }

    /// Adds a role (beside the deploy role).
    pub fn role(mut self, role: Role) -> Self {
        self.roles.push(role);
        self
    }

    /// Lets IMDS answer token-less (IMDSv1) requests; by default it
    /// requires a session token, as `HttpTokens=required` does.
    pub fn allow_imds_v1(mut self) -> Self {
        self.imds_v1 = true;
        self
    }

    /// How long the CodeDeploy simulator waits for a host to finish a
    /// lifecycle event before failing it (default one hour).
    pub fn codedeploy_host_timeout(mut self, timeout: Duration) -> Self {
        self.codedeploy_host_timeout = Some(timeout);
        self
    }

    /// How long PollHostCommand holds an empty poll (default 20 s).
    pub fn codedeploy_poll_wait(mut self, wait: Duration) -> Self {
        self.codedeploy_poll_wait = Some(wait);
        self
    }

    /// Hands out TEXT/JSON deployment specs instead of signed PKCS7/JSON,
    /// for an agent's developer mode: the official agent's daemon refuses
    /// TEXT/JSON and needs the default.
    pub fn codedeploy_envelope(mut self, envelope: EnvelopeFormat) -> Self {
        self.codedeploy_envelope = envelope;
        self
    }

    /// The run context the issuer's tokens describe at first.
    pub fn claims(mut self, claims: Claims) -> Self {
        self.claims = claims;
        self
    }

    /// Starts everything; returns once every service answers.
    pub async fn start(self) -> Result<Sandbox, Error> {
        let credentials = CredentialStore::default();
        let static_credentials = IssuedCredential {
            access_key_id: ids::access_key_id("AKIA"),
            secret_access_key: ids::secret_access_key(),
            session_token: None,
            expiration: None,
            principal_arn: format!("arn:aws:iam::{ACCOUNT_ID}:user/sandbox"),
        };
        credentials.insert(static_credentials.clone());
        // moto is the slow one: it boots while the in-process servers start.
        let want_moto = self.moto;
        let moto = async move {
            match want_moto {
                true => Moto::start().await.map(Some),
                false => Ok(None),
            }
        };
        let services = async {
            let (oidc, oidc_server) = OidcIssuer::start(self.claims).await?;
            let deploy_role = Role::new(
                DEPLOY_ROLE,
                TrustPolicy::github(&["repo:acme/shop:ref:refs/heads/main"]),
            );
            let mut roles = vec![deploy_role];
            roles.extend(self.roles);
            let (sts, sts_server) = Sts::start(StsConfig {
                account_id: ACCOUNT_ID.to_owned(),
                region: REGION.to_owned(),
                sandbox_issuer: oidc.issuer_url(),
                roles,
                credentials: credentials.clone(),
            })
            .await?;
            let (imds, imds_server) = Imds::start(host_config(&credentials, self.imds_v1)).await?;
            let mut codedeploy = SimulatorConfig::new(credentials.clone());
            codedeploy.region = REGION.to_owned();
            codedeploy.account_id = ACCOUNT_ID.to_owned();
            codedeploy.envelope = self.codedeploy_envelope;
            if let Some(timeout) = self.codedeploy_host_timeout {
                codedeploy.host_timeout = timeout;
            }
            if let Some(wait) = self.codedeploy_poll_wait {
                codedeploy.poll_wait = wait;
            }
            let codedeploy = Simulator::start(codedeploy)
                .await
                .map_err(|source| Error::CodeDeploy { source })?;
            Ok::<_, Error>((
                oidc,
                oidc_server,
                sts,
                sts_server,
                imds,
                imds_server,
                codedeploy,
            ))
        };
        let (moto, services) = tokio::join!(moto, services);
        let moto = moto?;
        let (oidc, oidc_server, sts, sts_server, imds, imds_server, codedeploy) = services?;
        Ok(Sandbox {
            oidc_url: oidc_server.url(),
            sts_url: sts_server.url(),
            imds_url: imds_server.url(),
            oidc,
            sts,
            imds,
            credentials,
            static_credentials,
            servers: vec![oidc_server, sts_server, imds_server],
            moto,
            codedeploy,
        })
    }
}

/// A simulated host in the sandbox's account and region.
fn host_config(credentials: &CredentialStore, allow_v1: bool) -> ImdsConfig {
    ImdsConfig {
        account_id: ACCOUNT_ID.to_owned(),
        region: REGION.to_owned(),
        credentials: credentials.clone(),
        allow_v1,
    }
}
