//! Slipway's local AWS test bed: a GitHub Actions OIDC issuer, STS, IMDS and
//! moto's server (S3, SSM, KMS), started on free loopback ports by one
//! [`Sandbox`] and stopped when it drops. Tests and the README's demo
//! (`slipway-sandbox`) point the official AWS clients at it unchanged.
//!
//! # Layout
//! - [`codedeploy`]: the CodeDeploy simulator, [`codedeploy::Simulator`].
//! - [`sandbox`]: [`Sandbox`] and [`SandboxBuilder`], the entry point.
//! - [`oidc`]: [`OidcIssuer`], discovery, JWKS and the runner's token endpoint.
//! - [`claims`]: [`Claims`], the run context and GitHub's JWT claims.
//! - [`signing_key`]: [`SigningKey`], the issuer's RS256 key.
//! - [`sts`]: [`Sts`], AssumeRoleWithWebIdentity and GetCallerIdentity;
//!   [`sts::trust`] holds [`Role`] and [`TrustPolicy`].
//! - [`imds`]: [`Imds`], the metadata service of one simulated EC2 host.
//! - [`moto`]: [`Moto`], moto's server from `.venv`.
//! - [`sample_app`]: the sample Django shop in `tests/sample-app/`, copied out as a release.
//! - [`host_stack`]: a Django host's real programs: [`host_stack::Supervisord`],
//!   [`host_stack::Nginx`], [`host_stack::Redis`], private and stopped on drop.
//! - [`django_host`]: [`DjangoHost`], one simulated host (supervisord, nginx, the
//!   reference programs and site) under a root.
//! - [`django_fleet`]: [`django_fleet::DjangoFleet`], the demo's hosts' Django stacks
//!   with a shared MariaDB and redis, and each agent's environment.
//! - [`mariadb`]: [`MariaDb`], a private mariadbd (the stand-in for Aurora MySQL).
//! - [`venv`]: finding `.venv`'s programs (moto, boto3's python, the AWS CLI).
//! - [`demo`]: `slipway-sandbox`'s `run`: start, print the `export` lines, serve.
//! - [`agent_hosts`]: on-premises hosts for real agents, each with its own
//!   IAM user and the official agent's configuration files.
//! - [`credentials`]: the AWS credentials the sandbox issued.
//! - [`forward_proxy`]: [`ForwardProxy`], a loopback HTTP proxy that records what it relays.
//! - [`tls_front`]: [`TlsFront`], TLS from a per-run CA in front of a plain HTTP service.
//! - [`scripted_host`]: a host that speaks the CodeDeploy command protocol, playing a script.
//! - [`sigv4`]: signs a request with SigV4 as the SDKs do ([`sigv4_sign`]), and checks
//!   a request's signature against the issued credentials ([`sigv4_verify`]).
//! - [`error`]: [`Error`], what can fail while starting.
//! - `server`, `ids`, `timestamp`, `sync`: serving a router, AWS-shaped
//!   ids, AWS's timestamps, locking.
//!
//! # API
//! Every server binds `127.0.0.1:0`; handles are cheap clones.
//! ```text
//! Sandbox::builder() -> SandboxBuilder
//!   .without_moto() .allow_imds_v1() .role(Role) .claims(Claims)
//!   .codedeploy_host_timeout(Duration) .codedeploy_poll_wait(Duration)
//!   .codedeploy_envelope(codedeploy::EnvelopeFormat)
//!   .start().await -> Result<Sandbox, Error>
//! Sandbox
//!   region() -> &str ("us-east-1")         account_id() -> &str ("123456789012")
//!   sts_endpoint() oidc_endpoint() imds_endpoint() -> String
//!   s3_endpoint() ssm_endpoint() kms_endpoint() -> String   (moto; panics without_moto)
//!   moto_endpoint() -> Option<String>      moto_pid() -> Option<u32>
//!   oidc() -> &OidcIssuer   sts() -> &Sts   imds() -> &Imds
//!   credential_store() -> &CredentialStore static_credentials() -> &IssuedCredential
//!   deploy_role_arn() -> String            env() -> Vec<(String, String)>
//!   codedeploy_endpoint() -> String        codedeploy() -> &codedeploy::SimulatorHandle
//!   add_host(&mut self).await -> Result<Imds, Error>   (one more simulated EC2 host)
//!   shutdown(self).await                   (Drop also stops everything)
//! OidcIssuer
//!   issuer_url() request_url() request_token() jwks_url() -> String
//!   set_claims(Claims) claims() -> Claims  mint(aud) -> String  jwt_claims(aud) -> Value
//!   expire_next_tokens(n) refuse_requests(status) allow_requests() tokens_issued() -> usize
//!   signing_key() -> &SigningKey
//! Sts
//!   throttle_next(n) idp_unreachable_next(n) fail_next_with(n, status) assume_calls() -> usize
//!   throttle_caller_identity_next(n) caller_identity_calls() -> usize
//!   set_credential_lifetime(Duration) add_role(Role) role_arn(name) -> String
//!   add_provider(issuer_url, client_ids) remove_provider(issuer_url)
//! Imds
//!   endpoint() instance_id() role_name() -> &str  credential() -> IssuedCredential
//!   set_v1_allowed(bool) set_tokens_refused(bool) set_role_attached(bool)
//!   set_credential_lifetime(Duration) revoke_tokens() tokens_issued() v1_requests() -> usize
//! Role::new(name, TrustPolicy).also_trusting(TrustPolicy).max_session_duration(Duration)
//! Role::from_trust_document(name, &json_text) -> Result<Role, Error>   (IAM's JSON)
//! role.trust_document(account, issuer) -> Value   Sts::trust_document(name) -> Option<Value>
//! TrustPolicy::github(&[sub]) | github_like(&[pattern]) | sandbox_issuer()
//!   .with(Condition::string_equals(claim, &[v]) | Condition::string_like(claim, &[p]))
//! SigningKey::generate() -> Result<SigningKey, Error>; .sign(&Value) .jwk() .kid()
//! MariaDb::start() -> Result<MariaDb, Error>   (blocking; stopped on drop)
//!   port() socket() pid() client() -> Command   query(sql) -> Result<String, Error>
//!   create_database(name, user, password)
//! host_stack::Supervisord::start(dir)? .socket .write_program(name, body)? .client() .pid()
//! host_stack::Nginx::write_config(dir, site)?; Nginx::start(dir, port)? .pid_file() Nginx::args(dir)
//! host_stack::Redis::start(dir)? .url(db)   host_stack::{free_ports::<N>()?, wait_until, get}
//! DjangoHost::start(root, &[("DB_PORT", "…"), …])? .app_root .stack_env .gunicorn_conf
//!   .celery_conf .socket() .health_url() .nginx_reload_args() .serving() -> Option<String>
//! sample_app::dir() -> PathBuf   sample_app::copy_to(dest)   sample_app::break_import(release)
//! demo::run(builder, DemoHosts, env_file, out, shutdown).await   (slipway-sandbox's body)
//! DjangoFleet::start(&agents, redis_dir, ssm_endpoint, region)? .hosts .redis .db .env()
//! agent_hosts::write_agent_hosts(&sandbox, n, tag, dir) -> Result<Vec<AgentHost>, Error>
//! ForwardProxy::start().await? | ForwardProxy::requiring(user, password).await?
//!   .url() .relayed() -> Vec<Relayed> .relayed_to("host:port") .refused() -> usize
//! TlsFront::start(upstream_url, dir)? .url() ("https://localhost:PORT") .ca_bundle() -> &Path
//! ```
//!
//! # Example
//! ```no_run
//! # async fn demo() -> Result<(), slipway_tests::Error> {
//! let sandbox = slipway_tests::Sandbox::builder().without_moto().start().await?;
//! let token = sandbox.oidc().mint("sts.amazonaws.com");
//! // AssumeRoleWithWebIdentity at sandbox.sts_endpoint() with
//! // sandbox.deploy_role_arn() and `token` returns credentials.
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod agent_hosts;
pub mod claims;
pub mod codedeploy;
pub mod credentials;
pub mod demo;
pub mod django_fleet;
pub mod django_host;
pub mod error;
pub mod forward_proxy;
pub mod host_stack;
mod ids;
pub mod imds;
pub mod mariadb;
pub mod moto;
pub mod oidc;
pub mod sample_app;
pub mod sandbox;
pub mod scripted_host;
mod server;
pub mod signing_key;
pub mod sigv4;
pub mod sts;
mod sync;
mod timestamp;
pub mod tls_front;
pub mod venv;

pub use claims::Claims;
pub use credentials::{CredentialStore, IssuedCredential};
pub use django_host::DjangoHost;
pub use error::Error;
pub use forward_proxy::ForwardProxy;
pub use imds::Imds;
pub use mariadb::MariaDb;
pub use moto::Moto;
pub use oidc::OidcIssuer;
pub use sandbox::{Sandbox, SandboxBuilder};
pub use signing_key::SigningKey;
/// The signer and the verifier under the paths they had before `sigv4/`.
pub use sigv4::{sign as sigv4_sign, verify as sigv4_verify};
pub use sts::{AssumeRecord, AwsTrust, Condition, Federated, Operator, Role, Sts, TrustPolicy};
pub use tls_front::TlsFront;
