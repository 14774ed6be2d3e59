//! What `slipway credentials` was asked to do, validated before any network
//! call so that a typo fails in milliseconds with the input's name.

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::CredentialsArgs;
use crate::env::Env;
use crate::github::inputs::Inputs;
use crate::{Error, Result};

/// The audience STS expects from GitHub's token, outside China.
pub const DEFAULT_AUDIENCE: &str = "sts.amazonaws.com";
/// The audience for the `aws-cn` partition.
pub const CHINA_AUDIENCE: &str = "sts.amazonaws.com.cn";
/// The session duration when none is asked for, as STS's own default.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(3600);
/// AssumeRoleWithWebIdentity calls per command, retries included.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 6;

/// A validated `slipway credentials` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Where STS is called and what AWS_REGION is set to.
    pub region: String,
    /// The role to assume.
    pub role: RoleArn,
    /// The session name CloudTrail shows.
    pub session_name: String,
    /// How long the credentials last.
    pub duration: Duration,
    /// The `aud` to request the token for.
    pub audience: String,
    /// Accounts the credentials may belong to; empty means any.
    pub allowed_account_ids: Vec<String>,
    /// Whether the account id (and with it the ARN) is masked in the log.
    pub mask_account_id: bool,
    /// Whether the keys are also step outputs.
    pub output_credentials: bool,
    /// Whether the keys go to GITHUB_ENV for later steps.
    pub output_env_credentials: bool,
    /// An inline session policy (JSON), checked to parse.
    pub inline_session_policy: Option<String>,
    /// Managed session policy ARNs.
    pub managed_session_policies: Vec<String>,
    /// A file holding the web identity token, instead of the runner's
    /// token endpoint.
    pub token_file: Option<PathBuf>,
    /// An STS endpoint that overrides AWS_ENDPOINT_URL_STS / AWS_ENDPOINT_URL.
    pub sts_endpoint: Option<String>,
    /// STS calls at most, the first included (1 with `disable-retry`).
    pub max_attempts: u32,
    /// Whether to empty the AWS_* credential variables first.
    pub unset_current_credentials: bool,
    /// Whether to assume again until the secret key has no special
    /// characters.
    pub special_characters_workaround: bool,
    /// A named profile to write the keys to.
    pub aws_profile: Option<String>,
    /// Whether an existing profile of that name may be replaced.
    pub overwrite_aws_profile: bool,
    /// The proxy for every HTTP call, and the hosts that bypass it.
    pub proxy: Option<Proxy>,
    /// A limit on the whole command.
    pub timeout: Option<Duration>,
    /// AssumeRole from the environment's credentials instead of web identity.
    pub role_chaining: bool,
    /// AssumeRole's `ExternalId`.
    pub external_id: Option<String>,
    /// Whether AssumeRole goes without session tags.
    pub skip_session_tagging: bool,
    /// Session tags that pass on to a further chained role.
    pub transitive_tag_keys: Vec<String>,
}

/// `http-proxy` and `no-proxy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proxy {
    /// The proxy's URL.
    pub url: String,
    /// Comma-separated hosts that bypass it.
    pub no_proxy: Option<String>,
}

