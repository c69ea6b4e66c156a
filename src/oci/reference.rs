//! Image references, parsed once at the boundary by the distribution reference grammar
//! (`[oci://]host[:port]/path[:tag][@digest]`), and the destinations `push` accepts.

use std::fmt;
use std::path::PathBuf;
use std::sync::LazyLock;

use regex::Regex;

use crate::digest::Digest;
use crate::error::Hint;

/// Distribution caps the full name (host and path) at 255 characters.
const NAME_TOTAL_MAX: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("empty image reference")]
    Empty,
    #[error("invalid image reference `{0}`: it names no registry host")]
    NoHost(String),
    #[error("invalid image reference `{reference}`: bad registry host `{host}`")]
    BadHost { reference: String, host: String },
    #[error(
        "invalid image reference `{reference}`: bad repository component `{component}` (lowercase letters, digits and single `.`, `_`, `__` or `-` separators)"
    )]
    BadPath {
        reference: String,
        component: String,
    },
    #[error(
        "invalid image reference `{reference}`: bad tag `{tag}` (letters, digits, `_`, `.` and `-`, at most 128, not starting with `.` or `-`)"
    )]
    BadTag { reference: String, tag: String },
    #[error(
        "invalid image reference `{reference}`: bad digest `{digest}` (expected sha256: and 64 lowercase hex digits)"
    )]
    BadDigest { reference: String, digest: String },
    #[error("invalid image reference `{0}`: the name is longer than 255 characters")]
    TooLong(String),
    #[error("invalid registry host `{0}`")]
    BadRegistryHost(String),
    #[error("invalid repository `{0}`: a repository names no tag or digest")]
    RepositoryWithTag(String),
}

impl Hint for ReferenceError {
    fn hints(&self) -> Vec<String> {
        match self {
            ReferenceError::NoHost(reference) => vec![format!(
                "write the registry first, e.g. `docker.io/{reference}` or `localhost:5000/{reference}`"
            )],
            ReferenceError::BadPath { .. } => {
                vec!["repository names are lowercase, e.g. `ghcr.io/team/my-plugin:v1`".into()]
            }
            ReferenceError::BadRegistryHost(_) => Vec::new(),
            ReferenceError::RepositoryWithTag(_) => vec![
                "write HOST[:PORT]/REPOSITORY alone; `wasmctl push` tags it with the crate version"
                    .into(),
            ],
            ReferenceError::BadTag { reference, .. }
            | ReferenceError::BadDigest { reference, .. }
                if reference.starts_with("oci-layout:") =>
            {
                vec!["the form is `oci-layout:DIR[:TAG][@sha256:DIGEST]`".into()]
            }
            ReferenceError::Empty
            | ReferenceError::BadHost { .. }
            | ReferenceError::BadTag { .. }
            | ReferenceError::BadDigest { .. }
            | ReferenceError::TooLong(_) => {
                vec!["the form is `[oci://]HOST[:PORT]/REPOSITORY[:TAG][@sha256:DIGEST]`".into()]
            }
        }
    }
}

/// A parsed image reference: registry host, repository path, and a tag and/or digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// `host[:port]` exactly as written (`docker.io` is kept, not rewritten).
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

/// Docker's default registry, for a lenient reference that names none.
const DEFAULT_REGISTRY: &str = "docker.io";

static DOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    let component = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
    let ipv6 = r"\[[a-fA-F0-9:]+\]";
    Regex::new(&format!(
        r"^(?:{component}(?:\.{component})*|{ipv6})(?::[0-9]+)?$"
    ))
    .expect("domain regex")
});
static PATH_COMPONENT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$").expect("path regex"));
static TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$").expect("tag regex"));

