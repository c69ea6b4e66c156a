//! Plain Envoy configuration for the plugin: a complete static bootstrap (`envoy -c FILE` runs it)
//! or only the Wasm filter entry, for pasting into an existing configuration.
//!
//! The filter is encoded as Istio renders a WasmPlugin for Envoy: pluginConfig as a JSON
//! `StringValue`, the environment as `environment_variables`, the V8 runtime, `root_id` and the
//! fail strategy; the builders are the ones `run --envoy` starts real Envoy from.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::types::{EnvValueSource, FailStrategy, WasmSource};
use super::{
    Manifest, ManifestError, ManifestOptions, ModuleOptions, PluginType, Resource, Target, source,
};
use crate::envoy::bootstrap::{self as envoy, Failure, RouteTo, WasmPlugin};
use crate::project::Project;
use crate::spelling::spelling;

spelling! {
    /// Where Envoy reads the module from.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum CodeSource {
        /// A file on Envoy's machine: the built module, or `--url file://PATH`.
        File => "file",
        /// An http(s) url Envoy fetches at startup, checked by its sha256.
        Remote => "remote",
    }
    from_str: "code source", expected "file or remote"
}

/// The default listener address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:10000";

/// Envoy configuration, ready to serialize; `kind` says which of the two it is.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvoyConfig {
    pub kind: Target,
    pub name: String,
    pub document: Value,
}

/// The module as Envoy's `code` data source, and the cluster a remote one is fetched through.
struct Code {
    source: Value,
    /// `(name, cluster)` for a remote module.
    cluster: Option<(String, Value)>,
}

pub(super) fn generate(
    options: &ManifestOptions,
    project: Option<&Project>,
) -> Result<Manifest, ManifestError> {
    let name = super::metadata(&options.metadata, options.kind, project)?.name;
    let envoy = &options.envoy;
    // Parsed before anything is read, so a bad address costs nothing.
    let listen = parse_listen(envoy.listen.as_deref().unwrap_or(DEFAULT_LISTEN))?;
    let upstream = envoy.upstream.as_deref().map(parse_upstream).transpose()?;
    let code = code(&options.module, envoy.code, project)?;
    let wasm = super::wasm_source(options, project, (String::new(), None))?;
    check_env(&wasm)?;
    let network = wasm.plugin_type == Some(PluginType::Network);
    let plugin = plugin(&name, &wasm, code.source);
    let filter = if network {
        envoy::network_wasm_filter(&plugin)
    } else {
        envoy::http_wasm_filter(&plugin)
    };
    let mut notes = Vec::new();
    let document = match options.kind {
        Target::EnvoyFilter => {
            if let Some((cluster, _)) = &code.cluster {
                notes.push(format!(
                    "the filter fetches its module through cluster `{cluster}`: define it in the \
                     configuration you paste this into (--kind envoy-bootstrap shows one)"
                ));
            }
            filter
        }
        _ => bootstrap(&name, listen, upstream, network, filter, code.cluster),
    };
    let config = EnvoyConfig {
        kind: options.kind,
        name,
        document,
    };
    let mut manifest = Manifest::new(Resource::Envoy(config), None);
    manifest.notes = notes;
    Ok(manifest)
}

/// The bootstrap: one listener with the plugin in front of the upstream (or a direct reply), and
/// the clusters it needs.
fn bootstrap(
    name: &str,
    listen: SocketAddr,
    upstream: Option<(String, u16)>,
    network: bool,
    filter: Value,
    code_cluster: Option<(String, Value)>,
) -> Value {
    let address = envoy::socket_address(&listen.ip().to_string(), listen.port());
    let filters = match (network, &upstream) {
        (true, Some(_)) => vec![filter, envoy::tcp_proxy(name, "upstream")],
        // No upstream for a TCP connection: Envoy writes back what it reads.
        (true, None) => vec![filter, envoy::echo()],
        (false, Some(_)) => vec![envoy::http_connection_manager(
            name,
            filter,
            RouteTo::Cluster("upstream"),
        )],
        (false, None) => vec![envoy::http_connection_manager(
            name,
            filter,
            RouteTo::Reply(200),
        )],
    };
    let mut clusters: Vec<Value> = upstream
        .iter()
        .map(|(host, port)| envoy::cluster("upstream", host, *port, None))
        .collect();
    clusters.extend(code_cluster.map(|(_, cluster)| cluster));
    json!({"static_resources": {
        "listeners": [envoy::listener(name, address, filters)],
        "clusters": clusters,
    }})
}

