//! BuildKit is refused: it builds over its own gRPC session (`/session`, `/grpc`, any
//! `h2c` upgrade), which the gateway can neither see nor label.

use http::{HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::http::body::{Body, empty};
use crate::http::error::ApiError;
use crate::http::headers::asks_for_h2c;

/// Refuses a BuildKit request. Nothing of it ever reaches the daemon.
///
/// `/session` with an `h2c` upgrade gets special treatment for the sake of the message
/// the user reads. The 20.10 CLI with `DOCKER_BUILDKIT=1` opens a session and sends
/// `/build?version=2` side by side, and it prints whichever fails first; but it only
/// lets the build fail after the session dial has returned. Refusing the session
/// therefore always shows "unable to upgrade to h2c, received 400" and hides the
/// build's refusal, which says to set `DOCKER_BUILDKIT=0`. So the session upgrade is
/// accepted and the upgraded connection closed at once, without a byte: the client's
/// session ends quietly, and the build's refusal is the error it prints. No BuildKit
/// traffic can flow, since nothing of it is ever connected to the daemon.
pub async fn refuse(mut req: Request<Incoming>) -> Response<Body> {
    let is_session = req.uri().path().ends_with("/session") && asks_for_h2c(req.headers());
    if !is_session {
        return buildkit_refused().into_response();
    }
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        // Closed as soon as it is open: the client's session then ends without an
        // error of its own, and the build's refusal is what it prints.
        drop(upgrade.await);
    });
    tracing::info!("BuildKit session closed unconnected; its build request is refused");
    let mut response = Response::new(empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    response.headers_mut().insert(
        http::header::CONNECTION,
        HeaderValue::from_static("Upgrade"),
    );
    response
        .headers_mut()
        .insert(http::header::UPGRADE, HeaderValue::from_static("h2c"));
    response
}

fn buildkit_refused() -> ApiError {
    ApiError::bad_request(
        "BuildKit is not available through this gateway, because it cannot label what BuildKit builds; use the classic builder: set DOCKER_BUILDKIT=0 (and do not use buildx)",
    )
}
