//! The HTTP transport: `POST {base}/join` on rectoken ingress.

use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;

use crate::{ClientError, JoinReply, JoinRequest, decode_reply, error_chain};

pub(crate) struct HttpTransport {
    http: reqwest::Client,
    url: String,
    join_key: SecretString,
}

impl HttpTransport {
    pub(crate) fn new(base_url: &str, join_key: SecretString) -> Self {
        HttpTransport {
            http: reqwest::Client::builder()
                .user_agent(concat!("rectoken-client/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_default(),
            url: join_url(base_url),
            join_key,
        }
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    pub(crate) async fn request(
        &self,
        req: &JoinRequest,
        wait_until: Instant,
    ) -> Result<JoinReply, ClientError> {
        // Ingress itself waits until the deadline plus its own grace and then
        // answers 504; wait a little longer, so its answer is what we see.
        let timeout = wait_until.saturating_duration_since(Instant::now()) + crate::HTTP_MARGIN;
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(self.join_key.expose_secret())
            .json(req)
            // Covers the body too.
            .timeout(timeout)
            .send()
            .await
            .map_err(http_error)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(http_error)?;
        map_response(status, &body)
    }
}

/// `{base}/join`, whether or not `base` ends with a slash.
pub(crate) fn join_url(base_url: &str) -> String {
    format!("{}/join", base_url.trim_end_matches('/'))
}

fn http_error(e: reqwest::Error) -> ClientError {
    if e.is_timeout() {
        ClientError::Timeout
    } else {
        ClientError::Http(error_chain(&e))
    }
}

/// Maps `POST /join`'s answer back to a reply (docs/design.md, HTTP table).
pub(crate) fn map_response(status: u16, body: &[u8]) -> Result<JoinReply, ClientError> {
    match status {
        401 => Err(ClientError::Unauthorized),
        504 => Err(ClientError::Timeout),
        200 | 400 | 404 | 409 | 429 | 502 => match decode_reply(body) {
            Ok(reply) if reply.status().http_status() == status => Ok(reply),
            Ok(reply) => Err(ClientError::BadReply(format!(
                "HTTP {status} carries a \"{}\" reply",
                reply.status()
            ))),
            Err(e) if status == 200 => Err(e),
            // A 404 or 502 from a proxy, or a wrong base URL: not ingress.
            Err(_) => Err(ClientError::Http(format!(
                "HTTP {status} without a join reply: {}",
                snippet(body)
            ))),
        },
        other => Err(ClientError::Http(format!(
            "HTTP {other}: {}",
            snippet(body)
        ))),
    }
}

/// The start of an error body, on one line.
fn snippet(body: &[u8]) -> String {
    const MAX: usize = 200;
    let text = String::from_utf8_lossy(body);
    let mut out: String = text
        .chars()
        .take(MAX)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > MAX {
        out.push('…');
    }
    if out.trim().is_empty() {
        "(empty body)".into()
    } else {
        out.trim().to_owned()
    }
}
