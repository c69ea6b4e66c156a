//! Whether go-containerregistry's `name.ParseReference` (v0.22, default options) reads an image
//! reference: the parser Istio's agent, Envoy Gateway and Higress fetch a module's image with. A
//! reference it cannot read passes every admission check, then fails in the cluster; `manifest`
//! refuses it instead. The rules are go-containerregistry's own, which differ from the Docker
//! grammar [`super::ImageRef::parse`] follows (a registry may be left out, for Docker Hub; the
//! repository is any run of `a-z0-9_-./`).

use crate::go_url;

/// The characters of a repository and of a tag, as go-containerregistry lists them.
const REPOSITORY_CHARS: &str = "abcdefghijklmnopqrstuvwxyz0123456789_-./";
const TAG_CHARS: &str = "abcdefghijklmnopqrstuvwxyz0123456789_-.ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// `Ok` when `reference` (`[registry/]repository[:tag][@sha256:hex]`, no scheme) reads as a tag
/// or a digest reference; else why it reads as neither.
pub fn parse_reference(reference: &str) -> Result<(), String> {
    let as_tag = tag(reference);
    if as_tag.is_ok() || digest(reference).is_ok() {
        return Ok(());
    }
    // The reason that fits what was written: the digest's when an `@` comes before one.
    let written_digest = reference
        .split_once('@')
        .is_some_and(|(_, after)| after.contains(':'));
    match written_digest {
        true => digest(reference),
        false => as_tag,
    }
}

/// `repository[:tag]`: the tag is what follows the last `:`, unless a `/` does.
fn tag(name: &str) -> Result<(), String> {
    let (base, tag) = match name.rsplit_once(':') {
        Some((base, tag)) if !tag.contains('/') => (base, Some(tag)),
        _ => (name, None),
    };
    if let Some(tag) = tag {
        if tag.is_empty() {
            return Err(format!("`{name}` has no tag after its `:`"));
        }
        element("tag", tag, TAG_CHARS, 128)?;
    }
    repository(base)
}

/// `name@sha256:HEX`, the name with or without a tag.
fn digest(name: &str) -> Result<(), String> {
    let parts: Vec<&str> = name.split('@').collect();
    let [base, digest] = parts[..] else {
        return Err(format!(
            "`{name}` must have exactly one `@` before its digest"
        ));
    };
    let Some(hex) = digest.strip_prefix("sha256:") else {
        return Err(format!("digest `{digest}` is not sha256"));
    };
    let hex_digits = |c: char| c.is_ascii_digit() || ('a'..='f').contains(&c);
    if hex.len() != 64 || !hex.chars().all(hex_digits) {
        return Err(format!("digest `{digest}` is not 64 lower-case hex digits"));
    }
    match tag(base) {
        Ok(()) => Ok(()),
        Err(_) => repository(base),
    }
}

/// `[registry/]repository`: the first part is a registry when it is `localhost` or holds a `.` or
/// a `:`; without one, Docker Hub's.
fn repository(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a repository name must be given".into());
    }
    let (registry, repository) = match name.split_once('/') {
        Some((first, rest)) if first == "localhost" || first.contains(['.', ':']) => (first, rest),
        _ => ("", name),
    };
    element("repository", repository, REPOSITORY_CHARS, 255)?;
    check_registry(registry)
}

/// What Go's `url.Parse("//" + name)` reads as the host, unchanged: an RFC 3986 authority with no
/// user, path, query or escape.
fn check_registry(name: &str) -> Result<(), String> {
    let bad = || format!("registry `{name}` is not a host[:port]");
    if name.contains(['/', '?', '#', '@', '%']) {
        return Err(bad());
    }
    match go_url::scheme(&format!("oci://{name}/x")) {
        Ok(_) => Ok(()),
        Err(_) => Err(bad()),
    }
}

/// Between 1 and `max` characters, each one of `allowed`.
fn element(what: &str, text: &str, allowed: &str, max: usize) -> Result<(), String> {
    let count = text.chars().count();
    if count == 0 || count > max {
        return Err(format!(
            "{what} `{text}` must be between 1 and {max} characters long"
        ));
    }
    if let Some(c) = text.chars().find(|c| !allowed.contains(*c)) {
        return Err(format!("{what} `{text}` cannot hold {c:?}"));
    }
    Ok(())
}

/// The verdicts below are go-containerregistry v0.22.0's own, run on the same strings.
#[cfg(test)]
mod tests {
    use super::parse_reference;

    #[test]
    fn reads_what_go_containerregistry_reads() {
        let hex = "a".repeat(64);
        for reference in [
            "registry.example/team/plugin:v1".to_string(),
            "plugin".into(),
            "team/plugin:v1.2_3-rc".into(),
            "localhost/plugin".into(),
            "localhost:5000/a/b".into(),
            "[::1]:5000/a".into(),
            "Registry.Example/a".into(),
            "r.example/a-/b__c".into(),
            format!("r.example/a@sha256:{hex}"),
            format!("r.example/a:v1@sha256:{hex}"),
            "r.example/a//b".into(),
            "r.example/.a".into(),
            "r_x.example/a".into(),
        ] {
            assert_eq!(parse_reference(&reference), Ok(()), "`{reference}`");
        }
    }

    #[test]
    fn refuses_what_go_containerregistry_refuses() {
        let hex = "a".repeat(64);
        for (reference, why) in [
            (
                "r.example/p:bad tag".to_string(),
                "tag `bad tag` cannot hold ' '",
            ),
            ("R.example/P:v1".into(), "repository `P` cannot hold 'P'"),
            ("r.example/p@sha512:abc".into(), "is not sha256"),
            ("r.example/p@sha256:ABC".into(), "64 lower-case hex"),
            (format!("r.example/p@sha256:{hex}@x"), "exactly one `@`"),
            ("r.example/".into(), "repository `` must be between"),
            ("r.example/p:".into(), "no tag after its `:`"),
            (
                format!("r.example/p:{}", "t".repeat(129)),
                "between 1 and 128",
            ),
            ("".into(), "a repository name must be given"),
            ("r.example:x/p".into(), "registry `r.example:x` is not"),
            ("r.ex ample/p".into(), "registry `r.ex ample` is not"),
            (
                "user@r.example/a".into(),
                "registry `user@r.example` is not",
            ),
            (
                "r.example/a:b/c".into(),
                "repository `a:b/c` cannot hold ':'",
            ),
            ("[fe80::1%25en0]/a".into(), "is not a host"),
        ] {
            let verdict = parse_reference(&reference);
            assert!(
                verdict.as_ref().is_err_and(|e| e.contains(why)),
                "`{reference}`: {verdict:?}, expected {why}"
            );
        }
    }
}
