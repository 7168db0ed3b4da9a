//! `POST /build`: the one request the gateway rewrites.
//!
//! The request goes through the stages of the design in one streaming pass:
//!
//! ```text
//! query ─► decompress ─► tar reader ─► context walk ─► tar writer ─► upstream
//!                                         │                ▲
//!                                         └─► Dockerfile ─► rewrite (appended last)
//! ```
//!
//! The upstream request starts at once, with a query rebuilt by [`crate::query`] whose
//! `dockerfile=` names a fresh random entry that does not exist yet. Entries stream
//! through as they are read; file bodies are never held, except the few small files
//! that may turn out to be the Dockerfile. At the end of the client's archive the walk
//! names the Dockerfile, the rewrite labels it, and the gateway appends it under the
//! random name, then its own end-of-archive. The daemon therefore builds the Dockerfile
//! the gateway rewrote, whatever else the archive contains.
//!
//! One task does all of it: the pipeline runs inside the upstream request body, and the
//! upstream connection is driven by the request's own future and then by the response
//! body, so each chunk goes from the client's socket to the daemon's without being
//! handed to another task (and so, often, to another worker thread) on the way.
//!
//! Fail closed: any error after the first byte went upstream turns the upstream body
//! into an error, which makes hyper abort the request mid-chunk. The daemon sees a
//! broken upload and builds nothing; it cannot mistake a cut-off context for a
//! complete one, because the last thing it would need, the Dockerfile it was told to
//! use, only exists at the very end.

mod bases;
mod body;
pub mod buildkit;
mod pipeline;
mod source;
mod verify;

use std::future::{Future, poll_fn};
use std::sync::Arc;

use http::header::HeaderName;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use tokio::sync::oneshot;

use self::body::{Outbox, Reported, UpstreamBody, drive};
use self::pipeline::{Job, pipeline};
use crate::config::Owner;
use crate::gateway::Gateway;
use crate::http::access_log::{Direction, Metered, RequestLog};
use crate::http::body::{Body, boxed};
use crate::http::error::ApiError;
use crate::http::headers::strip_hop_by_hop;
use crate::owners::{self, Label};
use crate::query::{BuildQuery, Policy};
use crate::reference::{self, auth::AuthConfigs};
use crate::route;

/// Handles one build request end to end, for the connection's `owner`.
pub async fn handle(
    req: Request<Incoming>,
    gateway: &Gateway,
    owner: &Owner,
    log: Arc<RequestLog>,
) -> Response<Body> {
    match start(req, gateway, owner, log.clone()).await {
        Ok(response) => response,
        Err(err) => {
            tracing::warn!(error = %err, "build refused");
            log.set_status(err.status);
            err.into_response()
        }
    }
}

