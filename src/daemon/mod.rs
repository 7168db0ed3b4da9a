//! Questions the gateway asks the daemon on its own behalf: what an image is, what a
//! build made, pull this, tag that.
//!
//! Every answer the gateway acts on comes from the daemon itself, resolved the way the
//! daemon resolves it (a name, an ID prefix, a digest), and every decision is then
//! forwarded by full ID, so that nothing renamed or re-tagged in between can redirect
//! it. Answers are read whole (they are small JSON documents) up to [`MAX_ANSWER`];
//! streams (a pull's progress) are read line by line to their end.
//!
//! A [`Client`] keeps one daemon connection for its calls, as a keep-alive client
//! would; a connection that died while idle is replaced once.

pub mod images;

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;

use crate::http::body::{Body, empty, full};
use crate::http::error::ApiError;
use crate::http::upstream::{Sender, Upstream};

/// Largest answer read into memory. Inspect documents are a few KiB; a container with
/// thousands of mounts or labels stays far below this.
pub const MAX_ANSWER: usize = 8 << 20;

/// Longest line of a streamed answer (a pull's progress messages are short).
const MAX_LINE: usize = 1 << 20;

/// A daemon answer, read whole.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Answer {
    /// The daemon's own error message (`{"message": ...}`), or the body as text.
    pub fn message(&self) -> String {
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| {
                v.get("message")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| String::from_utf8_lossy(&self.body).trim().to_string())
    }

    /// The body as JSON.
    pub fn json(&self) -> Result<serde_json::Value, ApiError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!("the Docker daemon's answer is not JSON: {e}"),
            )
        })
    }
}

/// Talks to the daemon on the gateway's behalf.
pub struct Client {
    upstream: Upstream,
    sender: Option<Sender>,
}

impl Client {
    pub fn new(upstream: &Upstream) -> Client {
        Client {
            upstream: upstream.clone(),
            sender: None,
        }
    }

    /// A client that starts on an open connection (a client connection's kept daemon
    /// connection; see `ConnCache::take`).
    pub fn reusing(upstream: &Upstream, sender: Option<Sender>) -> Client {
        Client {
            upstream: upstream.clone(),
            sender,
        }
    }

    /// The connection this client holds, to be kept for the next request.
    pub fn take_sender(&mut self) -> Option<Sender> {
        self.sender.take()
    }

    /// The daemon connection the calls used, unless it is closed: for the client
    /// connection it was opened for to go on with. (It may not be ready for the next
    /// request yet, its last answer just read: [`Upstream::reuse`] waits for that.)
    pub fn into_sender(self) -> Option<Sender> {
        self.sender.filter(|sender| !sender.is_closed())
    }

    /// Sends one request and reads the whole answer.
    pub async fn call(
        &mut self,
        method: Method,
        path: &str,
        headers: HeaderMap,
        body: Option<Bytes>,
    ) -> Result<Answer, ApiError> {
        let response = self.send(method, path, headers, body).await?;
        let (parts, body) = response.into_parts();
        let body = http_body_util::Limited::new(body, MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    format!("cannot read the Docker daemon's answer to {path}: {e}"),
                )
            })?
            .to_bytes();
        Ok(Answer {
            status: parts.status,
            body,
        })
    }

    /// `GET path` as JSON: `Ok(None)` when the daemon says 404, its error otherwise.
    pub async fn get_json(&mut self, path: &str) -> Result<Option<serde_json::Value>, ApiError> {
        let answer = self.call(Method::GET, path, HeaderMap::new(), None).await?;
        match answer.status {
            StatusCode::NOT_FOUND => Ok(None),
            status if status.is_success() => answer.json().map(Some),
            status => Err(daemon_refused(status, &answer.message())),
        }
    }

    /// Sends a request whose answer is a stream of JSON messages (a pull, a push) and
    /// reads it to its end. An `error`/`errorDetail` message, a stream that breaks off,
    /// or an error status is an error carrying the daemon's own words.
    pub async fn call_stream(
        &mut self,
        method: Method,
        path: &str,
        headers: HeaderMap,
    ) -> Result<(), ApiError> {
        let response = self.send(method, path, headers, None).await?;
        let status = response.status();
        let mut body = response.into_body();
        if !status.is_success() {
            let bytes = http_body_util::Limited::new(body, MAX_ANSWER)
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            let answer = Answer {
                status,
                body: bytes,
            };
            return Err(daemon_refused(status, &answer.message()));
        }
        let mut pending = BytesMut::new();
        let broke_off = |e: &dyn std::fmt::Display| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!("the Docker daemon's answer to {path} broke off: {e}"),
            )
        };
        loop {
            let frame = match body.frame().await {
                None => break,
                Some(Err(e)) => return Err(broke_off(&e)),
                Some(Ok(frame)) => frame,
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            pending.extend_from_slice(&data);
            while let Some(at) = pending.iter().position(|&b| b == b'\n') {
                let line = pending.split_to(at + 1);
                stream_error(&line)?;
            }
            if pending.len() > MAX_LINE {
                return Err(broke_off(&"a line of its answer is too long"));
            }
        }
        stream_error(&pending)
    }

    async fn send(
        &mut self,
        method: Method,
        path: &str,
        mut headers: HeaderMap,
        body: Option<Bytes>,
    ) -> Result<http::Response<hyper::body::Incoming>, ApiError> {
        headers.insert(header::HOST, HeaderValue::from_static("docker"));
        headers.insert(
            header::USER_AGENT,
            HeaderValue::from_static(concat!("buildgate/", env!("CARGO_PKG_VERSION"))),
        );
        let make = |body: Option<Bytes>| -> Result<Request<Body>, ApiError> {
            let mut request = Request::new(match body {
                Some(bytes) => full(bytes),
                None => empty(),
            });
            *request.method_mut() = method.clone();
            *request.uri_mut() = path.parse().map_err(|e| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("cannot form the daemon request {path:?}: {e}"),
                )
            })?;
            *request.headers_mut() = headers.clone();
            Ok(request)
        };
        let (mut sender, reused) = self
            .upstream
            .reuse(self.sender.take())
            .await
            .map_err(|e| self.upstream.unreachable(&e))?;
        let first = self.upstream.send(&mut sender, make(body.clone())?).await;
        let response = match first {
            Ok(response) => response,
            // A kept connection the daemon closed while idle: once more on a new one.
            Err(crate::http::upstream::SendError::Hyper(_)) if reused => {
                sender = self
                    .upstream
                    .connect()
                    .await
                    .map_err(|e| self.upstream.unreachable(&e))?;
                self.upstream
                    .send(&mut sender, make(body)?)
                    .await
                    .map_err(|e| self.upstream.send_failed(&e))?
            }
            Err(e) => return Err(self.upstream.send_failed(&e)),
        };
        self.sender = Some(sender);
        Ok(response)
    }
}

