//! A registry connection on top of oci-client: which hosts speak plain HTTP, which CAs to trust,
//! credentials, and retries with bounded, jittered exponential backoff that waits as long as a
//! registry's `Retry-After` asks, up to a limit.

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use indicatif::ProgressBar;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, RegistryOperation};
use rand::Rng;
use reqwest::header::HeaderValue;

use super::OciError;
use super::auth::Credential;
use super::auth::token::{self, TokenError};
use super::reference::{ImageRef, is_loopback};
use super::retry_after;
use super::upload::{Endpoint, Failure};

/// Attempts per request, the first one included.
const MAX_ATTEMPTS: u32 = 5;
const BACKOFF_BASE: Duration = Duration::from_millis(250);
const BACKOFF_CAP: Duration = Duration::from_secs(8);
/// The longest `Retry-After` waited out; a registry asking for more gets an error saying when to
/// try again, rather than a command that seems to hang.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(60);

/// How to reach registries: hosts allowed plain HTTP, and extra CAs to trust.
#[derive(Debug, Clone, Default)]
pub struct Transport {
    /// Hosts (`host[:port]`) reached over plain HTTP besides loopback ones.
    pub insecure: Vec<String>,
    /// PEM files of private CAs.
    pub ca_files: Vec<PathBuf>,
}

impl Transport {
    /// Whether plain HTTP is allowed: only for loopback hosts and those named with `--insecure`.
    /// HTTPS is still tried first, as docker does, so a loopback TLS registry works too.
    pub fn plain_http(&self, registry: &str) -> bool {
        is_loopback(registry)
            || self
                .insecure
                .iter()
                .any(|h| h == registry || h == super::reference::hostname_of(registry))
    }

    /// A plain reqwest client trusting the same CAs, for the token exchange oci-client lacks and
    /// for the push requests whose answers must be read whole (see `upload`).
    fn http_client(&self) -> Result<reqwest::Client, OciError> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(120))
            .user_agent(concat!("wasmctl/", env!("CARGO_PKG_VERSION")));
        let mut certs = Vec::new();
        for path in &self.ca_files {
            let data = std::fs::read(path).map_err(|source| OciError::CaFile {
                path: path.clone(),
                source,
            })?;
            certs.push(
                reqwest::Certificate::from_pem(&data).map_err(|e| OciError::CaFile {
                    path: path.clone(),
                    source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                })?,
            );
        }
        if !certs.is_empty() {
            builder = builder.tls_certs_merge(certs);
        }
        builder.build().map_err(|e| OciError::Connect {
            registry: String::new(),
            message: e.to_string(),
        })
    }

    fn client_config(&self, registry: &str, plain: bool) -> Result<ClientConfig, OciError> {
        let mut extra_root_certificates = Vec::new();
        for path in &self.ca_files {
            let data = std::fs::read(path).map_err(|source| OciError::CaFile {
                path: path.clone(),
                source,
            })?;
            extra_root_certificates.push(Certificate {
                encoding: CertificateEncoding::Pem,
                data,
            });
        }
        let plain = if plain && self.plain_http(registry) {
            vec![registry.to_string()]
        } else {
            Vec::new()
        };
        Ok(ClientConfig {
            protocol: ClientProtocol::HttpsExcept(plain),
            extra_root_certificates,
            connect_timeout: Some(Duration::from_secs(10)),
            read_timeout: Some(Duration::from_secs(120)),
            user_agent: concat!("wasmctl/", env!("CARGO_PKG_VERSION")),
            platform_resolver: None,
            ..ClientConfig::default()
        })
    }
}

/// One repository on one registry, with the credentials to use there.
pub struct Registry {
    pub image: ImageRef,
    reference: oci_client::Reference,
    client: Client,
    /// Whether `client` speaks plain HTTP.
    plain: bool,
    /// A plain-HTTP client to fall back to when an allowed host does not speak TLS.
    fallback: Option<Client>,
    /// Built on first use, for the push requests.
    http: Option<reqwest::Client>,
    transport: Transport,
    auth: RegistryAuth,
    /// What push requests carry once authenticated: the token oci-client negotiated for pushing,
    /// or the Basic credentials a registry without a token service takes.
    authorization: Option<HeaderValue>,
    /// Traded for a bearer token on authentication (docker's `identitytoken`).
    identity_token: Option<String>,
    user: Option<String>,
    ops: Vec<RegistryOperation>,
    authenticated: bool,
}

