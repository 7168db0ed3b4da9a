//! Docker-style errors.
//!
//! Every refusal the gateway makes must look like one the daemon itself would send, so
//! that the docker CLI, docker-py and every other client print it verbatim instead of a
//! protocol error. The daemon answers `{"message": "..."}` with a 4xx/5xx status; once a
//! streamed response (a build's progress) has started, it reports failures as an
//! `errorDetail` line instead, which clients also print.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};

/// The error type every body in the gateway carries. Boxed because bodies from hyper,
/// from decoders and from the gateway itself all end up behind one type.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The one body type the gateway hands to hyper, in both directions.
pub type Body = http_body_util::combinators::BoxBody<Bytes, BoxError>;

/// Wraps any body into the gateway's boxed body type.
pub fn boxed<B>(body: B) -> Body
where
    B: http_body::Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed()
}

/// An empty body.
pub fn empty() -> Body {
    boxed(http_body_util::Empty::<Bytes>::new())
}

/// A complete, small body.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    boxed(Full::new(bytes.into()))
}

/// A refusal or failure the gateway answers with itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    /// `message` is what the user reads; it is prefixed with `buildgate: ` so that nobody
    /// mistakes a gateway policy for a daemon bug.
    pub fn new(status: StatusCode, message: impl std::fmt::Display) -> Self {
        let message = message.to_string();
        let message = if message.starts_with("buildgate: ") {
            message
        } else {
            format!("buildgate: {message}")
        };
        Self { status, message }
    }

    /// For the stages that report a bare status code (route, query); a code that is
    /// not a valid status becomes 400, since those stages only refuse client input.
    pub fn with_code(code: u16, message: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST),
            message,
        )
    }

    pub fn bad_request(message: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// The JSON body dockerd uses for its own errors.
    pub fn json(&self) -> Vec<u8> {
        let mut body = serde_json::to_vec(&serde_json::json!({ "message": self.message }))
            .unwrap_or_else(|_| b"{\"message\":\"buildgate: internal error\"}".to_vec());
        body.push(b'\n');
        body
    }

    /// The line a streamed build response carries when it fails part-way, in the same
    /// shape as the daemon's (`error` for old clients, `errorDetail` for new ones).
    pub fn stream_line(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(&serde_json::json!({
            "errorDetail": { "message": self.message },
            "error": self.message,
        }))
        .unwrap_or_default();
        line.extend_from_slice(b"\r\n");
        line
    }

    pub fn into_response(self) -> Response<Body> {
        let mut response = Response::new(full(self.json()));
        *response.status_mut() = self.status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_body_is_what_the_docker_cli_prints() {
        let err = ApiError::bad_request("no \"quotes\" lost");
        let value: serde_json::Value = serde_json::from_slice(&err.json()).unwrap();
        assert_eq!(value["message"], "buildgate: no \"quotes\" lost");
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn prefix_is_not_doubled() {
        let err = ApiError::bad_request("buildgate: already prefixed");
        assert_eq!(err.message, "buildgate: already prefixed");
    }

    #[test]
    fn stream_line_carries_error_detail() {
        let err = ApiError::new(StatusCode::BAD_GATEWAY, "upload broke");
        let line = err.stream_line();
        assert!(line.ends_with(b"\r\n"));
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(value["errorDetail"]["message"], "buildgate: upload broke");
        assert_eq!(value["error"], "buildgate: upload broke");
    }

    #[test]
    fn response_has_status_and_json_content_type() {
        let response = ApiError::new(StatusCode::BAD_GATEWAY, "down").into_response();
        assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            HeaderValue::from_static("application/json")
        );
    }
}
