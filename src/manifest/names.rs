//! Kubernetes naming rules (apimachinery's validation): object names, namespaces, label keys and
//! values. Each check returns why a string breaks the rule.

/// A DNS-1123 subdomain: the rule for object names (WasmPlugin, Secret).
pub fn check_subdomain(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("must not be empty".into());
    }
    at_most(value, 253, "")?;
    // apimachinery checks the whole against one pattern: no part has a length of its own.
    if !value.split('.').all(is_dns_part) {
        return Err(
            "must consist of lower case letters, digits, '-' and '.', and start and end with a \
             letter or digit"
                .into(),
        );
    }
    Ok(())
}

/// A DNS-1123 label: the rule for namespaces.
pub fn check_label_name(value: &str) -> Result<(), String> {
    at_most(value, 63, "")?;
    if !is_dns_label(value) {
        return Err(
            "must consist of lower case letters, digits and '-', and start and end with a letter \
             or digit"
                .into(),
        );
    }
    Ok(())
}

/// A label or annotation key: `[PREFIX/]NAME`, PREFIX a DNS subdomain, NAME a qualified name.
pub fn check_label_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        check_subdomain(prefix).map_err(|why| format!("its prefix `{prefix}` {why}"))?;
    }
    if name.is_empty() {
        return Err("its name part must not be empty".into());
    }
    at_most(name, 63, "its name part ")?;
    if !is_qualified_name(name) {
        return Err(
            "its name part must consist of letters, digits, '-', '_' or '.', and start and end \
             with a letter or digit"
                .into(),
        );
    }
    Ok(())
}

/// A label value: empty, or up to 63 characters of the qualified-name alphabet.
pub fn check_label_value(value: &str) -> Result<(), String> {
    at_most(value, 63, "")?;
    if !value.is_empty() && !is_qualified_name(value) {
        return Err(
            "must consist of letters, digits, '-', '_' or '.', and start and end with a letter or \
             digit"
                .into(),
        );
    }
    Ok(())
}

/// The length rule every name has; `part` says which part of the name it is about.
fn at_most(value: &str, max: usize, part: &str) -> Result<(), String> {
    if value.len() > max {
        return Err(format!(
            "{part}must be at most {max} characters (it has {})",
            value.len()
        ));
    }
    Ok(())
}

/// Turns a cargo package name into the object name Kubernetes accepts (`my_plugin` -> `my-plugin`).
pub fn object_name_from_package(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

fn is_dns_label(s: &str) -> bool {
    s.len() <= 63 && is_dns_part(s)
}

/// Lower case letters, digits and '-', starting and ending with a letter or digit.
fn is_dns_part(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
}

fn is_qualified_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asserts that `check` accepts every one of `valid` and refuses every one of `invalid`,
    /// naming the value it misjudges.
    fn judges(check: fn(&str) -> Result<(), String>, valid: &[&str], invalid: &[&str]) {
        for value in valid {
            assert!(
                check(value).is_ok(),
                "`{value}` refused: {:?}",
                check(value)
            );
        }
        for value in invalid {
            assert!(check(value).is_err(), "`{value}` accepted");
        }
    }

    #[test]
    fn object_names() {
        let too_long = "a".repeat(254);
        let subdomains = ["Demo", "demo_x", "-demo", "demo.", &too_long];
        // A part may be longer than a label: only the whole has a limit.
        let long_part = "a".repeat(64);
        judges(
            check_subdomain,
            &["demo", "demo.v2-a", &long_part],
            &subdomains,
        );
        judges(check_label_name, &["istio-system"], &["a.b", &long_part]);
    }

    #[test]
    fn label_keys_and_values() {
        let too_long = "a".repeat(64);
        let keys = ["app", "app.kubernetes.io/name", "Team_1.x"];
        let bad_keys = ["-app", "app*", "", "/app", "Example.com/app", &too_long];
        judges(check_label_key, &keys, &bad_keys);
        judges(
            check_label_value,
            &["", "v1.2_x"],
            &["a b", "x*", &too_long],
        );
    }

    #[test]
    fn package_names_become_object_names() {
        assert_eq!(object_name_from_package("My_Plugin"), "my-plugin");
    }
}
