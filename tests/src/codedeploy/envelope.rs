//! The envelope a deployment specification travels in
//! (GetDeploymentSpecification's `GenericEnvelope`): sealing it on the
//! simulator's side, opening it on the host's.
//!
//! `PKCS7/JSON` is what AWS sends: a PEM SignedData holding the spec JSON.
//! AWS's signer streams, so its specs are BER, not DER: indefinite lengths
//! everywhere and the content as a constructed OCTET STRING cut into
//! 4096-byte segments. We sign in OpenSSL's streaming mode (`PKCS7_STREAM`,
//! as `openssl cms -sign -stream` does) to hand agents that same shape, which
//! DER-only parsers reject. Opening is the agent's (`slipway_agent::spec::envelope`). `TEXT/JSON` carries the spec as plain text, for
//! local development.

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkcs7::{Pkcs7, Pkcs7Flags};
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::stack::Stack;
use openssl::x509::{X509, X509NameBuilder};
use serde::{Deserialize, Serialize};

/// The envelope format of a signed spec.
pub const PKCS7_JSON: &str = "PKCS7/JSON";
/// The envelope format of a plain-text spec.
pub const TEXT_JSON: &str = "TEXT/JSON";

const PEM_BEGIN: &str = "-----BEGIN PKCS7-----\n";
const PEM_END: &str = "-----END PKCS7-----\n";

/// Why a spec could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// Making the test signing key or certificate failed.
    #[error("cannot generate the test signing certificate")]
    GenerateSigner(#[source] openssl::error::ErrorStack),
    /// Reading a signing certificate or key from PEM failed.
    #[error("cannot read the signing {what} from PEM")]
    ReadSigner {
        /// `certificate` or `key`.
        what: &'static str,
        /// OpenSSL's reasons.
        #[source]
        source: openssl::error::ErrorStack,
    },
    /// OpenSSL refused to sign.
    #[error("cannot sign the deployment specification")]
    Sign(#[source] openssl::error::ErrorStack),
    /// OpenSSL's streamed output was not the S/MIME it writes.
    #[error("openssl wrote an unexpected streamed envelope")]
    StreamShape,
    /// A text envelope must carry UTF-8 (the payload is a JSON string).
    #[error("deployment specification is not UTF-8")]
    NotUtf8,
}

/// An `Envelope` as the command service's JSON carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Envelope {
    /// `PKCS7/JSON` or `TEXT/JSON`.
    pub format: String,
    /// The PEM SignedData, or the spec JSON itself.
    pub payload: String,
}

/// Which envelope the simulator hands out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EnvelopeFormat {
    /// Signed, as AWS does.
    #[default]
    Pkcs7Json,
    /// Plain text, for local development.
    TextJson,
}

impl EnvelopeFormat {
    /// The `Format` string on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pkcs7Json => PKCS7_JSON,
            Self::TextJson => TEXT_JSON,
        }
    }

    /// Wraps `spec_json` in this format.
    pub fn seal(self, spec_json: &[u8], signer: &Signer) -> Result<Envelope, EnvelopeError> {
        let payload = match self {
            Self::Pkcs7Json => pkcs7_json(spec_json, signer)?,
            Self::TextJson => text_json(spec_json)?,
        };
        Ok(Envelope {
            format: self.as_str().to_owned(),
            payload,
        })
    }
}

/// The certificate and key specs are signed with.
pub struct Signer {
    certificate: X509,
    key: PKey<Private>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the private key.
        f.debug_struct("Signer")
            .field("subject", &self.certificate.subject_name())
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A fresh self-signed RSA-2048 certificate, valid for a day.
    pub fn generate_test() -> Result<Self, EnvelopeError> {
        Self::generate().map_err(EnvelopeError::GenerateSigner)
    }

    fn generate() -> Result<Self, openssl::error::ErrorStack> {
        let key = PKey::from_rsa(Rsa::generate(2048)?)?;
        let mut name = X509NameBuilder::new()?;
        name.append_entry_by_text("O", "Slipway test bed")?;
        name.append_entry_by_text("CN", "codedeploy-simulator deployment signer")?;
        let name = name.build();
        let mut serial = BigNum::new()?;
        serial.rand(64, MsbOption::MAYBE_ZERO, false)?;
        let mut builder = X509::builder()?;
        builder.set_version(2)?;
        let serial = serial.to_asn1_integer()?;
        let (not_before, not_after) = (Asn1Time::days_from_now(0)?, Asn1Time::days_from_now(1)?);
        builder.set_serial_number(&serial)?;
        builder.set_subject_name(&name)?;
        builder.set_issuer_name(&name)?;
        builder.set_pubkey(&key)?;
        builder.set_not_before(&not_before)?;
        builder.set_not_after(&not_after)?;
        builder.sign(&key, MessageDigest::sha256())?;
        Ok(Self {
            certificate: builder.build(),
            key,
        })
    }

