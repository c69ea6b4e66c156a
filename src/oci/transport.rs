//! How to reach registries: which hosts may speak plain HTTP, which private CAs to trust, and the
//! two HTTP clients built from that (oci-client's, and the plain reqwest one for the requests
//! oci-client cannot make; see `upload` and `auth::token`).

use std::path::PathBuf;
use std::time::Duration;

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::OciError;
use super::reference::{hostname_of, is_loopback};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(120);
const USER_AGENT: &str = concat!("wasmctl/", env!("CARGO_PKG_VERSION"));

/// How to reach registries: hosts allowed plain HTTP, and extra CAs to trust.
#[derive(Debug, Clone, Default)]
pub struct Transport {
    /// Hosts (`host[:port]`) reached over plain HTTP besides loopback ones.
    pub insecure: Vec<String>,
    /// PEM files of private CAs.
    pub ca_files: Vec<PathBuf>,
}

/// One CA file as read from disk.
pub(super) struct CaFile {
    path: PathBuf,
    pem: Vec<u8>,
}

impl Transport {
    /// Whether plain HTTP is allowed: only for loopback hosts and those named with `--insecure`.
    /// HTTPS is still tried first, as docker does, so a loopback TLS registry works too.
    pub fn plain_http(&self, registry: &str) -> bool {
        is_loopback(registry)
            || self.insecure.iter().any(|h| {
                h.eq_ignore_ascii_case(registry) || h.eq_ignore_ascii_case(hostname_of(registry))
            })
    }

    /// The one CA loader: every `--ca-file`, read whole. A connection reads them once, so both of
    /// its clients trust the same certificates.
    pub(super) fn read_ca_files(&self) -> Result<Vec<CaFile>, OciError> {
        self.ca_files
            .iter()
            .map(|path| {
                let bad = |source| OciError::CaFile {
                    path: path.clone(),
                    source,
                };
                let pem = std::fs::read(path).map_err(bad)?;
                let invalid = |message: String| {
                    bad(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        message,
                    ))
                };
                let certificates = CertificateDer::pem_slice_iter(&pem)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| invalid(format!("not PEM: {e}")))?;
                if certificates.is_empty() {
                    return Err(invalid("no PEM certificate in it".into()));
                }
                Ok(CaFile {
                    path: path.clone(),
                    pem,
                })
            })
            .collect()
    }

    /// A plain reqwest client trusting `cas`, for the token exchange oci-client lacks and for the
    /// push requests whose answers must be read whole (see `upload`).
    pub(super) fn http_client(cas: &[CaFile]) -> Result<reqwest::Client, OciError> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .user_agent(USER_AGENT);
        let certs = cas
            .iter()
            .map(|ca| {
                reqwest::Certificate::from_pem(&ca.pem).map_err(|e| OciError::CaFile {
                    path: ca.path.clone(),
                    source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if !certs.is_empty() {
            builder = builder.tls_certs_merge(certs);
        }
        builder.build().map_err(|e| OciError::Connect {
            registry: String::new(),
            message: e.to_string(),
        })
    }

    /// oci-client's settings for `registry`, trusting `cas`; `plain` asks for plain HTTP, granted
    /// only to hosts allowed it.
    pub(super) fn client_config(
        &self,
        cas: &[CaFile],
        registry: &str,
        plain: bool,
    ) -> ClientConfig {
        let extra_root_certificates = cas
            .iter()
            .map(|ca| Certificate {
                encoding: CertificateEncoding::Pem,
                data: ca.pem.clone(),
            })
            .collect();
        let plain = if plain && self.plain_http(registry) {
            vec![registry.to_string()]
        } else {
            Vec::new()
        };
        ClientConfig {
            protocol: ClientProtocol::HttpsExcept(plain),
            extra_root_certificates,
            connect_timeout: Some(CONNECT_TIMEOUT),
            read_timeout: Some(READ_TIMEOUT),
            user_agent: USER_AGENT,
            platform_resolver: None,
            ..ClientConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_for_loopback_or_named_hosts() {
        let t = Transport {
            insecure: vec!["registry.lan:5000".into()],
            ca_files: vec![],
        };
        assert!(t.plain_http("127.0.0.1:5000"));
        assert!(t.plain_http("localhost"));
        assert!(t.plain_http("registry.lan:5000"));
        assert!(!t.plain_http("ghcr.io"));
        assert!(!t.plain_http("registry.lan.evil:5000"));
        // Host names are compared as DNS compares them, without regard to case.
        let t = Transport {
            insecure: vec!["vm".into()],
            ca_files: vec![],
        };
        assert!(t.plain_http("VM:5000"));
    }
}
