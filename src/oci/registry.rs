//! A connection to one repository on one registry, on top of oci-client: the client it speaks
//! through (TLS, or plain HTTP where allowed), falling back from one to the other, and the requests
//! push, pull and login make. Authentication is in `auth::session`, retries in `retry`, error
//! wording in `classify`.

use std::future::Future;

use bytes::Bytes;
use oci_client::Client;
use oci_client::errors::OciDistributionError;

use super::OciError;
use super::auth::Credential;
use super::auth::session::{AuthLink, Session};
use super::auth::token::{self, TokenError};
use super::classify::Peer;
use super::image::{
    DOCKER_LIST_MEDIA_TYPE, DOCKER_MANIFEST_MEDIA_TYPE, INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE,
};
use super::probe::answers_plain_http;
use super::reference::ImageRef;
use super::retry::{Failure, with_retries};
use super::transfer::{Sent, reporting};
use super::transport::{CaFile, Transport};
use super::upload::Endpoint;
use crate::digest::Digest;
use crate::progress::Reporter;

/// One repository on one registry, with the credentials to use there; retries are told to the
/// reporter.
pub struct Registry<'r> {
    peer: Peer<'r>,
    reference: oci_client::Reference,
    client: Client,
    /// Whether `client` speaks plain HTTP.
    plain: bool,
    /// A plain-HTTP client to fall back to when an allowed host does not speak TLS.
    fallback: Option<Client>,
    /// For the push requests, the token exchange and the login check.
    http: reqwest::Client,
    session: Session,
}

/// The clients one attempt sends through, as things stand: oci-client for pulls, the endpoint for
/// pushes.
#[derive(Clone)]
struct Clients {
    client: Client,
    reference: oci_client::Reference,
    endpoint: Endpoint,
}

