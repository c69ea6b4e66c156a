//! Whether Go's `url.ParseRequestURI` reads a string, and the scheme it reads: what the CEL
//! functions `isURL()` and `url()` of the Kubernetes API server run on a WasmPlugin's or a
//! TrafficExtension's `url`, and (by its host rules) what go-containerregistry takes for a
//! registry. The rules are Go 1.26's, one by one, so that wasmctl refuses what the
//! API server refuses; the interop corpus checks them against the API server's own CEL, and the
//! tests below hold the verdicts and reasons Go 1.26.8 gives for the same strings.

/// The lower-cased scheme of `raw` (empty for a bare path), or why Go reads no request URI in it.
pub fn scheme(raw: &str) -> Result<String, String> {
    if raw.bytes().any(|b| b < b' ' || b == 0x7f) {
        return Err("invalid control character in URL".into());
    }
    if raw.is_empty() {
        return Err("empty url".into());
    }
    if raw == "*" {
        return Ok(String::new());
    }
    let (scheme, rest) = split_scheme(raw)?;
    let scheme = scheme.to_ascii_lowercase();
    // The query is not checked.
    let rest = rest.split_once('?').map_or(rest, |(before, _)| before);
    if !rest.starts_with('/') {
        // With a scheme, a rootless rest is opaque, and taken as it is.
        return match scheme.is_empty() {
            true => Err("invalid URI for request".into()),
            false => Ok(scheme),
        };
    }
    let mut path = rest;
    if let Some(after) = rest.strip_prefix("//")
        && !scheme.is_empty()
    {
        let (authority, after_authority) = after.split_at(after.find('/').unwrap_or(after.len()));
        check_authority(&scheme, authority)?;
        path = after_authority;
    }
    unescape(path, Part::Path)?;
    Ok(scheme)
}

/// The scheme before the first `:` as Go's `net/url` reads it, when there is one: letters,
/// digits, `+`, `-`, `.`, starting with a letter. So `localhost:5000/x` has scheme `localhost`,
/// which is why Istio refuses it without `oci://`.
pub fn scheme_of(raw: &str) -> Option<&str> {
    split_scheme(raw)
        .ok()
        .map(|(scheme, _)| scheme)
        .filter(|scheme| !scheme.is_empty())
}

/// The scheme before the first `:`, and the rest; no scheme when a character that cannot be in
/// one comes first.
fn split_scheme(raw: &str) -> Result<(&str, &str), String> {
    for (i, c) in raw.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return Err("missing protocol scheme".into()),
            b':' => return Ok((&raw[..i], &raw[i + 1..])),
            _ => return Ok(("", raw)),
        }
    }
    Ok(("", raw))
}

/// `[userinfo@]host[:port]`.
fn check_authority(scheme: &str, authority: &str) -> Result<(), String> {
    let (userinfo, host) = match authority.rfind('@') {
        Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
        None => (None, authority),
    };
    check_host(scheme, host)?;
    if let Some(userinfo) = userinfo {
        if !userinfo.chars().all(is_userinfo_char) {
            return Err("invalid userinfo".into());
        }
        for part in userinfo.splitn(2, ':') {
            unescape(part, Part::UserInfo)?;
        }
    }
    Ok(())
}

/// RFC 3986's userinfo characters, `%` (checked as an escape after) and `@`, which Go lets
/// through.
fn is_userinfo_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._:~!$&'()*+,;=%@".contains(c)
}

/// `host[:port]`, the host a name or a bracketed IPv6 address.
fn check_host(scheme: &str, host: &str) -> Result<(), String> {
    match host.rfind('[') {
        Some(0) => {
            let close = host.rfind(']').ok_or("missing ']' in host")?;
            check_port(&host[close + 1..])?;
            let inside = &host[1..close];
            let address = match inside.find("%25") {
                Some(zone) => {
                    let mut address = unescape(&inside[..zone], Part::Host)?;
                    address.extend(unescape(&inside[zone..], Part::Zone)?);
                    address
                }
                None => unescape(inside, Part::Host)?,
            };
            check_ip_literal(&String::from_utf8_lossy(&address))
        }
        Some(_) => Err("invalid IP-literal".into()),
        None => {
            if let Some(first) = host.find(':') {
                // Go reads a second colon as part of the port only in an http(s) URL.
                let colon = match scheme {
                    "http" | "https" => first,
                    _ => host.rfind(':').unwrap_or(first),
                };
                check_port(&host[colon..])?;
            }
            unescape(host, Part::Host).map(drop)
        }
    }
}

/// Nothing, or `:` and digits.
fn check_port(port: &str) -> Result<(), String> {
    let valid = port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|digits| digits.bytes().all(|b| b.is_ascii_digit()));
    match valid {
        true => Ok(()),
        false => Err(format!("invalid port {port:?} after host")),
    }
}

/// What Go's `netip.ParseAddr` must read between brackets: an IPv6 address, with a non-empty zone
/// after `%` if any; not an IPv4 one.
fn check_ip_literal(address: &str) -> Result<(), String> {
    let (ip, zone) = match address.split_once('%') {
        Some((ip, zone)) => (ip, Some(zone)),
        None => (address, None),
    };
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(_)) if zone != Some("") => Ok(()),
        Ok(std::net::IpAddr::V4(_)) => Err("invalid IP-literal".into()),
        _ => Err(format!("invalid host: `{address}` is not an IPv6 address")),
    }
}