impl Request {
    /// Reads and checks every input, flags first, then `INPUT_*`.
    pub fn from_inputs(args: &CredentialsArgs, env: &Env) -> Result<Self> {
        let inputs = Inputs::new(env);
        let region = inputs
            .get("aws-region", args.aws_region.as_deref())
            .or_else(|| env.get("AWS_REGION").map(str::to_owned))
            .or_else(|| env.get("AWS_DEFAULT_REGION").map(str::to_owned))
            .ok_or_else(|| Error::MissingInput {
                input: "aws-region".into(),
            })?;
        check_region(&region).map_err(|reason| invalid("aws-region", reason))?;
        let role = inputs
            .parsed(
                "role-to-assume",
                args.role_to_assume.as_deref(),
                RoleArn::parse,
            )?
            .ok_or_else(|| Error::MissingInput {
                input: "role-to-assume".into(),
            })?;
        let session_name = inputs
            .parsed(
                "role-session-name",
                args.role_session_name.as_deref(),
                |s| check_session_name(s).map(|()| s.to_owned()),
            )?
            .unwrap_or_else(|| default_session_name(env));
        let duration = inputs
            .parsed(
                "role-duration-seconds",
                args.role_duration_seconds.as_deref(),
                parse_duration,
            )?
            .unwrap_or(DEFAULT_DURATION);
        let audience = inputs
            .get("audience", args.audience.as_deref())
            .unwrap_or_else(|| default_audience(&role, &region).to_owned());
        let allowed_account_ids = inputs
            .parsed(
                "allowed-account-ids",
                args.allowed_account_ids.as_deref(),
                parse_account_ids,
            )?
            .unwrap_or_default();
        if !allowed_account_ids.is_empty() && !allowed_account_ids.contains(&role.account) {
            // Fail before asking GitHub or STS for anything: the role can
            // only ever give credentials for its own account.
            return Err(Error::AccountNotAllowed {
                account: role.account.clone(),
                allowed: allowed_account_ids.join(","),
            });
        }
        let max_attempts = inputs
            .parsed(
                "retry-max-attempts",
                args.retry_max_attempts.as_deref(),
                |s| match s.parse() {
                    Ok(n @ 1..=20) => Ok(n),
                    _ => Err(format!("`{s}` is not a whole number from 1 to 20")),
                },
            )?
            .unwrap_or(DEFAULT_MAX_ATTEMPTS);
        let disable_retry = inputs.bool("disable-retry", args.disable_retry.as_deref(), false)?;
        let max_attempts = if disable_retry { 1 } else { max_attempts };
        let proxy = inputs
            .parsed("http-proxy", args.http_proxy.as_deref(), |s| {
                super::sts::check_endpoint(s).map(|()| s.to_owned())
            })?
            .map(|url| Proxy {
                url,
                no_proxy: inputs.get("no-proxy", args.no_proxy.as_deref()),
            });
        let timeout = inputs
            .parsed(
                "action-timeout-s",
                args.action_timeout_s.as_deref(),
                |s| match s.parse::<u64>() {
                    Ok(0) => Ok(None),
                    Ok(n) => Ok(Some(Duration::from_secs(n))),
                    Err(_) => Err(format!(
                        "`{s}` is not a whole number of seconds (0 for no limit)"
                    )),
                },
            )?
            .flatten();
        let aws_profile = inputs.parsed("aws-profile", args.aws_profile.as_deref(), |s| {
            if s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.+@".contains(c))
            {
                Ok(s.to_owned())
            } else {
                Err(format!(
                    "`{s}` is not a profile name: use letters, digits and _-.+@"
                ))
            }
        })?;
        let inline_session_policy = inputs.parsed(
            "inline-session-policy",
            args.inline_session_policy.as_deref(),
            |s| check_policy(s).map(|()| s.to_owned()),
        )?;
        let managed_session_policies = inputs
            .parsed(
                "managed-session-policies",
                args.managed_session_policies.as_deref(),
                parse_policy_arns,
            )?
            .unwrap_or_default();
        Ok(Self {
            region,
            role,
            session_name,
            duration,
            audience,
            allowed_account_ids,
            mask_account_id: inputs.bool(
                "mask-aws-account-id",
                args.mask_aws_account_id.as_deref(),
                false,
            )?,
            output_credentials: inputs.bool(
                "output-credentials",
                args.output_credentials.as_deref(),
                false,
            )?,
            output_env_credentials: inputs.bool(
                "output-env-credentials",
                args.output_env_credentials.as_deref(),
                true,
            )?,
            inline_session_policy,
            managed_session_policies,
            token_file: inputs
                .get(
                    "web-identity-token-file",
                    args.web_identity_token_file.as_deref(),
                )
                .map(PathBuf::from),
            sts_endpoint: inputs.get("sts-endpoint", args.sts_endpoint.as_deref()),
            max_attempts,
            unset_current_credentials: inputs.bool(
                "unset-current-credentials",
                args.unset_current_credentials.as_deref(),
                false,
            )?,
            special_characters_workaround: inputs.bool(
                "special-characters-workaround",
                args.special_characters_workaround.as_deref(),
                false,
            )?,
            aws_profile,
            overwrite_aws_profile: inputs.bool(
                "overwrite-aws-profile",
                args.overwrite_aws_profile.as_deref(),
                false,
            )?,
            proxy,
            timeout,
            role_chaining: inputs.bool("role-chaining", args.role_chaining.as_deref(), false)?,
            external_id: inputs.parsed(
                "role-external-id",
                args.role_external_id.as_deref(),
                |s| {
                    if (2..=1224).contains(&s.len())
                        && s.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "+=,.@:/-_".contains(c))
                    {
                        Ok(s.to_owned())
                    } else {
                        Err(format!(
                            "`{s}` is not an external id: 2 to 1224 letters, digits or +=,.@:/-_"
                        ))
                    }
                },
            )?,
            skip_session_tagging: inputs.bool(
                "role-skip-session-tagging",
                args.role_skip_session_tagging.as_deref(),
                false,
            )?,
            transitive_tag_keys: inputs
                .get("transitive-tag-keys", args.transitive_tag_keys.as_deref())
                .map(|list| {
                    list.split([',', '\n'])
                        .map(str::trim)
                        .filter(|k| !k.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}

fn invalid(input: &str, reason: impl Into<String>) -> Error {
    Error::InvalidInput {
        input: input.to_owned(),
        reason: reason.into(),
    }
}

/// An IAM role ARN, split into the parts the diagnosis and the trust-policy
/// template need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleArn {
    /// The whole ARN as given.
    pub arn: String,
    /// `aws`, `aws-cn` or `aws-us-gov`.
    pub partition: String,
    /// The 12-digit account id.
    pub account: String,
    /// The role's name, without its path.
    pub name: String,
}

impl RoleArn {
    /// Parses `arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME`, or says what is
    /// wrong with it.
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        const SHAPE: &str = "arn:aws:iam::123456789012:role/NAME";
        let Some(rest) = s.strip_prefix("arn:") else {
            return Err(format!(
                "`{s}` is not a role ARN; give the whole ARN, like {SHAPE}"
            ));
        };
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        let [partition, service, region, account, resource] = parts[..] else {
            return Err(format!(
                "`{s}` does not have the six parts of a role ARN, like {SHAPE}"
            ));
        };
        if !matches!(partition, "aws" | "aws-cn" | "aws-us-gov") {
            return Err(format!(
                "partition `{partition}` in `{s}` is not aws, aws-cn or aws-us-gov"
            ));
        }
        if service != "iam" || !region.is_empty() {
            return Err(format!(
                "`{s}` is not an IAM ARN; a role ARN starts arn:{partition}:iam::"
            ));
        }
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("account `{account}` in `{s}` is not 12 digits"));
        }
        let Some(path_and_name) = resource.strip_prefix("role/") else {
            return Err(format!(
                "`{s}` is not a role ARN: its resource must start with `role/`"
            ));
        };
        let (path, name) = path_and_name
            .rsplit_once('/')
            .unwrap_or(("", path_and_name));
        if name.is_empty() || name.len() > 64 || !name.chars().all(is_iam_name_char) {
            return Err(format!(
                "role name `{name}` in `{s}` must be 1 to 64 letters, digits or any of +=,.@_-"
            ));
        }
        if path.len() > 510 || !path.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err(format!(
                "role path `{path}/` in `{s}` has characters IAM does not allow"
            ));
        }
        Ok(Self {
            arn: s.to_owned(),
            partition: partition.to_owned(),
            account: account.to_owned(),
            name: name.to_owned(),
        })
    }
}

