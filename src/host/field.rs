//! What a client or an upstream can put on the wire, checked where it enters (`run`'s flags, a
//! scenario file): header fields and status codes. A proxy would never hand a plugin a header
//! name with a space, a value with a line break, or status 42, so neither does the host.

use std::fmt;
use std::str::FromStr;

use indexmap::IndexMap;
use serde::{Deserialize, Deserializer, de::Error as _};

/// One header field as a client or an upstream sends it: a token name (not a pseudo-header; the
/// request line and the status set those) and a one-line value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderField {
    pub name: String,
    pub value: String,
}

/// Why a header field could not be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("expected `NAME: VALUE`")]
    NoColon,
    #[error("the header name is empty")]
    EmptyName,
    #[error("`{0}` is a pseudo-header")]
    Pseudo(String),
    #[error("header name `{0}` has a space in it")]
    Space(String),
    #[error("header name `{name}` has `{found}`, which no header name may hold")]
    BadName { name: String, found: char },
    #[error("the value of header `{0}` has a line break (CR or LF)")]
    LineBreak(String),
    #[error("the value of header `{0}` has a control character")]
    Control(String),
}

impl HeaderField {
    /// The field `name: value`, when a proxy would pass it on; `value` loses surrounding spaces.
    pub fn new(name: &str, value: &str) -> Result<HeaderField, FieldError> {
        check_name(name)?;
        let value = value.trim_matches([' ', '\t']);
        if http::HeaderValue::from_bytes(value.as_bytes()).is_err() {
            return Err(if value.contains(['\r', '\n']) {
                FieldError::LineBreak(name.to_string())
            } else {
                FieldError::Control(name.to_string())
            });
        }
        Ok(HeaderField {
            name: name.to_string(),
            value: value.to_string(),
        })
    }
}

fn check_name(name: &str) -> Result<(), FieldError> {
    if name.is_empty() {
        return Err(FieldError::EmptyName);
    }
    if name.starts_with(':') {
        return Err(FieldError::Pseudo(name.to_string()));
    }
    if name.contains(char::is_whitespace) {
        return Err(FieldError::Space(name.to_string()));
    }
    if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
        let found = name
            .chars()
            .find(|c| !c.is_ascii_alphanumeric() && !"!#$%&'*+-.^_`|~".contains(*c))
            .unwrap_or('?');
        return Err(FieldError::BadName {
            name: name.to_string(),
            found,
        });
    }
    Ok(())
}

/// A scenario's `name: value` map of headers or trailers, as the pairs a [`Request`] or a
/// [`Response`] holds; a field no proxy would pass on is refused.
///
/// [`Request`]: super::Request
/// [`Response`]: super::Response
pub(crate) fn header_pairs<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<(String, String)>, D::Error> {
    let map = IndexMap::<String, String>::deserialize(deserializer)?;
    map.iter()
        .map(|(name, value)| {
            let field = HeaderField::new(name, value).map_err(|err| match err {
                FieldError::Pseudo(_) => D::Error::custom(format!(
                    "{err}: set it with the request's `method`, `path` and `authority`, or the response's `status`"
                )),
                err => D::Error::custom(err),
            })?;
            Ok((field.name, field.value))
        })
        .collect()
}

/// A scenario's body, as the bytes sent: text, or `{base64: ...}` for bytes that are not text
/// (a gRPC message's protobuf, say).
pub(crate) fn text_bytes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    deserializer.deserialize_any(BodyVisitor)
}

/// A list of scenario bodies, each as [`text_bytes`] reads one: a gRPC stream's messages.
pub(crate) fn text_bytes_list<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<Vec<u8>>, D::Error> {
    #[derive(Deserialize)]
    struct Body(#[serde(deserialize_with = "text_bytes")] Vec<u8>);
    let bodies = Vec::<Body>::deserialize(deserializer)?;
    Ok(bodies.into_iter().map(|Body(bytes)| bytes).collect())
}

struct BodyVisitor;

impl<'de> serde::de::Visitor<'de> for BodyVisitor {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("text, or {base64: ...}")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Vec<u8>, E> {
        Ok(text.as_bytes().to_vec())
    }

    // A plain YAML scalar such as `body: 42` is text too.
    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Vec<u8>, E> {
        Ok(n.to_string().into_bytes())
    }

    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Vec<u8>, E> {
        Ok(n.to_string().into_bytes())
    }

    fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<Vec<u8>, E> {
        Ok(n.to_string().into_bytes())
    }

    fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<Vec<u8>, E> {
        Ok(b.to_string().into_bytes())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Vec<u8>, A::Error> {
        use base64::Engine as _;
        let (key, text): (String, String) = map
            .next_entry()?
            .ok_or_else(|| A::Error::custom("expected {base64: ...}, got {}"))?;
        if key != "base64" || map.next_key::<String>()?.is_some() {
            return Err(A::Error::custom("expected text, or {base64: ...} alone"));
        }
        base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| A::Error::custom(format!("invalid base64: {e}")))
    }
}

/// `NAME: VALUE`, as curl's `-H` takes it. A leading `:` makes a pseudo-header (`:path: /x`).
impl FromStr for HeaderField {
    type Err = FieldError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if let Some(rest) = text.strip_prefix(':')
            && rest.starts_with(|c: char| c.is_ascii_alphabetic())
        {
            let name = rest.split(':').next().unwrap_or_default();
            return Err(FieldError::Pseudo(format!(":{name}")));
        }
        let (name, value) = text.split_once(':').ok_or(FieldError::NoColon)?;
        HeaderField::new(name, value)
    }
}

