//! The OAuth2 refresh-token flow behind docker's `identitytoken`: follow the registry's bearer
//! challenge to its token service and trade the identity token for an access token.
//!
//! oci-client only sends username and password to a token service; an identity token is a refresh
//! token, which the token service accepts only as `grant_type=refresh_token` in a POST.

use std::collections::BTreeMap;

/// The parameters of a `WWW-Authenticate: Bearer realm="...",service="...",scope="..."` header.
pub fn parse_bearer_challenge(header: &str) -> Option<BTreeMap<String, String>> {
    let rest = header.trim();
    let (scheme, rest) = rest.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params = BTreeMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while matches!(chars.peek(), Some(c) if *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = chars.by_ref().take_while(|c| *c != ',').collect();
        }
        params.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    params.contains_key("realm").then_some(params)
}

/// `application/x-www-form-urlencoded` for a few pairs.
pub fn form_body(pairs: &[(&str, &str)]) -> String {
    // reqwest's Url carries a spec-compliant form encoder; borrow it rather than hand-roll one.
    let mut url = reqwest::Url::parse("http://form.invalid/").expect("static URL parses");
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in pairs {
            query.append_pair(k, v);
        }
    }
    url.query().unwrap_or_default().to_string()
}

/// Trades `identity_token` for an access token for `repository` (pull, and push when asked).
///
/// `base` is `scheme://host[:port]`. Returns Ok(None) when the registry asks for no token.
pub async fn exchange_identity_token(
    client: &reqwest::Client,
    base: &str,
    identity_token: &str,
    repository: &str,
    push: bool,
) -> Result<Option<String>, TokenError> {
    let ping = client.get(format!("{base}/v2/")).send().await?;
    let Some(challenge) = ping
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|h| h.to_str().ok())
        .and_then(parse_bearer_challenge)
    else {
        return Ok(None);
    };
    let actions = if push { "pull,push" } else { "pull" };
    let scope = format!("repository:{repository}:{actions}");
    let service = challenge.get("service").cloned().unwrap_or_default();
    let body = form_body(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", identity_token),
        ("service", &service),
        ("scope", &scope),
        ("client_id", "wasmctl"),
    ]);
    let response = client
        .post(&challenge["realm"])
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(body)
        .send()
        .await?;
    let status = response.status();
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Err(TokenError::Refused);
    }
    let response = response.error_for_status()?;
    let json: serde_json::Value = response.json().await?;
    json.get("access_token")
        .or_else(|| json.get("token"))
        .and_then(|t| t.as_str())
        .map(|t| Some(t.to_string()))
        .ok_or(TokenError::NoToken)
}

/// Checks a username and password the way `docker login` does: against the token service when
/// the registry challenges for a bearer token, else against `/v2/` with Basic auth.
/// Ok(false) when they are refused.
pub async fn check_password(
    client: &reqwest::Client,
    base: &str,
    username: &str,
    password: &str,
) -> Result<bool, TokenError> {
    let ping = client.get(format!("{base}/v2/")).send().await?;
    let challenge = ping
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|h| h.to_str().ok())
        .and_then(parse_bearer_challenge);
    let request = match challenge {
        Some(challenge) => {
            let mut url = reqwest::Url::parse(&challenge["realm"])
                .map_err(|_| TokenError::BadRealm(challenge["realm"].clone()))?;
            if let Some(service) = challenge.get("service") {
                url.query_pairs_mut().append_pair("service", service);
            }
            client.get(url)
        }
        None => client.get(format!("{base}/v2/")),
    };
    let response = request.basic_auth(username, Some(password)).send().await?;
    match response.status() {
        s if s.is_success() => Ok(true),
        reqwest::StatusCode::UNAUTHORIZED | reqwest::StatusCode::FORBIDDEN => Ok(false),
        _ => Err(response
            .error_for_status()
            .err()
            .map_or(TokenError::NoToken, TokenError::Http)),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the registry named an invalid token service `{0}`")]
    BadRealm(String),
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    #[error("the token service refused the identity token")]
    Refused,
    #[error("the token service answered without an access token")]
    NoToken,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_hub_challenge() {
        let c = parse_bearer_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull""#,
        )
        .unwrap();
        assert_eq!(c["realm"], "https://auth.docker.io/token");
        assert_eq!(c["service"], "registry.docker.io");
        assert_eq!(c["scope"], "repository:a/b:pull");
        assert!(parse_bearer_challenge(r#"Basic realm="x""#).is_none());
        assert!(parse_bearer_challenge("Bearer service=x").is_none());
    }

    #[test]
    fn form_encodes() {
        assert_eq!(
            form_body(&[("scope", "repository:a/b:pull,push"), ("t", "a b&c")]),
            "scope=repository%3Aa%2Fb%3Apull%2Cpush&t=a+b%26c"
        );
    }
}
