//! Turning oci-client and reqwest errors into [`OciError`]s the user can act on, and deciding which
//! failures are worth another attempt.
//!
//! A status code or a registry error code says most; a connection error says only in words, so
//! TLS failures are told apart by rustls' wording, a name that does not resolve by hyper's.

use oci_client::errors::{OciDistributionError, OciEnvelope, OciErrorCode};

use super::OciError;
use super::reference::ImageRef;
use crate::progress::Reporter;

/// The image a connection works on and the user it acts as, so that errors can name them, and
/// whom to tell of retries.
#[derive(Clone)]
pub(crate) struct Peer<'r> {
    pub image: ImageRef,
    /// Who the credentials are for (`None`: anonymous), for "refused the credentials of ...".
    pub user: Option<String>,
    /// Whether this connection pushes (else it pulls): a refusal is of that right.
    pub push: bool,
    pub reporter: &'r dyn Reporter,
}

/// An error in wasmctl's words, and whether trying again may help.
#[derive(Debug)]
pub(crate) struct Classified {
    pub error: OciError,
    pub retryable: bool,
}

impl Classified {
    fn fatal(error: OciError) -> Classified {
        Classified {
            error,
            retryable: false,
        }
    }
}

impl Peer<'_> {
    /// Maps an oci-client error met while trying to `action` ("upload a blob") to ours.
    pub fn classify(&self, action: &str, err: &OciDistributionError) -> Classified {
        match err {
            OciDistributionError::UnauthorizedError { .. }
            | OciDistributionError::AuthenticationFailure(_) => {
                Classified::fatal(self.unauthorized())
            }
            OciDistributionError::ServerError { code, message, .. } => {
                self.classify_status(action, *code, message)
            }
            OciDistributionError::ImageManifestNotFoundError(_) => {
                Classified::fatal(OciError::NotFound(self.image.to_string()))
            }
            OciDistributionError::RegistryError { envelope, .. } => {
                self.classify_envelope(action, envelope)
            }
            OciDistributionError::RequestError(e) => self.classify_request(action, e),
            other => Classified::fatal(self.failed(action, other.to_string())),
        }
    }

    /// The refusal of the credentials in use (or of anonymous access).
    pub fn unauthorized(&self) -> OciError {
        OciError::Unauthorized {
            registry: self.image.registry.clone(),
            user: self.user.clone(),
        }
    }

    /// The registry failed to `action`, for a reason only its own words give.
    pub fn failed(&self, action: &str, message: String) -> OciError {
        OciError::Registry {
            registry: self.image.registry.clone(),
            action: action.to_string(),
            message,
        }
    }

    /// An HTTP status: timeouts, rate limits and server errors are worth another attempt.
    fn classify_status(&self, action: &str, code: u16, message: &str) -> Classified {
        let error = match code {
            401 => self.unauthorized(),
            403 => OciError::Denied {
                registry: self.image.registry.clone(),
                repository: self.image.repository.clone(),
                push: self.push,
            },
            404 => OciError::NotFound(self.image.to_string()),
            _ => self.failed(
                action,
                if message.is_empty() {
                    format!("HTTP {code}")
                } else {
                    format!("HTTP {code}: {}", message.trim())
                },
            ),
        };
        Classified {
            error,
            retryable: code == 408 || code == 429 || code >= 500,
        }
    }

    /// The error codes of a distribution error body.
    fn classify_envelope(&self, action: &str, envelope: &OciEnvelope) -> Classified {
        let has =
            |wanted: fn(&OciErrorCode) -> bool| envelope.errors.iter().any(|e| wanted(&e.code));
        if has(|c| matches!(c, OciErrorCode::Unauthorized)) {
            Classified::fatal(self.unauthorized())
        } else if has(|c| matches!(c, OciErrorCode::Denied)) {
            self.classify_status(action, 403, "")
        } else if has(|c| matches!(c, OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown)) {
            self.classify_status(action, 404, "")
        } else {
            Classified {
                error: self.failed(action, envelope.to_string()),
                retryable: has(|c| matches!(c, OciErrorCode::Toomanyrequests)),
            }
        }
    }

    /// A request that got no HTTP answer, or one reqwest refused: TLS trouble is final, a broken
    /// connection may heal.
    fn classify_request(&self, action: &str, e: &reqwest::Error) -> Classified {
        if let Some(status) = e.status() {
            return self.classify_status(action, status.as_u16(), "");
        }
        let registry = self.image.registry.clone();
        let chain = error_chain(e);
        let causes: Vec<&str> = chain
            .iter()
            .map(String::as_str)
            .filter(|part| !is_wrapper(part))
            .collect();
        let message = match causes.is_empty() {
            true => chain.join(": "),
            false => causes.join(": "),
        };
        let says = |words: &[&str]| chain.iter().any(|p| words.iter().any(|w| p.contains(w)));
        // rustls' words for an answer that is not TLS at all: a plain-HTTP server either answers
        // the hello with text or drops the connection during the handshake.
        if says(&["InvalidContentType", "corrupt message", "handshake"]) {
            return Classified::fatal(OciError::NotTls { registry, message });
        }
        if says(&["UnknownIssuer", "certificate", "Certificate"]) {
            return Classified::fatal(OciError::UnknownCa { registry, message });
        }
        // hyper's words for a host name the resolver could not find: asking again finds nothing
        // more, and plain HTTP would not resolve it either.
        if says(&["dns error"]) {
            // The resolver's own words are the innermost; the layers above only say "dns".
            let message = chain.last().cloned().unwrap_or(message);
            return Classified::fatal(OciError::UnknownHost { registry, message });
        }
        Classified {
            error: OciError::Connect { registry, message },
            retryable: true,
        }
    }
}

/// The error and its causes, outermost first, each once. The innermost carry the useful part
/// ("invalid peer certificate: UnknownIssuer").
fn error_chain(err: &dyn std::error::Error) -> Vec<String> {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts
}

/// reqwest's and hyper's layers around the cause, which say only that a request failed (the
/// error names the registry already).
fn is_wrapper(part: &str) -> bool {
    part.starts_with("error sending request for url") || part.starts_with("client error (")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> Peer<'static> {
        Peer {
            image: ImageRef::parse("registry.example/team/demo:v1").unwrap(),
            user: Some("alice".into()),
            reporter: &crate::progress::Silent,
            push: true,
        }
    }

    fn status(code: u16) -> OciDistributionError {
        OciDistributionError::ServerError {
            code,
            url: "https://registry.example/v2/".into(),
            message: "busy".into(),
        }
    }

    #[test]
    fn server_trouble_is_retried_refusals_are_not() {
        let retried = peer().classify("upload a blob", &status(503));
        assert!(retried.retryable);
        assert_eq!(
            retried.error.to_string(),
            "registry.example failed to upload a blob: HTTP 503: busy"
        );
        for code in [401, 403, 404, 400] {
            assert!(!peer().classify("x", &status(code)).retryable, "{code}");
        }
        assert!(matches!(
            peer().classify("x", &status(401)).error,
            OciError::Unauthorized { user: Some(_), .. }
        ));
        assert!(matches!(
            peer().classify("x", &status(404)).error,
            OciError::NotFound(image) if image == "registry.example/team/demo:v1"
        ));
    }

    #[test]
    fn a_refusal_names_the_right_that_was_refused() {
        use crate::error::Hint;
        for (push, right) in [(true, "push rights"), (false, "pull rights")] {
            let peer = Peer { push, ..peer() };
            let hints = peer.classify("x", &status(403)).error.hints();
            assert!(hints[0].contains(right), "{hints:?}");
        }
    }
}
