//! Dispatch: every request is classified by [`crate::route`] the way dockerd would route
//! it, then handed to the handler for its class, for the connection's owner. Refusals
//! made here never reach the daemon; neither does any request of a connection that has
//! no owner ([`Identity::Refused`]).

use std::convert::Infallible;
use std::sync::Arc;

use http::{HeaderValue, Request, Response};
use hyper::body::Incoming;

use crate::build;
use crate::gateway::Gateway;
use crate::http::access_log::RequestLog;
use crate::http::body::Body;
use crate::http::headers;
use crate::http::passthrough::{self, ConnCache};
use crate::identity::Identity;
use crate::policy::{self, owners::Label};
use crate::route::{self, Route};

/// Handles one request of a connection that acts for `identity`.
pub async fn handle(
    req: Request<Incoming>,
    gateway: Arc<Gateway>,
    identity: Identity,
    cache: Arc<ConnCache>,
) -> Result<Response<Body>, Infallible> {
    let owner = match identity {
        Identity::Owner(owner) => owner,
        Identity::Refused(refusal) => {
            let log = RequestLog::new(None, req.method(), req.uri().path());
            log.set_status(refusal.status);
            return Ok(refusal.as_ref().clone().into_response());
        }
    };
    let log = RequestLog::new(Some(owner.clone()), req.method(), req.uri().path());
    let route = route::classify(req.method(), req.uri()).map(|route| {
        // BuildKit speaks gRPC over an h2c upgrade on any path it likes.
        if headers::asks_for_h2c(req.headers()) {
            Route::BuildKit
        } else {
            route
        }
    });
    let response = match route {
        Err(err) => err.into_response(),
        Ok(Route::BuildKit) => build::buildkit::refuse(req).await,
        Ok(Route::Ping) => {
            let mut response =
                passthrough::forward(req, &gateway.upstream, &cache, log.clone()).await;
            // The docker CLI 23+ without the buildx plugin picks its builder from this
            // header, so it chooses the classic one through the gateway by itself. (With
            // buildx installed the CLI ignores it and always uses BuildKit on Linux,
            // which is refused: such users must set DOCKER_BUILDKIT=0.)
            response
                .headers_mut()
                .insert("builder-version", HeaderValue::from_static("1"));
            response
        }
        Ok(Route::Build) => build::handle(req, &gateway, &owner, log.clone()).await,
        Ok(Route::Other) if gateway.config.confine => {
            let label = Label {
                key: &owner.key,
                owner: &owner.value,
            };
            policy::handle(req, &gateway, label, &cache, log.clone()).await
        }
        Ok(Route::Other) => passthrough::forward(req, &gateway.upstream, &cache, log.clone()).await,
    };
    if response.status().is_client_error() || response.status().is_server_error() {
        tracing::debug!(status = %response.status(), "error response");
    }
    log.set_status(response.status());
    Ok(response)
}