/// Envoy refuses a VM whose environment names a variable twice, inline or from its own
/// environment, and a variable with no name is none.
fn check_env(wasm: &WasmSource) -> Result<(), ManifestError> {
    let mut seen = BTreeSet::new();
    for env in wasm.vm_config.iter().flat_map(|vm| &vm.env) {
        let flag = match env.value_from {
            Some(EnvValueSource::Host) => "--env-from-host",
            _ => "--env",
        };
        let message = if env.name.is_empty() {
            "a variable needs a name"
        } else if !seen.insert(env.name.as_str()) {
            "names a variable given already; Envoy refuses an environment with a name twice"
        } else {
            continue;
        };
        return Err(ManifestError::BadArgument {
            flag,
            item: env.name.clone(),
            message: message.into(),
        });
    }
    Ok(())
}

/// The `PluginConfig`: named after the resource, root id from --plugin-name, Istio's encoding.
fn plugin(name: &str, wasm: &WasmSource, code: Value) -> WasmPlugin {
    let env = wasm.vm_config.iter().flat_map(|vm| &vm.env);
    WasmPlugin {
        name: name.to_string(),
        root_id: wasm
            .module
            .plugin_name
            .clone()
            .unwrap_or_else(|| name.to_string()),
        configuration: wasm
            .plugin_config
            .as_ref()
            .map(|config| serde_json::to_string(config).expect("json values serialize")),
        vm_id: name.to_string(),
        code,
        vm_configuration: None,
        env: env
            .filter(|e| e.value_from != Some(EnvValueSource::Host))
            .map(|e| (e.name.clone(), e.value.clone().unwrap_or_default()))
            .collect(),
        host_env_keys: wasm.host_env_keys(),
        failure: wasm.fail_strategy.map(|s| match s {
            FailStrategy::FailClose => Failure::Close,
            FailStrategy::FailOpen => Failure::Open,
            FailStrategy::FailReload => Failure::Reload,
        }),
        reload_backoff: None,
    }
}

/// `--code file` (the default without an http(s) `--url`) or `--code remote`.
fn code(
    options: &ModuleOptions,
    source: Option<CodeSource>,
    project: Option<&Project>,
) -> Result<Code, ManifestError> {
    let url_scheme = options
        .url
        .as_deref()
        .and_then(|url| url.split_once("://"))
        .map(|(scheme, rest)| (scheme.to_ascii_lowercase(), rest));
    let remote_url = matches!(&url_scheme, Some((s, _)) if s == "http" || s == "https");
    match source.unwrap_or(if remote_url {
        CodeSource::Remote
    } else {
        CodeSource::File
    }) {
        CodeSource::File => {
            if let Some(sha) = &options.sha256 {
                return Err(ManifestError::BadArgument {
                    flag: "--sha256",
                    item: sha.clone(),
                    message: "Envoy checks the sha256 of a remote module only: add --code remote"
                        .into(),
                });
            }
            let path = match (&options.url, project) {
                (Some(url), _) => local_module(url)?,
                (None, Some(project)) => existing_artifact(&project.artifact_path())?,
                (None, None) => return Err(ManifestError::NoModule),
            };
            Ok(Code {
                source: envoy::local_code(&path),
                cluster: None,
            })
        }
        CodeSource::Remote => remote(options, project),
    }
}

/// The module a `file:///PATH` url names on Envoy's machine: an absolute path, percent-decoded.
/// Any other url is refused, never passed over for the built module.
fn local_module(url: &str) -> Result<PathBuf, ManifestError> {
    let bad = |message: &str| ManifestError::BadArgument {
        flag: "--url",
        item: url.to_string(),
        message: message.into(),
    };
    let file_url = url
        .get(..7)
        .is_some_and(|s| s.eq_ignore_ascii_case("file://"));
    let Some(parsed) = url::Url::parse(url).ok().filter(|_| file_url) else {
        return Err(bad(
            "--code file reads a local module: give file:///ABSOLUTE/PATH, or --code remote for \
             an http(s) url",
        ));
    };
    let path = parsed.to_file_path().map_err(|()| {
        bad("a file url names an absolute path on Envoy's machine: file:///PATH, with no host")
    })?;
    if url.ends_with('/') || path.file_name().is_none() {
        return Err(bad("names a directory, not a module"));
    }
    Ok(path)
}

