//! The requests of a push (blob check, blob upload, manifest upload), sent with reqwest itself.
//!
//! oci-client turns a failed response into an error that keeps the status but drops the headers,
//! and a registry that answers 429 or 503 says in `Retry-After` how long to wait. So these few
//! requests are sent here, where the answer is read whole; authentication and pulls stay with
//! oci-client, and the token it negotiated is what these requests carry.

use std::time::SystemTime;

use bytes::Bytes;
use oci_client::errors::{OciDistributionError, OciEnvelope};
use reqwest::header::{
    AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, LOCATION, RETRY_AFTER,
};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};

use super::retry::{Failure, after};
use super::transfer::Sent;
use crate::digest::Digest;

/// Blobs up to this size go up in one PUT; larger ones in chunks, so a slow link still progresses.
const MONOLITHIC_MAX: usize = 64 * 1024 * 1024;
const CHUNK: usize = 8 * 1024 * 1024;

/// One repository on one registry, as push requests address it.
#[derive(Clone)]
pub struct Endpoint {
    pub http: reqwest::Client,
    /// `scheme://host[:port]/`
    pub base: Url,
    pub repository: String,
    /// Sent to the registry itself only, never to another host a `Location` points at.
    pub authorization: Option<HeaderValue>,
}

impl Endpoint {
    /// Whether the blob is already there.
    pub async fn blob_exists(&self, digest: &Digest) -> Result<bool, Failure> {
        let url = self.repository_url(&format!("blobs/{digest}"))?;
        let response = self.request(Method::HEAD, url).send().await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(false),
            s if s.is_success() => Ok(true),
            _ => Err(failure(response).await),
        }
    }

    /// Uploads a blob: a POST for a session, then one streamed PUT when small, or PATCHes of
    /// chunks and a closing PUT. `sent` counts the bytes handed to the connection.
    pub async fn push_blob(
        &self,
        data: Bytes,
        digest: &Digest,
        sent: &Sent,
    ) -> Result<(), Failure> {
        let start = self.repository_url("blobs/uploads/")?;
        let response = self
            .request(Method::POST, start)
            .header(CONTENT_LENGTH, 0)
            .send()
            .await?;
        let mut location = self.location(success(response).await?)?;
        let (body, length) = if data.len() <= MONOLITHIC_MAX {
            let length = data.len() as u64;
            let body = reqwest::Body::wrap_stream(counted_stream(data, sent.clone()));
            (body, length)
        } else {
            let mut offset = 0;
            while offset < data.len() {
                let chunk = data.slice(offset..(offset + CHUNK).min(data.len()));
                let len = chunk.len();
                let response = self
                    .request(Method::PATCH, location)
                    .header("Content-Range", format!("{offset}-{}", offset + len - 1))
                    .header(CONTENT_LENGTH, len)
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .body(chunk)
                    .send()
                    .await?;
                location = self.location(success(response).await?)?;
                offset += len;
                sent.add(len as u64);
            }
            (reqwest::Body::from(Bytes::new()), 0)
        };
        location
            .query_pairs_mut()
            .append_pair("digest", &digest.oci());
        let response = self
            .request(Method::PUT, location)
            .header(CONTENT_LENGTH, length)
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(body)
            .send()
            .await?;
        success(response).await.map(drop)
    }

    /// Stores a manifest under `tag`. Returns the digest the registry says it stored, when it says.
    pub async fn push_manifest(
        &self,
        tag: &str,
        manifest: Bytes,
        media_type: &str,
    ) -> Result<Option<String>, Failure> {
        let url = self.repository_url(&format!("manifests/{tag}"))?;
        let response = self
            .request(Method::PUT, url)
            .header(CONTENT_TYPE, media_type)
            .body(manifest)
            .send()
            .await?;
        let response = success(response).await?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        // Distribution names the digest in the manifest's URL; some registries only in a header.
        let from_location = header("Location")
            .and_then(|l| l.rsplit_once("/manifests/").map(|(_, d)| d.to_string()));
        Ok(from_location
            .or_else(|| header("Docker-Content-Digest"))
            .filter(|d| d.starts_with("sha256:")))
    }

    fn repository_url(&self, rest: &str) -> Result<Url, Failure> {
        self.base
            .join(&format!("v2/{}/{rest}", self.repository))
            .map_err(|e| OciDistributionError::UrlParseError(e.to_string()).into())
    }

    fn request(&self, method: Method, url: Url) -> RequestBuilder {
        let carries_credentials = self.is_registry(&url);
        let request = self.http.request(method, url);
        match &self.authorization {
            Some(authorization) if carries_credentials => {
                request.header(AUTHORIZATION, authorization.clone())
            }
            _ => request,
        }
    }

    /// Whether credentials may go to `url`: the registry's own host and port, and no plain HTTP
    /// when the registry speaks TLS (an upload `Location` may name storage elsewhere).
    fn is_registry(&self, url: &Url) -> bool {
        url.host_str() == self.base.host_str()
            && url.port_or_known_default() == self.base.port_or_known_default()
            && (self.base.scheme() != "https" || url.scheme() == "https")
    }

    /// The upload session URL a response names; registries may answer with a bare path.
    fn location(&self, response: Response) -> Result<Url, Failure> {
        let value = response
            .headers()
            .get(LOCATION)
            .ok_or(OciDistributionError::RegistryNoLocationError)?
            .to_str()
            .map_err(OciDistributionError::from)?;
        self.base
            .join(value)
            .map_err(|e| OciDistributionError::UrlParseError(e.to_string()).into())
    }
}