    /// A signer from a PEM certificate and its PEM private key.
    pub fn from_pem(certificate: &[u8], key: &[u8]) -> Result<Self, EnvelopeError> {
        Ok(Self {
            certificate: X509::from_pem(certificate).map_err(|source| {
                EnvelopeError::ReadSigner {
                    what: "certificate",
                    source,
                }
            })?,
            key: PKey::private_key_from_pem(key).map_err(|source| EnvelopeError::ReadSigner {
                what: "key",
                source,
            })?,
        })
    }

    /// The signing certificate, PEM-encoded.
    pub fn certificate_pem(&self) -> Vec<u8> {
        self.certificate.to_pem().unwrap_or_default()
    }
}

/// Signs `spec_json` and returns the `PKCS7/JSON` payload: a PEM SignedData
/// in OpenSSL's streaming BER form, the signer's certificate included.
pub fn pkcs7_json(spec_json: &[u8], signer: &Signer) -> Result<String, EnvelopeError> {
    // BINARY: sign the bytes as they are, without S/MIME's CRLF translation.
    let flags = Pkcs7Flags::STREAM | Pkcs7Flags::BINARY;
    let no_extra_certs = Stack::new().map_err(EnvelopeError::Sign)?;
    let p7 = Pkcs7::sign(
        &signer.certificate,
        &signer.key,
        &no_extra_certs,
        spec_json,
        flags,
    )
    .map_err(EnvelopeError::Sign)?;
    // The openssl crate does not wrap PEM_write_bio_PKCS7_stream. Its
    // SMIME_write_PKCS7 runs the same encoder (B64_write_ASN1 over
    // i2d_ASN1_bio_stream, which is where the content gets streamed in), and
    // only adds MIME headers before the base64; so we swap those for the PEM
    // armour instead of calling the C function through unsafe FFI.
    let smime = p7.to_smime(spec_json, flags).map_err(EnvelopeError::Sign)?;
    let smime = String::from_utf8(smime).map_err(|_| EnvelopeError::StreamShape)?;
    let (headers, base64) = smime.split_once("\n\n").ok_or(EnvelopeError::StreamShape)?;
    if !headers.contains("smime-type=signed-data") {
        return Err(EnvelopeError::StreamShape);
    }
    let base64 = base64.trim_end();
    if base64.is_empty() {
        return Err(EnvelopeError::StreamShape);
    }
    Ok(format!("{PEM_BEGIN}{base64}\n{PEM_END}"))
}

