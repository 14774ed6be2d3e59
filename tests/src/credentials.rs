//! The AWS credentials the sandbox has issued, shared by every service that
//! checks a SigV4 signature or hands credentials out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// One key pair the sandbox issued, with who it speaks for.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedCredential {
    /// `AKIA…` for static keys, `ASIA…` for temporary ones.
    pub access_key_id: String,
    /// The secret the signature is checked against.
    pub secret_access_key: String,
    /// Present on temporary credentials (STS, IMDS).
    pub session_token: Option<String>,
    /// After this instant a signed call is refused as expired.
    pub expiration: Option<SystemTime>,
    /// The ARN GetCallerIdentity reports for these keys.
    pub principal_arn: String,
}

impl IssuedCredential {
    /// The keys as the SDK's signer takes them.
    pub fn to_credentials(&self) -> aws_credential_types::Credentials {
        aws_credential_types::Credentials::new(
            &self.access_key_id,
            &self.secret_access_key,
            self.session_token.clone(),
            self.expiration,
            "slipway-tests",
        )
    }
}

impl std::fmt::Debug for IssuedCredential {
    // The secret and the session token stay out of logs, as the SDK's own
    // `Credentials` keeps them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCredential")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"** redacted **")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "** redacted **"),
            )
            .field("expiration", &self.expiration)
            .field("principal_arn", &self.principal_arn)
            .finish()
    }
}

/// Every credential issued so far, keyed by access key id.
///
/// Cloning shares the store: STS and IMDS insert, the CodeDeploy simulator
/// looks up.
#[derive(Debug, Clone, Default)]
pub struct CredentialStore {
    inner: Arc<Mutex<HashMap<String, IssuedCredential>>>,
}

impl CredentialStore {
    /// Records `credential`, replacing any earlier one with the same key id.
    pub fn insert(&self, credential: IssuedCredential) {
        self.lock()
            .insert(credential.access_key_id.clone(), credential);
    }

    /// The credential issued under `access_key_id`, if any.
    pub fn lookup(&self, access_key_id: &str) -> Option<IssuedCredential> {
        self.lock().get(access_key_id).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, IssuedCredential>> {
        crate::sync::lock(&self.inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_leaves_out_the_secret_and_the_session_token() {
        let credential = IssuedCredential {
            access_key_id: "ASIAEXAMPLEEXAMPLE12".into(),
            secret_access_key: "the-secret-access-key".into(),
            session_token: Some("the-session-token".into()),
            expiration: None,
            principal_arn: "arn:aws:sts::123456789012:assumed-role/r/s".into(),
        };
        let store = CredentialStore::default();
        store.insert(credential.clone());
        for shown in [format!("{credential:?}"), format!("{store:?}")] {
            assert!(shown.contains("ASIAEXAMPLEEXAMPLE12"), "{shown}");
            assert!(!shown.contains("the-secret-access-key"), "{shown}");
            assert!(!shown.contains("the-session-token"), "{shown}");
        }
    }
}