/// `[\w+=,.@-]` in the JavaScript sense of `\w`, as IAM and STS define it.
fn is_iam_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
}

/// Checks a role session name: 2–64 characters of `[\w+=,.@-]`.
pub fn check_session_name(name: &str) -> std::result::Result<(), String> {
    if !(2..=64).contains(&name.len()) {
        return Err(format!(
            "`{name}` is {} characters; a session name has 2 to 64",
            name.len()
        ));
    }
    if let Some(c) = name.chars().find(|c| !is_iam_name_char(*c)) {
        return Err(format!(
            "`{name}` contains `{c}`; a session name has only letters, digits and +=,.@_-"
        ));
    }
    Ok(())
}

/// The session name when none is given: the repository, run and attempt,
/// so CloudTrail leads straight back to the run.
pub fn default_session_name(env: &Env) -> String {
    let ids: String = ["GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT"]
        .iter()
        .filter_map(|var| env.get(var))
        .filter(|v| v.bytes().all(|b| b.is_ascii_digit()))
        .map(|v| format!("-{v}"))
        .collect();
    let mut name = "slipway".to_owned();
    if let Some(repo) = env.get("GITHUB_REPOSITORY") {
        // The repository name gives way, so the run id and attempt survive.
        let room = 64usize.saturating_sub(name.len() + 1 + ids.len());
        let repo = repo.rsplit('/').next().unwrap_or(repo);
        if room > 0 && !repo.is_empty() {
            name.push('-');
            name.extend(
                repo.chars()
                    .map(|c| if is_iam_name_char(c) { c } else { '-' })
                    .take(room),
            );
        }
    }
    name.push_str(&ids);
    name.truncate(64);
    name
}

