//! What a connection carries to prove who it is: the credential as oci-client sends it, the token
//! negotiated from it, and the `Authorization` header push requests carry.

use base64::Engine as _;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use reqwest::header::HeaderValue;

use super::Credential;
use super::token::{self, TokenError};
use crate::oci::OciError;
use crate::oci::classify::Peer;
use crate::oci::retry::with_retries;

/// The authentication state of one connection.
pub(crate) struct Session {
    /// What oci-client sends: Basic credentials, a bearer token, or nothing.
    auth: RegistryAuth,
    /// What push requests carry once authenticated: the token oci-client negotiated for pushing,
    /// or the Basic credentials a registry without a token service takes.
    authorization: Option<HeaderValue>,
    /// Traded for a bearer token on authentication (docker's `identitytoken`).
    identity_token: Option<String>,
    push: bool,
    authenticated: bool,
}

/// The clients authentication goes through.
pub(crate) struct AuthLink<'a> {
    pub client: &'a Client,
    pub reference: &'a Reference,
    pub http: &'a reqwest::Client,
    /// `scheme://host[:port]` of the registry, for the token exchange.
    pub base: String,
}

impl Session {
    /// A session for `credential` (None: anonymous), asking for push rights when `push`; also
    /// who it acts as, for error messages.
    pub fn new(credential: Option<Credential>, push: bool) -> (Session, Option<String>) {
        let (auth, user, identity_token) = match credential {
            Some(Credential::Basic { username, password }) => (
                RegistryAuth::Basic(username.clone(), password),
                Some(username),
                None,
            ),
            Some(Credential::IdentityToken(token)) => (
                RegistryAuth::Anonymous,
                Some("identity token".into()),
                Some(token),
            ),
            None => (RegistryAuth::Anonymous, None, None),
        };
        let session = Session {
            auth,
            authorization: None,
            identity_token,
            push,
            authenticated: false,
        };
        (session, user)
    }

    /// What oci-client sends with pulls.
    pub fn auth(&self) -> &RegistryAuth {
        &self.auth
    }

    /// The header push requests carry, once authenticated.
    pub fn authorization(&self) -> Option<HeaderValue> {
        self.authorization.clone()
    }

    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    /// Whether requests carry a bearer token, which may expire mid-operation.
    pub fn carries_bearer(&self) -> bool {
        self.authorization
            .as_ref()
            .is_some_and(|v| v.as_bytes().starts_with(b"Bearer "))
    }

    /// Forgets what was negotiated, so the next request authenticates again.
    pub fn reset(&mut self) {
        self.authenticated = false;
    }

    /// Authenticates before the first request when there is a credential to send. Anonymous
    /// sessions wait until a registry answers 401, so an open registry gets no extra round trip.
    pub async fn authenticate_upfront(
        &mut self,
        peer: &Peer<'_>,
        link: &AuthLink<'_>,
    ) -> Result<(), OciError> {
        if !matches!(self.auth, RegistryAuth::Anonymous) || self.identity_token.is_some() {
            self.authenticate(peer, link).await?;
        }
        Ok(())
    }

    /// Fetches tokens for every operation (or settles on Basic auth).
    pub async fn authenticate(
        &mut self,
        peer: &Peer<'_>,
        link: &AuthLink<'_>,
    ) -> Result<(), OciError> {
        if self.authenticated {
            return Ok(());
        }
        if let Some(identity_token) = self.identity_token.clone() {
            self.exchange_identity_token(peer, link, &identity_token)
                .await?;
        }
        let mut operations = vec![RegistryOperation::Pull];
        if self.push {
            operations.push(RegistryOperation::Push);
        }
        let mut token = None;
        for operation in operations {
            let auth = &self.auth;
            // The last operation is the widest: push when pushing.
            token = with_retries(peer, "authenticate", || {
                link.client.auth(link.reference, auth, operation)
            })
            .await?;
        }
        self.authorization = authorization_header(token, &self.auth);
        self.authenticated = true;
        Ok(())
    }

    async fn exchange_identity_token(
        &mut self,
        peer: &Peer<'_>,
        link: &AuthLink<'_>,
        identity_token: &str,
    ) -> Result<(), OciError> {
        let exchanged = token::exchange_identity_token(
            link.http,
            &link.base,
            identity_token,
            &peer.image.repository,
            self.push,
        )
        .await;
        match exchanged {
            Ok(Some(access)) => self.auth = RegistryAuth::Bearer(access),
            Ok(None) => {}
            Err(TokenError::Http(e)) => {
                let error = oci_client::errors::OciDistributionError::RequestError(e);
                return Err(peer.classify("authenticate", &error).error);
            }
            Err(TokenError::Refused) => return Err(peer.unauthorized()),
            Err(e @ (TokenError::NoToken | TokenError::BadRealm(_))) => {
                return Err(peer.failed("authenticate", e.to_string()));
            }
        }
        Ok(())
    }
}

/// `Bearer TOKEN` for a negotiated token, else `Basic` for a username and password; marked
/// sensitive so it never shows in debug output.
fn authorization_header(token: Option<String>, auth: &RegistryAuth) -> Option<HeaderValue> {
    let value = match (token, auth) {
        (Some(token), _) => format!("Bearer {token}"),
        (None, RegistryAuth::Basic(user, password)) => {
            let pair =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            format!("Basic {pair}")
        }
        (None, _) => return None,
    };
    let mut value = HeaderValue::from_str(&value).ok()?;
    value.set_sensitive(true);
    Some(value)
}