impl ImageRef {
    /// Parses `[oci://]host[:port]/path[:tag][@digest]`; a registry host is required.
    pub fn parse(input: &str) -> Result<ImageRef, ReferenceError> {
        let text = input.strip_prefix("oci://").unwrap_or(input);
        if text.is_empty() {
            return Err(ReferenceError::Empty);
        }
        let reference = input.to_string();
        let parts = Parts::split(text);
        let digest = match parts.digest {
            Some(digest) => {
                Some(
                    digest
                        .parse::<Digest>()
                        .map_err(|_| ReferenceError::BadDigest {
                            reference: reference.clone(),
                            digest: digest.to_string(),
                        })?,
                )
            }
            None => None,
        };
        if let Some(tag) = parts.tag
            && !TAG.is_match(tag)
        {
            return Err(ReferenceError::BadTag {
                reference,
                tag: tag.to_string(),
            });
        }
        let Some(host) = parts.host else {
            return Err(ReferenceError::NoHost(text.to_string()));
        };
        // The port, when there is one (after an IPv6 address's `]`): one a registry can listen on.
        let port = match host.strip_prefix('[') {
            Some(rest) => rest.split_once("]:").map(|(_, port)| port),
            None => host.split_once(':').map(|(_, port)| port),
        };
        let port_ok = port.is_none_or(|port| port.parse::<u16>().is_ok_and(|p| p > 0));
        if !DOMAIN.is_match(host) || !port_ok {
            return Err(ReferenceError::BadHost {
                reference,
                host: host.to_string(),
            });
        }
        if let Some(component) = parts.path.split('/').find(|c| !PATH_COMPONENT.is_match(c)) {
            return Err(ReferenceError::BadPath {
                reference,
                component: component.to_string(),
            });
        }
        if parts.name.len() > NAME_TOTAL_MAX {
            return Err(ReferenceError::TooLong(reference));
        }
        Ok(ImageRef {
            registry: host.to_string(),
            repository: parts.path.to_string(),
            tag: parts.tag.map(str::to_string),
            digest,
        })
    }

    /// Parses a repository as a project's `repository` setting holds it: `[oci://]host[:port]/path`,
    /// with no tag or digest, since `push` adds the tag.
    pub fn parse_repository(input: &str) -> Result<ImageRef, ReferenceError> {
        let image = ImageRef::parse(input)?;
        if image.tag.is_some() || image.digest.is_some() {
            return Err(ReferenceError::RepositoryWithTag(input.to_string()));
        }
        Ok(image)
    }

    /// Reads a reference someone else wrote (a pushed reference, a `repository` setting, an
    /// `oci://` url) only to name its registry and repository: nothing is validated, a missing
    /// registry is Docker's, and a tag or digest is kept only when valid. None for a url of
    /// another scheme (`https://`), which names no image.
    pub fn parse_lenient(input: &str) -> Option<ImageRef> {
        let text = match input.split_once("://") {
            Some(("oci", rest)) => rest,
            Some(_) => return None,
            None => input,
        };
        let parts = Parts::split(text);
        let (registry, repository) = match parts.host {
            Some(host) => (host, parts.path),
            None => (DEFAULT_REGISTRY, parts.name),
        };
        Some(ImageRef {
            registry: registry.to_string(),
            repository: repository.to_string(),
            tag: parts.tag.filter(|t| TAG.is_match(t)).map(str::to_string),
            digest: parts.digest.and_then(|d| d.parse().ok()),
        })
    }

    /// `oci://host/repo`, the url of the repository without tag or digest, as Istio's WasmPlugin
    /// `url` takes it (pin it with `@sha256:...`).
    pub fn repository_url(&self) -> String {
        format!("oci://{}/{}", self.registry, self.repository)
    }

    /// The tag, or `latest` when neither tag nor digest was given.
    pub fn tag_or_latest(&self) -> &str {
        self.tag.as_deref().unwrap_or("latest")
    }

    /// The reference as oci-client wants it.
    pub(crate) fn to_client(&self) -> oci_client::Reference {
        match (&self.tag, &self.digest) {
            (Some(tag), Some(digest)) => oci_client::Reference::with_tag_and_digest(
                self.registry.clone(),
                self.repository.clone(),
                tag.clone(),
                digest.to_string(),
            ),
            (None, Some(digest)) => oci_client::Reference::with_digest(
                self.registry.clone(),
                self.repository.clone(),
                digest.to_string(),
            ),
            _ => oci_client::Reference::with_tag(
                self.registry.clone(),
                self.repository.clone(),
                self.tag_or_latest().to_string(),
            ),
        }
    }
}

