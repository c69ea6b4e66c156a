//! The one clap value parser adapter: a function (or a rule such as `KeyValueParser`) whose error
//! is the whole message, so that a bad flag value reads
//! `error: invalid -H `x a: b`: header name `x a` has a space in it`, as the library's own
//! argument errors read, rather than in clap's wording.

use std::ffi::OsStr;
use std::sync::Arc;

use clap::builder::TypedValueParser;
use clap::error::ErrorKind;

/// Reads a flag's text; the `Err` is the whole message.
type Parse<T> = dyn Fn(&str) -> Result<T, String> + Send + Sync;

/// Parses a flag's value with a function; its `Err` is printed after `error: `.
pub struct Checked<T>(Arc<Parse<T>>);

impl<T> Checked<T> {
    pub fn new(parse: impl Fn(&str) -> Result<T, String> + Send + Sync + 'static) -> Self {
        Checked(Arc::new(parse))
    }
}

impl<T> Clone for Checked<T> {
    fn clone(&self) -> Self {
        Checked(self.0.clone())
    }
}

/// A usage error with exactly `message` (exit code 2, like every usage error).
fn value_error(message: &str) -> clap::Error {
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