impl Registry {
    /// Prepares a connection; nothing is sent until the first request.
    pub fn new(
        image: &ImageRef,
        transport: &Transport,
        credential: Option<Credential>,
        push: bool,
    ) -> Result<Registry, OciError> {
        let make = |plain| -> Result<Client, OciError> {
            Client::try_from(transport.client_config(&image.registry, plain)?).map_err(|e| {
                OciError::Connect {
                    registry: image.registry.clone(),
                    message: e.to_string(),
                }
            })
        };
        let (client, plain, fallback) = if !transport.plain_http(&image.registry) {
            (make(false)?, false, None)
        } else if speaks_plain_http(&image.registry) {
            (make(true)?, true, None)
        } else {
            (make(false)?, false, Some(make(true)?))
        };
        let (auth, user, identity_token) = match credential {
            Some(Credential::Basic { username, password }) => (
                RegistryAuth::Basic(username.clone(), password),
                Some(username),
                None,
            ),
            Some(Credential::Bearer(token)) => (
                RegistryAuth::Bearer(token),
                Some("bearer token".into()),
                None,
            ),
            Some(Credential::IdentityToken(token)) => (
                RegistryAuth::Anonymous,
                Some("identity token".into()),
                Some(token),
            ),
            None => (RegistryAuth::Anonymous, None, None),
        };
        let ops = if push {
            vec![RegistryOperation::Pull, RegistryOperation::Push]
        } else {
            vec![RegistryOperation::Pull]
        };
        Ok(Registry {
            image: image.clone(),
            reference: image.to_client(),
            client,
            plain,
            fallback,
            http: None,
            transport: transport.clone(),
            auth,
            authorization: None,
            identity_token,
            user,
            ops,
            authenticated: false,
        })
    }

    /// Fetches tokens for every operation (or settles on Basic auth) before the first request.
    ///
    /// Anonymous connections skip this until a registry answers 401, so an open registry gets no
    /// extra round trip per request.
    async fn authenticate(&mut self) -> Result<(), OciError> {
        if self.authenticated {
            return Ok(());
        }
        if let Some(identity_token) = self.identity_token.clone() {
            self.exchange_identity_token(&identity_token).await?;
        }
        let mut token = None;
        for op in self.ops.clone() {
            let client = self.client.clone();
            let (reference, auth) = (self.reference.clone(), self.auth.clone());
            // The last operation is the widest: push when pushing.
            token = self
                .with_retries("authenticate", move || {
                    let (client, reference, auth) =
                        (client.clone(), reference.clone(), auth.clone());
                    async move { client.auth(&reference, &auth, op).await }
                })
                .await?;
        }
        self.authorization = match (token, &self.auth) {
            (Some(token), _) => Some(format!("Bearer {token}")),
            (None, RegistryAuth::Basic(user, password)) => {
                use base64::Engine;
                let pair =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                Some(format!("Basic {pair}"))
            }
            (None, _) => None,
        }
        .and_then(|value| HeaderValue::from_str(&value).ok())
        .map(|mut value| {
            value.set_sensitive(true);
            value
        });
        self.authenticated = true;
        Ok(())
    }

    async fn exchange_identity_token(&mut self, identity_token: &str) -> Result<(), OciError> {
        let http = self.transport.http_client()?;
        let scheme = if self.plain { "http" } else { "https" };
        let base = format!("{scheme}://{}", self.image.registry);
        let push = self.ops.contains(&RegistryOperation::Push);
        let exchanged = token::exchange_identity_token(
            &http,
            &base,
            identity_token,
            &self.image.repository,
            push,
        )
        .await;
        match exchanged {
            Ok(Some(access)) => self.auth = RegistryAuth::Bearer(access),
            Ok(None) => {}
            Err(TokenError::Http(e)) => {
                return Err(self
                    .classify("authenticate", &OciDistributionError::RequestError(e))
                    .0);
            }
            Err(TokenError::Refused) => return Err(self.unauthorized()),
            Err(e @ (TokenError::NoToken | TokenError::BadRealm(_))) => {
                return Err(OciError::Registry {
                    registry: self.image.registry.clone(),
                    action: "authenticate".into(),
                    message: e.to_string(),
                });
            }
        }
        Ok(())
    }

    async fn ensure_auth(&mut self) -> Result<(), OciError> {
        if !matches!(self.auth, RegistryAuth::Anonymous) || self.identity_token.is_some() {
            self.authenticate().await?;
        }
        Ok(())
    }

