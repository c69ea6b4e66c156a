//! Credentials for registries: where they come from, where `login` keeps them, and how a
//! connection proves who it is.

pub(crate) mod credentials;
pub(crate) mod session;
pub(crate) mod token;

pub use credentials::{Credential, CredentialError, for_location, remove, store};
