//! The thin path: everything that is not a build goes to the daemon as it came.
//!
//! Bodies stream both ways without buffering and without timeouts, because `logs -f`,
//! `events` and `wait` legitimately run for hours. Hop-by-hop headers are dropped in
//! both directions (RFC 9110 §7.6.1); hyper re-frames each body on its own side, so the
//! framing the daemon sees is always the one hyper wrote, never the client's.
//!
//! HTTP upgrades (`attach`, `exec` start, `Upgrade: tcp`) are the exception: the
//! `Connection`/`Upgrade` pair is forwarded, and once the daemon answers `101` the two
//! raw connections are spliced together. The splice passes a half-close on: when the
//! client shuts down its write side (end of stdin), the daemon's side is shut down too,
//! while output keeps flowing back until the daemon closes. That is what makes
//! `echo hi | docker run -i IMAGE cat` print `hi` and exit.

use std::sync::Arc;

use http::header;
use http::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::Mutex;

use super::access_log::{Direction, Metered, RequestLog};
use super::body::{Body, boxed, empty};
use super::error::ApiError;
use super::headers::{strip_hop_by_hop, wants_upgrade};
use super::upstream::{SendError, Sender, Upstream};

/// Per client connection: the daemon connection its previous request used, kept for the
/// next one. Requests on one HTTP/1.1 connection are sequential, so at most one sender
/// is ever in use per client connection.
#[derive(Default)]
pub struct ConnCache {
    sender: Mutex<Option<Sender>>,
}

impl ConnCache {
    /// The kept daemon connection, for a handler that asks the daemon something on the
    /// gateway's own behalf before it forwards (`--confine`'s ownership checks): the
    /// question then costs one round trip on the connection the request goes out on,
    /// not a connection of its own.
    pub async fn take(&self) -> Option<Sender> {
        self.sender.lock().await.take()
    }

    /// Gives a connection back for the next request.
    pub async fn put(&self, sender: Sender) {
        *self.sender.lock().await = Some(sender);
    }

    /// A cache that starts with `sender`: a daemon connection the gateway opened for
    /// this client connection before its first request (to find its owner).
    pub fn with(sender: Option<Sender>) -> ConnCache {
        ConnCache {
            sender: Mutex::new(sender),
        }
    }
}

/// Forwards one request and returns the daemon's response, streaming.
/// The client's request as it came (`Request<Incoming>`), or one the gateway wrote
/// from its decision (`--confine`), with the client's connection-upgrade extension
/// carried over.
pub async fn forward<B>(
    mut req: Request<B>,
    upstream: &Upstream,
    cache: &ConnCache,
    log: Arc<RequestLog>,
) -> Response<Body>
where
    B: http_body::Body<Data = bytes::Bytes> + Send + Sync + Unpin + 'static,
    B::Error: Into<super::body::BoxError>,
{
    let upgrade = wants_upgrade(req.headers());
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));

    let (mut parts, body) = req.into_parts();
    // The protocol the client asked to switch to; forwarded as the one hop-by-hop
    // header pair the daemon must see.
    let protocol = if upgrade {
        parts.headers.get(header::UPGRADE).cloned()
    } else {
        None
    };
    strip_hop_by_hop(&mut parts.headers);
    if let Some(protocol) = &protocol {
        parts.headers.insert(
            header::CONNECTION,
            http::HeaderValue::from_static("Upgrade"),
        );
        parts.headers.insert(header::UPGRADE, protocol.clone());
    }
    // The daemon gets origin-form, whatever form the client used.
    parts.uri = match parts.uri.path_and_query() {
        Some(pq) => pq.as_str().parse().unwrap_or_else(|_| "/".parse().unwrap()),
        None => "/".parse().unwrap(),
    };
    // A request without a body can be sent again if a kept-alive daemon connection
    // turns out to have died while idle (the daemon restarted, or closed it).
    let replay = body.is_end_stream().then(|| {
        (
            parts.method.clone(),
            parts.uri.clone(),
            parts.headers.clone(),
        )
    });
    let body = boxed(Metered::new(body, log.clone(), Direction::In));
    let upstream_req = Request::from_parts(parts, body);

    let cached = cache.sender.lock().await.take();
    let (mut sender, reused) = match upstream.reuse(cached).await {
        Ok(found) => found,
        Err(err) => return fail(&log, upstream.unreachable(&err)),
    };
    let first = upstream.send(&mut sender, upstream_req).await;
    let mut response = match (first, replay) {
        (Ok(response), _) => response,
        (Err(SendError::Hyper(_)), Some((method, uri, headers))) if reused => {
            let mut again = Request::new(empty());
            *again.method_mut() = method;
            *again.uri_mut() = uri;
            *again.headers_mut() = headers;
            sender = match upstream.connect().await {
                Ok(sender) => sender,
                Err(err) => return fail(&log, upstream.unreachable(&err)),
            };
            match upstream.send(&mut sender, again).await {
                Ok(response) => response,
                Err(err) => return fail(&log, upstream.send_failed(&err)),
            }
        }
        (Err(err), _) => return fail(&log, upstream.send_failed(&err)),
    };
    log.set_status(response.status());

    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        let Some(client_upgrade) = client_upgrade else {
            // The daemon switched protocols without being asked; nothing sane can be
            // relayed to a client that does not expect it.
            return fail(
                &log,
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "the Docker daemon switched protocols without an upgrade request",
                ),
            );
        };
        let upstream_upgrade = hyper::upgrade::on(&mut response);
        let splice_log = log.clone();
        tokio::spawn(async move {
            let (client, daemon) = tokio::join!(client_upgrade, upstream_upgrade);
            match (client, daemon) {
                (Ok(client), Ok(daemon)) => {
                    let mut client = TokioIo::new(client);
                    let mut daemon = TokioIo::new(daemon);
                    match tokio::io::copy_bidirectional(&mut client, &mut daemon).await {
                        Ok((up, down)) => {
                            splice_log.add_in(up);
                            splice_log.add_out(down);
                        }
                        Err(err) => tracing::debug!(error = %err, "upgraded stream ended"),
                    }
                }
                (client, daemon) => tracing::debug!(
                    client_ok = client.is_ok(),
                    daemon_ok = daemon.is_ok(),
                    "upgrade did not complete on both sides"
                ),
            }
        });
        let (mut parts, _) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        parts.headers.insert(
            header::CONNECTION,
            http::HeaderValue::from_static("Upgrade"),
        );
        if let Some(protocol) = protocol {
            parts.headers.insert(header::UPGRADE, protocol);
        }
        return Response::from_parts(parts, empty());
    }

    // Keep the daemon connection for this client's next request. hyper only lets the
    // sender go again once this response's body has been read to the end.
    *cache.sender.lock().await = Some(sender);

    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    Response::from_parts(parts, boxed(Metered::new(body, log, Direction::Out)))
}

fn fail(log: &RequestLog, err: ApiError) -> Response<Body> {
    tracing::warn!(error = %err, "request failed");
    log.set_status(err.status);
    err.into_response()
}
