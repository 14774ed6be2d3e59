//! TLS in front of one of the test bed's plain HTTP services, with a
//! certificate from a CA made for the run: what a host sees of an endpoint
//! behind a private CA or a TLS-inspecting middlebox, which only a CA bundle
//! added by configuration lets it trust. socat terminates TLS and relays the
//! bytes unchanged, so signatures over the `Host` header still verify.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
};
use openssl::x509::{X509, X509NameBuilder};

use crate::Error;

/// How long socat may take to listen.
const READY_DEADLINE: Duration = Duration::from_secs(30);

/// A running TLS front; socat and its forks are stopped on drop.
#[derive(Debug)]
pub struct TlsFront {
    child: Child,
    port: u16,
    ca_bundle: PathBuf,
}

impl TlsFront {
    /// Serves `https://localhost:PORT` in front of `upstream`
    /// (`http://127.0.0.1:PORT`), writing its CA and key files under `dir`.
    pub fn start(upstream: &str, dir: &Path) -> Result<TlsFront, Error> {
        let io = |step: &str| {
            let step = step.to_owned();
            move |source| Error::TlsFront { step, source }
        };
        let upstream = url::Url::parse(upstream)
            .ok()
            .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?)))
            .ok_or_else(|| {
                io("read the upstream URL")(std::io::Error::other(format!(
                    "{upstream} is not an http URL with a host"
                )))
            })?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(io("pick a port"))?
            .port();
        let (ca, server) = certificates().map_err(|source| Error::TlsCertificates { source })?;
        let ca_bundle = dir.join(format!("tls-front-{port}-ca.pem"));
        let server_pem = dir.join(format!("tls-front-{port}.pem"));
        std::fs::write(&ca_bundle, ca).map_err(io("write the CA"))?;
        std::fs::write(&server_pem, server).map_err(io("write the certificate"))?;
        let log = std::fs::File::create(dir.join(format!("tls-front-{port}.log")))
            .map_err(io("create the log"))?;
        let child = Command::new("socat")
            .arg(format!(
                "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={},verify=0",
                server_pem.display()
            ))
            .arg(format!("TCP:{upstream}"))
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(io("spawn socat (scripts/setup installs it)"))?;
        let mut front = TlsFront {
            child,
            port,
            ca_bundle,
        };
        let until = Instant::now() + READY_DEADLINE;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = front.child.try_wait() {
                return Err(io("wait for socat")(std::io::Error::other(format!(
                    "socat exited ({status}) before listening"
                ))));
            }
            if Instant::now() >= until {
                return Err(io("wait for socat")(std::io::Error::from(
                    std::io::ErrorKind::TimedOut,
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(front)
    }

    /// The front's URL, named as its certificate names it.
    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    /// The PEM file of the CA that issued the front's certificate.
    pub fn ca_bundle(&self) -> &Path {
        &self.ca_bundle
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        // socat forks a child per connection, all in its process group.
        // SAFETY: kill has no memory effects.
        unsafe { libc::kill(-(self.child.id() as libc::pid_t), libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

fn key() -> Result<PKey<Private>, openssl::error::ErrorStack> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    PKey::from_ec_key(EcKey::generate(&group)?)
}

fn builder(
    subject: &str,
    issuer: Option<&X509>,
    key: &PKey<Private>,
) -> Result<openssl::x509::X509Builder, openssl::error::ErrorStack> {
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_text("O", "Slipway test bed")?;
    name.append_entry_by_text("CN", subject)?;
    let name = name.build();
    let mut serial = BigNum::new()?;
    serial.rand(64, MsbOption::MAYBE_ZERO, false)?;
    let mut cert = X509::builder()?;
    cert.set_version(2)?;
    let serial = serial.to_asn1_integer()?;
    cert.set_serial_number(&serial)?;
    cert.set_subject_name(&name)?;
    cert.set_issuer_name(issuer.map_or(&*name, |i| i.subject_name()))?;
    cert.set_pubkey(key)?;
    let (not_before, not_after) = (Asn1Time::days_from_now(0)?, Asn1Time::days_from_now(1)?);
    cert.set_not_before(&not_before)?;
    cert.set_not_after(&not_after)?;
    Ok(cert)
}

/// A fresh CA's certificate (PEM), and a certificate for localhost and
/// 127.0.0.1 it issued followed by that certificate's key (PEM).
pub fn certificates() -> Result<(Vec<u8>, Vec<u8>), openssl::error::ErrorStack> {
    let ca_key = key()?;
    let mut ca = builder("TLS front test CA", None, &ca_key)?;
    ca.append_extension(BasicConstraints::new().critical().ca().build()?)?;
    ca.append_extension(
        KeyUsage::new()
            .critical()
            .key_cert_sign()
            .crl_sign()
            .build()?,
    )?;
    ca.sign(&ca_key, MessageDigest::sha256())?;
    let ca = ca.build();

    let server_key = key()?;
    let mut server = builder("localhost", Some(&ca), &server_key)?;
    server.append_extension(BasicConstraints::new().build()?)?;
    server.append_extension(ExtendedKeyUsage::new().server_auth().build()?)?;
    let san = SubjectAlternativeName::new()
        .dns("localhost")
        .ip("127.0.0.1")
        .build(&server.x509v3_context(Some(&ca), None))?;
    server.append_extension(san)?;
    server.sign(&ca_key, MessageDigest::sha256())?;
    let mut pem = server.build().to_pem()?;
    pem.extend(server_key.private_key_to_pem_pkcs8()?);
    Ok((ca.to_pem()?, pem))
}