/// A reference cut at its separators, before any part is checked.
struct Parts<'a> {
    /// The first path component, when it looks like a host (distribution's rule).
    host: Option<&'a str>,
    /// The repository after the host.
    path: &'a str,
    /// Host and path together, as written.
    name: &'a str,
    tag: Option<&'a str>,
    digest: Option<&'a str>,
}

impl<'a> Parts<'a> {
    fn split(text: &'a str) -> Parts<'a> {
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest)),
            None => (text, None),
        };
        // A tag follows the last `:` only when no `/` comes after it (`host:5000/repo` has none).
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
            _ => (rest, None),
        };
        let (host, path) = match name.split_once('/') {
            Some((first, path)) if looks_like_host(first) => (Some(first), path),
            _ => (None, name),
        };
        Parts {
            host,
            path,
            name,
            tag,
            digest,
        }
    }
}

/// As in distribution: the first component is a host only if it looks like one.
fn looks_like_host(first: &str) -> bool {
    first.contains('.')
        || first.contains(':')
        || first == "localhost"
        || first.chars().any(|c| c.is_ascii_uppercase())
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for ImageRef {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ImageRef::parse(s)
    }
}

/// A registry host as `login` and `logout` take it: `https://ghcr.io/` -> `ghcr.io`, checked by
/// the reference grammar.
pub fn parse_registry_host(text: &str) -> Result<String, ReferenceError> {
    let host = bare_host(text);
    // Checked as the host of a reference; errors name the text given, not the reference.
    let bad = || ReferenceError::BadRegistryHost(text.to_string());
    let probe = ImageRef::parse(&format!("{host}/wasmctl-login")).map_err(|_| bad())?;
    if probe.registry != host {
        return Err(bad());
    }
    Ok(host.to_string())
}

/// A host as `--insecure` names it: any host name or IP address, with an optional port, lower-cased
/// (`vm`, `Registry.Lan:5000`, `[::1]:5000`); a scheme and a trailing `/` are let go, as `login`
/// lets them go.
pub fn parse_host(text: &str) -> Result<String, ReferenceError> {
    let bad = || ReferenceError::BadRegistryHost(text.to_string());
    let bare = bare_host(text);
    let url = url::Url::parse(&format!("http://{bare}/")).map_err(|_| bad())?;
    let (Some(host), "/", None, None, "") = (
        url.host_str(),
        url.path(),
        url.query(),
        url.fragment(),
        url.username(),
    ) else {
        return Err(bad());
    };
    if bare.is_empty() || url.password().is_some() {
        return Err(bad());
    }
    Ok(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    })
}

/// A host as a user may paste it, its scheme and trailing `/` let go: `https://ghcr.io/` -> `ghcr.io`.
fn bare_host(text: &str) -> &str {
    text.trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/')
}

/// `host[:port]` -> `host` (IPv6 brackets kept off).
pub(crate) fn hostname_of(registry: &str) -> &str {
    if let Some(rest) = registry.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    registry.split(':').next().unwrap_or(registry)
}

/// Loopback hosts are the only ones spoken to over plain HTTP without `--insecure`.
pub(crate) fn is_loopback(registry: &str) -> bool {
    let host = hostname_of(registry);
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Where an image goes to or comes from: a registry, or an OCI image layout on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Registry(ImageRef),
    /// `oci-layout:DIR[:TAG][@sha256:DIGEST]`
    Layout {
        dir: PathBuf,
        tag: Option<String>,
        digest: Option<Digest>,
    },
}

