//! Lists, prunes, events and disk usage, limited to what the owner may see or touch.
//!
//! Containers, volumes and prunes are filtered by the daemon: the owner's label is
//! added to the client's `label` filters, which the daemon ANDs ([`super::filters`]).
//! Two lists cannot be said as a label filter: images show the owner's and nobody's
//! (pulled images are everyone's bases), networks the owner's and the daemon's own
//! (`bridge`, `host`, `none`); those answers are filtered by the gateway. So are events
//! (network and volume events carry no labels) and `system/df` (no filters in 20.10).

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::sync::mpsc;

use super::endpoints::{Body as BodyRule, Kind, Matched};
use super::filters;
use super::owners::{self, Label, Ownership};
use super::{Ctx, Query, rebuild};
use crate::daemon::Client;
use crate::http::access_log::{Direction, Metered, RequestLog};
use crate::http::body::{Body, full};
use crate::http::error::ApiError;
use crate::http::passthrough::ConnCache;

/// The daemon's own networks, which anyone may see and join (`host` only to see).
pub const PREDEFINED_NETWORKS: &[&str] = &["bridge", "host", "none"];

/// `GET /containers/json`, `/images/json`, `/volumes`, `/networks`.
pub(super) async fn list(
    ctx: &mut Ctx<'_>,
    kind: Kind,
    matched: &Matched,
    req: Request<Incoming>,
    cache: &ConnCache,
    log: Arc<RequestLog>,
) -> Result<Response<Body>, ApiError> {
    let mut query = Query::parse(req.uri().query(), &[])?;
    let mut wanted = filters::parse(query.get("filters"))?;
    let by_daemon = matches!(kind, Kind::Container | Kind::Volume);
    if by_daemon {
        filters::add_owner(&mut wanted, ctx.label.key, ctx.label.owner);
    }
    if !wanted.is_empty() {
        query.set("filters", &filters::to_json(&wanted));
    }
    let path = ctx.path(matched.pattern, None);
    if by_daemon {
        let request = rebuild(req, path, &query, BodyRule::None, None).await?;
        return Ok(ctx.forward(request, cache, log).await);
    }
    let answer = ctx
        .client
        .call(
            Method::GET,
            &format!("{path}{}", query.encode()),
            Default::default(),
            None,
        )
        .await?;
    if !answer.status.is_success() {
        return Ok(passed_on(answer.status, answer.body));
    }
    let mut value = answer.json()?;
    if let Some(items) = value.as_array_mut() {
        items.retain(|item| visible(kind, item, &ctx.label));
    }
    log.set_status(answer.status);
    Ok(json_response(answer.status, &value))
}

/// Whether a list entry may be shown: images of this owner or nobody's, networks of
/// this owner or the daemon's own.
fn visible(kind: Kind, item: &serde_json::Value, label: &Label<'_>) -> bool {
    let labels = item.get("Labels");
    let ownership = owners::owner_of(labels, label);
    match kind {
        Kind::Image => ownership != Ownership::Other,
        Kind::Network => {
            ownership == Ownership::Mine
                || (ownership == Ownership::Nobody
                    && item
                        .get("Name")
                        .and_then(|n| n.as_str())
                        .is_some_and(|n| PREDEFINED_NETWORKS.contains(&n)))
        }
        _ => ownership == Ownership::Mine,
    }
}

/// `POST /{containers,images,volumes,networks}/prune`: only what carries the owner's
/// label (the daemon ANDs label filters, so nothing else can match).
pub(super) async fn prune(
    ctx: &mut Ctx<'_>,
    _kind: Kind,
    matched: &Matched,
    req: Request<Incoming>,
    cache: &ConnCache,
    log: Arc<RequestLog>,
) -> Result<Response<Body>, ApiError> {
    let mut query = Query::parse(req.uri().query(), &[])?;
    let mut wanted = filters::parse(query.get("filters"))?;
    filters::add_owner(&mut wanted, ctx.label.key, ctx.label.owner);
    query.set("filters", &filters::to_json(&wanted));
    let path = ctx.path(matched.pattern, None);
    let request = rebuild(req, path, &query, BodyRule::None, None).await?;
    Ok(ctx.forward(request, cache, log).await)
}