/// The daemon refused one of the gateway's own requests: its status, its words.
fn daemon_refused(status: StatusCode, message: &str) -> ApiError {
    let status = if status.is_client_error() || status.is_server_error() {
        status
    } else {
        StatusCode::BAD_GATEWAY
    };
    ApiError::new(status, format!("the Docker daemon said: {message}"))
}

/// An error message in one line of a JSON message stream, as an error.
fn stream_error(line: &[u8]) -> Result<(), ApiError> {
    let line = line.trim_ascii();
    if line.is_empty() {
        return Ok(());
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(line) else {
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!(
                "the Docker daemon sent a line that is not JSON: {:?}",
                String::from_utf8_lossy(&line[..line.len().min(200)])
            ),
        ));
    };
    let message = value
        .get("errorDetail")
        .and_then(|d| d.get("message"))
        .or_else(|| value.get("error"))
        .and_then(|m| m.as_str());
    match message {
        Some(message) => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("the Docker daemon said: {message}"),
        )),
        None => Ok(()),
    }
}

/// Percent-encodes `s` for a path segment or query value of a request to the daemon.
/// Only RFC 3986 unreserved bytes stay as they are; Go's `net/http` decodes the rest
/// back to exactly `s` before the daemon routes or reads it.
pub fn escape(s: &str) -> String {
    crate::gourl::query_escape(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_errors_are_found() {
        assert!(stream_error(b"{\"status\":\"Pulling fs layer\",\"id\":\"abc\"}\n").is_ok());
        assert!(stream_error(b"  \r\n").is_ok());
        let err = stream_error(
            b"{\"errorDetail\":{\"message\":\"manifest unknown\"},\"error\":\"manifest unknown\"}",
        )
        .unwrap_err();
        assert!(err.message.contains("manifest unknown"), "{err}");
        let err = stream_error(b"{\"error\":\"old style\"}").unwrap_err();
        assert!(err.message.contains("old style"), "{err}");
        assert!(stream_error(b"not json").is_err());
    }

    #[test]
    fn answer_messages() {
        let answer = Answer {
            status: StatusCode::NOT_FOUND,
            body: Bytes::from_static(b"{\"message\":\"No such image: x\"}\n"),
        };
        assert_eq!(answer.message(), "No such image: x");
        let answer = Answer {
            status: StatusCode::BAD_REQUEST,
            body: Bytes::from_static(b"plain text\n"),
        };
        assert_eq!(answer.message(), "plain text");
    }

    #[test]
    fn refusals_keep_error_statuses_only() {
        assert_eq!(
            daemon_refused(StatusCode::CONFLICT, "x").status,
            StatusCode::CONFLICT
        );
        assert_eq!(
            daemon_refused(StatusCode::OK, "x").status,
            StatusCode::BAD_GATEWAY
        );
    }
}
