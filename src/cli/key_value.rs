//! The one clap value parser for `KEY=VALUE` flags: it reports a bad item as
//! `invalid FLAG `ITEM`: WHY`, as the library's own argument errors read, or, for flags that say
//! what they take, as `FLAG takes `SHAPE`, not `ITEM``.

use std::ffi::OsStr;

use clap::builder::TypedValueParser;
use wasmctl::key_value::{KeyValue, KeyValueError};

use super::checked::value_error;

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

impl TypedValueParser for KeyValueParser {
    type Value = KeyValue;

    fn parse_ref(
        &self,
        _cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<KeyValue, clap::Error> {
        let text = value.to_string_lossy();
        text.parse().map_err(|err| {
            let why = match err {
                KeyValueError::NoEquals => self.missing.to_string(),
                KeyValueError::EmptyKey => err.to_string(),
            };
            let message = match self.shape {
                Some(shape) => format!("{} takes `{shape}`, not `{text}` ({err})", self.what),
                None => format!("invalid {} `{text}`: {why}", self.what),
            };
            value_error(&message)
        })
    }
}
