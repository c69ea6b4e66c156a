//! Which flags each kind can express. A flag a kind has no field for is refused, with what that
//! proxy offers instead, and never dropped silently: a plugin deployed without its selector or
//! phase would run where the user did not mean it to.

use super::{ManifestError, ManifestOptions, Target};

/// Refuses the first flag given that `options.kind` cannot express.
pub(super) fn refuse_inexpressible(options: &ManifestOptions) -> Result<(), ManifestError> {
    let target = options.kind;
    for (flag, given) in given(options) {
        if given && let Some(hint) = instead(target, flag) {
            return Err(ManifestError::Inexpressible {
                flag: flag.to_string(),
                kind: target,
                hint: hint.to_string(),
            });
        }
    }
    Ok(())
}

/// Every flag that only some kinds take, and whether it was given.
fn given(o: &ManifestOptions) -> [(&'static str, bool); 21] {
    let (metadata, module, placement) = (&o.metadata, &o.module, &o.placement);
    let (plugin, envoy, higress) = (&o.plugin, &o.envoy, &o.higress);
    [
        ("--selector", !placement.selector.is_empty()),
        ("--target-ref", !placement.target_refs.is_empty()),
        ("--phase", placement.phase.is_some()),
        ("--priority", placement.priority.is_some()),
        ("--match", !placement.matches.is_empty()),
        ("--env", !plugin.env.is_empty()),
        ("--env-from-host", !plugin.env_from_host.is_empty()),
        ("--fail-strategy", plugin.fail_strategy.is_some()),
        ("--verification-key", module.verification_key.is_some()),
        ("--image-pull-policy", module.image_pull_policy.is_some()),
        ("--image-pull-secret", module.image_pull_secret.is_some()),
        (
            "--pull-secret-from-docker-config",
            module.pull_secret_from_docker_config,
        ),
        ("--label", !metadata.labels.is_empty()),
        ("--annotation", !metadata.annotations.is_empty()),
        ("--namespace", metadata.namespace.is_some()),
        ("--listen", envoy.listen.is_some()),
        ("--upstream", envoy.upstream.is_some()),
        ("--code", envoy.code.is_some()),
        ("--match-rule", !higress.match_rules.is_empty()),
        ("--default-config-disable", higress.default_config_disable),
        ("--istio-version", o.istio_version.is_some()),
    ]
}

/// What to use instead of `flag` for `target`; `None` when the target takes the flag.
fn instead(target: Target, flag: &str) -> Option<&'static str> {
    match target {
        Target::WasmPlugin | Target::TrafficExtension => match flag {
            "--istio-version" => None,
            _ => elsewhere(flag),
        },
        Target::EnvoyExtensionPolicy => envoy_gateway(flag).or_else(|| elsewhere(flag)),
        Target::HigressWasmPlugin => higress(flag).or_else(|| match flag {
            "--match-rule" | "--default-config-disable" => None,
            _ => elsewhere(flag),
        }),
        Target::EnvoyBootstrap => envoy(flag).or_else(|| match flag {
            "--listen" | "--upstream" | "--code" => None,
            _ => elsewhere(flag),
        }),
        Target::EnvoyFilter => envoy(flag).or_else(|| match flag {
            "--code" => None,
            "--listen" | "--upstream" => Some(
                "envoy-filter prints only the filter entry; --kind envoy-bootstrap builds the \
                 listener around it",
            ),
            _ => elsewhere(flag),
        }),
    }
}

/// The flags of one kind only, refused for the others.
fn elsewhere(flag: &str) -> Option<&'static str> {
    match flag {
        "--listen" | "--upstream" => Some("it applies to --kind envoy-bootstrap"),
        "--code" => Some("it applies to --kind envoy-bootstrap and --kind envoy-filter"),
        "--match-rule" | "--default-config-disable" => {
            Some("it applies to --kind HigressWasmPlugin")
        }
        "--istio-version" => Some("it applies to Istio's kinds, WasmPlugin and TrafficExtension"),
        _ => None,
    }
}

fn envoy_gateway(flag: &str) -> Option<&'static str> {
    Some(match flag {
        "--selector" => {
            "Envoy Gateway attaches policies to Gateway API resources: pass --target-ref \
             Gateway/NAME or --target-ref HTTPRoute/NAME"
        }
        "--phase" => {
            "Envoy Gateway places the Wasm filter itself; to move it, set spec.filterOrder on the \
             EnvoyProxy resource (e.g. envoy.filters.http.wasm before envoy.filters.http.jwt_authn)"
        }
        "--priority" => {
            "the extensions of one policy run in the order of spec.wasm; to order filters, set \
             spec.filterOrder on the EnvoyProxy resource"
        }
        "--match" => {
            "attach the policy to the traffic it should see with --target-ref HTTPRoute/NAME or \
             GRPCRoute/NAME"
        }
        "--env" => {
            "Envoy Gateway passes only the proxy's own variables: set the variable on the Envoy \
             deployment (EnvoyProxy spec.provider.kubernetes.envoyDeployment.container.env) and \
             pass --env-from-host NAME"
        }
        "--verification-key" => {
            "Envoy Gateway checks a module by its sha256 only, which the last push pins"
        }
        _ => return None,
    })
}

/// Higress's WasmPlugin (1.4): Istio's early fields, no workload selection and no VM settings.
fn higress(flag: &str) -> Option<&'static str> {
    Some(match flag {
        "--selector" | "--target-ref" | "--match" => {
            "Higress applies a plugin to its gateway: narrow it with --match-rule \
             ingress=NS/NAME, domain=HOST or service=NAME, each with its own config"
        }
        "--env" | "--env-from-host" => {
            "Higress's WasmPlugin has no vmConfig: put the values in the pluginConfig"
        }
        "--fail-strategy" => {
            "Higress's WasmPlugin has no failStrategy; a failing plugin fails closed"
        }
        _ => return None,
    })
}

/// Static Envoy configuration: the filter goes where it is written, the code is a file or a url.
fn envoy(flag: &str) -> Option<&'static str> {
    Some(match flag {
        "--selector" | "--target-ref" | "--match" | "--phase" | "--priority" => {
            "in static Envoy configuration the filter runs where it is written: on the listener \
             of --kind envoy-bootstrap, or wherever the envoy-filter entry is pasted"
        }
        "--image-pull-policy"
        | "--image-pull-secret"
        | "--pull-secret-from-docker-config"
        | "--verification-key" => {
            "Envoy reads the module from a file (--code file) or fetches it over HTTP(S) and \
             checks its sha256 (--code remote --url https://...)"
        }
        "--label" | "--annotation" | "--namespace" => {
            "Envoy configuration is not a Kubernetes object; name the filter with --name"
        }
        _ => return None,
    })
}
