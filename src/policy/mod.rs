//! `--confine`: the whole Docker API under the ownership model.
//!
//! Every request is matched against the daemon's own route table ([`endpoints`]); what
//! is not in it is refused. Then, by route:
//!
//! - **Everything created is owned.** Container, volume and network creation, commits
//!   and imports carry the owner label, whatever the client's value for that key; a
//!   named volume the daemon would create implicitly for a container is created owned
//!   first. Builds are labelled by [`crate::build`] as always. The owner is the
//!   connection's: one gateway may serve many ([`crate::identity`]). With
//!   `--owner-from-peer`, the peer label (`config.owner_from_peer`) names owners too, so
//!   container creation sets it to the owner as well: otherwise a job could label a
//!   container with another job's ID and connect from it as that job (see
//!   [`crate::identity`] on precedence).
//! - **Everything named must be owned.** A reference (name, ID, ID prefix) is resolved
//!   by the daemon ([`owners`]), its owner label checked, and the request forwarded with
//!   the full ID that was checked. References inside bodies (`Image`, `VolumesFrom`,
//!   `Links`, `container:` modes, networks, volumes) are checked the same way.
//!   Read-only image routes also serve images that belong to nobody (pulled ones);
//!   joining the daemon's own `bridge` and `none` networks is allowed.
//! - **Lists, prunes and events are filtered** to the owner's objects ([`filters`]).
//! - **Privileged and host access is refused**: privileged containers and execs, host
//!   binds outside `--allow-bind`, host namespaces, added capabilities, devices,
//!   unconfined security options, other runtimes.
//!
//! Bodies are decoded the way dockerd's `encoding/json` decodes them into moby's types
//! ([`crate::gojson`]), checked, and forwarded as the gateway's own serialisation, so
//! the daemon reads exactly what was checked. Requests that need no check (`_ping`,
//! `version`, `info`) are passed through untouched.

pub mod endpoints;
pub mod filters;

pub use crate::owners;

mod containers;
mod images;
mod lists;
mod objects;

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use self::endpoints::{Action, Body as BodyRule, Kind};
use self::lists::PREDEFINED_NETWORKS;
use self::owners::{Found, Label, Ownership};
use crate::daemon::{Client, escape};
use crate::gateway::Gateway;
use crate::gojson::{self, Decoded};
use crate::gourl;
use crate::http::access_log::RequestLog;
use crate::http::body::{Body, boxed, empty, full};
use crate::http::error::ApiError;
use crate::http::passthrough::{self, ConnCache};
use crate::route;

/// The oldest API version `--confine` serves. Below it, `POST /containers/{id}/start`
/// takes a `HostConfig` body that replaces the container's whole host configuration
/// (moby 20.10 `postContainersStart`), and errors are plain text.
pub const MIN_API: &str = "1.24";

/// One confined request: who asks, in which API version, and how to ask the daemon.
pub(crate) struct Ctx<'a> {
    pub gateway: &'a Gateway,
    pub label: Label<'a>,
    /// The API version the client named in its path, if any.
    pub version: Option<String>,
    pub client: Client,
}