async fn start(
    req: Request<Incoming>,
    gateway: &Gateway,
    owner: &Owner,
    log: Arc<RequestLog>,
) -> Result<Response<Body>, ApiError> {
    // Held until the build's output has been read to the end (it lives in the
    // response body), so `--max-builds` counts builds, not requests being parsed.
    let permit = match &gateway.builds {
        None => None,
        Some(builds) => Some(builds.clone().try_acquire_owned().map_err(|_| {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "{} builds are already running through this gateway (--max-builds); try again when one has finished",
                    gateway.config.max_builds
                ),
            )
        })?),
    };
    let policy: Policy = gateway.build_policy(owner);
    let query = BuildQuery::parse(req.uri().query(), &policy)?;
    // Tags and credentials are checked before anything is read: a build that could not
    // be tagged or pull its bases is refused before the upload, as the daemon does.
    let tags = reference::build_tags(query.tags().iter().map(String::as_str))
        .map_err(|e| ApiError::bad_request(format!("invalid tag: {e}")))?;
    if gateway.config.confine {
        // Said before the upload rather than after the build; checked again then.
        let mut client = crate::daemon::Client::new(&gateway.upstream);
        let label = Label {
            key: &policy.owner_key,
            owner: &policy.owner,
        };
        for tag in &tags {
            owners::check_name_target(&mut client, &label, tag, false).await?;
        }
    }
    let auths = AuthConfigs::from_headers(req.headers())
        .map_err(|e| ApiError::bad_request(format!("registry credentials: {e}")))?;
    // The daemon reads `platform` only from API 1.32 on; below, it builds as if there
    // were none, and so must the resolution of the bases.
    let platform = match route::api_version(req.uri()) {
        Some(v) if route::compare_versions(&v, "1.32").is_lt() => None,
        _ => query.scalar("platform").map(str::to_string),
    };
    let dockerfile_name = random_dockerfile_name()?;
    let path = route::upstream_build_path(req.uri());
    let uri = format!("{path}?{}", query.to_upstream(&dockerfile_name));

    let (parts, body) = req.into_parts();
    let headers = upstream_headers(&parts.headers);
    let body = Metered::new(body, log.clone(), Direction::In);

    let (done_tx, done_rx) = oneshot::channel();
    let outbox = Outbox::default();
    let job = Job {
        dockerfile_param: query.dockerfile().map(str::to_string),
        dockerfile_name,
        owner_key: policy.owner_key.clone(),
        owner: policy.owner.clone(),
        limits: gateway.build_limits.clone(),
        decoders: gateway.decoders.clone(),
        upstream: gateway.upstream.clone(),
        build_args: query.build_args().clone(),
        platform,
        target: query.scalar("target").map(str::to_string),
        pull: query.pull(),
        auths,
        confine: gateway.config.confine,
    };
    let plan = verify::Plan {
        upstream: gateway.upstream.clone(),
        owner_key: policy.owner_key.clone(),
        owner: policy.owner.clone(),
        tags,
        confine: gateway.config.confine,
        quiet: query.quiet(),
    };
    let mut request = Request::new(boxed(UpstreamBody::new(
        Box::pin(pipeline(body, outbox.clone(), job)),
        outbox,
        done_tx,
    )));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = uri.parse().map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot form the upstream URI",
        )
    })?;
    *request.headers_mut() = headers;

    let upstream = &gateway.upstream;
    let (mut sender, driver) = upstream
        .connect_driven()
        .await
        .map_err(|e| upstream.unreachable(&e))?;
    let mut driver = Some(driver);
    let sent = {
        let mut send = std::pin::pin!(upstream.send(&mut sender, request));
        poll_fn(|cx| {
            drive(&mut driver, cx);
            send.as_mut().poll(cx)
        })
        .await
    };
    let response = match sent {
        Ok(response) => response,
        Err(err) => {
            // Dropping the connection drops the upload with it, so the pipeline has
            // either reported already or never will.
            drop(driver);
            // Most often the pipeline refused the context and aborted the upload; its
            // reason is the one the user needs.
            return Err(match done_rx.await {
                Ok(Err(refusal)) => refusal,
                _ => upstream.send_failed(&err),
            });
        }
    };
    log.set_status(response.status());
    let succeeded = response.status().is_success();
    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    let body = Metered::new(body, log, Direction::Out);
    Ok(Response::from_parts(
        parts,
        boxed(Reported::new(
            body, driver, succeeded, done_rx, plan, permit,
        )),
    ))
}

/// Only what the daemon needs for a build; in particular no `Content-Encoding` or
/// `Content-Length` from the client, since the body the daemon gets is the gateway's.
fn upstream_headers(client: &HeaderMap) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    headers.insert(header::HOST, HeaderValue::from_static("docker"));
    for name in [
        header::USER_AGENT,
        HeaderName::from_static("x-registry-config"),
    ] {
        if let Some(value) = client.get(&name) {
            headers.insert(name, value.clone());
        }
    }
    headers
}

/// A name no client can predict, so no entry of the client's archive can be, or lead
/// to, the Dockerfile the daemon is told to build.
fn random_dockerfile_name() -> Result<String, ApiError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("no randomness for the Dockerfile name: {e}"),
        )
    })?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!(".buildgate-dockerfile-{hex}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_names_differ_and_are_plain() {
        let a = random_dockerfile_name().unwrap();
        let b = random_dockerfile_name().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), ".buildgate-dockerfile-".len() + 32);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'-')
        );
    }

    #[test]
    fn upstream_headers_are_the_gateways() {
        let mut client = HeaderMap::new();
        client.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        client.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        client.insert(header::CONTENT_LENGTH, HeaderValue::from_static("10"));
        client.insert("x-registry-config", HeaderValue::from_static("e30="));
        let headers = upstream_headers(&client);
        assert_eq!(headers[header::CONTENT_TYPE], "application/x-tar");
        assert!(headers.get(header::CONTENT_ENCODING).is_none());
        assert!(headers.get(header::CONTENT_LENGTH).is_none());
        assert_eq!(headers["x-registry-config"], "e30=");
    }
}