impl fmt::Display for HeaderField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.value)
    }
}

/// An HTTP status code a server can answer with: 100 to 599.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "u16")]
pub struct Status(u16);

/// A number that is no HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    #[error("status {0} is outside 100-599")]
    OutOfRange(u16),
    #[error("`{0}` is not a status code (100-599)")]
    NotANumber(String),
}

impl Status {
    pub const OK: Status = Status(200);
    pub const NO_CONTENT: Status = Status(204);
    pub const INTERNAL_SERVER_ERROR: Status = Status(500);
    pub const SERVICE_UNAVAILABLE: Status = Status(503);
    pub const GATEWAY_TIMEOUT: Status = Status(504);

    pub fn get(self) -> u16 {
        self.0
    }
}

impl Default for Status {
    fn default() -> Self {
        Status::OK
    }
}

impl TryFrom<u16> for Status {
    type Error = StatusError;

    fn try_from(code: u16) -> Result<Self, Self::Error> {
        match code {
            100..=599 => Ok(Status(code)),
            _ => Err(StatusError::OutOfRange(code)),
        }
    }
}

impl FromStr for Status {
    type Err = StatusError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let code: u16 = text
            .trim()
            .parse()
            .map_err(|_| StatusError::NotANumber(text.to_string()))?;
        Status::try_from(code)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_text_or_base64() {
        #[derive(Deserialize)]
        struct Scripted {
            #[serde(deserialize_with = "text_bytes")]
            body: Vec<u8>,
        }
        let body = |yaml: &str| serde_yaml::from_str::<Scripted>(yaml).map(|s| s.body);
        assert_eq!(body("body: pong").unwrap(), b"pong");
        assert_eq!(body("body: 42").unwrap(), b"42");
        assert_eq!(body("body: {base64: CAGA}").unwrap(), [0x08, 0x01, 0x80]);
        let err = body("body: {base64: '!!'}").unwrap_err().to_string();
        assert!(err.contains("invalid base64"), "{err}");
        let err = body("body: {hex: '00'}").unwrap_err().to_string();
        assert!(
            err.contains("expected text, or {base64: ...} alone"),
            "{err}"
        );
    }

    #[test]
    fn fields_a_proxy_would_send() {
        let field: HeaderField = "Content-Type:  application/json ".parse().unwrap();
        assert_eq!(field.to_string(), "Content-Type: application/json");
        let field: HeaderField = "x-empty:".parse().unwrap();
        assert_eq!(field.value, "");
        assert!("x-utf8: caf\u{e9}".parse::<HeaderField>().is_ok());
    }

    #[test]
    fn fields_no_proxy_would_send() {
        for (text, err) in [
            ("x a: b", FieldError::Space("x a".into())),
            ("x-a : b", FieldError::Space("x-a ".into())),
            ("no colon", FieldError::NoColon),
            (": b", FieldError::EmptyName),
            (":path: /x", FieldError::Pseudo(":path".into())),
            ("x-a: b\r\nx-b: c", FieldError::LineBreak("x-a".into())),
            ("x-a: b\0", FieldError::Control("x-a".into())),
            (
                "x(a): b",
                FieldError::BadName {
                    name: "x(a)".into(),
                    found: '(',
                },
            ),
        ] {
            assert_eq!(text.parse::<HeaderField>(), Err(err), "{text:?}");
        }
        assert_eq!(HeaderField::new("", "v"), Err(FieldError::EmptyName));
    }

    #[test]
    fn statuses_are_100_to_599() {
        assert_eq!("404".parse::<Status>().unwrap().get(), 404);
        assert_eq!(Status::try_from(100).unwrap().get(), 100);
        assert_eq!(Status::try_from(599).unwrap().get(), 599);
        assert_eq!(Status::try_from(99), Err(StatusError::OutOfRange(99)));
        assert_eq!(Status::try_from(600), Err(StatusError::OutOfRange(600)));
        assert!(matches!(
            "ok".parse::<Status>(),
            Err(StatusError::NotANumber(_))
        ));
    }
}