impl Ctx<'_> {
    /// Resolves `reference` and refuses it unless it is this owner's (or, with
    /// `nobody_too`, nobody's).
    pub async fn owned(
        &mut self,
        kind: Kind,
        reference: &str,
        nobody_too: bool,
    ) -> Result<Found, ApiError> {
        let found = owners::find(&mut self.client, kind, reference, &self.label)
            .await?
            .ok_or_else(|| owners::no_such(kind, reference))?;
        match found.ownership {
            Ownership::Mine => Ok(found),
            Ownership::Nobody if nobody_too => Ok(found),
            other => Err(owners::not_yours(kind, reference, other)),
        }
    }

    /// Forwards `request` on the client connection's kept daemon connection, which the
    /// ownership checks used first.
    pub async fn forward<B>(
        &mut self,
        request: Request<B>,
        cache: &ConnCache,
        log: Arc<RequestLog>,
    ) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes> + Send + Sync + Unpin + 'static,
        B::Error: Into<crate::http::body::BoxError>,
    {
        self.release(cache).await;
        passthrough::forward(request, &self.gateway.upstream, cache, log).await
    }

    /// Gives the daemon connection the checks used back to the client connection.
    pub async fn release(&mut self, cache: &ConnCache) {
        if let Some(sender) = self.client.take_sender() {
            cache.put(sender).await;
        }
    }

    /// The upstream path for `pattern` (a route pattern of [`endpoints`]) with its first
    /// variable replaced by `id`, under the client's API version.
    pub fn path(&self, pattern: &str, id: Option<&str>) -> String {
        let mut path = String::new();
        if let Some(version) = &self.version {
            path.push_str("/v");
            path.push_str(version);
        }
        match (pattern.find('{'), id) {
            (Some(open), Some(id)) => {
                let close = pattern[open..]
                    .find('}')
                    .map_or(pattern.len(), |c| open + c + 1);
                path.push_str(&pattern[..open]);
                path.push_str(&escape(id));
                path.push_str(&pattern[close..]);
            }
            _ => path.push_str(pattern),
        }
        path
    }
}

/// Handles one request under `--confine` for the owner `label`.
pub async fn handle(
    req: Request<Incoming>,
    gateway: &Gateway,
    label: Label<'_>,
    cache: &ConnCache,
    log: Arc<RequestLog>,
) -> Response<Body> {
    match confined(req, gateway, label, cache, log.clone()).await {
        Ok(response) => response,
        Err(err) => {
            tracing::info!(error = %err, "request refused (--confine)");
            log.set_status(err.status);
            err.into_response()
        }
    }
}

async fn confined(
    req: Request<Incoming>,
    gateway: &Gateway,
    label: Label<'_>,
    cache: &ConnCache,
    log: Arc<RequestLog>,
) -> Result<Response<Body>, ApiError> {
    let api = route::api_path(req.method(), req.uri())?;
    if let Some(version) = &api.version
        && route::compare_versions(version, MIN_API).is_lt()
    {
        return Err(ApiError::bad_request(format!(
            "API version {version} is older than {MIN_API}, the oldest this gateway serves with \
             --confine (older versions let a start request replace a container's host \
             configuration); use a newer client or DOCKER_API_VERSION={MIN_API}"
        )));
    }
    let method = req.method().as_str().to_string();
    let matched = endpoints::match_route(&method, &api.path).ok_or_else(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "{method} {} is not an endpoint this gateway serves with --confine (the README lists them)",
                api.path
            ),
        )
    })?;
    let mut ctx = Ctx {
        gateway,
        label,
        version: api.version,
        client: Client::reusing(&gateway.upstream, cache.take().await),
    };
    let result = act(&mut ctx, matched, req, cache, log).await;
    ctx.release(cache).await;
    result
}

async fn act(
    ctx: &mut Ctx<'_>,
    matched: endpoints::Matched,
    req: Request<Incoming>,
    cache: &ConnCache,
    log: Arc<RequestLog>,
) -> Result<Response<Body>, ApiError> {
    let reference = matched.name.clone().unwrap_or_default();
    match matched.action {
        Action::Pass => Ok(ctx.forward(req, cache, log).await),
        Action::Refuse(why) => Err(ApiError::new(StatusCode::FORBIDDEN, why)),
        Action::Owned { kind, body } => {
            let found = ctx.owned(kind, &reference, false).await?;
            let query = Query::parse(req.uri().query(), &[])?;
            let path = ctx.path(matched.pattern, Some(&found.id));
            let request = rebuild(req, path, &query, body, None).await?;
            Ok(ctx.forward(request, cache, log).await)
        }
        Action::Readable { kind } => {
            let found = ctx.owned(kind, &reference, true).await?;
            let query = Query::parse(req.uri().query(), &[])?;
            let path = ctx.path(matched.pattern, Some(&found.id));
            let request = rebuild(req, path, &query, BodyRule::None, None).await?;
            Ok(ctx.forward(request, cache, log).await)
        }
        Action::List { kind } => lists::list(ctx, kind, &matched, req, cache, log).await,
        Action::Prune { kind } => lists::prune(ctx, kind, &matched, req, cache, log).await,
        Action::Special(special) => objects::special(ctx, special, &matched, req, cache, log).await,
    }
}

