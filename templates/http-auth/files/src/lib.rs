//! {{name}}: a proxy-wasm HTTP filter that lets a request through only when one of its headers
//! (by default `authorization`) carries a value from an allow-list.
//!
//! pluginConfig, as the proxy delivers it (JSON):
//!
//! ```json
//! {"header": "authorization", "allow": ["Bearer token-a"], "deny_status": 403, "realm": "demo"}
//! ```
//!
//! - no header (or an empty one): local reply 401 with `www-authenticate`;
//! - a value not in `allow`: local reply `deny_status` (403 unless set to 401);
//! - an allowed value: the request continues, with `x-trust-domain` set when the environment
//!   variable `TRUST_DOMAIN` is (Istio: the WasmPlugin's `vmConfig.env`).
//!
//! The proxy-wasm callbacks below only move data between the proxy and [`Config`]; the decisions are
//! plain functions, which is what the unit tests exercise on the host.

use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};
use serde::Deserialize;

proxy_wasm::main! {{
    // Hand every record to the proxy, which filters by its own level
    // (Envoy: `--component-log-level wasm:debug`).
    proxy_wasm::set_log_level(LogLevel::Trace);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Plugin::default()) });
}}

/// The environment variable that, when set, is forwarded upstream as `x-trust-domain`.
const TRUST_DOMAIN_ENV: &str = "TRUST_DOMAIN";
const TRUST_DOMAIN_HEADER: &str = "x-trust-domain";

/// The pluginConfig as written. Unknown keys are errors: a misspelt key in an access policy
/// should stop the rollout, not be ignored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    header: Option<String>,
    allow: Vec<String>,
    deny_status: Option<u32>,
    realm: Option<String>,
    scheme: Option<String>,
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The request header holding the credentials, in lowercase.
    pub header: String,
    /// The accepted values of that header, compared exactly.
    pub allow: Vec<String>,
    /// The status for credentials that are not allowed: 401 or 403.
    pub deny_status: u32,
    /// The `www-authenticate` value sent with every 401, e.g. `Bearer realm="demo"`.
    pub challenge: String,
    /// Set as `x-trust-domain` on allowed requests.
    pub trust_domain: Option<String>,
}

/// Why a request is refused, and with which status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Denial {
    pub status: u32,
    /// For the log and the reply body; never contains the credentials presented.
    pub reason: &'static str,
}

impl Config {
    /// Builds the configuration from the pluginConfig and the trust domain, if the environment
    /// has one. There is no useful default for an allow-list, so an empty pluginConfig is an error.
    pub fn load(plugin_config: &[u8], trust_domain: Option<&str>) -> Result<Config, String> {
        if plugin_config.iter().all(u8::is_ascii_whitespace) {
            return Err("pluginConfig is empty; `allow` must list the accepted values".into());
        }
        // serde would also take a struct written as an array of its fields; a pluginConfig is a map.
        if plugin_config.trim_ascii_start().first() != Some(&b'{') {
            return Err("pluginConfig must be an object".into());
        }
        let settings: Settings =
            serde_json::from_slice(plugin_config).map_err(|err| err.to_string())?;

        let header = settings.header.as_deref().unwrap_or("authorization");
        if !is_token(header) {
            return Err(format!("`header`: `{header}` is not a valid header name"));
        }
        if settings.allow.is_empty() {
            return Err("`allow` is empty, so every request would be denied".into());
        }
        if settings.allow.iter().any(String::is_empty) {
            return Err("`allow` contains an empty value".into());
        }
        let deny_status = settings.deny_status.unwrap_or(403);
        if !matches!(deny_status, 401 | 403) {
            return Err(format!(
                "`deny_status` must be 401 or 403, not {deny_status}"
            ));
        }
        let scheme = settings.scheme.as_deref().unwrap_or("Bearer");
        if !is_token(scheme) {
            return Err(format!(
                "`scheme`: `{scheme}` is not a valid authentication scheme"
            ));
        }
        let realm = settings.realm.as_deref().unwrap_or(env!("CARGO_PKG_NAME"));
        // The realm is sent as a quoted string; keep it free of what would need escaping.
        if realm
            .chars()
            .any(|c| c == '"' || c == '\\' || c.is_control())
        {
            return Err(
                "`realm` must not contain quotes, backslashes or control characters".into(),
            );
        }
        let trust_domain = match trust_domain.filter(|d| !d.is_empty()) {
            Some(d) if d.chars().any(|c| c.is_control()) => {
                return Err(format!("{TRUST_DOMAIN_ENV} contains control characters"));
            }
            other => other.map(str::to_string),
        };

        Ok(Config {
            header: header.to_ascii_lowercase(),
            allow: settings.allow,
            deny_status,
            challenge: format!("{scheme} realm=\"{realm}\""),
            trust_domain,
        })
    }

