//! One `KEY=VALUE` argument (`--env`, `--label`, `--annotation`, `--set`, `--selector`), split once at
//! the first `=`. What a key or value may hold is for each use to check.

use std::fmt;
use std::str::FromStr;

/// A key and its value, from `KEY=VALUE`. The value may be empty, and may itself contain `=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

/// Text with no `=`, or with nothing before it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyValueError {
    #[error("no `=`")]
    NoEquals,
    #[error("nothing before the `=`")]
    EmptyKey,
}

impl FromStr for KeyValue {
    type Err = KeyValueError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (key, value) = text.split_once('=').ok_or(KeyValueError::NoEquals)?;
        if key.trim().is_empty() {
            return Err(KeyValueError::EmptyKey);
        }
        Ok(KeyValue {
            key: key.to_string(),
            value: value.to_string(),
        })
    }
}

impl fmt::Display for KeyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_the_first_equals() {
        let kv: KeyValue = "a.b=x=y".parse().unwrap();
        assert_eq!((kv.key.as_str(), kv.value.as_str()), ("a.b", "x=y"));
        let kv: KeyValue = "k=".parse().unwrap();
        assert_eq!(kv.value, "");
        assert_eq!(kv.to_string(), "k=");
    }

    #[test]
    fn refuses_no_equals_and_empty_keys() {
        assert_eq!("novalue".parse::<KeyValue>(), Err(KeyValueError::NoEquals));
        assert_eq!("=v".parse::<KeyValue>(), Err(KeyValueError::EmptyKey));
        assert_eq!(" =v".parse::<KeyValue>(), Err(KeyValueError::EmptyKey));
    }
}