fn check_region(region: &str) -> std::result::Result<(), String> {
    if region
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        Ok(())
    } else {
        Err(format!("`{region}` is not a region name like eu-west-1"))
    }
}

fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    match s.parse::<u64>() {
        Ok(secs @ 900..=43200) => Ok(Duration::from_secs(secs)),
        _ => Err(format!(
            "`{s}` is not a number of seconds from 900 to 43200 (the role's maximum session duration caps it further)"
        )),
    }
}

fn parse_account_ids(list: &str) -> std::result::Result<Vec<String>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(|id| {
            if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) {
                Ok(id.to_owned())
            } else {
                Err(format!("`{id}` is not a 12-digit account id"))
            }
        })
        .collect()
}

/// A session policy must be a JSON object; IAM judges the rest.
fn check_policy(policy: &str) -> std::result::Result<(), String> {
    match serde_json::from_str::<serde_json::Value>(policy) {
        Ok(serde_json::Value::Object(_)) => Ok(()),
        Ok(_) => {
            Err("is JSON but not a policy object ({\"Version\": …, \"Statement\": […]})".to_owned())
        }
        Err(e) => Err(format!(
            "is not JSON: line {}, column {}: {e}",
            e.line(),
            e.column()
        )),
    }
}

fn parse_policy_arns(list: &str) -> std::result::Result<Vec<String>, String> {
    list.split([',', '\n'])
        .map(str::trim)
        .filter(|arn| !arn.is_empty())
        .map(|arn| {
            let parts: Vec<&str> = arn.splitn(6, ':').collect();
            match parts[..] {
                ["arn", "aws" | "aws-cn" | "aws-us-gov", "iam", "", _, resource] if resource.starts_with("policy/") => {
                    Ok(arn.to_owned())
                }
                _ => Err(format!("`{arn}` is not a managed policy ARN like arn:aws:iam::aws:policy/ReadOnlyAccess")),
            }
        })
        .collect()
}

