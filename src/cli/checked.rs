//! A clap value parser from a plain function whose error is the whole message, so that a bad
//! flag value reads `error: invalid -H `x a: b`: header name `x a` has a space in it`, as the
//! library's own argument errors read, rather than in clap's wording.

use std::ffi::OsStr;

use clap::builder::TypedValueParser;
use clap::error::ErrorKind;

/// Parses a flag's value with `parse`; its `Err` is printed after `error: `.
#[derive(Clone, Copy)]
pub struct Checked<T>(pub fn(&str) -> Result<T, String>);

/// A usage error with exactly `message` (exit code 2, like every usage error).
pub fn value_error(message: &str) -> clap::Error {
    clap::Error::raw(ErrorKind::ValueValidation, format!("{message}\n"))
}

impl<T: Clone + Send + Sync + 'static> TypedValueParser for Checked<T> {
    type Value = T;

    fn parse_ref(
        &self,
        _cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        (self.0)(&value.to_string_lossy()).map_err(|message| value_error(&message))
    }
}