impl Location {
    pub fn parse(input: &str) -> Result<Location, ReferenceError> {
        let Some(rest) = input.strip_prefix("oci-layout:") else {
            return ImageRef::parse(input).map(Location::Registry);
        };
        // DIR may hold `:` and `@`: the text after the last `@` is a digest only if it reads as
        // one, and the text after the last `:` is a tag if it is a valid one. Text there that holds
        // no `/` was meant as a tag, so a bad one is refused rather than taken into DIR.
        let (rest, digest) = match rest.rsplit_once('@') {
            Some((rest, digest)) if digest.starts_with("sha256:") => {
                let parsed = digest
                    .parse::<Digest>()
                    .map_err(|_| ReferenceError::BadDigest {
                        reference: input.to_string(),
                        digest: digest.to_string(),
                    })?;
                (rest, Some(parsed))
            }
            _ => (rest, None),
        };
        let (dir, tag) = match rest.rsplit_once(':') {
            Some((dir, tag)) if TAG.is_match(tag) => (dir, Some(tag)),
            Some((_, tag)) if !tag.contains('/') => {
                return Err(ReferenceError::BadTag {
                    reference: input.to_string(),
                    tag: tag.to_string(),
                });
            }
            _ => (rest, None),
        };
        if dir.is_empty() {
            return Err(ReferenceError::Empty);
        }
        Ok(Location::Layout {
            dir: PathBuf::from(dir),
            tag: tag.map(str::to_string),
            digest,
        })
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Registry(r) => r.fmt(f),
            Location::Layout { dir, tag, digest } => {
                write!(f, "oci-layout:{}", dir.display())?;
                if let Some(tag) = tag {
                    write!(f, ":{tag}")?;
                }
                if let Some(digest) = digest {
                    write!(f, "@{digest}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_host_port_repo_tag() {
        let r = ImageRef::parse("oci://127.0.0.1:5000/team/demo:v1").unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "team/demo");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert_eq!(r.digest, None);
        assert_eq!(r.to_string(), "127.0.0.1:5000/team/demo:v1");
    }

    #[test]
    fn parses_digest_and_tag_with_digest() {
        let d = format!("sha256:{}", "a".repeat(64));
        let r = ImageRef::parse(&format!("ghcr.io/x/y@{d}")).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.map(|d| d.to_string()), Some(d.clone()));
        let r = ImageRef::parse(&format!("localhost/y:1.0@{d}")).unwrap();
        assert_eq!(r.tag.as_deref(), Some("1.0"));
        assert_eq!(r.registry, "localhost");
    }

    #[test]
    fn no_tag_means_latest_and_port_is_not_a_tag() {
        let r = ImageRef::parse("localhost:5000/demo").unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.tag_or_latest(), "latest");
        assert!(is_loopback(&r.registry));
        assert!(!is_loopback("ghcr.io"));
        assert!(is_loopback("[::1]:5000"));
    }

