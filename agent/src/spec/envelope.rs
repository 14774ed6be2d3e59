//! Opening the envelope a deployment specification travels in
//! (GetDeploymentSpecification's `GenericEnvelope`) before anything runs.
//!
//! `PKCS7/JSON` is what AWS sends: a PEM SignedData holding the spec JSON,
//! BER-encoded as AWS streams it (indefinite lengths, the content as a
//! constructed OCTET STRING in 4096-byte segments), which OpenSSL reads
//! where DER-only parsers fail. That is why the agent links OpenSSL: no
//! pure-Rust CMS crate verifies streamed BER SignedData.
//!
//! By default the signature is checked against the certificate the message
//! carries and nothing more, as the official agent does (OpenSSL NOVERIFY):
//! AWS dropped its signer pinning and the CA chain it ships has expired, so
//! anything stricter would fail real deployments. [`Verification::Strict`]
//! adds a CA bundle the signer must chain to and a subject it must carry.
//! `TEXT/JSON` is accepted only from an endpoint configured as a
//! development one.

use std::path::PathBuf;

use openssl::pkcs7::{Pkcs7, Pkcs7Flags};
use openssl::stack::Stack;
use openssl::x509::X509;
use openssl::x509::store::X509StoreBuilder;
use serde::{Deserialize, Serialize};

/// The envelope format of a signed spec.
pub const PKCS7_JSON: &str = "PKCS7/JSON";
/// The envelope format of a plain-text spec (development endpoints only).
pub const TEXT_JSON: &str = "TEXT/JSON";
/// The envelope format of diagnostics and acknowledgements.
pub const JSON: &str = "JSON";

/// An `Envelope` as the command service's JSON carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Envelope {
    /// `PKCS7/JSON`, `TEXT/JSON` or `JSON`.
    pub format: String,
    /// The PEM SignedData, or the JSON itself.
    pub payload: String,
}

impl Envelope {
    /// A `JSON` envelope of `value`, as diagnostics and acks are sent.
    pub fn json(value: &impl Serialize) -> Envelope {
        Envelope {
            format: JSON.to_owned(),
            payload: serde_json::to_string(value).unwrap_or_default(),
        }
    }
}

/// How much of the signer is checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Verification {
    /// The signature over the content, against the certificate the message
    /// carries (the official agent's behaviour).
    #[default]
    SignatureOnly,
    /// The signature, a signer chaining to `ca_bundle`, and a signer whose
    /// subject common name is `subject_cn` when given.
    Strict {
        /// PEM certificates the signer must chain to.
        ca_bundle: PathBuf,
        /// The signer's expected CN, such as `codedeploy-signer-us-east-1.amazonaws.com`.
        subject_cn: Option<String>,
    },
}

/// What the agent accepts from the endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvelopePolicy {
    /// The signer check for `PKCS7/JSON`.
    pub verification: Verification,
    /// Whether `TEXT/JSON` is accepted (a development endpoint).
    pub allow_text: bool,
}

