//! Credentials for registries: where they come from, where `login` keeps them, and how a
//! connection proves who it is.

pub mod credentials;
pub(crate) mod session;
pub mod token;

pub use credentials::{Credential, CredentialError, Source, for_location, lookup, remove, store};