    /// Runs `f` with retries; on a 401 before authenticating, or with a bearer token that may
    /// have expired, authenticates and tries again once.
    async fn call<T, E, F, Fut>(&mut self, action: &str, f: F) -> Result<T, OciError>
    where
        F: Fn(Conn) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<Failure>,
    {
        let mut result = self.call_once(action, &f).await;
        if let Err(OciError::NotTls { .. }) = &result
            && let Some(plain) = self.fallback.take()
        {
            tracing::debug!(registry = %self.image.registry, "no TLS; falling back to plain HTTP");
            self.client = plain;
            self.plain = true;
            self.authenticated = false;
            result = self.call_once(action, &f).await;
        }
        result
    }

    async fn call_once<T, E, F, Fut>(&mut self, action: &str, f: &F) -> Result<T, OciError>
    where
        F: Fn(Conn) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<Failure>,
    {
        self.ensure_auth().await?;
        let conn = self.conn()?;
        let result = self.with_retries(action, || f(conn.clone())).await;
        let bearer = self
            .authorization
            .as_ref()
            .is_some_and(|v| v.as_bytes().starts_with(b"Bearer "));
        match result {
            Err(OciError::Unauthorized { .. }) if !self.authenticated || bearer => {
                self.authenticated = false;
                self.authenticate().await?;
                let conn = self.conn()?;
                self.with_retries(action, || f(conn.clone())).await
            }
            other => other,
        }
    }

    /// What one attempt needs, as things stand: oci-client for pulls, the endpoint for pushes.
    fn conn(&mut self) -> Result<Conn, OciError> {
        let http = match &self.http {
            Some(http) => http.clone(),
            None => self.http.insert(self.transport.http_client()?).clone(),
        };
        let scheme = if self.plain { "http" } else { "https" };
        let base = format!("{scheme}://{}/", self.reference.resolve_registry());
        let base = reqwest::Url::parse(&base).map_err(|e| OciError::Connect {
            registry: self.image.registry.clone(),
            message: e.to_string(),
        })?;
        Ok(Conn {
            client: self.client.clone(),
            reference: self.reference.clone(),
            endpoint: Endpoint {
                http,
                base,
                repository: self.image.repository.clone(),
                authorization: self.authorization.clone(),
            },
        })
    }

