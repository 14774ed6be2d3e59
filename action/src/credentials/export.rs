//! Handing the credentials on: masks and file commands under Actions,
//! `export` lines elsewhere.

use std::io::Write;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;

use super::request::Request;
use super::sts::{Assumed, Identity};
use crate::env::Env;
use crate::github::commands;
use crate::github::files::FileCommand;
use crate::{Error, Result};

/// The values of `credentials` that must never reach a log.
pub fn secrets(credentials: &Credentials) -> Vec<&str> {
    let mut secrets = vec![credentials.access_key_id(), credentials.secret_access_key()];
    secrets.extend(credentials.session_token());
    secrets
}

/// `::add-mask::` for each value.
pub fn mask(out: &mut dyn Write, values: &[&str]) -> Result<()> {
    for value in values {
        writeln!(out, "{}", commands::add_mask(value)).map_err(Error::Output)?;
    }
    out.flush().map_err(Error::Output)
}

/// RFC 3339 in UTC, as STS and the AWS CLI print expirations.
pub fn timestamp(time: SystemTime) -> String {
    DateTime::from(time)
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| "(unrepresentable)".to_owned())
}

/// Writes the keys and region to GITHUB_ENV (unless turned off) and the
/// outputs to GITHUB_OUTPUT.
pub fn to_runner(
    env: &Env,
    request: &Request,
    assumed: &Assumed,
    identity: &Identity,
) -> Result<()> {
    let creds = &assumed.credentials;
    if request.output_env_credentials {
        let mut vars = vec![
            ("AWS_ACCESS_KEY_ID", creds.access_key_id()),
            ("AWS_SECRET_ACCESS_KEY", creds.secret_access_key()),
        ];
        vars.extend(creds.session_token().map(|t| ("AWS_SESSION_TOKEN", t)));
        vars.extend([
            ("AWS_REGION", request.region.as_str()),
            ("AWS_DEFAULT_REGION", request.region.as_str()),
        ]);
        runner_file(env, "GITHUB_ENV")?.append(&vars)?;
    }
    let expiration = timestamp(assumed.expiration);
    let mut outputs = vec![
        ("aws-account-id", identity.account.as_str()),
        ("authenticated-arn", identity.arn.as_str()),
        ("aws-expiration", expiration.as_str()),
    ];
    if request.output_credentials {
        outputs.extend([
            ("aws-access-key-id", creds.access_key_id()),
            ("aws-secret-access-key", creds.secret_access_key()),
        ]);
        outputs.extend(creds.session_token().map(|t| ("aws-session-token", t)));
    }
    runner_file(env, "GITHUB_OUTPUT")?.append(&outputs)
}

/// The variables the official action's post step empties.
pub const CLEARED: [&str; 5] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
];

/// Writes the [`CLEARED`] variables empty to GITHUB_ENV: a runner cannot
/// unset a variable, and the SDKs and CLI read an empty one as unset.
pub fn unset(env: &Env) -> Result<()> {
    let entries: Vec<(&str, &str)> = CLEARED.iter().map(|name| (*name, "")).collect();
    runner_file(env, "GITHUB_ENV")?.append(&entries)
}

/// `unset` lines for `eval "$(slipway credentials --cleanup)"`.
pub fn unset_in_shell(out: &mut dyn Write) -> Result<()> {
    writeln!(out, "unset {}", CLEARED.join(" ")).map_err(Error::Output)?;
    out.flush().map_err(Error::Output)
}

fn runner_file(env: &Env, var: &'static str) -> Result<FileCommand> {
    env.get(var)
        .map(FileCommand::new)
        .ok_or(Error::MissingRunnerFile { var })
}

/// `export NAME='value'` lines for `eval "$(slipway credentials …)"`.
pub fn to_shell(out: &mut dyn Write, request: &Request, assumed: &Assumed) -> Result<()> {
    let creds = &assumed.credentials;
    let expiration = timestamp(assumed.expiration);
    let mut vars = vec![
        ("AWS_ACCESS_KEY_ID", creds.access_key_id()),
        ("AWS_SECRET_ACCESS_KEY", creds.secret_access_key()),
    ];
    vars.extend(creds.session_token().map(|t| ("AWS_SESSION_TOKEN", t)));
    vars.extend([
        ("AWS_CREDENTIAL_EXPIRATION", expiration.as_str()),
        ("AWS_REGION", request.region.as_str()),
        ("AWS_DEFAULT_REGION", request.region.as_str()),
    ]);
    for (name, value) in vars {
        writeln!(out, "export {name}={}", shell_quote(value)).map_err(Error::Output)?;
    }
    out.flush().map_err(Error::Output)
}

/// POSIX single quoting: safe for any value in `eval`.
fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting_survives_quotes_and_spaces() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("x+/=y"), "'x+/=y'");
    }

    #[test]
    fn masks_cover_key_id_secret_and_session_token() {
        let creds = Credentials::new("ASIAEXAMPLE", "s3cr3t", Some("tok".into()), None, "t");
        let mut out = Vec::new();
        mask(&mut out, &secrets(&creds)).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "::add-mask::ASIAEXAMPLE\n::add-mask::s3cr3t\n::add-mask::tok\n"
        );
    }

    #[test]
    fn expirations_print_as_rfc3339_utc() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_796_122_800);
        assert_eq!(timestamp(t), "2026-12-01T11:00:00Z");
    }
}