/// The audience GitHub must put in the token for STS of this partition.
fn default_audience(role: &RoleArn, region: &str) -> &'static str {
    if role.partition == "aws-cn" || region.starts_with("cn-") {
        CHINA_AUDIENCE
    } else {
        DEFAULT_AUDIENCE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLE: &str = "arn:aws:iam::123456789012:role/deploy";

    fn request(pairs: &[(&str, &str)]) -> Result<Request> {
        Request::from_inputs(
            &CredentialsArgs::default(),
            &Env::from_pairs(pairs.iter().copied()),
        )
    }

    #[test]
    fn role_arns_of_the_three_partitions_parse() {
        for (arn, partition) in [
            ("arn:aws:iam::123456789012:role/deploy", "aws"),
            ("arn:aws-cn:iam::123456789012:role/ci/deploy", "aws-cn"),
            (
                "arn:aws-us-gov:iam::123456789012:role/a/b/de.ploy@x",
                "aws-us-gov",
            ),
        ] {
            let role = RoleArn::parse(arn).unwrap();
            assert_eq!(role.partition, partition);
            assert_eq!(role.account, "123456789012");
        }
        assert_eq!(
            RoleArn::parse("arn:aws:iam::123456789012:role/ci/deploy")
                .unwrap()
                .name,
            "deploy"
        );
    }

    #[test]
    fn bad_role_arns_say_what_is_wrong() {
        for (arn, says) in [
            ("deploy", "give the whole ARN"),
            ("arn:aws:iam::123456789012", "six parts"),
            ("arn:aws-eu:iam::123456789012:role/x", "partition `aws-eu`"),
            ("arn:aws:sts::123456789012:role/x", "not an IAM ARN"),
            (
                "arn:aws:iam:us-east-1:123456789012:role/x",
                "not an IAM ARN",
            ),
            ("arn:aws:iam::12345678901:role/x", "not 12 digits"),
            (
                "arn:aws:iam::123456789012:user/x",
                "must start with `role/`",
            ),
            ("arn:aws:iam::123456789012:role/", "role name ``"),
            (
                "arn:aws:iam::123456789012:role/has space",
                "role name `has space`",
            ),
        ] {
            let err = RoleArn::parse(arn).unwrap_err();
            assert!(err.contains(says), "{arn}: {err}");
        }
    }

    #[test]
    fn session_names_are_2_to_64_of_the_iam_characters() {
        assert!(check_session_name("ab").is_ok());
        assert!(check_session_name("a+=,.@_-Z9").is_ok());
        assert!(check_session_name(&"x".repeat(64)).is_ok());
        assert!(check_session_name("a").unwrap_err().contains("2 to 64"));
        assert!(
            check_session_name(&"x".repeat(65))
                .unwrap_err()
                .contains("2 to 64")
        );
        assert!(check_session_name("run/1").unwrap_err().contains("`/`"));
    }

    #[test]
    fn the_default_session_name_comes_from_the_run_and_is_valid() {
        let env = Env::from_pairs([
            ("GITHUB_REPOSITORY", "acme/shop"),
            ("GITHUB_RUN_ID", "9876543210"),
            ("GITHUB_RUN_ATTEMPT", "2"),
        ]);
        assert_eq!(default_session_name(&env), "slipway-shop-9876543210-2");
        assert_eq!(default_session_name(&Env::default()), "slipway");
        let long = Env::from_pairs([
            (
                "GITHUB_REPOSITORY",
                format!("acme/{}", "ü".repeat(40) + &"r".repeat(40)).as_str(),
            ),
            ("GITHUB_RUN_ID", "9876543210"),
            ("GITHUB_RUN_ATTEMPT", "1"),
        ]);
        let name = default_session_name(&long);
        check_session_name(&name).unwrap();
        assert!(name.ends_with("-9876543210-1"), "{name}");
    }

    #[test]
    fn defaults_fill_in_everything_but_region_and_role() {
        let r = request(&[
            ("INPUT_AWS-REGION", "eu-west-1"),
            ("INPUT_ROLE-TO-ASSUME", ROLE),
        ])
        .unwrap();
        assert_eq!(r.duration, DEFAULT_DURATION);
        assert_eq!(r.audience, DEFAULT_AUDIENCE);
        assert_eq!(r.max_attempts, DEFAULT_MAX_ATTEMPTS);
        assert!(r.output_env_credentials);
        assert!(!r.output_credentials && !r.mask_account_id);
        assert!(r.allowed_account_ids.is_empty());
    }

    #[test]
    fn china_gets_the_china_audience() {
        let r = request(&[
            ("INPUT_AWS-REGION", "cn-north-1"),
            (
                "INPUT_ROLE-TO-ASSUME",
                "arn:aws-cn:iam::123456789012:role/deploy",
            ),
        ])
        .unwrap();
        assert_eq!(r.audience, CHINA_AUDIENCE);
    }

    #[test]
    fn missing_region_and_role_are_named() {
        let err = request(&[("INPUT_ROLE-TO-ASSUME", ROLE)]).unwrap_err();
        assert!(
            err.to_string().contains("`aws-region` is required"),
            "{err}"
        );
        let err = request(&[("INPUT_AWS-REGION", "eu-west-1")]).unwrap_err();
        assert!(
            err.to_string().contains("`role-to-assume` is required"),
            "{err}"
        );
    }

    #[test]
    fn region_falls_back_to_aws_region() {
        let r = request(&[
            ("AWS_DEFAULT_REGION", "eu-central-1"),
            ("INPUT_ROLE-TO-ASSUME", ROLE),
        ])
        .unwrap();
        assert_eq!(r.region, "eu-central-1");
    }

    #[test]
    fn bad_values_name_their_input() {
        for (input, value) in [
            ("INPUT_AWS-REGION", "EU West"),
            ("INPUT_ROLE-DURATION-SECONDS", "60"),
            ("INPUT_ROLE-DURATION-SECONDS", "1h"),
            ("INPUT_ROLE-SESSION-NAME", "a b"),
            ("INPUT_ALLOWED-ACCOUNT-IDS", "123456789012,12"),
            ("INPUT_RETRY-MAX-ATTEMPTS", "0"),
            ("INPUT_MASK-AWS-ACCOUNT-ID", "yes"),
        ] {
            let mut pairs = vec![
                ("INPUT_AWS-REGION", "eu-west-1"),
                ("INPUT_ROLE-TO-ASSUME", ROLE),
            ];
            pairs.push((input, value));
            let err = request(&pairs).unwrap_err();
            let name = input.trim_start_matches("INPUT_").to_lowercase();
            assert!(err.to_string().contains(&name), "{input}={value}: {err}");
        }
    }

    #[test]
    fn a_role_outside_the_allowed_accounts_fails_before_any_call() {
        let err = request(&[
            ("INPUT_AWS-REGION", "eu-west-1"),
            ("INPUT_ROLE-TO-ASSUME", ROLE),
            ("INPUT_ALLOWED-ACCOUNT-IDS", "111111111111, 222222222222"),
        ])
        .unwrap_err();
        assert!(
            matches!(err, Error::AccountNotAllowed { ref account, .. } if account == "123456789012")
        );
    }

    #[test]
    fn session_policies_are_checked_before_any_call() {
        let base = [
            ("INPUT_AWS-REGION", "eu-west-1"),
            ("INPUT_ROLE-TO-ASSUME", ROLE),
        ];
        let with = |extra: (&'static str, &'static str)| {
            let mut pairs = base.to_vec();
            pairs.push(extra);
            request(&pairs)
        };
        let r = with((
            "INPUT_MANAGED-SESSION-POLICIES",
            "arn:aws:iam::aws:policy/ReadOnlyAccess,\narn:aws:iam::123456789012:policy/deploy\n",
        ))
        .unwrap();
        assert_eq!(r.managed_session_policies.len(), 2);
        let r = with((
            "INPUT_INLINE-SESSION-POLICY",
            r#"{"Version":"2012-10-17","Statement":[]}"#,
        ))
        .unwrap();
        assert!(r.inline_session_policy.is_some());
        let err = with(("INPUT_INLINE-SESSION-POLICY", "{\"Version\":"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("inline-session-policy") && err.contains("not JSON"),
            "{err}"
        );
        let err = with(("INPUT_INLINE-SESSION-POLICY", "[]"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a policy object"), "{err}");
        let err = with(("INPUT_MANAGED-SESSION-POLICIES", "ReadOnlyAccess"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("managed-session-policies") && err.contains("`ReadOnlyAccess`"),
            "{err}"
        );
    }

    #[test]
    fn flags_override_inputs() {
        let args = CredentialsArgs {
            aws_region: Some("us-west-2".into()),
            output_credentials: Some("true".into()),
            ..Default::default()
        };
        let env = Env::from_pairs([
            ("INPUT_AWS-REGION", "eu-west-1"),
            ("INPUT_ROLE-TO-ASSUME", ROLE),
        ]);
        let r = Request::from_inputs(&args, &env).unwrap();
        assert_eq!(r.region, "us-west-2");
        assert!(r.output_credentials);
    }
}
