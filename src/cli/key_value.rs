//! The one clap value parser for `KEY=VALUE` flags: it reports a bad item as
//! `invalid FLAG `ITEM`: WHY`, as the library's own argument errors read, or, for flags that say
//! what they take, as `FLAG takes `SHAPE`, not `ITEM``.

use clap::builder::ValueParser;
use wasmctl::key_value::{KeyValue, KeyValueError};

use super::checked::Checked;

/// Parses `KEY=VALUE`; `what` names the flag in errors, `missing` says what to write instead
/// when there is no `=`.
#[derive(Debug, Clone, Copy)]
pub struct KeyValueParser {
    what: &'static str,
    missing: &'static str,
    /// `NAME=VALUE`, `PATH=VALUE`: the error says the flag takes this shape.
    shape: Option<&'static str>,
}

impl KeyValueParser {
    pub const fn new(what: &'static str) -> Self {
        KeyValueParser {
            what,
            missing: "expected KEY=VALUE",
            shape: None,
        }
    }

    /// For a flag whose items have a shape of their own: `--env takes `NAME=VALUE`, not `X``.
    pub const fn takes(what: &'static str, shape: &'static str) -> Self {
        KeyValueParser {
            shape: Some(shape),
            ..KeyValueParser::new(what)
        }
    }

    /// The same, with its own words for an item that has no `=`.
    pub const fn when_missing(mut self, missing: &'static str) -> Self {
        self.missing = missing;
        self
    }
}

impl KeyValueParser {
    fn parse(&self, text: &str) -> Result<KeyValue, String> {
        text.parse().map_err(|err| {
            let why = match err {
                KeyValueError::NoEquals => self.missing.to_string(),
                KeyValueError::EmptyKey => err.to_string(),
            };
            match self.shape {
                Some(shape) => format!("{} takes `{shape}`, not `{text}` ({err})", self.what),
                None => format!("invalid {} `{text}`: {why}", self.what),
            }
        })
    }
}

impl From<KeyValueParser> for ValueParser {
    fn from(rule: KeyValueParser) -> ValueParser {
        ValueParser::new(Checked::new(move |text| rule.parse(text)))
    }
}
