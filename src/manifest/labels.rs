//! Labels, annotations and selectors from KEY=VALUE flags, checked as Kubernetes checks them.

use std::collections::BTreeMap;

use super::{ManifestError, names};
use crate::key_value::KeyValue;

/// The pairs as a map; `flag` names them in errors. Annotation values are free text, label and
/// selector values are label values.
pub(crate) fn parse_labels(
    flag: &'static str,
    items: &[KeyValue],
) -> Result<BTreeMap<String, String>, ManifestError> {
    let mut pairs = BTreeMap::new();
    for item in items {
        let bad = |message: &str| ManifestError::BadArgument {
            flag,
            item: item.to_string(),
            message: message.to_string(),
        };
        let KeyValue { key, value } = item;
        if flag != "--annotation" {
            if key.contains('*') || value.contains('*') {
                return Err(bad("wildcards are not allowed in labels"));
            }
            names::check_label_value(value).map_err(|why| bad(&format!("the value {why}")))?;
        }
        // apimachinery checks an annotation's key lower-cased, a label's as it is.
        let checked = match flag {
            "--annotation" => key.to_ascii_lowercase(),
            _ => key.clone(),
        };
        names::check_label_key(&checked).map_err(|why| bad(&format!("the key: {why}")))?;
        if pairs.insert(key.clone(), value.clone()).is_some() {
            return Err(bad("the key is given twice"));
        }
    }
    Ok(pairs)
}