impl<'r> Registry<'r> {
    /// Prepares a connection. Requests wait for the first operation, except the plain-HTTP probe
    /// of a host allowed plain HTTP (see [`answers_plain_http`]).
    pub fn new(
        image: &ImageRef,
        transport: &Transport,
        credential: Option<Credential>,
        push: bool,
        reporter: &'r dyn Reporter,
    ) -> Result<Registry<'r>, OciError> {
        let cas = transport.read_ca_files()?;
        let (client, plain, fallback) = choose_clients(image, transport, &cas)?;
        let (session, user) = Session::new(credential, push);
        Ok(Registry {
            peer: Peer {
                image: image.clone(),
                user,
                push,
                reporter,
            },
            reference: image.to_client(),
            client,
            plain,
            fallback,
            http: Transport::http_client(&cas)?,
            session,
        })
    }

    /// The image this connection works on.
    pub fn image(&self) -> &ImageRef {
        &self.peer.image
    }

    /// Runs `f` with retries; falls back to plain HTTP once when an allowed host does not speak
    /// TLS.
    async fn call<T, E, F, Fut>(&mut self, action: &str, f: F) -> Result<T, OciError>
    where
        F: Fn(Clients) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<Failure>,
    {
        let mut result = self.call_once(action, &f).await;
        if let Err(OciError::NotTls { .. }) = &result
            && let Some(plain) = self.fallback.take()
        {
            tracing::debug!(registry = %self.peer.image.registry, "no TLS; falling back to plain HTTP");
            self.client = plain;
            self.plain = true;
            self.session.reset();
            result = self.call_once(action, &f).await;
        }
        result
    }

    /// Runs `f` with retries; on a 401 before authenticating, or with a bearer token that may
    /// have expired, authenticates and tries again once.
    async fn call_once<T, E, F, Fut>(&mut self, action: &str, f: &F) -> Result<T, OciError>
    where
        F: Fn(Clients) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<Failure>,
    {
        self.authenticate(Authenticate::IfCredentials).await?;
        let clients = self.clients()?;
        let result = with_retries(&self.peer, action, || f(clients.clone())).await;
        match result {
            Err(OciError::Unauthorized { .. })
                if !self.session.is_authenticated() || self.session.carries_bearer() =>
            {
                self.authenticate(Authenticate::Again).await?;
                let clients = self.clients()?;
                with_retries(&self.peer, action, || f(clients.clone())).await
            }
            other => other,
        }
    }

    async fn authenticate(&mut self, when: Authenticate) -> Result<(), OciError> {
        let link = AuthLink {
            client: &self.client,
            reference: &self.reference,
            http: &self.http,
            base: base_url(self.plain, &self.peer.image.registry),
        };
        match when {
            Authenticate::IfCredentials => {
                self.session.authenticate_upfront(&self.peer, &link).await
            }
            Authenticate::Again => {
                self.session.reset();
                self.session.authenticate(&self.peer, &link).await
            }
        }
    }

    fn clients(&self) -> Result<Clients, OciError> {
        let scheme = if self.plain { "http" } else { "https" };
        let base = format!("{scheme}://{}/", self.reference.resolve_registry());
        let base = reqwest::Url::parse(&base).map_err(|e| OciError::Connect {
            registry: self.peer.image.registry.clone(),
            message: e.to_string(),
        })?;
        Ok(Clients {
            client: self.client.clone(),
            reference: self.reference.clone(),
            endpoint: Endpoint {
                http: self.http.clone(),
                base,
                repository: self.peer.image.repository.clone(),
                authorization: self.session.authorization(),
            },
        })
    }

    /// Whether the registry already holds the blob.
    pub async fn blob_exists(&mut self, digest: &Digest) -> Result<bool, OciError> {
        let digest = *digest;
        self.call("check a blob", move |clients| async move {
            clients.endpoint.blob_exists(&digest).await
        })
        .await
    }

    /// Uploads a blob, reporting the transfer at `start` plus the bytes sent; a retried attempt
    /// steps back to `start`.
    pub async fn push_blob(
        &mut self,
        data: Bytes,
        digest: &Digest,
        start: u64,
        reporter: &dyn Reporter,
    ) -> Result<(), OciError> {
        let (digest, sent) = (*digest, Sent::default());
        let attempts = self.call("upload a blob", |clients| {
            let (data, sent) = (data.clone(), sent.clone());
            async move {
                sent.restart();
                clients.endpoint.push_blob(data, &digest, &sent).await
            }
        });
        reporting(attempts, &sent, start, reporter).await
    }

    /// Uploads the manifest under the tag, and checks the registry stored what was sent.
    pub async fn push_manifest(
        &mut self,
        manifest: &[u8],
        media_type: &str,
        expected: &Digest,
    ) -> Result<(), OciError> {
        let body = Bytes::copy_from_slice(manifest);
        let (tag, media_type) = (
            self.peer.image.tag_or_latest().to_string(),
            media_type.to_string(),
        );
        let stored = self
            .call("store the manifest", move |clients| {
                let (body, tag, media_type) = (body.clone(), tag.clone(), media_type.clone());
                async move {
                    clients
                        .endpoint
                        .push_manifest(&tag, body, &media_type)
                        .await
                }
            })
            .await?;
        match stored {
            Some(actual) if actual != expected.oci() => Err(OciError::DigestMismatch {
                registry: self.peer.image.registry.clone(),
                expected: expected.oci(),
                actual,
            }),
            _ => Ok(()),
        }
    }

    /// The raw manifest (or index) and its digest (checked against the content by oci-client);
    /// with `digest`, the manifest of that digest in the repository, such as an index's image.
    pub async fn pull_manifest(
        &mut self,
        digest: Option<&str>,
    ) -> Result<(Vec<u8>, String), OciError> {
        let auth = self.session.auth().clone();
        let digest = digest.map(str::to_string);
        self.call("fetch the manifest", move |clients| {
            let auth = auth.clone();
            let reference = match &digest {
                Some(digest) => clients.reference.clone_with_digest(digest.clone()),
                None => clients.reference.clone(),
            };
            async move {
                let accepted = [
                    MANIFEST_MEDIA_TYPE,
                    DOCKER_MANIFEST_MEDIA_TYPE,
                    INDEX_MEDIA_TYPE,
                    DOCKER_LIST_MEDIA_TYPE,
                ];
                clients
                    .client
                    .pull_manifest_raw(&reference, &auth, &accepted)
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
            .call("download a blob", move |clients| {
                let digest = digest.clone();
                async move {
                    let mut out = Vec::new();
                    clients
                        .client
                        .pull_blob(&clients.reference, digest.as_str(), &mut out)
                        .await?;
                    Ok::<_, OciDistributionError>(out)
                }
            })
            .await?;
        if data.len() as u64 > limit {
            let message = format!("the blob is larger than {limit} bytes");
            return Err(self.peer.failed("download a blob", message));
        }
        Ok(data)
    }

    /// Checks a username and password with the registry, as `docker login` does.
    pub async fn check_password(&mut self, username: &str, password: &str) -> Result<(), OciError> {
        let mut plain = self.plain;
        loop {
            let base = base_url(plain, &self.peer.image.registry);
            let checked = token::check_password(&self.http, &base, username, password).await;
            return match checked {
                Ok(true) => Ok(()),
                Ok(false) => Err(self.peer.unauthorized()),
                Err(TokenError::Http(e)) => {
                    let error = OciDistributionError::RequestError(e);
                    let error = self.peer.classify("log in", &error).error;
                    if matches!(error, OciError::NotTls { .. }) && !plain && self.fallback.is_some()
                    {
                        plain = true;
                        continue;
                    }
                    Err(error)
                }
                Err(e) => Err(self.peer.failed("log in", e.to_string())),
            };
        }
    }
}

/// When a request authenticates.
enum Authenticate {
    /// Before the first request, when there are credentials to send.
    IfCredentials,
    /// After a 401: from the start, with whatever the session holds.
    Again,
}

/// `scheme://host[:port]`, as the token exchange and the login check address the registry.
fn base_url(plain: bool, registry: &str) -> String {
    let scheme = if plain { "http" } else { "https" };
    format!("{scheme}://{registry}")
}

/// oci-client over TLS; for a host allowed plain HTTP, plain HTTP when it answers that, else TLS
/// with a plain-HTTP client to fall back to.
fn choose_clients(
    image: &ImageRef,
    transport: &Transport,
    cas: &[CaFile],
) -> Result<(Client, bool, Option<Client>), OciError> {
    let make = |plain| -> Result<Client, OciError> {
        Client::try_from(transport.client_config(cas, &image.registry, plain)).map_err(|e| {
            OciError::Connect {
                registry: image.registry.clone(),
                message: e.to_string(),
            }
        })
    };
    Ok(if !transport.plain_http(&image.registry) {
        (make(false)?, false, None)
    } else if answers_plain_http(&image.registry) {
        (make(true)?, true, None)
    } else {
        (make(false)?, false, Some(make(true)?))
    })
}