    #[test]
    fn rejects_what_distribution_rejects() {
        for bad in [
            "",
            "demo",
            "team/demo:v1",
            "Host.io/Team/demo",
            "ghcr.io/team//demo",
            "ghcr.io/team/demo:",
            "ghcr.io/team/demo:-v1",
            "ghcr.io/team/demo@sha256:abc",
            "ghcr.io/-team/demo",
            "ghcr.io/team/demo.",
            "bad_host.io/demo",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "accepted {bad:?}");
        }
        let long = format!("ghcr.io/{}", "a".repeat(250));
        assert_eq!(
            ImageRef::parse(&long),
            Err(ReferenceError::TooLong(long.clone()))
        );
    }

    #[test]
    fn repositories_have_no_tag_or_digest() {
        let r = ImageRef::parse_repository("ghcr.io/acme/demo").unwrap();
        assert_eq!(r.to_string(), "ghcr.io/acme/demo");
        assert!(ImageRef::parse_repository("oci://localhost:5000/demo").is_ok());
        for bad in ["ghcr.io/acme/demo:v1", "localhost:5000/demo@sha256:00"] {
            assert!(ImageRef::parse_repository(bad).is_err(), "accepted {bad}");
        }
        assert_eq!(
            ImageRef::parse_repository("ghcr.io/acme/demo:v1"),
            Err(ReferenceError::RepositoryWithTag(
                "ghcr.io/acme/demo:v1".into()
            ))
        );
    }

    #[test]
    fn error_without_host_hints_at_one() {
        let err = ImageRef::parse("team/demo:v1").unwrap_err();
        assert!(err.hints()[0].contains("docker.io/team/demo:v1"));
    }

    #[test]
    fn lenient_references_name_their_repository() {
        // The forms `wasmctl manifest` pins a pushed image by, and a pull Secret's registry.
        let url = |text: &str| ImageRef::parse_lenient(text).unwrap().repository_url();
        assert_eq!(
            url("localhost:5000/team/demo:v1"),
            "oci://localhost:5000/team/demo"
        );
        assert_eq!(url("localhost:5000/demo"), "oci://localhost:5000/demo");
        assert_eq!(url("ghcr.io/a/b@sha256:00"), "oci://ghcr.io/a/b");
        assert_eq!(url("ghcr.io/a/b:1@sha256:00"), "oci://ghcr.io/a/b");
        assert_eq!(url("oci://ghcr.io/a/b:1"), "oci://ghcr.io/a/b");
        assert_eq!(url("acme/auth:1"), "oci://docker.io/acme/auth");
        let registry = |text: &str| ImageRef::parse_lenient(text).map(|r| r.registry);
        assert_eq!(
            registry("oci://localhost:5000/demo@sha256:ab").as_deref(),
            Some("localhost:5000")
        );
        assert_eq!(registry("acme/auth:1").as_deref(), Some("docker.io"));
        assert_eq!(registry("https://example.com/x.wasm"), None);
        let r = ImageRef::parse_lenient("ghcr.io/a/b:1@sha256:00").unwrap();
        assert_eq!((r.tag.as_deref(), r.digest), (Some("1"), None));
    }

    #[test]
    fn hosts_for_insecure() {
        for (text, host) in [
            ("vm", "vm"),
            ("Registry.Lan:5000", "registry.lan:5000"),
            ("http://10.0.0.7:5000/", "10.0.0.7:5000"),
            ("[::1]:5000", "[::1]:5000"),
        ] {
            assert_eq!(parse_host(text).unwrap(), host, "{text}");
        }
        for bad in [
            "",
            "bad host",
            "a/b",
            "user@host",
            "host:port",
            "host?x",
            "https://",
        ] {
            assert!(parse_host(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn registry_hosts_for_login() {
        assert_eq!(parse_registry_host("https://ghcr.io/").unwrap(), "ghcr.io");
        assert_eq!(
            parse_registry_host("localhost:5000").unwrap(),
            "localhost:5000"
        );
        assert_eq!(
            parse_registry_host("ghcr.io/team"),
            Err(ReferenceError::BadRegistryHost("ghcr.io/team".into()))
        );
        assert!(parse_registry_host("bad_host.io").is_err());
    }

    #[test]
    fn layout_locations() {
        let layout = |dir: &str, tag: Option<&str>, digest: Option<Digest>| Location::Layout {
            dir: dir.into(),
            tag: tag.map(str::to_string),
            digest,
        };
        assert_eq!(
            Location::parse("oci-layout:out/img:v2").unwrap(),
            layout("out/img", Some("v2"), None)
        );
        assert_eq!(
            Location::parse("oci-layout:/tmp/x").unwrap(),
            layout("/tmp/x", None, None)
        );
        let digest = Digest::of(b"image");
        let pinned = format!("oci-layout:/tmp/x:v1@{digest}");
        assert_eq!(
            Location::parse(&pinned).unwrap(),
            layout("/tmp/x", Some("v1"), Some(digest))
        );
        assert_eq!(Location::parse(&pinned).unwrap().to_string(), pinned);
        assert_eq!(
            Location::parse(&format!("oci-layout:/tmp/x@{digest}")).unwrap(),
            layout("/tmp/x", None, Some(digest))
        );
        assert!(Location::parse("oci-layout:/tmp/x@sha256:abc").is_err());
        assert_eq!(
            Location::parse("oci-layout:/tmp/a@b").unwrap(),
            layout("/tmp/a@b", None, None)
        );
        // Text after the last `:` with no `/` is a tag, and a bad one is refused; a `:` before a
        // `/` is part of DIR.
        for bad in [
            "oci-layout:out:v1.0+build",
            "oci-layout:out:",
            "oci-layout::v1",
        ] {
            let err = Location::parse(bad).unwrap_err();
            assert!(
                matches!(err, ReferenceError::BadTag { .. } | ReferenceError::Empty),
                "{bad}: {err}"
            );
        }
        assert_eq!(
            Location::parse("oci-layout:c:/images/x").unwrap(),
            layout("c:/images/x", None, None)
        );
        assert!(matches!(
            Location::parse("localhost/x:1").unwrap(),
            Location::Registry(_)
        ));
    }
}
