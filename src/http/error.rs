//! Docker-style errors.
//!
//! Every refusal the gateway makes must look like one the daemon itself would send, so
//! that the docker CLI, docker-py and every other client print it verbatim instead of a
//! protocol error. The daemon answers `{"message": "..."}` with a 4xx/5xx status; once a
//! streamed response (a build's progress) has started, it reports failures as an
//! `errorDetail` line instead, which clients also print.

use http::{HeaderValue, Response, StatusCode, header};

use super::body::{Body, full};

/// A refusal or failure the gateway answers with itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    /// `message` is what the user reads. It gets the `buildgate: ` prefix here, and only
    /// here, so that nobody mistakes a gateway policy for a daemon bug; callers write the
    /// message without it.
    pub fn new(status: StatusCode, message: impl std::fmt::Display) -> Self {
        Self {
            status,
            message: format!("buildgate: {message}"),
        }
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
