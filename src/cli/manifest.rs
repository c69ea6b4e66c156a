//! `wasmctl manifest`: flags in, `manifest::generate` out, YAML or JSON to stdout or a file.

use std::path::{Path, PathBuf};

use crate::cli::output::Printer;
use clap::Args;
use wasmctl::key_value::KeyValue;
use wasmctl::manifest::{
    self, CodeSource, EnvoyOptions, FailStrategy, HigressOptions, IstioVersion, Manifest,
    ManifestOptions, MetadataOptions, ModuleOptions, Phase, PlacementOptions, PluginOptions,
    PluginType, PullPolicy, Target,
};
use wasmctl::project::{Lookup, Project};

use super::checked::Checked;
use super::key_value::KeyValueParser;
use super::{JsonArg, ProjectArgs};

/// Print the plugin's deployment for Istio, Envoy Gateway, Higress or plain Envoy, pinned to its
/// last push
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    wasmctl manifest | kubectl apply -f -\n  \
    wasmctl manifest --selector app=demo --config config.yaml --env TRUST_DOMAIN=cluster.local\n  \
    wasmctl manifest --target-ref Gateway/my-gw --phase AUTHN --priority 10 -o plugin.yaml\n  \
    wasmctl manifest --kind TrafficExtension --pull-secret-from-docker-config\n  \
    wasmctl manifest --kind EnvoyExtensionPolicy --target-ref Gateway/eg\n  \
    wasmctl manifest --kind envoy-bootstrap --upstream 127.0.0.1:8080 -o envoy.yaml && envoy -c envoy.yaml\n  \
    wasmctl manifest --kind HigressWasmPlugin --match-rule domain=api.example.com,config=api.yaml")]
