//! How the daemon reaches AWS: through `proxy_uri` except to the hosts in
//! `no_proxy`, and trusting the system roots plus `tls_ca_bundle`, for the
//! command endpoint and S3 alike.
//!
//! Both clients sit on one TLS stack, rustls over aws-lc-rs: reqwest for the
//! command endpoint (our own SigV4 client) and the SDK's own hyper client,
//! built with its proxy and trust-store settings, for S3. Neither is used for
//! IMDS, which must never be reached through a proxy.

use std::path::PathBuf;

use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder, Connector};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

use super::DaemonError;
use crate::config::Config;

/// The proxy and trust settings, checked.
#[derive(Debug, Clone, Default)]
pub struct Network {
    proxy: Option<String>,
    no_proxy: Option<String>,
    /// The PEM text of `tls_ca_bundle`, every certificate in it usable as a
    /// trust anchor.
    ca_bundle: Option<Vec<u8>>,
}

impl Network {
    /// Reads the settings of `config`, refusing a CA bundle that cannot be
    /// read or holds no usable certificate.
    pub fn from_config(config: &Config) -> Result<Network, DaemonError> {
        let no_proxy = config.no_proxy.clone().or_else(|| {
            ["NO_PROXY", "no_proxy"]
                .iter()
                .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
        });
        let ca_bundle = match &config.tls_ca_bundle {
            Some(path) => Some(read_ca_bundle(path).map_err(|reason| DaemonError::Setting {
                config: config.path.clone(),
                key: "tls_ca_bundle",
                reason,
            })?),
            None => None,
        };
        Ok(Network {
            proxy: config.proxy_uri.clone(),
            no_proxy,
            ca_bundle,
        })
    }

    /// The client for the command endpoint.
    pub fn command_client(
        &self,
        config: &Config,
        read_timeout: std::time::Duration,
    ) -> Result<reqwest::Client, DaemonError> {
        let setting = |key: &'static str| {
            move |e: reqwest::Error| DaemonError::Setting {
                config: config.path.clone(),
                key,
                reason: crate::executor::chain(&e),
            }
        };
        let mut builder = reqwest::Client::builder().read_timeout(read_timeout);
        builder = match &self.proxy {
            Some(uri) => builder.proxy(
                reqwest::Proxy::all(uri)
                    .map_err(setting("proxy_uri"))?
                    .no_proxy(
                        self.no_proxy
                            .as_deref()
                            .and_then(reqwest::NoProxy::from_string),
                    ),
            ),
            // Only what the configuration says: no proxy from the environment.
            None => builder.no_proxy(),
        };
        if let Some(pem) = &self.ca_bundle {
            let certificates =
                reqwest::Certificate::from_pem_bundle(pem).map_err(setting("tls_ca_bundle"))?;
            builder = builder.tls_certs_merge(certificates);
        }
        builder.build().map_err(setting("tls_ca_bundle"))
    }

    /// The HTTP client for the SDK's clients (S3).
    pub fn sdk_http_client(&self, config: &Config) -> Result<SharedHttpClient, DaemonError> {
        let proxy = match &self.proxy {
            Some(uri) => {
                let proxy = ProxyConfig::all(uri.as_str()).map_err(|e| DaemonError::Setting {
                    config: config.path.clone(),
                    key: "proxy_uri",
                    reason: e.to_string(),
                })?;
                match &self.no_proxy {
                    Some(rules) => proxy.no_proxy(rules),
                    None => proxy,
                }
            }
            None => ProxyConfig::disabled(),
        };
        let mut trust = TrustStore::default();
        if let Some(pem) = &self.ca_bundle {
            trust = trust.with_pem_certificate(pem.clone());
        }
        let context = TlsContext::builder()
            .with_trust_store(trust)
            .build()
            .map_err(|e| DaemonError::Setting {
                config: config.path.clone(),
                key: "tls_ca_bundle",
                reason: crate::executor::chain(&e),
            })?;
        Ok(
            Builder::new().build_with_connector_fn(move |settings, components| {
                let mut connector = Connector::builder().proxy_config(proxy.clone());
                if let Some(settings) = settings {
                    connector = connector.connector_settings(settings.clone());
                }
                if let Some(sleep) = components.and_then(|c| c.sleep_impl()) {
                    connector = connector.sleep_impl(sleep);
                }
                connector
                    .tls_provider(tls::Provider::Rustls(
                        tls::rustls_provider::CryptoMode::AwsLc,
                    ))
                    .tls_context(context.clone())
                    .build()
            }),
        )
    }
}

/// Reads a PEM bundle and checks each certificate as rustls will load it:
/// the SDK's client panics on one it cannot add, so none may reach it.
fn read_ca_bundle(path: &PathBuf) -> Result<Vec<u8>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(&pem) {
        let certificate =
            certificate.map_err(|e| format!("{} is not a PEM bundle: {e}", path.display()))?;
        roots.add(certificate).map_err(|e| {
            format!(
                "{} holds a certificate that cannot be trusted: {e}",
                path.display()
            )
        })?;
    }
    if roots.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(pem)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_with_bundle(dir: &std::path::Path, pem: Option<&[u8]>) -> Config {
        let bundle = dir.join("ca.pem");
        if let Some(pem) = pem {
            std::fs::write(&bundle, pem).unwrap();
        }
        Config {
            tls_ca_bundle: Some(bundle),
            path: dir.join("codedeployagent.yml"),
            ..Config::default()
        }
    }

    fn test_ca_pem() -> Vec<u8> {
        slipway_tests::tls_front::certificates().unwrap().0
    }

    #[test]
    fn an_unreadable_or_empty_or_broken_bundle_is_refused_naming_the_key_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let cases: [(Option<&[u8]>, &str); 3] = [
            (None, "cannot read"),
            (Some(b"not a certificate\n"), "holds no PEM certificate"),
            (
                Some(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
                "cannot be trusted",
            ),
        ];
        for (pem, expected) in cases {
            let config = config_with_bundle(dir.path(), pem);
            let err = Network::from_config(&config).unwrap_err().to_string();
            assert!(err.contains("codedeployagent.yml"), "{err}");
            assert!(err.contains("tls_ca_bundle"), "{err}");
            assert!(err.contains("ca.pem"), "{err}");
            assert!(err.contains(expected), "{err}");
        }
    }

    #[test]
    fn a_bundle_is_trusted_by_both_clients_and_the_proxy_keeps_its_exceptions() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config_with_bundle(dir.path(), Some(&test_ca_pem()));
        config.proxy_uri = Some("http://127.0.0.1:3128".into());
        config.no_proxy = Some("169.254.169.254".into());
        let network = Network::from_config(&config).unwrap();
        assert_eq!(network.no_proxy.as_deref(), Some("169.254.169.254"));
        network
            .command_client(&config, std::time::Duration::from_secs(80))
            .unwrap();
        network.sdk_http_client(&config).unwrap();
    }
}
