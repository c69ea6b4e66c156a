//! {{name}}: a proxy-wasm HTTP filter that buffers bodies to work on them whole.
//!
//! - Responses: every `from` in `replace` is rewritten to its `to`, and `content-length` is
//!   dropped because the length changes.
//! - Requests: when `deny_patterns` is set, a body containing one of them is refused with 400, and
//!   a body too large to check (over `max_body_bytes`) with 413.
//!
//! pluginConfig, as the proxy delivers it (JSON):
//!
//! ```json
//! {"replace": [{"from": "foo", "to": "bar"}], "max_body_bytes": 65536, "deny_patterns": ["secret"]}
//! ```
//!
//! The proxy-wasm callbacks below only move data between the proxy and [`Config`]; the decisions
//! and the rewriting are plain functions, which is what the unit tests exercise on the host.

use std::borrow::Cow;
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

/// The configuration. Unknown keys are errors, so a misspelt `max_body_bytes` does not silently
/// leave the default in place.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Rewrites applied to response bodies, in order, each to the result of the one before.
    pub replace: Vec<Replacement>,
    /// The most body bytes the plugin buffers.
    pub max_body_bytes: usize,
    /// Request bodies containing any of these are refused.
    pub deny_patterns: Vec<String>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            replace: Vec::new(),
            max_body_bytes: 64 * 1024,
            deny_patterns: Vec::new(),
        }
    }
}

/// One rewrite: every occurrence of `from` becomes `to`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replacement {
    pub from: String,
    pub to: String,
}

/// Why a request is refused, and with which status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Denial {
    pub status: u32,
    /// For the log and the reply body.
    pub reason: &'static str,
}

const TOO_LARGE: Denial = Denial {
    status: 413,
    reason: "request body too large",
};
const DENIED_CONTENT: Denial = Denial {
    status: 400,
    reason: "request body not allowed",
};

impl Config {
    /// Parses and checks the pluginConfig. An empty one gives the defaults: a plugin that
    /// passes everything through.
    pub fn parse(plugin_config: &[u8]) -> Result<Config, String> {
        if plugin_config.iter().all(u8::is_ascii_whitespace) {
            return Ok(Config::default());
        }
        // serde would also take a struct written as an array of its fields; a pluginConfig is a map.
        if plugin_config.trim_ascii_start().first() != Some(&b'{') {
            return Err("pluginConfig must be an object".into());
        }
        let config: Config =
            serde_json::from_slice(plugin_config).map_err(|err| err.to_string())?;
        // An empty pattern would match everywhere (and never let a rewrite finish).
        if config.replace.iter().any(|r| r.from.is_empty()) {
            return Err("`replace`: `from` must not be empty".into());
        }
        if config.deny_patterns.iter().any(String::is_empty) {
            return Err("`deny_patterns` contains an empty pattern".into());
        }
        if config.max_body_bytes == 0 {
            return Err("`max_body_bytes` must be at least 1".into());
        }
        Ok(config)
    }

    /// Whether request bodies are buffered and checked.
    pub fn inspects_requests(&self) -> bool {
        !self.deny_patterns.is_empty()
    }

    /// Whether a `content-length` announces more than the plugin buffers.
    pub fn exceeds_limit(&self, content_length: Option<&[u8]>) -> bool {
        parse_content_length(content_length).is_some_and(|len| len > self.max_body_bytes as u64)
    }

    /// Checks a complete request body.
    pub fn check_request(&self, body: &[u8]) -> Result<(), Denial> {
        if body.len() > self.max_body_bytes {
            return Err(TOO_LARGE);
        }
        if self
            .deny_patterns
            .iter()
            .any(|pattern| find(body, pattern.as_bytes()).is_some())
        {
            return Err(DENIED_CONTENT);
        }
        Ok(())
    }

    /// Whether to buffer and rewrite a response with these headers. Compressed bodies are left
    /// alone: the patterns would have to match compressed bytes.
    pub fn rewrites_response(
        &self,
        content_encoding: Option<&[u8]>,
        content_length: Option<&[u8]>,
    ) -> bool {
        let encoded = content_encoding
            .map(<[u8]>::trim_ascii)
            .is_some_and(|enc| !enc.is_empty() && !enc.eq_ignore_ascii_case(b"identity"));
        !self.replace.is_empty() && !encoded && !self.exceeds_limit(content_length)
    }

    /// Applies the replacements to a response body; `None` when nothing matched.
    pub fn rewrite(&self, body: &[u8]) -> Option<Vec<u8>> {
        let mut current = Cow::Borrowed(body);
        for r in &self.replace {
            if let Some(replaced) = replace_all(&current, r.from.as_bytes(), r.to.as_bytes()) {
                current = Cow::Owned(replaced);
            }
        }
        match current {
            Cow::Owned(rewritten) => Some(rewritten),
            Cow::Borrowed(_) => None,
        }
    }
}

fn parse_content_length(value: Option<&[u8]>) -> Option<u64> {
    std::str::from_utf8(value?).ok()?.trim().parse().ok()
}