pub struct ManifestArgs {
    /// What to emit: WasmPlugin, TrafficExtension (Istio 1.30+), EnvoyExtensionPolicy (Envoy
    /// Gateway 1.9), HigressWasmPlugin, envoy-bootstrap or envoy-filter (plain Envoy)
    #[arg(long, default_value = "WasmPlugin", value_name = "KIND")]
    kind: String,
    #[arg(long, value_name = "X.Y", help = format!(
        "Istio release to target (Istio kinds); fields it lacks are refused [default: {}]",
        IstioVersion::DEFAULT_TARGET
    ))]
    istio_version: Option<IstioVersion>,
    /// metadata.name [default: the package name]
    #[arg(long)]
    name: Option<String>,
    /// metadata.namespace [default: the project's namespace]
    #[arg(short, long)]
    namespace: Option<String>,
    /// metadata label KEY=VALUE, repeatable
    #[arg(long, value_name = "KEY=VALUE", value_parser = KeyValueParser::new("--label"))]
    label: Vec<KeyValue>,
    /// metadata annotation KEY=VALUE, repeatable
    #[arg(long, value_name = "KEY=VALUE", value_parser = KeyValueParser::new("--annotation"))]
    annotation: Vec<KeyValue>,
    /// Workload label KEY=VALUE (selector.matchLabels), repeatable [default: the project's selector]
    #[arg(long, value_name = "KEY=VALUE", value_parser = KeyValueParser::new("--selector"))]
    selector: Vec<KeyValue>,
    /// Apply to every workload of the namespace (no selector)
    #[arg(long, conflicts_with = "selector")]
    no_selector: bool,
    /// Attach to a resource instead of workloads: KIND/NAME or GROUP/KIND/NAME, repeatable
    #[arg(long, value_name = "REF")]
    target_ref: Vec<String>,
    /// Module url: oci://, http(s):// or file:// [default: the last push, pinned by digest]
    #[arg(long)]
    url: Option<String>,
    /// Checksum to verify (64 hex digits) [default: the image digest, or the local module's hash]
    #[arg(long, value_name = "HEX")]
    sha256: Option<String>,
    /// IfNotPresent or Always
    #[arg(long, value_name = "POLICY")]
    image_pull_policy: Option<PullPolicy>,
    /// Name of the Secret holding the registry login
    #[arg(long, value_name = "SECRET")]
    image_pull_secret: Option<String>,
    /// Also emit that Secret, from your docker/podman login for the image's registry
    #[arg(long)]
    pull_secret_from_docker_config: bool,
    /// verificationKey (public key to verify the module with; a PEM key's `-----BEGIN` is taken
    /// as the value, not as a flag)
    #[arg(
        long,
        value_name = "KEY",
        allow_hyphen_values = true,
        value_parser = Checked::new(verification_key)
    )]
    verification_key: Option<String>,
    /// pluginConfig from a YAML or JSON file [default: the project's config file]
    #[arg(long, value_name = "FILE", conflicts_with = "no_config")]
    config: Option<PathBuf>,
    /// Leave out the project's config file
    #[arg(long)]
    no_config: bool,
    /// Override one pluginConfig value: a.b.c=VALUE (VALUE read as YAML), repeatable
    #[arg(long, value_name = "KEY=VALUE", value_parser = KeyValueParser::new("--set"))]
    set: Vec<KeyValue>,
    /// pluginName (the root id the module sees)
    #[arg(long, value_name = "NAME")]
    plugin_name: Option<String>,
    /// AUTHN, AUTHZ or STATS
    #[arg(long)]
    phase: Option<Phase>,
    /// Order among plugins of the same phase (higher runs first)
    #[arg(long, allow_negative_numbers = true, value_name = "N")]
    priority: Option<i64>,
    /// FAIL_CLOSE, FAIL_OPEN or FAIL_RELOAD
    #[arg(long, value_name = "STRATEGY")]
    fail_strategy: Option<FailStrategy>,
    /// VM environment variable NAME=VALUE, repeatable
    #[arg(long, value_name = "NAME=VALUE", value_parser = KeyValueParser::new("--env").when_missing(
        "no value: write NAME=VALUE, or --env-from-host NAME to copy the proxy's own"
    ))]
    env: Vec<KeyValue>,
    /// VM environment variable copied from the proxy's own environment, repeatable
    #[arg(long, value_name = "NAME")]
    env_from_host: Vec<String>,
    /// Traffic to run on: MODE, MODE:PORT,... or :PORT,... (MODE: CLIENT, SERVER, CLIENT_AND_SERVER)
    #[arg(long = "match", value_name = "MATCH")]
    matches: Vec<String>,
    /// HTTP or NETWORK [default: the project's type]
    #[arg(long = "type", value_name = "TYPE")]
    plugin_type: Option<PluginType>,
    /// envoy-bootstrap: the listener's address [default: 127.0.0.1:10000]
    #[arg(long, value_name = "IP:PORT")]
    listen: Option<String>,
    /// envoy-bootstrap: where requests go [default: a direct 200 reply; TCP: echo]
    #[arg(long, value_name = "HOST:PORT")]
    upstream: Option<String>,
    /// envoy-bootstrap, envoy-filter: file (the built module, or --url file://PATH) or remote
    /// (an http(s) --url, checked by sha256) [default: remote for an http(s) --url, else file]
    #[arg(long, value_name = "SOURCE")]
    code: Option<CodeSource>,
    /// HigressWasmPlugin: a rule KEY=VALUE,... with ingress=NS/NAME, domain=HOST or
    /// service=NAME, and config=FILE (its own config), config-disable=true; repeatable
    #[arg(long, value_name = "RULE")]
    match_rule: Vec<String>,
    /// HigressWasmPlugin: apply only where a match rule says (defaultConfigDisable)
    #[arg(long)]
    default_config_disable: bool,
    /// Write to FILE (atomically) instead of stdout, in JSON when FILE ends in .json; `-o yaml`
    /// and `-o json` print that format, as kubectl does, and `-o -` prints to stdout
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    out_file: Option<PathBuf>,
    #[command(flatten)]
    project: ProjectArgs,
    #[command(flatten)]
    pub output: JsonArg,
}

