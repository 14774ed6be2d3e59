//! Random identifiers shaped like AWS's: key ids, secrets, session tokens,
//! request ids, and the stable unique ids IAM gives principals.

use rand::RngExt;
use rand::distr::{Alphanumeric, SampleString};
use sha2::{Digest, Sha256};

const KEY_ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// `prefix` plus 16 characters of IAM's key-id alphabet (`AKIA…`, `ASIA…`).
pub(crate) fn access_key_id(prefix: &str) -> String {
    let mut rng = rand::rng();
    let tail: String = (0..16)
        .map(|_| KEY_ID_ALPHABET[rng.random_range(0..KEY_ID_ALPHABET.len())] as char)
        .collect();
    format!("{prefix}{tail}")
}

/// A 40-character secret access key.
pub(crate) fn secret_access_key() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 40)
}

/// A session token about as long as STS's (a few hundred characters).
pub(crate) fn session_token() -> String {
    format!(
        "IQoJb3JpZ2luX2VjE{}",
        Alphanumeric.sample_string(&mut rand::rng(), 340)
    )
}

/// A request id as AWS prints it (a UUID).
pub(crate) fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// IAM's unique id for a principal (`AROA…` for roles, `AIDA…` for users),
/// derived from its name so every service reports the same one.
pub(crate) fn unique_id(prefix: &str, name: &str) -> String {
    let digest = Sha256::digest(name.as_bytes());
    let tail: String = digest
        .iter()
        .take(17)
        .map(|b| KEY_ID_ALPHABET[usize::from(*b) % KEY_ID_ALPHABET.len()] as char)
        .collect();
    format!("{prefix}{tail}")
}

/// The `UserId` GetCallerIdentity reports for `principal_arn`.
pub(crate) fn user_id(principal_arn: &str) -> String {
    match principal_arn
        .split_once(":assumed-role/")
        .and_then(|(_, rest)| rest.split_once('/'))
    {
        Some((role, session)) => format!("{}:{session}", unique_id("AROA", role)),
        None => unique_id("AIDA", principal_arn),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_key_ids_have_aws_shape() {
        let id = access_key_id("ASIA");
        assert_eq!(id.len(), 20);
        assert!(id.starts_with("ASIA"));
        assert!(id.bytes().all(|b| KEY_ID_ALPHABET.contains(&b)));
    }

    #[test]
    fn assumed_role_user_id_carries_the_session_name() {
        let id = user_id("arn:aws:sts::123456789012:assumed-role/deploy/run-1");
        assert!(id.starts_with("AROA"));
        assert!(id.ends_with(":run-1"));
        assert_eq!(
            id,
            user_id("arn:aws:sts::123456789012:assumed-role/deploy/run-1")
        );
    }
}