/// `GET /system/df`: the daemon's answer with other owners' images, containers and
/// volumes taken out, and the build cache (shared by everyone) left empty.
pub(super) async fn system_df(
    ctx: &mut Ctx<'_>,
    matched: &Matched,
    req: Request<Incoming>,
    log: Arc<RequestLog>,
) -> Result<Response<Body>, ApiError> {
    let query = Query::parse(req.uri().query(), &[])?;
    let path = ctx.path(matched.pattern, None);
    let answer = ctx
        .client
        .call(
            Method::GET,
            &format!("{path}{}", query.encode()),
            Default::default(),
            None,
        )
        .await?;
    if !answer.status.is_success() {
        return Ok(passed_on(answer.status, answer.body));
    }
    let mut value = answer.json()?;
    let label = &ctx.label;
    for (field, kind) in [
        ("Images", Kind::Image),
        ("Containers", Kind::Container),
        ("Volumes", Kind::Volume),
    ] {
        if let Some(items) = value.get_mut(field).and_then(|v| v.as_array_mut()) {
            items.retain(|item| visible(kind, item, label));
        }
    }
    if let Some(cache) = value.get_mut("BuildCache") {
        *cache = serde_json::Value::Array(Vec::new());
    }
    log.set_status(answer.status);
    Ok(json_response(answer.status, &value))
}

/// `GET /events`: the daemon's stream, with every event that is not about an object of
/// this owner taken out. Container and image events carry their object's labels; volume
/// and network events only a name or ID, so those objects are looked up (once each per
/// stream; one that is already gone when first seen is taken out).
pub(super) async fn events(
    ctx: &mut Ctx<'_>,
    matched: &Matched,
    req: Request<Incoming>,
    log: Arc<RequestLog>,
) -> Result<Response<Body>, ApiError> {
    let mut query = Query::parse(req.uri().query(), &[])?;
    let wanted = filters::parse(query.get("filters"))?;
    if wanted.is_empty() {
        query.remove("filters");
    } else {
        query.set("filters", &filters::to_json(&wanted));
    }
    let path = format!("{}{}", ctx.path(matched.pattern, None), query.encode());
    let upstream = &ctx.gateway.upstream;
    let mut sender = upstream
        .connect()
        .await
        .map_err(|e| upstream.unreachable(&e))?;
    let mut request = Request::new(crate::http::body::empty());
    *request.uri_mut() = path
        .parse()
        .map_err(|_| ApiError::bad_request("bad events query"))?;
    request
        .headers_mut()
        .insert(header::HOST, HeaderValue::from_static("docker"));
    let response = upstream
        .send(&mut sender, request)
        .await
        .map_err(|e| upstream.send_failed(&e))?;
    let status = response.status();
    let (mut parts, body) = response.into_parts();
    crate::http::headers::strip_hop_by_hop(&mut parts.headers);
    parts.headers.remove(header::CONTENT_LENGTH);
    log.set_status(status);
    if !status.is_success() {
        return Ok(Response::from_parts(
            parts,
            crate::http::body::boxed(Metered::new(body, log, Direction::Out)),
        ));
    }
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    let key = ctx.label.key.to_string();
    let owner = ctx.label.owner.to_string();
    let client = Client::new(upstream);
    tokio::spawn(async move {
        // Keeps the daemon connection's sender alive for as long as the stream runs.
        let _sender = sender;
        let mut filter = EventFilter {
            key,
            owner,
            client,
            known: HashMap::new(),
        };
        let mut body = body;
        let mut pending = BytesMut::new();
        loop {
            let frame = tokio::select! {
                frame = body.frame() => frame,
                () = tx.closed() => return,
            };
            let Some(Ok(frame)) = frame else { return };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            pending.extend_from_slice(&data);
            while let Some(at) = pending.iter().position(|&b| b == b'\n') {
                let line = pending.split_to(at + 1).freeze();
                if filter.keep(&line).await && tx.send(line).await.is_err() {
                    return;
                }
            }
            if pending.len() > 1 << 20 {
                // No event is this long; what is not a line is not passed on.
                pending.clear();
            }
        }
    });
    let body = Lines(rx);
    Ok(Response::from_parts(
        parts,
        crate::http::body::boxed(Metered::new(body, log, Direction::Out)),
    ))
}

