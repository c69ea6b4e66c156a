//! Credentials for registries: where they come from and where `login` keeps them.

pub mod credentials;

pub use credentials::{Credential, CredentialError, Source, lookup, remove, store};
pub mod token;