/// A query string read strictly (see [`crate::query`]: no `;`, no bad escapes, one
/// value per key except the keys the daemon reads as lists) and written back in one
/// canonical encoding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// `lists`: the keys the endpoint reads with `r.Form[key]`, which may repeat.
    pub fn parse(raw: Option<&str>, lists: &[&str]) -> Result<Query, ApiError> {
        let pairs = crate::query::parse_strict(raw.unwrap_or(""))?;
        for (i, (key, _)) in pairs.iter().enumerate() {
            if !lists.contains(&key.as_str()) && pairs[..i].iter().any(|(k, _)| k == key) {
                return Err(ApiError::bad_request(format!(
                    "query parameter {key:?} given more than once"
                )));
            }
        }
        Ok(Query { pairs })
    }

    /// The first value, as `r.FormValue` reads it ("" when absent).
    pub fn get(&self, key: &str) -> &str {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Replaces every value of `key` with `value` (at the first one's place).
    pub fn set(&mut self, key: &str, value: &str) {
        match self.pairs.iter().position(|(k, _)| k == key) {
            Some(at) => {
                self.pairs[at].1 = value.to_string();
                let mut seen = false;
                self.pairs.retain(|(k, _)| {
                    if k != key {
                        return true;
                    }
                    let keep = !seen;
                    seen = true;
                    keep
                });
            }
            None => self.pairs.push((key.to_string(), value.to_string())),
        }
    }

    /// Drops every key but `keys`: upstream gets only what the daemon reads and the
    /// gateway looked at.
    pub fn keep(&mut self, keys: &[&str]) {
        self.pairs.retain(|(k, _)| keys.contains(&k.as_str()));
    }

    pub fn remove(&mut self, key: &str) {
        self.pairs.retain(|(k, _)| k != key);
    }

    /// Replaces the values of a list key.
    pub fn set_all(&mut self, key: &str, values: &[String]) {
        self.remove(key);
        for v in values {
            self.pairs.push((key.to_string(), v.clone()));
        }
    }

    /// The encoded string, `?` included when there is anything.
    pub fn encode(&self) -> String {
        if self.pairs.is_empty() {
            return String::new();
        }
        let mut out = String::from("?");
        for (i, (k, v)) in self.pairs.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            out.push_str(&gourl::query_escape(k));
            out.push('=');
            out.push_str(&gourl::query_escape(v));
        }
        out
    }
}

