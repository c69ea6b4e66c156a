//! The built-in echo upstream: it answers with the request it received, as JSON.

use serde::Serialize;

use crate::host::{ForwardedRequest, Response};

/// What the echo upstream answers: the request it received, as JSON.
#[derive(Serialize)]
struct Echoed {
    method: String,
    path: String,
    authority: String,
    /// In the order received; a repeated header's values joined with `,`.
    headers: serde_json::Map<String, serde_json::Value>,
    body: String,
}

pub(crate) fn echo(request: &ForwardedRequest) -> Response {
    let headers = &request.headers;
    let mut fields = serde_json::Map::new();
    for (name, _) in headers.iter().filter(|(n, _)| !n.starts_with(':')) {
        if !fields.contains_key(name) {
            let value = headers.get(name).unwrap_or_default();
            fields.insert(name.to_string(), value.into());
        }
    }
    let echoed = Echoed {
        method: headers.get(":method").unwrap_or_default(),
        path: headers.get(":path").unwrap_or_default(),
        authority: headers.get(":authority").unwrap_or_default(),
        headers: fields,
        body: String::from_utf8_lossy(&request.body).into_owned(),
    };
    let mut body = serde_json::to_vec_pretty(&echoed).unwrap_or_default();
    body.push(b'\n');
    Response {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body,
        trailers: Vec::new(),
    }
}