/// The response when it is a success; otherwise the error oci-client would have made of it, plus
/// the `Retry-After` it carried.
async fn success(response: Response) -> Result<Response, Failure> {
    if response.status().is_success() {
        Ok(response)
    } else {
        Err(failure(response).await)
    }
}

async fn failure(response: Response) -> Failure {
    let status = response.status();
    let url = response.url().to_string();
    let retry_after = response.headers().get(RETRY_AFTER).and_then(|value| {
        let parsed = value
            .to_str()
            .ok()
            .and_then(|text| after::parse(text, SystemTime::now()));
        if parsed.is_none() {
            tracing::debug!(
                ?value,
                "ignoring a Retry-After that is neither seconds nor a date"
            );
        }
        parsed
    });
    let body = response.bytes().await.unwrap_or_default();
    let error = match status {
        StatusCode::UNAUTHORIZED => OciDistributionError::UnauthorizedError { url },
        s if s.is_client_error() => match serde_json::from_slice::<OciEnvelope>(&body) {
            Ok(envelope) => OciDistributionError::RegistryError { envelope, url },
            Err(_) => OciDistributionError::ServerError {
                code: s.as_u16(),
                url,
                message: String::from_utf8_lossy(&body).into_owned(),
            },
        },
        s => OciDistributionError::ServerError {
            code: s.as_u16(),
            url,
            message: String::from_utf8_lossy(&body).into_owned(),
        },
    };
    Failure { error, retry_after }
}

/// The blob as a stream of slices that count themselves as the HTTP body consumes them.
fn counted_stream(
    data: Bytes,
    sent: Sent,
) -> impl futures_util::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send + 'static {
    const SLICE: usize = 256 * 1024;
    let slices: Vec<Bytes> = (0..data.len())
        .step_by(SLICE)
        .map(|at| data.slice(at..(at + SLICE).min(data.len())))
        .collect();
    futures_util::stream::iter(slices.into_iter().map(move |slice| {
        sent.add(slice.len() as u64);
        Ok(slice)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(base: &str) -> Endpoint {
        Endpoint {
            http: reqwest::Client::new(),
            base: Url::parse(base).unwrap(),
            repository: "team/demo".into(),
            authorization: None,
        }
    }

    #[test]
    fn credentials_go_to_the_registry_only() {
        let tls = endpoint("https://registry.example:5000/");
        let ok = |u: &str| tls.is_registry(&Url::parse(u).unwrap());
        assert!(ok(
            "https://registry.example:5000/v2/team/demo/blobs/uploads/abc"
        ));
        assert!(!ok("https://storage.example/upload/abc"));
        assert!(!ok("https://registry.example/v2/"));
        assert!(!ok("http://registry.example:5000/v2/"));
        let plain = endpoint("http://127.0.0.1:5000/");
        assert!(plain.is_registry(&Url::parse("http://127.0.0.1:5000/v2/").unwrap()));
    }

    #[test]
    fn urls_name_the_repository() {
        let e = endpoint("http://127.0.0.1:5000/");
        assert_eq!(
            e.repository_url("manifests/v1").unwrap().as_str(),
            "http://127.0.0.1:5000/v2/team/demo/manifests/v1"
        );
    }
}
