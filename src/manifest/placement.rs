//! Which workloads or resources the plugin applies to, and on which traffic: `--selector`,
//! `--target-ref` and `--match`, with the project's default selector.

use super::labels::parse_labels;
use super::types::{
    Placement, PolicyTargetReference, PortSelector, TrafficSelector, WorkloadMode, WorkloadSelector,
};
use super::{ManifestError, PlacementOptions};
use crate::project::Settings;

/// Where the plugin applies: an explicit selector, else target refs, else the project's selector.
pub(super) fn placement(
    options: &PlacementOptions,
    settings: Option<&Settings>,
) -> Result<Placement, ManifestError> {
    let selector = if !options.selector.is_empty() {
        Some(parse_labels("--selector", &options.selector)?)
    } else if options.no_selector || !options.target_refs.is_empty() {
        None
    } else {
        settings
            .map(|s| s.selector.clone())
            .filter(|s| !s.is_empty())
    };
    Ok(Placement {
        selector: selector.map(|match_labels| WorkloadSelector { match_labels }),
        target_refs: options
            .target_refs
            .iter()
            .map(|item| parse_target_ref(item, istio_group))
            .collect::<Result<_, _>>()?,
        phase: options.phase,
        priority: options.priority,
        traffic: options
            .matches
            .iter()
            .map(|item| parse_match(item))
            .collect::<Result<_, _>>()?,
    })
}

/// The API group of a kind Istio attaches plugins to; `Some("")` for the core group.
fn istio_group(kind: &str) -> Option<&'static str> {
    match kind {
        "Gateway" | "GatewayClass" => Some("gateway.networking.k8s.io"),
        "Service" => Some(""),
        "ServiceEntry" => Some("networking.istio.io"),
        _ => None,
    }
}

/// `KIND/NAME`, the group from `default_group`, or `GROUP/KIND/NAME`.
pub(super) fn parse_target_ref(
    item: &str,
    default_group: fn(&str) -> Option<&'static str>,
) -> Result<PolicyTargetReference, ManifestError> {
    let bad = |message: String| ManifestError::BadArgument {
        flag: "--target-ref",
        item: item.to_string(),
        message,
    };
    let parts: Vec<&str> = item.split('/').collect();
    let (group, kind, name) = match parts.as_slice() {
        [kind, name] => {
            let group = default_group(kind).ok_or_else(|| {
                bad(format!(
                    "no known API group for kind `{kind}`: write GROUP/KIND/NAME"
                ))
            })?;
            (group, *kind, *name)
        }
        [group, kind, name] => (*group, *kind, *name),
        _ => return Err(bad("expected KIND/NAME or GROUP/KIND/NAME".into())),
    };
    if kind.is_empty() || name.is_empty() {
        return Err(bad("expected KIND/NAME or GROUP/KIND/NAME".into()));
    }
    Ok(PolicyTargetReference {
        group: group.to_string(),
        kind: kind.to_string(),
        name: name.to_string(),
    })
}

/// `MODE`, `MODE:PORT,PORT` or `:PORT,PORT`.
fn parse_match(item: &str) -> Result<TrafficSelector, ManifestError> {
    let bad = |message: String| ManifestError::BadArgument {
        flag: "--match",
        item: item.to_string(),
        message,
    };
    let (mode, ports) = item.split_once(':').unwrap_or((item, ""));
    let mode = if mode.is_empty() {
        None
    } else {
        Some(mode.parse::<WorkloadMode>().map_err(bad)?)
    };
    let ports = ports
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let number: u32 = p
                .parse()
                .map_err(|_| bad(format!("`{p}` is not a port number")))?;
            if !(1..=65535).contains(&number) {
                return Err(bad(format!("port {number} is not in 1..65535")));
            }
            Ok(PortSelector { number })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if mode.is_none() && ports.is_empty() {
        return Err(bad(
            "expected MODE, MODE:PORT[,PORT...] or :PORT[,PORT...]".into()
        ));
    }
    Ok(TrafficSelector { mode, ports })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_refs_and_matches() {
        let r = parse_target_ref("Gateway/my-gw", istio_group).unwrap();
        assert_eq!(
            (r.group.as_str(), r.kind.as_str(), r.name.as_str()),
            ("gateway.networking.k8s.io", "Gateway", "my-gw")
        );
        assert_eq!(
            parse_target_ref("Service/api", istio_group).unwrap().group,
            ""
        );
        assert!(parse_target_ref("Widget/x", istio_group).is_err());
        assert_eq!(
            parse_target_ref("example.com/Widget/x", istio_group)
                .unwrap()
                .group,
            "example.com"
        );
        let m = parse_match("SERVER:8080,8443").unwrap();
        assert_eq!(m.mode, Some(WorkloadMode::Server));
        assert_eq!(m.ports.len(), 2);
        assert!(parse_match(":0").is_err());
        assert!(parse_match("SIDEWAYS").is_err());
        assert!(parse_match("").is_err());
    }
}