/// What the upstream request carries.
pub enum Payload {
    /// Nothing.
    None,
    /// The client's body as it comes, with this `Content-Type`.
    Stream(&'static str),
    /// The gateway's own JSON.
    Json(Vec<u8>),
}

/// The upstream request the gateway writes from its decision: the client's method,
/// headers (minus framing and content headers, which are the gateway's) and upgrade,
/// with `path` and `query` and the payload `body` says.
///
/// `json` is the gateway's JSON for [`BodyRule::Json`] routes. For [`BodyRule::None`] a
/// client body is refused unless it is empty or a bare `{}`/`null` (clients send those
/// on a start or a kill): a body there is either meaningless or, on some API versions
/// or with a form `Content-Type`, read as something the gateway did not check.
pub async fn rebuild(
    req: Request<Incoming>,
    path: String,
    query: &Query,
    rule: BodyRule,
    json: Option<Vec<u8>>,
) -> Result<Request<Body>, ApiError> {
    let (parts, body) = req.into_parts();
    let payload = match (rule, json) {
        (_, Some(json)) => Payload::Json(json),
        (BodyRule::Json, None) => Payload::None,
        (BodyRule::Stream, None) => Payload::Stream("application/x-tar"),
        (BodyRule::None, None) => {
            let no_body = || {
                ApiError::bad_request(
                    "this endpoint takes no request body through this gateway (--confine)",
                )
            };
            // Only a few bytes are worth reading: anything longer is no empty body,
            // whatever --max-body-size allows elsewhere.
            let bytes = read_small(body, 64).await.map_err(|e| {
                if e.status == StatusCode::PAYLOAD_TOO_LARGE {
                    no_body()
                } else {
                    e
                }
            })?;
            let text = bytes.trim_ascii();
            if !(text.is_empty() || text == b"{}" || text == b"null") {
                return Err(no_body());
            }
            return Ok(assemble(parts, path, query, empty(), None));
        }
    };
    Ok(match payload {
        Payload::None => assemble(parts, path, query, empty(), None),
        Payload::Json(json) => assemble(parts, path, query, full(json), Some("application/json")),
        Payload::Stream(content_type) => {
            assemble(parts, path, query, boxed(body), Some(content_type))
        }
    })
}

/// Puts a request together from the client's parts and the gateway's decisions.
pub fn assemble(
    parts: Parts,
    path: String,
    query: &Query,
    body: Body,
    content_type: Option<&'static str>,
) -> Request<Body> {
    let Parts {
        method,
        mut headers,
        extensions,
        ..
    } = parts;
    for name in [
        header::CONTENT_TYPE,
        header::CONTENT_LENGTH,
        header::CONTENT_ENCODING,
        header::TRANSFER_ENCODING,
        header::EXPECT,
    ] {
        headers.remove(name);
    }
    if let Some(content_type) = content_type {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    let mut request = Request::new(body);
    *request.method_mut() = method;
    *request.uri_mut() = format!("{path}{}", query.encode())
        .parse()
        .unwrap_or_else(|_| http::Uri::from_static("/_ping"));
    *request.headers_mut() = headers;
    *request.extensions_mut() = extensions;
    request
}

/// Reads a body of at most `max` bytes.
pub async fn read_small(body: Incoming, max: usize) -> Result<Bytes, ApiError> {
    http_body_util::Limited::new(body, max)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the request body is larger than {max} bytes (--max-body-size)"),
                )
            } else {
                ApiError::bad_request(format!("cannot read the request body: {e}"))
            }
        })
}

/// The request's JSON body, read up to `--max-body-size`, after checking its
/// `Content-Type` the way moby's `CheckForJSON` does (empty only with an empty body).
pub async fn json_body(headers: &HeaderMap, body: Incoming, max: usize) -> Result<Bytes, ApiError> {
    let bytes = read_small(body, max).await?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !(media == "application/json" || (media.is_empty() && bytes.is_empty())) {
        return Err(ApiError::bad_request(format!(
            "Content-Type {content_type:?} is not application/json"
        )));
    }
    Ok(bytes)
}

/// A name that reads like an ID prefix could shadow another object's short ID: the
/// daemon resolves a name before a prefix, so `docker rm 4f2a9c1b7d3e` would reach the
/// object with that name. Refused for the names a job gives containers and networks.
pub(crate) fn check_name(kind: Kind, name: &str) -> Result<(), ApiError> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    if bare.len() >= 12 && bare.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(ApiError::bad_request(format!(
            "{} name {name:?} looks like an ID; through this gateway (--confine) names of 12 \
             or more hex digits are refused, so that no name can stand in for another \
             object's short ID",
            kind.noun()
        )));
    }
    Ok(())
}

/// Decodes a JSON body with `schema`, refusing what the daemon would refuse or what has
/// more than one reading (see [`crate::gojson`]).
pub(crate) fn decode(
    bytes: &[u8],
    schema: &gojson::Schema,
    what: &str,
) -> Result<Decoded, ApiError> {
    gojson::decode_bytes(bytes, schema)
        .map_err(|e| ApiError::bad_request(format!("invalid {what} body: {e}")))
}

/// Sets `key` = `owner` in the string map `field` of `object`, creating it if needed.
pub(crate) fn force_label(
    object: &mut gojson::Struct,
    field: &str,
    key: &str,
    owner: &str,
) -> Result<(), ApiError> {
    let mut labels = match object.get(field) {
        Some(Decoded::Map(map)) => map.clone(),
        _ => BTreeMap::new(),
    };
    labels.insert(key.to_string(), Decoded::Str(owner.to_string()));
    object
        .set(field, Decoded::Map(labels))
        .map_err(|e| ApiError::bad_request(format!("cannot set the owner label: {e}")))?;
    Ok(())
}

