//! `aws-profile`: the keys written as a named profile to the shared
//! credentials file, and the region to the config file, for tools that take
//! `--profile` rather than AWS_* variables.
//!
//! Only the profile's own section is replaced; every other line of the
//! files stays as it was.

use std::path::{Path, PathBuf};

use aws_credential_types::Credentials;

use crate::env::Env;
use crate::{Error, Result};

/// Where the SDKs look: AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE, else
/// `~/.aws/credentials` and `~/.aws/config`.
fn file(env: &Env, var: &str, name: &str) -> PathBuf {
    match env.get(var) {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env.get("HOME").unwrap_or("."))
            .join(".aws")
            .join(name),
    }
}

/// Writes profile `name`; refuses to replace one that exists unless
/// `overwrite`.
pub fn write(
    env: &Env,
    name: &str,
    credentials: &Credentials,
    region: &str,
    overwrite: bool,
) -> Result<()> {
    let credentials_file = file(env, "AWS_SHARED_CREDENTIALS_FILE", "credentials");
    let config_file = file(env, "AWS_CONFIG_FILE", "config");
    let mut keys = vec![
        ("aws_access_key_id", credentials.access_key_id()),
        ("aws_secret_access_key", credentials.secret_access_key()),
    ];
    keys.extend(
        credentials
            .session_token()
            .map(|t| ("aws_session_token", t)),
    );
    // The config file names every profile but the default `profile NAME`.
    let config_section = if name == "default" {
        name.to_owned()
    } else {
        format!("profile {name}")
    };
    let updates = [
        (&credentials_file, name.to_owned(), keys),
        (&config_file, config_section, vec![("region", region)]),
    ];
    let mut texts = Vec::new();
    for (path, section, entries) in &updates {
        let text = read(path)?;
        if !overwrite && has_section(&text, section) {
            return Err(Error::ProfileExists {
                path: (*path).clone(),
                profile: name.to_owned(),
            });
        }
        texts.push(replace_section(&text, section, entries));
    }
    for ((path, ..), text) in updates.iter().zip(texts) {
        save(path, &text)?;
    }
    Ok(())
}

fn read(path: &Path) -> Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(source) => Err(Error::ProfileWrite {
            path: path.to_owned(),
            source,
        }),
    }
}

fn save(path: &Path, text: &str) -> Result<()> {
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // Keys: readable by the owner only, as `aws configure` leaves them.
        #[cfg(unix)]
        {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(path)?;
            file.write_all(text.as_bytes())
        }
        #[cfg(not(unix))]
        std::fs::write(path, text)
    };
    write().map_err(|source| Error::ProfileWrite {
        path: path.to_owned(),
        source,
    })
}

fn header(line: &str) -> Option<&str> {
    line.trim()
        .strip_prefix('[')
        .and_then(|l| l.strip_suffix(']'))
        .map(str::trim)
}

fn has_section(text: &str, section: &str) -> bool {
    text.lines().any(|l| header(l) == Some(section))
}

/// `text` with `[section]` holding exactly `entries`: replaced in place if
/// it exists, appended if not.
fn replace_section(text: &str, section: &str, entries: &[(&str, &str)]) -> String {
    let block: String = std::iter::once(format!("[{section}]\n"))
        .chain(entries.iter().map(|(k, v)| format!("{k} = {v}\n")))
        .collect();
    let mut out = String::new();
    let mut skipping = false;
    let mut written = false;
    for line in text.lines() {
        match header(line) {
            Some(h) if h == section => {
                skipping = true;
                if !written {
                    out.push_str(&block);
                    written = true;
                }
                continue;
            }
            Some(_) => skipping = false,
            None if skipping => continue,
            None => {}
        }
        out.push_str(line);
        out.push('\n');
    }
    if !written {
        if !out.is_empty() && !out.ends_with("\n\n") {
            out.push('\n');
        }
        out.push_str(&block);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_is_replaced_in_place_and_others_kept() {
        let text =
            "[default]\nregion = x\n\n[deploy]\naws_access_key_id = OLD\nold = 1\n[other]\na = b\n";
        assert_eq!(
            replace_section(text, "deploy", &[("aws_access_key_id", "NEW")]),
            "[default]\nregion = x\n\n[deploy]\naws_access_key_id = NEW\n[other]\na = b\n"
        );
        assert_eq!(
            replace_section("[a]\nx = 1\n", "b", &[("k", "v")]),
            "[a]\nx = 1\n\n[b]\nk = v\n"
        );
        assert_eq!(replace_section("", "b", &[("k", "v")]), "[b]\nk = v\n");
    }

    #[test]
    fn an_existing_profile_is_kept_unless_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let credentials_file = dir.path().join("credentials");
        std::fs::write(&credentials_file, "[deploy]\naws_access_key_id = OLD\n").unwrap();
        let env = Env::from_pairs([
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                credentials_file.to_str().unwrap(),
            ),
            (
                "AWS_CONFIG_FILE",
                dir.path().join("config").to_str().unwrap(),
            ),
        ]);
        let creds = Credentials::new("AKID", "SECRET", Some("TOKEN".into()), None, "t");
        let err = write(&env, "deploy", &creds, "eu-west-1", false).unwrap_err();
        assert!(err.to_string().contains("overwrite-aws-profile"), "{err}");
        write(&env, "deploy", &creds, "eu-west-1", true).unwrap();
        assert_eq!(
            std::fs::read_to_string(&credentials_file).unwrap(),
            "[deploy]\naws_access_key_id = AKID\naws_secret_access_key = SECRET\naws_session_token = TOKEN\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("config")).unwrap(),
            "[profile deploy]\nregion = eu-west-1\n"
        );
    }
}