/// The `TEXT/JSON` payload: the spec JSON itself.
pub fn text_json(spec_json: &[u8]) -> Result<String, EnvelopeError> {
    String::from_utf8(spec_json.to_vec()).map_err(|_| EnvelopeError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use base64::Engine;

    use super::*;

    /// Opens `envelope` with the agent's own check (signature only, TEXT/JSON allowed).
    fn open(envelope: &Envelope) -> Result<Vec<u8>, slipway_agent::spec::envelope::EnvelopeError> {
        use slipway_agent::spec::envelope as agent;
        let policy = agent::EnvelopePolicy {
            allow_text: true,
            ..agent::EnvelopePolicy::default()
        };
        let envelope = agent::Envelope {
            format: envelope.format.clone(),
            payload: envelope.payload.clone(),
        };
        agent::open(&envelope, &policy)
    }

    /// A spec big enough to need several 4096-byte segments.
    fn large_spec() -> Vec<u8> {
        let events: Vec<String> = (0..900).map(|i| format!("\"Event{i:04}\"")).collect();
        format!(
            "{{\"DeploymentId\":\"d-TEST12345\",\"AllPossibleLifecycleEvents\":[{}]}}",
            events.join(",")
        )
        .into_bytes()
    }

    fn der_bytes(pem: &str) -> Vec<u8> {
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap()
    }

    /// One BER element: tag byte, whether its length was indefinite, and its
    /// contents (for indefinite lengths, up to but excluding the end marker).
    struct Element<'a> {
        tag: u8,
        indefinite: bool,
        contents: &'a [u8],
        rest: &'a [u8],
    }

    fn read_element(input: &[u8]) -> Element<'_> {
        let tag = input[0];
        let first = input[1];
        if first == 0x80 {
            let mut offset = 2;
            // Walk children until the 00 00 end-of-contents marker.
            while input[offset..offset + 2] != [0, 0] {
                let child = read_element(&input[offset..]);
                offset = input.len() - child.rest.len();
            }
            return Element {
                tag,
                indefinite: true,
                contents: &input[2..offset],
                rest: &input[offset + 2..],
            };
        }
        let (len, header) = if first < 0x80 {
            (first as usize, 2)
        } else {
            let n = (first & 0x7f) as usize;
            let len = input[2..2 + n]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | *b as usize);
            (len, 2 + n)
        };
        Element {
            tag,
            indefinite: false,
            contents: &input[header..header + len],
            rest: &input[header + len..],
        }
    }

    fn children(contents: &[u8]) -> Vec<Element<'_>> {
        let mut out = Vec::new();
        let mut rest = contents;
        while !rest.is_empty() {
            let element = read_element(rest);
            rest = element.rest;
            out.push(element);
        }
        out
    }

    /// The eContent of a SignedData ContentInfo:
    /// ContentInfo → [0] → SignedData → encapContentInfo → [0] → OCTET STRING.
    fn econtent(ber: &[u8]) -> Element<'_> {
        let content_info = read_element(ber);
        assert!(content_info.indefinite, "ContentInfo has a definite length");
        let explicit = &children(content_info.contents)[1];
        let signed_data = read_element(explicit.contents);
        assert!(signed_data.indefinite, "SignedData has a definite length");
        let encap = &children(signed_data.contents)[2];
        assert!(
            encap.indefinite,
            "EncapsulatedContentInfo has a definite length"
        );
        let explicit = &children(encap.contents)[1];
        read_element(explicit.contents)
    }

    #[test]
    fn signs_in_streaming_ber_with_4096_byte_segments() {
        let spec = large_spec();
        assert!(spec.len() > 2 * 4096);
        let signer = Signer::generate_test().unwrap();
        let pem = pkcs7_json(&spec, &signer).unwrap();
        assert!(pem.starts_with("-----BEGIN PKCS7-----\n"), "{pem}");
        assert!(pem.ends_with("-----END PKCS7-----\n"));

        let ber = der_bytes(&pem);
        let content = econtent(&ber);
        assert_eq!(content.tag, 0x24, "content is a constructed OCTET STRING");
        assert!(content.indefinite);
        let segments = children(content.contents);
        assert!(segments.len() >= 3, "{} segments", segments.len());
        for segment in &segments {
            assert_eq!(segment.tag, 0x04, "segments are primitive OCTET STRINGs");
        }
        let (last, full) = segments.split_last().unwrap();
        assert!(full.iter().all(|s| s.contents.len() == 4096));
        assert!(last.contents.len() <= 4096);
        let joined: Vec<u8> = segments.iter().flat_map(|s| s.contents.to_vec()).collect();
        assert_eq!(joined, spec);
    }

    #[test]
    fn opens_what_it_seals_in_both_formats() {
        let spec = large_spec();
        let signer = Signer::generate_test().unwrap();
        for format in [EnvelopeFormat::Pkcs7Json, EnvelopeFormat::TextJson] {
            let envelope = format.seal(&spec, &signer).unwrap();
            assert_eq!(envelope.format, format.as_str());
            assert_eq!(open(&envelope).unwrap(), spec, "{format:?}");
        }
    }

    #[test]
    fn openssl_accepts_the_streamed_envelope_a_der_parser_rejects() {
        let spec = large_spec();
        let signer = Signer::generate_test().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spec.p7");
        std::fs::write(&path, pkcs7_json(&spec, &signer).unwrap()).unwrap();
        for tool in [
            vec!["smime", "-verify", "-noverify", "-inform", "PEM"],
            vec!["cms", "-verify", "-noverify", "-inform", "PEM"],
        ] {
            let output = Command::new("openssl")
                .args(&tool)
                .arg("-in")
                .arg(&path)
                .output()
                .expect("openssl runs");
            assert!(
                output.status.success(),
                "openssl {tool:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            assert_eq!(output.stdout, spec, "openssl {tool:?} prints the spec");
        }

        use der::Decode;
        let streamed = der_bytes(&pkcs7_json(&spec, &signer).unwrap());
        let err = der::asn1::AnyRef::from_der(&streamed).unwrap_err();
        assert_eq!(err.kind(), der::ErrorKind::IndefiniteLength);
        // The same signature made without streaming is DER, which the strict parser reads.
        let flags = Pkcs7Flags::BINARY;
        let unstreamed = Pkcs7::sign(
            &signer.certificate,
            &signer.key,
            &Stack::new().unwrap(),
            &spec,
            flags,
        )
        .unwrap()
        .to_der()
        .unwrap();
        der::asn1::AnyRef::from_der(&unstreamed).unwrap();
    }

    #[test]
    fn refuses_a_tampered_signed_envelope() {
        let signer = Signer::generate_test().unwrap();
        let spec = br#"{"DeploymentId":"d-AAAAAAAAA"}"#;
        let pem = pkcs7_json(spec, &signer).unwrap();
        let mut ber = der_bytes(&pem);
        let at = ber.windows(11).position(|w| w == b"d-AAAAAAAAA").unwrap();
        ber[at + 2] = b'B';
        let body = base64::engine::general_purpose::STANDARD.encode(&ber);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        let body = lines.join("\n");
        let tampered = Envelope {
            format: PKCS7_JSON.to_owned(),
            payload: format!("{PEM_BEGIN}{body}\n{PEM_END}"),
        };
        assert!(matches!(
            open(&tampered),
            Err(slipway_agent::spec::envelope::EnvelopeError::Verify(_))
        ));
    }
}