/// Why an envelope was refused.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// The payload is not a PEM PKCS7 structure.
    #[error("envelope payload is not a PEM PKCS7 structure")]
    ParsePkcs7(#[source] openssl::error::ErrorStack),
    /// The SignedData's signature does not match its content, or its signer
    /// does not chain to the configured CA.
    #[error("envelope signature does not verify")]
    Verify(#[source] openssl::error::ErrorStack),
    /// The configured CA bundle could not be read.
    #[error("cannot read the signer CA bundle {path}")]
    CaBundle {
        /// The bundle.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The signer's subject is not the configured one.
    #[error("envelope signer {found:?} is not {expected:?}")]
    Subject {
        /// The CN configured.
        expected: String,
        /// The CN found.
        found: String,
    },
    /// A plain-text spec from an endpoint not configured for development.
    #[error("TEXT/JSON specifications are accepted only from a development endpoint")]
    TextRefused,
    /// The envelope's format is none the agent opens.
    #[error("unsupported envelope format {format:?}")]
    UnsupportedFormat {
        /// The format the envelope named.
        format: String,
    },
}

/// Opens `envelope` under `policy` and returns the spec JSON it carries.
pub fn open(envelope: &Envelope, policy: &EnvelopePolicy) -> Result<Vec<u8>, EnvelopeError> {
    match envelope.format.as_str() {
        PKCS7_JSON => open_pkcs7(envelope.payload.as_bytes(), &policy.verification),
        TEXT_JSON if policy.allow_text => Ok(envelope.payload.as_bytes().to_vec()),
        TEXT_JSON => Err(EnvelopeError::TextRefused),
        other => Err(EnvelopeError::UnsupportedFormat {
            format: other.to_owned(),
        }),
    }
}

fn open_pkcs7(pem: &[u8], verification: &Verification) -> Result<Vec<u8>, EnvelopeError> {
    // PEM or raw DER/BER: OpenSSL's d2i reads indefinite lengths too.
    let p7 = if pem.starts_with(b"-----") {
        Pkcs7::from_pem(pem)
    } else {
        Pkcs7::from_der(pem)
    }
    .map_err(EnvelopeError::ParsePkcs7)?;
    let no_certs = Stack::new().map_err(EnvelopeError::Verify)?;
    let mut store = X509StoreBuilder::new().map_err(EnvelopeError::Verify)?;
    let flags = match verification {
        Verification::SignatureOnly => Pkcs7Flags::NOVERIFY,
        Verification::Strict { ca_bundle, .. } => {
            let text = std::fs::read(ca_bundle).map_err(|e| EnvelopeError::CaBundle {
                path: ca_bundle.clone(),
                source: Box::new(e),
            })?;
            let certs = X509::stack_from_pem(&text).map_err(|e| EnvelopeError::CaBundle {
                path: ca_bundle.clone(),
                source: Box::new(e),
            })?;
            for cert in certs {
                store.add_cert(cert).map_err(EnvelopeError::Verify)?;
            }
            Pkcs7Flags::empty()
        }
    };
    let store = store.build();
    let mut content = Vec::new();
    p7.verify(&no_certs, &store, None, Some(&mut content), flags)
        .map_err(EnvelopeError::Verify)?;
    if let Verification::Strict {
        subject_cn: Some(expected),
        ..
    } = verification
    {
        let found = signer_cn(&p7).unwrap_or_default();
        if &found != expected {
            return Err(EnvelopeError::Subject {
                expected: expected.clone(),
                found,
            });
        }
    }
    Ok(content)
}

/// The common name of the (first) signer's certificate.
fn signer_cn(p7: &Pkcs7) -> Option<String> {
    let no_certs = Stack::new().ok()?;
    let signers = p7.signers(&no_certs, Pkcs7Flags::empty()).ok()?;
    let signer = signers.iter().next()?;
    let entry = signer
        .subject_name()
        .entries_by_nid(openssl::nid::Nid::COMMONNAME)
        .next()?;
    entry.data().to_string().ok()
}

#[cfg(test)]
mod tests {
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::rsa::Rsa;
    use openssl::x509::X509NameBuilder;
    use slipway_tests::codedeploy::{Signer, pkcs7_json};

    use super::*;

    const SPEC: &[u8] = br#"{"DeploymentId":"d-AAAAAAAAA"}"#;

    fn signed(signer: &Signer) -> Envelope {
        Envelope {
            format: PKCS7_JSON.to_owned(),
            payload: pkcs7_json(SPEC, signer).unwrap(),
        }
    }

    fn strict(dir: &tempfile::TempDir, ca: &[u8], cn: Option<&str>) -> EnvelopePolicy {
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, ca).unwrap();
        EnvelopePolicy {
            verification: Verification::Strict {
                ca_bundle: path,
                subject_cn: cn.map(str::to_owned),
            },
            allow_text: false,
        }
    }

    #[test]
    fn opens_the_streamed_ber_the_simulator_signs() {
        let signer = Signer::generate_test().unwrap();
        let content = open(&signed(&signer), &EnvelopePolicy::default()).unwrap();
        assert_eq!(content, SPEC);
    }

    #[test]
    fn opens_a_der_signed_envelope_too() {
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "der signer").unwrap();
        let name = name.build();
        let mut cert = X509::builder().unwrap();
        cert.set_version(2).unwrap();
        cert.set_subject_name(&name).unwrap();
        cert.set_issuer_name(&name).unwrap();
        cert.set_pubkey(&key).unwrap();
        cert.set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        cert.set_not_after(&openssl::asn1::Asn1Time::days_from_now(1).unwrap())
            .unwrap();
        cert.sign(&key, MessageDigest::sha256()).unwrap();
        let cert = cert.build();
        let p7 = Pkcs7::sign(
            &cert,
            &key,
            &Stack::new().unwrap(),
            SPEC,
            Pkcs7Flags::BINARY,
        )
        .unwrap();
        let envelope = Envelope {
            format: PKCS7_JSON.to_owned(),
            payload: String::from_utf8(p7.to_pem().unwrap()).unwrap(),
        };
        assert_eq!(open(&envelope, &EnvelopePolicy::default()).unwrap(), SPEC);
    }

    #[test]
    fn a_tampered_envelope_does_not_verify() {
        use base64::Engine;
        let signer = Signer::generate_test().unwrap();
        let pem = signed(&signer).payload;
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let engine = base64::engine::general_purpose::STANDARD;
        let mut ber = engine.decode(body).unwrap();
        let at = ber.windows(11).position(|w| w == b"d-AAAAAAAAA").unwrap();
        ber[at + 2] = b'B';
        let tampered = Envelope {
            format: PKCS7_JSON.to_owned(),
            payload: format!(
                "-----BEGIN PKCS7-----\n{}\n-----END PKCS7-----\n",
                engine.encode(&ber)
            ),
        };
        assert!(matches!(
            open(&tampered, &EnvelopePolicy::default()),
            Err(EnvelopeError::Verify(_))
        ));
        let truncated = Envelope {
            format: PKCS7_JSON.to_owned(),
            payload: pem[..pem.len() / 2].to_owned(),
        };
        assert!(open(&truncated, &EnvelopePolicy::default()).is_err());
    }

    #[test]
    fn strict_mode_wants_the_configured_ca_and_subject() {
        let dir = tempfile::tempdir().unwrap();
        let signer = Signer::generate_test().unwrap();
        let envelope = signed(&signer);
        let own_ca = signer.certificate_pem();
        let cn = "codedeploy-simulator deployment signer";
        assert_eq!(
            open(&envelope, &strict(&dir, &own_ca, Some(cn))).unwrap(),
            SPEC
        );
        let foreign = Signer::generate_test().unwrap().certificate_pem();
        assert!(matches!(
            open(&envelope, &strict(&dir, &foreign, None)),
            Err(EnvelopeError::Verify(_))
        ));
        let pinned = Some("codedeploy-signer-us-east-1.amazonaws.com");
        assert!(matches!(
            open(&envelope, &strict(&dir, &own_ca, pinned)),
            Err(EnvelopeError::Subject { .. })
        ));
    }

    #[test]
    fn text_is_refused_unless_the_endpoint_is_a_development_one() {
        let envelope = Envelope {
            format: TEXT_JSON.to_owned(),
            payload: "{}".to_owned(),
        };
        assert!(matches!(
            open(&envelope, &EnvelopePolicy::default()),
            Err(EnvelopeError::TextRefused)
        ));
        let dev = EnvelopePolicy {
            allow_text: true,
            ..EnvelopePolicy::default()
        };
        assert_eq!(open(&envelope, &dev).unwrap(), b"{}");
    }

    #[test]
    fn names_an_unsupported_format() {
        let envelope = Envelope {
            format: "XML".to_owned(),
            payload: String::new(),
        };
        let err = open(&envelope, &EnvelopePolicy::default()).unwrap_err();
        assert_eq!(err.to_string(), "unsupported envelope format \"XML\"");
    }
}
