//! {{name}}: a proxy-wasm HTTP filter that adds the headers named in its pluginConfig to every
//! response.
//!
//! pluginConfig, as the proxy delivers it (JSON):
//!
//! ```json
//! {"headers": {"x-greeting": "hello"}}
//! ```
//!
//! When the environment variable `TRUST_DOMAIN` is set (Istio: the WasmPlugin's `vmConfig.env`),
//! responses also get `x-trust-domain: <its value>`.
//!
//! The proxy-wasm callbacks below only move data between the proxy and [`Config`]; the decisions are
//! plain functions, which is what the unit tests exercise on the host.

mod json;

use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};

use json::Value;

proxy_wasm::main! {{
    // Hand every record to the proxy, which filters by its own level
    // (Envoy: `--component-log-level wasm:debug`).
    proxy_wasm::set_log_level(LogLevel::Trace);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Plugin::default()) });
}}

/// The environment variable that, when set, becomes the `x-trust-domain` response header.
const TRUST_DOMAIN_ENV: &str = "TRUST_DOMAIN";
const TRUST_DOMAIN_HEADER: &str = "x-trust-domain";

/// The validated configuration.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// Headers to add to every response: lowercase names, in configuration order.
    pub headers: Vec<(String, String)>,
}

impl Config {
    /// Builds the configuration from the pluginConfig and the trust domain (if the environment
    /// has one). An empty pluginConfig means no configured headers.
    pub fn load(plugin_config: &[u8], trust_domain: Option<&str>) -> Result<Config, String> {
        let mut config = if plugin_config.iter().all(u8::is_ascii_whitespace) {
            Config::default()
        } else {
            Config::parse(plugin_config)?
        };
        if let Some(domain) = trust_domain.filter(|d| !d.is_empty()) {
            let header = checked_header(TRUST_DOMAIN_HEADER, domain)
                .map_err(|err| format!("{TRUST_DOMAIN_ENV}: {err}"))?;
            config.headers.push(header);
        }
        Ok(config)
    }

    /// Parses `{"headers": {"name": "value", ...}}`. Other keys are ignored, so the pluginConfig
    /// can carry settings for other tools.
    pub fn parse(plugin_config: &[u8]) -> Result<Config, String> {
        let root = json::parse(plugin_config).map_err(|err| err.to_string())?;
        if !matches!(root, Value::Object(_)) {
            return Err(format!(
                "pluginConfig must be an object, not {}",
                root.kind()
            ));
        }
        let headers = match root.get("headers") {
            // `headers:` with every entry commented out arrives as null.
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(members)) => members
                .iter()
                .map(|(name, value)| match value {
                    Value::String(value) => checked_header(name, value),
                    other => Err(format!(
                        "headers.{name} must be a string, not {}",
                        other.kind()
                    )),
                })
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(format!(
                    "`headers` must be an object of strings, not {}",
                    other.kind()
                ))
            }
        };
        Ok(Config { headers })
    }
}

/// Checks one header, returning it with its name in lowercase (as HTTP/2 and Envoy want it).
pub fn checked_header(name: &str, value: &str) -> Result<(String, String), String> {
    // An RFC 9110 token. Pseudo-headers such as `:status` are not tokens, so they are refused too.
    let valid_name = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !valid_name {
        return Err(format!("invalid header name `{name}`"));
    }
    // CR and LF would split the header in two on HTTP/1; NUL is never allowed.
    if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | b'\0')) {
        return Err(format!("header `{name}` has a value with CR, LF or NUL"));
    }
    Ok((name.to_ascii_lowercase(), value.to_string()))
}

/// The root context: owns the configuration and creates one [`AddHeaders`] per request.
#[derive(Default)]
struct Plugin {
    /// Shared with the request contexts; a new configuration replaces it for new requests only.
    config: Rc<Config>,
}

impl Context for Plugin {}

impl RootContext for Plugin {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let plugin_config = self.get_plugin_configuration().unwrap_or_default();
        let trust_domain = std::env::var(TRUST_DOMAIN_ENV).ok();
        match Config::load(&plugin_config, trust_domain.as_deref()) {
            Ok(config) => {
                if config.headers.is_empty() {
                    log::warn!("no headers configured: responses pass unchanged");
                } else {
                    log::info!(
                        "adding {} header(s) to every response",
                        config.headers.len()
                    );
                }
                self.config = Rc::new(config);
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
        Some(Box::new(AddHeaders {
            config: Rc::clone(&self.config),
        }))
    }
}

/// One request/response exchange.
struct AddHeaders {
    config: Rc<Config>,
}

impl Context for AddHeaders {}

impl HttpContext for AddHeaders {
    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        for (name, value) in &self.config.headers {
            self.add_http_response_header(name, value);
        }
        Action::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|&(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reads_the_example_config() {
        // config.yaml, as the proxy delivers it.
        let config = Config::load(br#"{"headers":{"x-greeting":"hello"}}"#, None).unwrap();
        assert_eq!(config.headers, headers(&[("x-greeting", "hello")]));
    }

    #[test]
    fn keeps_order_lowercases_names_and_ignores_other_keys() {
        let input = br#"{"other": [1, 2], "headers": {"X-B": "2", "x-a": "1"}}"#;
        let config = Config::load(input, None).unwrap();
        assert_eq!(config.headers, headers(&[("x-b", "2"), ("x-a", "1")]));
    }

    #[test]
    fn no_config_means_no_headers() {
        for input in [
            &b""[..],
            b"  \n",
            b"{}",
            br#"{"headers": null}"#,
            br#"{"headers": {}}"#,
        ] {
            assert_eq!(Config::load(input, None), Ok(Config::default()));
        }
    }

    #[test]
    fn rejects_invalid_configs() {
        for input in [
            &b"not json"[..],
            b"[]",
            br#""headers""#,
            br#"{"headers": ["x-a"]}"#,
            br#"{"headers": "x-a: 1"}"#,
            br#"{"headers": {"x-a": 1}}"#,
            br#"{"headers": {"x-a": null}}"#,
            br#"{"headers": {"": "v"}}"#,
            br#"{"headers": {"x a": "v"}}"#,
            br#"{"headers": {":status": "200"}}"#,
            br#"{"headers": {"x-a:": "v"}}"#,
            br#"{"headers": {"x-a": "v\r\nx-b: injected"}}"#,
        ] {
            assert!(
                Config::load(input, None).is_err(),
                "accepted {}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn errors_name_the_problem() {
        let err = Config::load(br#"{"headers": {"x-a": true}}"#, None).unwrap_err();
        assert_eq!(err, "headers.x-a must be a string, not a boolean");
    }

    #[test]
    fn adds_the_trust_domain_when_set() {
        let config = Config::load(br#"{"headers":{"x-a":"1"}}"#, Some("cluster.local")).unwrap();
        assert_eq!(
            config.headers,
            headers(&[("x-a", "1"), ("x-trust-domain", "cluster.local")])
        );
        assert_eq!(Config::load(b"", Some("")), Ok(Config::default()));
        assert!(Config::load(b"", Some("bad\nvalue")).is_err());
    }
}