pub fn run(args: ManifestArgs, printer: &Printer) -> anyhow::Result<()> {
    let selector = args.project.selector();
    // Outside a project everything can still come from flags; without a url it is needed (without
    // a name, the error asks for --name).
    let needs = args.url.is_none();
    let project = Project::discover_when(&selector, needs, Lookup::PlainCargoTomlFirst)
        .map_err(wasmctl::Error::from)?;
    if printer.json() && args.out_file.as_deref() == Some(Path::new("yaml")) {
        anyhow::bail!("-o yaml and --json ask for two formats; give one");
    }
    let (out_file, json) = output_of(args.out_file.clone(), printer.json());
    if let Some(path) = out_file.as_ref().filter(|path| path.is_dir()) {
        anyhow::bail!(
            "-o {} is a directory; it takes the file name to write",
            path.display()
        );
    }
    let options = options(args)?;
    if options.istio_version() > IstioVersion::LATEST_KNOWN {
        printer.warn(format_args!(
            "Istio {} is newer than {}, the newest release wasmctl knows; checked against {}'s CRDs",
            options.istio_version(),
            IstioVersion::LATEST_KNOWN,
            IstioVersion::LATEST_KNOWN
        ));
    }
    let resource = manifest::generate(&options, project.as_ref())?;
    for note in &resource.notes {
        printer.warn(note);
    }
    write(&resource, out_file, json, printer)
}

/// A verification key: a PEM key begins with dashes, any other value that does is a flag given
/// where the key should be.
fn verification_key(text: &str) -> Result<String, String> {
    if text.starts_with('-') && !text.starts_with("-----BEGIN") {
        return Err(format!(
            "invalid --verification-key `{text}`: a key, or a PEM key's `-----BEGIN ...`, was expected"
        ));
    }
    Ok(text.to_string())
}

/// `-o` as kubectl users write it: a format (`yaml`, `json`) or `-` means stdout, anything else is a
/// file (`./yaml` for a file of that name), in JSON when its name ends in `.json`, since Envoy
/// reads a bootstrap by its extension. Returns the file, if any, and whether to write JSON.
fn output_of(out_file: Option<PathBuf>, json: bool) -> (Option<PathBuf>, bool) {
    match out_file.as_ref().and_then(|path| path.to_str()) {
        Some("yaml") => (None, false),
        Some("json") => (None, true),
        Some("-") => (None, json),
        _ => {
            let json_file = out_file
                .as_ref()
                .and_then(|path| path.extension())
                .is_some_and(|ext| ext.eq_ignore_ascii_case("json"));
            (out_file, json || json_file)
        }
    }
}

fn options(args: ManifestArgs) -> Result<ManifestOptions, wasmctl::Error> {
    Ok(ManifestOptions {
        kind: args.kind.parse::<Target>()?,
        istio_version: args.istio_version,
        metadata: MetadataOptions {
            name: args.name,
            namespace: args.namespace,
            labels: args.label,
            annotations: args.annotation,
        },
        module: ModuleOptions {
            url: args.url,
            sha256: args.sha256,
            image_pull_policy: args.image_pull_policy,
            image_pull_secret: args.image_pull_secret,
            pull_secret_from_docker_config: args.pull_secret_from_docker_config,
            verification_key: args.verification_key,
            plugin_name: args.plugin_name,
        },
        placement: PlacementOptions {
            selector: args.selector,
            no_selector: args.no_selector,
            target_refs: args.target_ref,
            phase: args.phase,
            priority: args.priority,
            matches: args.matches,
        },
        plugin: PluginOptions {
            plugin_type: args.plugin_type,
            fail_strategy: args.fail_strategy,
            config: args.config,
            no_config: args.no_config,
            set: args.set,
            env: args.env,
            env_from_host: args.env_from_host,
        },
        envoy: EnvoyOptions {
            listen: args.listen,
            upstream: args.upstream,
            code: args.code,
        },
        higress: HigressOptions {
            match_rules: args.match_rule,
            default_config_disable: args.default_config_disable,
        },
    })
}

/// YAML, or JSON under --json, to stdout or atomically to a file.
fn write(
    resource: &Manifest,
    out_file: Option<PathBuf>,
    json: bool,
    printer: &Printer,
) -> anyhow::Result<()> {
    let text = if json {
        resource.to_json()
    } else {
        resource.to_yaml()
    };
    match out_file {
        Some(path) => {
            // A pull Secret is a credential: the file is its owner's alone, as a login is.
            if resource.secret.is_some() {
                wasmctl::fs::write_private(&path, text.as_bytes())?;
            } else {
                wasmctl::fs::write_atomic(&path, text.as_bytes())?;
            }
            printer.status(
                "Wrote",
                format!(
                    "{} `{}`",
                    resource.resource.kind(),
                    resource.resource.name()
                ),
            );
            printer.result(path.display());
        }
        None => printer.result_raw(&text),
    }
    Ok(())
}