/// The part of a URL a string is unescaped as: each allows its own characters and escapes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Path,
    UserInfo,
    Host,
    /// An IPv6 address's zone, from its `%25` on.
    Zone,
}

/// The bytes `s` stands for, or the first bad `%` escape (or, in a host, character) in it.
fn unescape(s: &str, part: Part) -> Result<Vec<u8>, String> {
    let bytes = s.as_bytes();
    let in_host = matches!(part, Part::Host | Part::Zone);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c != b'%' {
            if in_host && c < 0x80 && !is_host_char(c) {
                return Err(format!("invalid character {:?} in host name", c as char));
            }
            out.push(c);
            i += 1;
            continue;
        }
        let escape = &bytes[i..bytes.len().min(i + 3)];
        let bad = || format!("invalid URL escape {:?}", String::from_utf8_lossy(escape));
        let [_, high, low] = *escape else {
            return Err(bad());
        };
        let (Some(high), Some(low)) = (hex(high), hex(low)) else {
            return Err(bad());
        };
        let value = high << 4 | low;
        let percent = escape == b"%25";
        // A host escapes only bytes beyond ASCII (and `%` itself, before a zone); a zone only
        // what could stand in a host as it is, and a space.
        let refused = match part {
            Part::Host => high < 8 && !percent,
            Part::Zone => !percent && value != b' ' && !is_host_char(value),
            Part::Path | Part::UserInfo => false,
        };
        if refused {
            return Err(bad());
        }
        out.push(value);
        i += 3;
    }
    Ok(out)
}

/// The ASCII characters a host may hold as they are: RFC 3986's unreserved and sub-delims, with
/// `:` and brackets for the port and IPv6, and the `<`, `>` and `"` Go lets through.
fn is_host_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-_.~!$&'()*+,;=:[]<>\"".contains(&c)
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::{scheme, scheme_of};

    #[test]
    fn schemes_read_like_go() {
        let cases = [
            ("oci://ghcr.io/a/b:1", Some("oci")),
            ("localhost:5000/demo", Some("localhost")),
            ("ghcr.io/a/b:1", None),
            ("/var/lib/x.wasm", None),
            ("1abc:x", None),
            (":x", None),
        ];
        for (url, expected) in cases {
            assert_eq!(scheme_of(url), expected, "the scheme of `{url}`");
        }
    }

    #[test]
    fn reads_what_go_reads() {
        let read = [
            ("oci://ghcr.io/a/b:1", "oci"),
            ("HTTPS://example.com/p.wasm", "https"),
            ("file:///opt/p.wasm", "file"),
            ("localhost:5000/demo", "localhost"),
            ("/var/lib/x.wasm", ""),
            ("oci://reg/a b", "oci"),
            ("oci://user:p@ss@reg/a", "oci"),
            ("http://[fe80::1%25en0]:80/x", "http"),
            ("http://[::ffff:1.2.3.4]/x", "http"),
            ("oci://a:1:2/x", "oci"),
            ("https://host/p?q=%zz", "https"),
            ("http://h%C3%A9st/x", "http"),
            ("*", ""),
            ("oci://reg/a#frag", "oci"),
            ("oci:reg/a", "oci"),
            ("http:///x", "http"),
            ("//reg/x", ""),
            ("http://h<>/x", "http"),
        ];
        for (url, expected) in read {
            assert_eq!(scheme(url).as_deref(), Ok(expected), "`{url}`");
        }
    }

    #[test]
    fn refuses_what_go_refuses() {
        let refused = [
            ("", "empty url"),
            ("reg.example/a", "invalid URI for request"),
            (":x", "missing protocol scheme"),
            ("oci://reg/a\tb", "control character"),
            ("oci://reg/%zz", "invalid URL escape \"%zz\""),
            ("oci://reg/a%2", "invalid URL escape \"%2\""),
            ("http://a b/x", "invalid character ' ' in host name"),
            ("http://a:1:2/x", "invalid port \":1:2\" after host"),
            ("oci://reg:x/a", "invalid port \":x\" after host"),
            ("http://h%41/x", "invalid URL escape \"%41\""),
            ("http://[::1/x", "missing ']' in host"),
            ("http://[1.2.3.4]/x", "invalid IP-literal"),
            ("http://a[::1]/x", "invalid IP-literal"),
            ("http://[fe80::1%25]/x", "not an IPv6 address"),
            ("http://[fe80::1%25%0a]/x", "invalid URL escape \"%0a\""),
            ("http://us er@h/x", "invalid userinfo"),
            ("http://u%zz@h/x", "invalid URL escape"),
            ("http://h%2x/x", "invalid URL escape \"%2x\""),
        ];
        for (url, why) in refused {
            let verdict = scheme(url);
            assert!(
                verdict.as_ref().is_err_and(|e| e.contains(why)),
                "`{url}`: {verdict:?}, expected {why}"
            );
        }
    }
}
