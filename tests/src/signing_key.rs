//! An RSA key that signs ID tokens (RS256) and publishes itself as a JWK.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use openssl::rsa::Rsa;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::Error;

const KEY_BITS: u32 = 2048;

/// A freshly generated RS256 key with its `kid`.
///
/// Tests make a second one to sign tokens the issuer never published.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    modulus: String,
    exponent: String,
}

impl std::fmt::Debug for SigningKey {
    // The private key stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a 2048-bit RSA key; its `kid` is a hash of the public part.
    pub fn generate() -> Result<Self, Error> {
        let rsa = Rsa::generate(KEY_BITS).map_err(|source| Error::GenerateKey { source })?;
        let der = rsa
            .private_key_to_der()
            .map_err(|source| Error::GenerateKey { source })?;
        let encoding = EncodingKey::from_rsa_der(&der);
        let modulus = URL_SAFE_NO_PAD.encode(rsa.n().to_vec());
        let exponent = URL_SAFE_NO_PAD.encode(rsa.e().to_vec());
        let digest = Sha256::digest(format!("{modulus}.{exponent}").as_bytes());
        let kid = hex::encode_upper(&digest[..20]);
        Ok(Self {
            kid,
            encoding,
            modulus,
            exponent,
        })
    }

    /// The key id tokens carry in their header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWKS entry.
    pub fn jwk(&self) -> Value {
        json!({
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.kid,
            "n": self.modulus,
            "e": self.exponent,
        })
    }

    /// Signs `claims` with a GitHub-shaped header (`typ`, `alg`, `x5t`, `kid`).
    pub fn sign(&self, claims: &Value) -> Result<String, Error> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        // GitHub sends the same thumbprint as `x5t` and `kid`.
        header.x5t = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(|source| Error::Sign {
            kid: self.kid.clone(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    #[test]
    fn a_signed_token_verifies_against_the_published_jwk() {
        let key = SigningKey::generate().unwrap();
        let token = key
            .sign(&json!({"sub": "x", "exp": 4_000_000_000u64}))
            .unwrap();
        let jwk = key.jwk();
        let decoding = DecodingKey::from_rsa_components(
            jwk["n"].as_str().unwrap(),
            jwk["e"].as_str().unwrap(),
        )
        .unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.kid.as_deref(), Some(key.kid()));
        let data =
            jsonwebtoken::decode::<Value>(&token, &decoding, &Validation::new(Algorithm::RS256))
                .unwrap();
        assert_eq!(data.claims["sub"], "x");
    }
}