    async fn with_retries<T, E, F, Fut>(&self, action: &str, f: F) -> Result<T, OciError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<Failure>,
    {
        let mut attempt = 1;
        loop {
            let Failure { error, retry_after } = match f().await {
                Ok(value) => return Ok(value),
                Err(failure) => failure.into(),
            };
            let (error, retryable) = self.classify(action, &error);
            if !retryable || attempt >= MAX_ATTEMPTS {
                return Err(error);
            }
            let delay = match retry_after {
                Some(wait) if wait > RETRY_AFTER_CAP => {
                    return Err(OciError::RetryLater {
                        error: Box::new(error),
                        wait: retry_after::human(wait),
                        cap: retry_after::human(RETRY_AFTER_CAP),
                        until: SystemTime::now()
                            .checked_add(wait)
                            .and_then(retry_after::format_http_date),
                    });
                }
                Some(wait) => {
                    // Never sooner than asked; the backoff step on top spreads clients that were
                    // all told the same date.
                    let delay = wait + backoff(attempt);
                    tracing::debug!(
                        %error,
                        attempt,
                        ?delay,
                        "retrying {action}: waiting {}s as the registry asked (Retry-After)",
                        retry_after::whole_seconds(wait)
                    );
                    delay
                }
                None => {
                    let delay = backoff(attempt);
                    tracing::debug!(%error, attempt, ?delay, "retrying {action}");
                    delay
                }
            };
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// Whether the registry already holds the blob.
    pub async fn blob_exists(&mut self, digest: &str) -> Result<bool, OciError> {
        let digest = digest.to_string();
        self.call("check a blob", move |conn| {
            let digest = digest.clone();
            async move { conn.endpoint.blob_exists(&digest).await }
        })
        .await
    }

    /// Uploads a blob. `bar` advances as bytes are handed to the connection, and steps back if an
    /// attempt is retried.
    pub async fn push_blob(
        &mut self,
        data: bytes::Bytes,
        digest: &str,
        bar: &ProgressBar,
    ) -> Result<(), OciError> {
        let digest = digest.to_string();
        let start = bar.position();
        let bar = bar.clone();
        self.call("upload a blob", move |conn| {
            let (data, digest, bar) = (data.clone(), digest.clone(), bar.clone());
            async move {
                bar.set_position(start);
                conn.endpoint.push_blob(data, &digest, &bar).await
            }
        })
        .await
    }

    /// Uploads the manifest under the tag, and checks the registry stored what was sent.
    pub async fn push_manifest(
        &mut self,
        manifest: &[u8],
        media_type: &str,
        expected_digest: &str,
    ) -> Result<(), OciError> {
        let body = bytes::Bytes::copy_from_slice(manifest);
        let (tag, media_type) = (
            self.image.tag_or_latest().to_string(),
            media_type.to_string(),
        );
        let stored = self
            .call("store the manifest", move |conn| {
                let (body, tag, media_type) = (body.clone(), tag.clone(), media_type.clone());
                async move { conn.endpoint.push_manifest(&tag, body, &media_type).await }
            })
            .await?;
        if let Some(actual) = stored
            && actual != expected_digest
        {
            return Err(OciError::DigestMismatch {
                registry: self.image.registry.clone(),
                expected: expected_digest.to_string(),
                actual,
            });
        }
        Ok(())
    }

    /// The raw manifest and its digest (checked against the content by oci-client).
    pub async fn pull_manifest(&mut self) -> Result<(Vec<u8>, String), OciError> {
        let auth = self.auth.clone();
        self.call("fetch the manifest", move |conn| {
            let auth = auth.clone();
            async move {
                conn.client
                    .pull_manifest_raw(
                        &conn.reference,
                        &auth,
                        &[
                            super::image::MANIFEST_MEDIA_TYPE,
                            super::image::DOCKER_MANIFEST_MEDIA_TYPE,
                        ],
                    )
                    .await
                    .map(|(bytes, digest)| (bytes.to_vec(), digest))
            }
        })
        .await
    }

    /// A blob's bytes, checked against its digest, refusing more than `limit` bytes.
    pub async fn pull_blob(&mut self, digest: &str, limit: u64) -> Result<Vec<u8>, OciError> {
        let digest = digest.to_string();
        let data = self
            .call("download a blob", move |conn| {
                let digest = digest.clone();
                async move {
                    let mut out = Vec::new();
                    conn.client
                        .pull_blob(&conn.reference, digest.as_str(), &mut out)
                        .await?;
                    Ok::<_, OciDistributionError>(out)
                }
            })
            .await?;
        if data.len() as u64 > limit {
            return Err(OciError::Registry {
                registry: self.image.registry.clone(),
                action: "download a blob".into(),
                message: format!("the blob is larger than {limit} bytes"),
            });
        }
        Ok(data)
    }

    /// Checks a username and password with the registry, as `docker login` does.
    pub async fn check_password(&mut self, username: &str, password: &str) -> Result<(), OciError> {
        let http = self.transport.http_client()?;
        let mut plain = self.plain;
        loop {
            let scheme = if plain { "http" } else { "https" };
            let base = format!("{scheme}://{}", self.image.registry);
            let checked = token::check_password(&http, &base, username, password).await;
            return match checked {
                Ok(true) => Ok(()),
                Ok(false) => Err(self.unauthorized()),
                Err(TokenError::Http(e)) => {
                    let (error, _) =
                        self.classify("log in", &OciDistributionError::RequestError(e));
                    if matches!(error, OciError::NotTls { .. }) && !plain && self.fallback.is_some()
                    {
                        plain = true;
                        continue;
                    }
                    Err(error)
                }
                Err(e) => Err(OciError::Registry {
                    registry: self.image.registry.clone(),
                    action: "log in".into(),
                    message: e.to_string(),
                }),
            };
        }
    }

    /// Maps an oci-client error to ours, and says whether trying again may help.
    fn classify(&self, action: &str, err: &OciDistributionError) -> (OciError, bool) {
        let registry = self.image.registry.clone();
        let status_error = |code: u16, message: String| -> (OciError, bool) {
            match code {
                401 => (self.unauthorized(), false),
                403 => (
                    OciError::Denied {
                        registry: registry.clone(),
                        repository: self.image.repository.clone(),
                    },
                    false,
                ),
                404 => (OciError::NotFound(self.image.to_string()), false),
                _ => (
                    OciError::Registry {
                        registry: registry.clone(),
                        action: action.to_string(),
                        message: if message.is_empty() {
                            format!("HTTP {code}")
                        } else {
                            format!("HTTP {code}: {}", message.trim())
                        },
                    },
                    code == 408 || code == 429 || code >= 500,
                ),
            }
        };
        match err {
            OciDistributionError::UnauthorizedError { .. }
            | OciDistributionError::AuthenticationFailure(_) => (self.unauthorized(), false),
            OciDistributionError::ServerError { code, message, .. } => {
                status_error(*code, message.clone())
            }
            OciDistributionError::ImageManifestNotFoundError(_) => {
                (OciError::NotFound(self.image.to_string()), false)
            }
            OciDistributionError::RegistryError { envelope, .. } => {
                let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
                if codes
                    .iter()
                    .any(|c| matches!(c, OciErrorCode::Unauthorized))
                {
                    (self.unauthorized(), false)
                } else if codes.iter().any(|c| matches!(c, OciErrorCode::Denied)) {
                    status_error(403, String::new())
                } else if codes
                    .iter()
                    .any(|c| matches!(c, OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown))
                {
                    status_error(404, String::new())
                } else {
                    let retry = codes
                        .iter()
                        .any(|c| matches!(c, OciErrorCode::Toomanyrequests));
                    (
                        OciError::Registry {
                            registry,
                            action: action.to_string(),
                            message: envelope.to_string(),
                        },
                        retry,
                    )
                }
            }
            OciDistributionError::RequestError(e) => {
                if let Some(status) = e.status() {
                    return status_error(status.as_u16(), String::new());
                }
                let message = error_chain(e);
                // rustls' words for an answer that is not TLS at all: a plain-HTTP server either
                // answers the hello with text or drops the connection during the handshake.
                if message.contains("InvalidContentType")
                    || message.contains("corrupt message")
                    || message.contains("handshake")
                {
                    return (OciError::NotTls { registry, message }, false);
                }
                if message.contains("UnknownIssuer")
                    || message.contains("certificate")
                    || message.contains("Certificate")
                {
                    return (OciError::UnknownCa { registry, message }, false);
                }
                (OciError::Connect { registry, message }, true)
            }
            other => (
                OciError::Registry {
                    registry,
                    action: action.to_string(),
                    message: other.to_string(),
                },
                false,
            ),
        }
    }

    fn unauthorized(&self) -> OciError {
        OciError::Unauthorized {
            registry: self.image.registry.clone(),
            user: self.user.clone(),
        }
    }
}

/// One attempt's view of the connection.
#[derive(Clone)]
struct Conn {
    client: Client,
    reference: oci_client::Reference,
    endpoint: Endpoint,
}

/// Whether a host that may use plain HTTP answers a plain `GET /v2/` as an HTTP server (any status
/// but the 400 a TLS server gives to plain HTTP). Asking costs one loopback round trip, where
/// trying HTTPS first costs a TLS handshake attempt; either way the answer is used only for hosts
/// allowed plain HTTP, and credentials are never part of it.
fn speaks_plain_http(registry: &str) -> bool {
    use std::io::{Read, Write};
    use std::net::{TcpStream, ToSocketAddrs};
    let timeout = Duration::from_secs(2);
    let with_port = if registry.ends_with(']') || !registry.contains(':') {
        format!("{registry}:80")
    } else {
        registry.to_string()
    };
    // `localhost` may resolve to ::1 and 127.0.0.1; the registry may listen on either.
    let Some(mut stream) = with_port.to_socket_addrs().ok().and_then(|mut addrs| {
        addrs.find_map(|addr| TcpStream::connect_timeout(&addr, timeout).ok())
    }) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let request = format!("GET /v2/ HTTP/1.0\r\nHost: {registry}\r\nUser-Agent: wasmctl\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = Vec::new();
    let _ = stream.take(1024).read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    answer.starts_with("HTTP/") && !answer.contains("HTTPS")
}

/// A random 50-100% of an exponential step (250 ms, 500 ms, 1 s, ... capped at 8 s), so clients
/// that failed together do not retry together.
fn backoff(attempt: u32) -> Duration {
    let step = BACKOFF_BASE
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(BACKOFF_CAP);
    let jitter = rand::rng().random_range(0.5..=1.0);
    step.mul_f64(jitter)
}

/// The innermost causes carry the useful part ("invalid peer certificate: UnknownIssuer").
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_bounded_and_grows() {
        for attempt in 1..20 {
            let d = backoff(attempt);
            assert!(d <= BACKOFF_CAP, "{d:?}");
            assert!(d >= BACKOFF_BASE / 2, "{d:?}");
        }
        assert!(backoff(1) <= BACKOFF_BASE);
        assert!(backoff(5) >= BACKOFF_BASE * 4);
    }

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
    }
}