/// A network this owner may join or read: its own, or the daemon's `bridge` and `none`
/// (and, to read only, `host`).
pub(crate) async fn network(
    ctx: &mut Ctx<'_>,
    reference: &str,
    to_join: bool,
) -> Result<Found, ApiError> {
    let found = owners::find(&mut ctx.client, Kind::Network, reference, &ctx.label)
        .await?
        .ok_or_else(|| owners::no_such(Kind::Network, reference))?;
    let name = found
        .info
        .get("Name")
        .and_then(|n| n.as_str())
        .unwrap_or("")
        .to_string();
    let predefined = found.ownership == Ownership::Nobody
        && PREDEFINED_NETWORKS.contains(&name.as_str())
        && !(to_join && name == "host");
    if found.ownership == Ownership::Mine || predefined {
        Ok(found)
    } else if to_join && name == "host" {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "the host network is not available through this gateway (--confine)",
        ))
    } else {
        Err(owners::not_yours(Kind::Network, reference, found.ownership))
    }
}

/// An upstream request with the gateway's JSON as its body.
pub(crate) fn rebuild_json(
    parts: http::request::Parts,
    path: String,
    query: &Query,
    json: String,
) -> Request<Body> {
    assemble(
        parts,
        path,
        query,
        crate::http::body::full(json),
        Some("application/json"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gojson::moby;

    #[test]
    fn queries_are_strict_and_canonical() {
        let q = Query::parse(Some("a=1&b=x+y&c=%2F"), &[]).unwrap();
        assert_eq!(q.get("b"), "x y");
        assert_eq!(q.get("c"), "/");
        assert_eq!(q.get("zz"), "");
        assert_eq!(q.encode(), "?a=1&b=x%20y&c=%2F");
        assert!(Query::parse(Some("a=1&a=2"), &[]).is_err());
        assert!(Query::parse(Some("a=1;b"), &[]).is_err());
        assert!(Query::parse(Some("a=%zz"), &[]).is_err());
        let mut q = Query::parse(Some("changes=A&changes=B&x=1"), &["changes"]).unwrap();
        assert_eq!(q.all("changes"), ["A", "B"]);
        q.set("changes", "C");
        assert_eq!(q.all("changes"), ["C"]);
        q.set_all("changes", &["D".into(), "E".into()]);
        assert_eq!(q.encode(), "?x=1&changes=D&changes=E");
        q.remove("x");
        q.remove("changes");
        assert_eq!(q.encode(), "");
    }

    #[test]
    fn names_that_read_as_ids_are_refused() {
        for bad in ["0123456789ab", "/0123456789abcdef", &"a".repeat(64)] {
            assert!(check_name(Kind::Container, bad).is_err(), "{bad}");
        }
        for ok in [
            "web",
            "0123456789a",
            "0123456789AB",
            "cafe-1",
            "deadbeefcafe0",
            "",
        ] {
            let ok_expected = !(ok.len() >= 12
                && ok
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
            assert_eq!(check_name(Kind::Network, ok).is_ok(), ok_expected, "{ok}");
        }
    }

    #[test]
    fn labels_are_forced() {
        let mut decoded = gojson::decode_bytes(
            br#"{"Name":"v","Labels":{"owner":"evil","a":"b"}}"#,
            &moby::VOLUME_CREATE,
        )
        .unwrap();
        let volume = decoded.as_struct_mut().unwrap();
        force_label(volume, "Labels", "owner", "me").unwrap();
        let json = decoded.to_json();
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["Labels"]["owner"], "me");
        assert_eq!(back["Labels"]["a"], "b");
        let mut bare = gojson::decode_bytes(br#"{"Name":"v"}"#, &moby::VOLUME_CREATE).unwrap();
        force_label(bare.as_struct_mut().unwrap(), "Labels", "owner", "me").unwrap();
        assert!(bare.to_json().contains(r#""owner":"me""#));
    }
}