/// The built module, by its absolute path (Envoy resolves a relative one from its own directory).
fn existing_artifact(artifact: &Path) -> Result<PathBuf, ManifestError> {
    std::fs::canonicalize(artifact).map_err(|_| ManifestError::NotBuilt {
        artifact: artifact.to_path_buf(),
    })
}

/// An http(s) module with its sha256, and the cluster Envoy fetches it through.
fn remote(options: &ModuleOptions, project: Option<&Project>) -> Result<Code, ManifestError> {
    let (url, sha256) = source::module_location(options, project)?;
    let parsed = url::Url::parse(&url).ok().filter(|u| {
        matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty())
    });
    let Some(mut parsed) = parsed else {
        return Err(ManifestError::RemoteNeedsHttp { url });
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        // Said without them: a credential is never repeated in an error.
        let _ = (parsed.set_username(""), parsed.set_password(None));
        return Err(ManifestError::BadArgument {
            flag: "--url",
            item: format!("{parsed} (its user and password left out here)"),
            message: "Envoy fetches a module with no credentials, and would send these as part of \
                      the Host header; serve the module where it needs none"
                .into(),
        });
    }
    let sha256 = sha256.unwrap_or_default();
    if !super::validate::is_sha256_hex(&sha256) {
        return Err(ManifestError::BadArgument {
            flag: "--sha256",
            item: sha256,
            message: "is not 64 lower-case hex digits".into(),
        });
    }
    let host = parsed.host_str().unwrap_or_default();
    // `[::1]` in a url, `::1` in a socket address.
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = parsed.port_or_known_default().unwrap_or(80);
    let name = format!("{host}:{port}");
    let tls = (parsed.scheme() == "https").then_some(host);
    Ok(Code {
        source: envoy::remote_code(&url, &name, &sha256),
        cluster: Some((name.clone(), envoy::cluster(&name, host, port, tls))),
    })
}

/// `IP:PORT` (`[IPv6]:PORT`): Envoy binds addresses, not host names.
fn parse_listen(item: &str) -> Result<SocketAddr, ManifestError> {
    item.parse().map_err(|_| ManifestError::BadArgument {
        flag: "--listen",
        item: item.to_string(),
        message: "expected IP:PORT, e.g. 127.0.0.1:10000 or [::]:10000".into(),
    })
}

/// `HOST:PORT` (`[IPv6]:PORT`); a host name is resolved by DNS.
fn parse_upstream(item: &str) -> Result<(String, u16), ManifestError> {
    let bad = |message: &str| ManifestError::BadArgument {
        flag: "--upstream",
        item: item.to_string(),
        message: message.to_string(),
    };
    let (host, port) = item
        .rsplit_once(':')
        .ok_or_else(|| bad("expected HOST:PORT, e.g. 127.0.0.1:8080"))?;
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| bad("the port must be a number in 1..65535"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let plain = |c: char| c.is_ascii_alphanumeric() || "-.:".contains(c);
    if host.is_empty() || !host.chars().all(plain) {
        return Err(bad(
            "expected HOST:PORT, e.g. 127.0.0.1:8080 or api.internal:80",
        ));
    }
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(parse_listen("0.0.0.0:8080").unwrap().port(), 8080);
        assert!(parse_listen("[::1]:10000").is_ok());
        assert!(parse_listen("localhost:10000").is_err());
        assert!(parse_listen("127.0.0.1").is_err());
        assert_eq!(
            parse_upstream("api.internal:80").unwrap(),
            ("api.internal".to_string(), 80)
        );
        assert_eq!(parse_upstream("[::1]:81").unwrap().0, "::1");
        assert!(parse_upstream("api:0").is_err());
        assert!(parse_upstream("api").is_err());
        assert!(parse_upstream("a/b:80").is_err());
    }
}
