//! The values `new` writes into `[package.metadata.wasmctl]`, checked by the rules of the commands
//! that later read them: the repository as `push` parses it, the namespace and selector as
//! `manifest` and the Kubernetes API server check them.

use std::collections::BTreeMap;

use super::{NewOptions, ScaffoldError};
use crate::key_value::KeyValue;
use crate::manifest::{ManifestError, labels, names};
use crate::oci::ImageRef;

/// A repository `push` can tag: `HOST[:PORT]/REPOSITORY`, no tag or digest.
pub fn check_repository(repository: &str) -> Result<(), ScaffoldError> {
    ImageRef::parse_repository(repository)?;
    Ok(())
}

/// A namespace: a DNS-1123 label.
pub fn check_namespace(namespace: &str) -> Result<(), ScaffoldError> {
    names::check_label_name(namespace).map_err(|message| {
        ManifestError::BadArgument {
            flag: "--namespace",
            item: namespace.to_string(),
            message,
        }
        .into()
    })
}

/// Workload selector labels, as `manifest --selector` takes them.
pub fn parse_selector(items: &[KeyValue]) -> Result<BTreeMap<String, String>, ScaffoldError> {
    Ok(labels::parse_labels("--selector", items)?)
}

impl NewOptions {
    /// Every value the project will hold, checked before anything is written.
    pub fn validate(&self) -> Result<(), ScaffoldError> {
        check_repository(&self.repository)?;
        check_namespace(&self.namespace)?;
        let items: Vec<KeyValue> = self
            .selector
            .iter()
            .map(|(key, value)| KeyValue {
                key: key.clone(),
                value: value.clone(),
            })
            .collect();
        parse_selector(&items)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scaffold::PluginName;

    #[test]
    fn refuses_what_push_and_manifest_refuse() {
        let repositories = [
            ("ghcr.io/acme/demo", true),
            ("UPPER/Repo", false),
            ("ghcr.io/acme/demo:v1", false),
        ];
        for (repository, ok) in repositories {
            assert_eq!(check_repository(repository).is_ok(), ok, "{repository}");
        }
        for (namespace, ok) in [("istio-system", true), ("Bad_NS", false)] {
            assert_eq!(check_namespace(namespace).is_ok(), ok, "{namespace}");
        }
        for (item, ok) in [("app=demo", true), ("bad key=v", false), ("app=*", false)] {
            let items = [item.parse::<KeyValue>().unwrap()];
            assert_eq!(parse_selector(&items).is_ok(), ok, "{item}");
        }

        let mut options = NewOptions::with_defaults(PluginName::parse("demo").unwrap());
        assert!(options.validate().is_ok());
        options.selector.insert("app".into(), "a b".into());
        assert!(options.validate().is_err());
    }
}