    /// Decides on a request from the value of the configured header, if it has one.
    pub fn check(&self, value: Option<&[u8]>) -> Result<(), Denial> {
        let value = match value {
            Some(value) if !value.is_empty() => value,
            _ => {
                return Err(Denial {
                    status: 401,
                    reason: "missing credentials",
                })
            }
        };
        // Compare against every entry, without stopping at the first match, so the time taken
        // does not tell an attacker how close a guess was.
        let allowed = self.allow.iter().fold(false, |found, allowed| {
            found | constant_time_eq(allowed.as_bytes(), value)
        });
        if allowed {
            Ok(())
        } else {
            Err(Denial {
                status: self.deny_status,
                reason: "credentials not allowed",
            })
        }
    }

    /// The headers of the local reply for a denial.
    pub fn reply_headers(&self, denial: &Denial) -> Vec<(&str, &str)> {
        let mut headers = vec![("content-type", "text/plain")];
        // Every 401 must say how to authenticate (RFC 9110, section 15.5.2).
        if denial.status == 401 {
            headers.push(("www-authenticate", self.challenge.as_str()));
        }
        headers
    }
}

/// Whether `s` is an RFC 9110 token, as header names and authentication schemes are.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Compares two byte strings in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// The root context: owns the configuration and creates one [`Authorize`] per request.
#[derive(Default)]
struct Plugin {
    /// Shared with the request contexts; a new configuration applies to new requests. `None`
    /// until a configuration is accepted, and requests are denied until then.
    config: Option<Rc<Config>>,
}

impl Context for Plugin {}

impl RootContext for Plugin {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let plugin_config = self.get_plugin_configuration().unwrap_or_default();
        let trust_domain = std::env::var(TRUST_DOMAIN_ENV).ok();
        match Config::load(&plugin_config, trust_domain.as_deref()) {
            Ok(config) => {
                log::info!(
                    "checking header `{}` against {} allowed value(s)",
                    config.header,
                    config.allow.len()
                );
                self.config = Some(Rc::new(config));
                true
            }
            Err(err) => {
                // Returning false makes the proxy reject this configuration.
                log::error!("invalid pluginConfig: {err}");
                false
            }
        }
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Authorize {
            config: self.config.clone(),
        }))
    }
}

/// One request.
struct Authorize {
    config: Option<Rc<Config>>,
}

impl Context for Authorize {}