/// The position of the first `needle` (not empty) in `haystack`. Bodies are at most
/// `max_body_bytes`, so the simple search is fast enough.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Replaces every non-overlapping `from` (not empty), left to right; `None` when there is none.
fn replace_all(haystack: &[u8], from: &[u8], to: &[u8]) -> Option<Vec<u8>> {
    let mut at = find(haystack, from)?;
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    loop {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(to);
        rest = &rest[at + from.len()..];
        match find(rest, from) {
            Some(next) => at = next,
            None => break,
        }
    }
    out.extend_from_slice(rest);
    Some(out)
}

/// The root context: owns the configuration and creates one [`BodyFilter`] per request.
#[derive(Default)]
struct Plugin {
    /// Shared with the request contexts; a new configuration applies to new requests.
    config: Rc<Config>,
}

impl Context for Plugin {}

impl RootContext for Plugin {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let plugin_config = self.get_plugin_configuration().unwrap_or_default();
        match Config::parse(&plugin_config) {
            Ok(config) => {
                if config.replace.is_empty() && config.deny_patterns.is_empty() {
                    log::warn!("no `replace` and no `deny_patterns`: bodies pass unchanged");
                } else {
                    log::info!(
                        "{} replacement(s), {} deny pattern(s), buffering up to {} bytes",
                        config.replace.len(),
                        config.deny_patterns.len(),
                        config.max_body_bytes
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
        Some(Box::new(BodyFilter {
            config: Rc::clone(&self.config),
            inspect_request: false,
            request_body_size: 0,
            rewrite_response: false,
            response_body_size: 0,
        }))
    }
}

/// One request/response exchange.
///
/// Returning `Action::Pause` from a body callback makes the proxy buffer the body and call again
/// with the size of everything buffered so far. The body is complete when `end_of_stream` is true,
/// or when the trailers arrive (gRPC, for one, ends with trailers instead).
struct BodyFilter {
    config: Rc<Config>,
    /// The request body is being buffered to be checked.
    inspect_request: bool,
    request_body_size: usize,
    /// The response body is being buffered to be rewritten.
    rewrite_response: bool,
    response_body_size: usize,
}

impl BodyFilter {
    fn deny(&mut self, denial: Denial) -> Action {
        log::debug!("denied ({}): {}", denial.status, denial.reason);
        self.inspect_request = false;
        let body = format!("{}\n", denial.reason);
        let headers = vec![("content-type", "text/plain")];
        self.send_http_response(denial.status, headers, Some(body.as_bytes()));
        Action::Pause
    }

    /// Checks the complete request body.
    fn finish_request(&mut self) -> Action {
        self.inspect_request = false;
        let body = self
            .get_http_request_body(0, self.request_body_size)
            .unwrap_or_default();
        match self.config.check_request(&body) {
            Ok(()) => Action::Continue,
            Err(denial) => self.deny(denial),
        }
    }

    /// Rewrites the complete response body.
    fn finish_response(&mut self) {
        self.rewrite_response = false;
        let size = self.response_body_size;
        let Some(body) = self.get_http_response_body(0, size) else {
            return;
        };
        if let Some(rewritten) = self.config.rewrite(&body) {
            self.set_http_response_body(0, size, &rewritten);
        }
    }
}

impl Context for BodyFilter {}

impl HttpContext for BodyFilter {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        self.inspect_request = !end_of_stream && self.config.inspects_requests();
        // Refuse early what is announced as too large; chunked bodies are measured as they come.
        let content_length = self.get_http_request_header_bytes("content-length");
        if self.inspect_request && self.config.exceeds_limit(content_length.as_deref()) {
            return self.deny(TOO_LARGE);
        }
        // Headers continue: pausing them would also hold back the body callbacks.
        Action::Continue
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if !self.inspect_request {
            return Action::Continue;
        }
        self.request_body_size = body_size;
        if body_size > self.config.max_body_bytes {
            return self.deny(TOO_LARGE);
        }
        if !end_of_stream {
            return Action::Pause;
        }
        self.finish_request()
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        if !self.inspect_request {
            return Action::Continue;
        }
        self.finish_request()
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        let content_encoding = self.get_http_response_header_bytes("content-encoding");
        let content_length = self.get_http_response_header_bytes("content-length");
        self.rewrite_response = !end_of_stream
            && self
                .config
                .rewrites_response(content_encoding.as_deref(), content_length.as_deref());
        if self.rewrite_response {
            // The headers go downstream before the body is rewritten, so the new length is not
            // known yet. Without content-length, HTTP/1.1 sends the body chunked and HTTP/2 frames
            // it; this is what Envoy's own body-changing filters do.
            self.remove_http_response_header("content-length");
        }
        Action::Continue
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if !self.rewrite_response {
            return Action::Continue;
        }
        self.response_body_size = body_size;
        if body_size > self.config.max_body_bytes {
            // Too large to buffer: let what is buffered and the rest through unchanged.
            log::debug!(
                "response body over {} bytes: not rewritten",
                self.config.max_body_bytes
            );
            self.rewrite_response = false;
            return Action::Continue;
        }
        if !end_of_stream {
            return Action::Pause;
        }
        self.finish_response();
        Action::Continue
    }

    fn on_http_response_trailers(&mut self, _num_trailers: usize) -> Action {
        if self.rewrite_response {
            self.finish_response();
        }
        Action::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &[u8] = br#"{
        "replace": [{"from": "foo", "to": "bar"}],
        "max_body_bytes": 65536,
        "deny_patterns": ["secret"]
    }"#;

    fn example() -> Config {
        Config::parse(EXAMPLE).unwrap()
    }

    fn parse(json: &str) -> Config {
        Config::parse(json.as_bytes()).unwrap()
    }

    #[test]
    fn reads_the_example_config() {
        let config = example();
        assert_eq!(
            config.replace,
            [Replacement {
                from: "foo".into(),
                to: "bar".into()
            }]
        );
        assert_eq!(config.max_body_bytes, 65536);
        assert_eq!(config.deny_patterns, ["secret"]);
    }

    #[test]
    fn empty_config_passes_everything() {
        for input in [&b""[..], b"\n", b"{}"] {
            let config = Config::parse(input).unwrap();
            assert_eq!(config, Config::default());
            assert!(!config.inspects_requests());
            assert!(!config.rewrites_response(None, None));
        }
    }

    #[test]
    fn rejects_invalid_configs() {
        for input in [
            &b"[]"[..],
            br#"[[], 10, []]"#,
            b"not json",
            br#"{"replace": {"from": "a", "to": "b"}}"#,
            br#"{"replace": [{"from": "", "to": "b"}]}"#,
            br#"{"replace": [{"from": "a"}]}"#,
            br#"{"replace": [{"from": "a", "to": "b", "flags": "g"}]}"#,
            br#"{"deny_patterns": [""]}"#,
            br#"{"deny_patterns": "secret"}"#,
            br#"{"max_body_bytes": 0}"#,
            br#"{"max_body_bytes": -1}"#,
            br#"{"max_body_bytes": "64k"}"#,
            br#"{"max_body_size": 10}"#,
        ] {
            assert!(
                Config::parse(input).is_err(),
                "accepted {}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn rewrites_every_match_in_order() {
        let config =
            parse(r#"{"replace": [{"from": "foo", "to": "bar"}, {"from": "bar", "to": "baz!"}]}"#);
        assert_eq!(
            config.rewrite(b"foo, food, bar").as_deref(),
            Some(&b"baz!, baz!d, baz!"[..])
        );
        assert_eq!(config.rewrite(b"nothing to see"), None);
        assert_eq!(config.rewrite(b""), None);
    }

    #[test]
    fn replaces_without_overlap_and_handles_binary_bodies() {
        assert_eq!(
            replace_all(b"aaa", b"aa", b"b").as_deref(),
            Some(&b"ba"[..])
        );
        assert_eq!(replace_all(b"xaa", b"a", b"").as_deref(), Some(&b"x"[..]));
        assert_eq!(
            replace_all(b"\xff\x00foo\xfe", b"foo", b"bar").as_deref(),
            Some(&b"\xff\x00bar\xfe"[..])
        );
        assert_eq!(replace_all(b"fo", b"foo", b"bar"), None);
    }

    #[test]
    fn checks_request_bodies() {
        let config = example();
        assert!(config.inspects_requests());
        assert_eq!(config.check_request(b"a harmless body"), Ok(()));
        assert_eq!(config.check_request(b"my secret is"), Err(DENIED_CONTENT));
        assert_eq!(
            config.check_request(b"SECRET"),
            Ok(()),
            "patterns are case-sensitive"
        );

        let small = parse(r#"{"max_body_bytes": 4, "deny_patterns": ["x"]}"#);
        assert_eq!(small.check_request(b"1234"), Ok(()));
        assert_eq!(small.check_request(b"12345"), Err(TOO_LARGE));
    }

    #[test]
    fn compares_content_length_with_the_limit() {
        let config = parse(r#"{"max_body_bytes": 100}"#);
        assert!(!config.exceeds_limit(None));
        assert!(!config.exceeds_limit(Some(b"100")));
        assert!(config.exceeds_limit(Some(b" 101 ")));
        assert!(config.exceeds_limit(Some(b"99999999999999")));
        assert!(!config.exceeds_limit(Some(b"garbage")));
    }

    #[test]
    fn rewrites_only_plain_responses_that_fit() {
        let config = example();
        assert!(config.rewrites_response(None, None));
        assert!(config.rewrites_response(Some(b"identity"), Some(b"10")));
        assert!(!config.rewrites_response(Some(b"gzip"), None));
        assert!(!config.rewrites_response(Some(b"br"), Some(b"10")));
        assert!(!config.rewrites_response(None, Some(b"65537")));
    }
}
