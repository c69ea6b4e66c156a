//! The one clap value parser for `KEY=VALUE` flags: it reports a bad item as
//! `invalid FLAG `ITEM`: WHY`, as the library's own argument errors read.

use std::ffi::OsStr;

use clap::builder::TypedValueParser;
use clap::error::ErrorKind;
use wasmctl::key_value::{KeyValue, KeyValueError};

/// Parses `KEY=VALUE`; `what` names the flag in errors, `missing` says what to write instead
/// when there is no `=`.
#[derive(Debug, Clone, Copy)]
pub struct KeyValueParser {
    what: &'static str,
    missing: &'static str,
}

impl KeyValueParser {
    pub const fn new(what: &'static str) -> Self {
        KeyValueParser {
            what,
            missing: "expected KEY=VALUE",
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
            let message = format!("invalid {} `{text}`: {why}\n", self.what);
            clap::Error::raw(ErrorKind::ValueValidation, message)
        })
    }
}