/// Decides per event; remembers the volumes and networks it looked up.
struct EventFilter {
    key: String,
    owner: String,
    client: Client,
    known: HashMap<(String, String), bool>,
}

impl EventFilter {
    async fn keep(&mut self, line: &[u8]) -> bool {
        let Ok(event) = serde_json::from_slice::<serde_json::Value>(line.trim_ascii()) else {
            return false;
        };
        let kind = event
            .get("Type")
            .or_else(|| event.get("type"))
            .and_then(|t| t.as_str())
            .unwrap_or("");
        let actor = event.get("Actor");
        let attributes = actor.and_then(|a| a.get("Attributes"));
        let id = actor
            .and_then(|a| a.get("ID"))
            .and_then(|i| i.as_str())
            .unwrap_or("")
            .to_string();
        let label = Label {
            key: &self.key,
            owner: &self.owner,
        };
        match kind {
            // Container events carry the container's labels; image events the image's
            // (while it still exists).
            "container" | "image" => owners::owner_of(attributes, &label) == Ownership::Mine,
            "volume" | "network" => {
                if id.is_empty() {
                    return false;
                }
                let key = (kind.to_string(), id.clone());
                if let Some(&mine) = self.known.get(&key) {
                    return mine;
                }
                let object = if kind == "volume" {
                    Kind::Volume
                } else {
                    Kind::Network
                };
                let mine = matches!(
                    owners::find(&mut self.client, object, &id, &label).await,
                    Ok(Some(found)) if found.ownership == Ownership::Mine
                );
                self.known.insert(key, mine);
                mine
            }
            _ => false,
        }
    }
}

/// A body of the lines a task sends; it ends when the task does.
struct Lines(mpsc::Receiver<Bytes>);

impl http_body::Body for Lines {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|line| line.map(|line| Ok(http_body::Frame::data(line))))
    }
}

/// A daemon answer the gateway read whole, passed on as it came.
fn passed_on(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A JSON answer the gateway wrote.
pub(super) fn json_response(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut body = serde_json::to_vec(value).unwrap_or_default();
    body.push(b'\n');
    passed_on(status, Bytes::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_entries_by_kind() {
        let label = Label {
            key: "owner",
            owner: "me",
        };
        let item = |labels: serde_json::Value, name: &str| serde_json::json!({"Labels": labels, "Name": name});
        let mine = item(serde_json::json!({"owner": "me"}), "n");
        let theirs = item(serde_json::json!({"owner": "you"}), "n");
        let nobody = item(serde_json::Value::Null, "n");
        let bridge = item(serde_json::json!({}), "bridge");
        let fake_bridge = item(serde_json::json!({"owner": "you"}), "bridge");
        assert!(visible(Kind::Image, &mine, &label));
        assert!(visible(Kind::Image, &nobody, &label));
        assert!(!visible(Kind::Image, &theirs, &label));
        assert!(visible(Kind::Network, &mine, &label));
        assert!(visible(Kind::Network, &bridge, &label));
        assert!(!visible(Kind::Network, &nobody, &label));
        assert!(!visible(Kind::Network, &fake_bridge, &label));
        assert!(visible(Kind::Volume, &mine, &label));
        assert!(!visible(Kind::Volume, &nobody, &label));
    }
}
