//! Secrets from SSM Parameter Store rendered to an env file the programs
//! read: every parameter under a path (recursive, decrypted, all pages),
//! written atomically with mode 0600. Parameter names may appear in errors
//! and logs; values never do.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::error::{Result, StepError, io};

/// One parameter: its env name and value. `Debug` hides the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    /// The variable name (`/app/prod/db/password` under `/app/prod` → `DB_PASSWORD`).
    pub name: String,
    /// The decrypted value.
    pub value: String,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({}=<redacted>)", self.name)
    }
}

/// Reads every parameter under `path`.
pub async fn fetch(client: &aws_sdk_ssm::Client, path: &str) -> Result<Vec<Secret>> {
    let failed = |reason: String| StepError::Ssm {
        path: path.into(),
        reason,
    };
    let mut pages = client
        .get_parameters_by_path()
        .path(path)
        .recursive(true)
        .with_decryption(true)
        .into_paginator()
        .send();
    let mut secrets = Vec::new();
    while let Some(page) = pages.next().await {
        // The SDK's error text names the operation and the service's
        // message, never a parameter value.
        let page =
            page.map_err(|e| failed(aws_sdk_ssm::error::DisplayErrorContext(e).to_string()))?;
        for parameter in page.parameters() {
            let full = parameter.name().unwrap_or_default();
            let name = env_name(path, full).ok_or_else(|| {
                failed(format!(
                    "parameter {full} does not make an environment variable name"
                ))
            })?;
            let value = parameter.value().unwrap_or_default();
            if value.contains('\n') || value.contains('\0') {
                return Err(failed(format!(
                    "parameter {full}: a value with a newline cannot go in an env file"
                )));
            }
            secrets.push(Secret {
                name,
                value: value.to_owned(),
            });
        }
    }
    secrets.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(pair) = secrets.windows(2).find(|w| w[0].name == w[1].name) {
        return Err(failed(format!(
            "two parameters both become {}",
            pair[0].name
        )));
    }
    Ok(secrets)
}

/// `prefix/db/password` → `DB_PASSWORD`; `None` when it makes no valid name.
pub fn env_name(prefix: &str, full: &str) -> Option<String> {
    let rest = full
        .strip_prefix(prefix.trim_end_matches('/'))?
        .trim_start_matches('/');
    let name: String = rest
        .chars()
        .map(|c| match c {
            '/' | '-' | '.' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect();
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    valid.then_some(name)
}

/// Writes `NAME=value` lines to `file` with mode 0600 (owned by `owner`
/// when given), replacing it with rename(2) so a program never reads half.
pub fn render(file: &Path, secrets: &[Secret], owner: Option<(u32, u32)>) -> Result<()> {
    let dir = file.parent().unwrap_or(Path::new("."));
    let temp = dir.join(format!(
        ".{}.{}.tmp",
        file.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&temp);
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .map_err(io("create", &temp))?;
    let result = (|| {
        for secret in secrets {
            writeln!(out, "{}={}", secret.name, secret.value).map_err(io("write", &temp))?;
        }
        out.sync_all().map_err(io("sync", &temp))?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&temp, Some(uid), Some(gid)).map_err(io("chown", &temp))?;
        }
        std::fs::rename(&temp, file).map_err(io("rename over", file))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn names_follow_the_path_below_the_prefix() {
        assert_eq!(
            env_name("/app/prod", "/app/prod/db/password").as_deref(),
            Some("DB_PASSWORD")
        );
        assert_eq!(
            env_name("/app/prod/", "/app/prod/secret-key").as_deref(),
            Some("SECRET_KEY")
        );
        assert_eq!(env_name("/app/prod", "/app/prod/9lives"), None);
        assert_eq!(env_name("/app/prod", "/other/x"), None);
    }

    #[test]
    fn the_env_file_is_0600_and_debug_hides_values() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("app.env");
        let secrets = [Secret {
            name: "A".into(),
            value: "hunter2".into(),
        }];
        render(&file, &secrets, None).unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "A=hunter2\n");
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(!format!("{secrets:?}").contains("hunter2"));
    }
}
