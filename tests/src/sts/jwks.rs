//! Each OIDC provider's signing keys, fetched through its discovery
//! document like real STS does, and cached until an unknown `kid` appears.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::JwkSet;
use serde::Deserialize;

use super::error::StsError;
use crate::Error;
use crate::sync::lock;

/// A provider that takes longer than this to answer is unreachable.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// STS's words whenever it cannot find the key a token names.
const NO_VERIFICATION_KEY: &str = "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements";

#[derive(Debug)]
pub(crate) struct JwksCache {
    client: reqwest::Client,
    sets: Mutex<HashMap<String, JwkSet>>,
}

#[derive(Deserialize)]
struct Discovery {
    jwks_uri: String,
}

impl JwksCache {
    pub(crate) fn new() -> Result<Self, Error> {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .map_err(|source| Error::HttpClient { source })?;
        Ok(Self {
            client,
            sets: Mutex::new(HashMap::new()),
        })
    }

    /// The key `issuer` signs `kid` tokens with; refetches once when the
    /// cached set lacks it (the provider may have rotated).
    pub(crate) async fn key(&self, issuer: &str, kid: &str) -> Result<DecodingKey, StsError> {
        if let Some(key) = self.cached(issuer, kid) {
            return Ok(key);
        }
        let set = self.fetch(issuer).await.map_err(|error| {
            tracing::debug!(%issuer, %error, "jwks fetch failed");
            StsError::invalid_identity_token(NO_VERIFICATION_KEY)
        })?;
        lock(&self.sets).insert(issuer.to_owned(), set);
        self.cached(issuer, kid)
            .ok_or_else(|| StsError::invalid_identity_token(NO_VERIFICATION_KEY))
    }

    fn cached(&self, issuer: &str, kid: &str) -> Option<DecodingKey> {
        let sets = lock(&self.sets);
        let jwk = sets.get(issuer)?.find(kid)?;
        DecodingKey::from_jwk(jwk).ok()
    }

    async fn fetch(&self, issuer: &str) -> Result<JwkSet, reqwest::Error> {
        let discovery_url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let discovery: Discovery = self
            .client
            .get(discovery_url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        self.client
            .get(discovery.jwks_uri)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await
    }
}