impl HttpContext for Authorize {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(config) = &self.config else {
            // Fail closed: without a configuration nothing is allowed.
            self.send_http_response(503, vec![], Some(b"not configured\n"));
            return Action::Pause;
        };
        // The _bytes variant: the string one panics on a value that is not UTF-8.
        let value = self.get_http_request_header_bytes(&config.header);
        match config.check(value.as_deref()) {
            Ok(()) => {
                if let Some(domain) = &config.trust_domain {
                    // Set, not added, so a client cannot supply its own value.
                    self.set_http_request_header(TRUST_DOMAIN_HEADER, Some(domain));
                }
                Action::Continue
            }
            Err(denial) => {
                log::debug!("denied ({}): {}", denial.status, denial.reason);
                let body = format!("{}\n", denial.reason);
                let headers = config.reply_headers(&denial);
                self.send_http_response(denial.status, headers, Some(body.as_bytes()));
                Action::Pause
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &[u8] = br#"{
        "header": "authorization",
        "allow": ["Bearer token-a", "Bearer token-b"],
        "deny_status": 403,
        "realm": "demo"
    }"#;

    fn example() -> Config {
        Config::load(EXAMPLE, None).unwrap()
    }

    #[test]
    fn reads_the_example_config() {
        let config = example();
        assert_eq!(config.header, "authorization");
        assert_eq!(config.allow, ["Bearer token-a", "Bearer token-b"]);
        assert_eq!(config.deny_status, 403);
        assert_eq!(config.challenge, r#"Bearer realm="demo""#);
        assert_eq!(config.trust_domain, None);
    }

    #[test]
    fn fills_in_defaults() {
        let config = Config::load(br#"{"allow": ["k"], "header": "X-Api-Key"}"#, None).unwrap();
        assert_eq!(config.header, "x-api-key");
        assert_eq!(config.deny_status, 403);
        assert_eq!(
            config.challenge,
            format!("Bearer realm=\"{}\"", env!("CARGO_PKG_NAME"))
        );
    }

    #[test]
    fn allows_listed_values_only() {
        let config = example();
        assert_eq!(config.check(Some(b"Bearer token-a")), Ok(()));
        assert_eq!(config.check(Some(b"Bearer token-b")), Ok(()));
        for other in [
            &b"Bearer token-c"[..],
            b"Bearer token-a ",
            b"bearer token-a",
            b"\xff",
        ] {
            let denial = config.check(Some(other)).unwrap_err();
            assert_eq!(denial.status, 403);
        }
    }

    #[test]
    fn challenges_requests_without_credentials() {
        let config = example();
        for missing in [None, Some(&b""[..])] {
            let denial = config.check(missing).unwrap_err();
            assert_eq!(denial.status, 401);
            assert_eq!(
                config.reply_headers(&denial),
                [
                    ("content-type", "text/plain"),
                    ("www-authenticate", r#"Bearer realm="demo""#)
                ]
            );
        }
    }

    #[test]
    fn a_403_carries_no_challenge_but_a_401_deny_status_does() {
        let config = example();
        let denial = config.check(Some(b"wrong")).unwrap_err();
        assert_eq!(
            config.reply_headers(&denial),
            [("content-type", "text/plain")]
        );

        let input = br#"{"allow": ["k"], "deny_status": 401, "scheme": "ApiKey", "realm": "r"}"#;
        let config = Config::load(input, None).unwrap();
        let denial = config.check(Some(b"wrong")).unwrap_err();
        assert_eq!(denial.status, 401);
        assert!(config
            .reply_headers(&denial)
            .contains(&("www-authenticate", r#"ApiKey realm="r""#)));
    }

    #[test]
    fn keeps_a_non_empty_trust_domain() {
        let config = Config::load(EXAMPLE, Some("cluster.local")).unwrap();
        assert_eq!(config.trust_domain.as_deref(), Some("cluster.local"));
        assert_eq!(Config::load(EXAMPLE, Some("")).unwrap().trust_domain, None);
        assert!(Config::load(EXAMPLE, Some("bad\r\nvalue")).is_err());
    }

    #[test]
    fn rejects_invalid_configs() {
        for input in [
            &b""[..],
            b"  ",
            b"{}",
            b"[]",
            br#"[null, ["k"]]"#,
            b"not json",
            br#"{"allow": []}"#,
            br#"{"allow": [""]}"#,
            br#"{"allow": "Bearer token-a"}"#,
            br#"{"allow": [1]}"#,
            br#"{"allow": ["k"], "deny_status": 404}"#,
            br#"{"allow": ["k"], "deny_status": "403"}"#,
            br#"{"allow": ["k"], "header": "bad header"}"#,
            br#"{"allow": ["k"], "header": ":authority"}"#,
            br#"{"allow": ["k"], "scheme": "Bad Scheme"}"#,
            br#"{"allow": ["k"], "realm": "a\"b"}"#,
            br#"{"allow": ["k"], "alow": ["typo"]}"#,
        ] {
            assert!(
                Config::load(input, None).is_err(),
                "accepted {}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn constant_time_eq_compares_bytes() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }
}
