//! The routes with handlers of their own: creations, which label what they create, and
//! the routes whose body names more objects (network connect and disconnect).

use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use super::endpoints::{Body as BodyRule, Kind, Matched, Special};
use super::lists::{self, PREDEFINED_NETWORKS};
use super::owners::{self, Ownership};
use super::{
    Ctx, Query, check_name, containers, decode, force_label, images, json_body, network, rebuild,
    rebuild_json,
};
use crate::gojson::{self, Decoded, moby};
use crate::http::access_log::RequestLog;
use crate::http::body::Body;
use crate::http::error::ApiError;
use crate::http::passthrough::ConnCache;

/// Dispatches a [`Special`] route.
pub(super) async fn special(
    ctx: &mut Ctx<'_>,
    special: Special,
    matched: &Matched,
    req: Request<Incoming>,
    cache: &ConnCache,
    log: Arc<RequestLog>,
) -> Result<Response<Body>, ApiError> {
    match special {
        Special::ContainerCreate => containers::create(ctx, matched, req, cache, log).await,
        Special::ContainerUpdate => containers::update(ctx, matched, req, cache, log).await,
        Special::ExecCreate => containers::exec_create(ctx, matched, req, cache, log).await,
        Special::ExecStart => containers::exec_start(ctx, matched, req, cache, log).await,
        Special::Commit => containers::commit(ctx, matched, req, cache, log).await,
        Special::ImageCreate => images::create(ctx, matched, req, cache, log).await,
        Special::ImageTag => images::tag(ctx, matched, req, cache, log).await,
        Special::ImagePush => images::push(ctx, matched, req, cache, log).await,
        Special::ImageDelete => images::delete(ctx, matched, req, cache, log).await,
        Special::ImagesGet => images::get(ctx, matched, req, cache, log).await,
        Special::VolumeCreate => volume_create(ctx, matched, req, log).await,
        Special::NetworkCreate => network_create(ctx, matched, req, cache, log).await,
        Special::NetworkInspect => network_inspect(ctx, matched, req, cache, log).await,
        Special::NetworkConnect => network_connect(ctx, matched, req, cache, log, true).await,
        Special::NetworkDisconnect => network_connect(ctx, matched, req, cache, log, false).await,
        Special::ContainerRename => rename(ctx, matched, req, cache, log).await,
        Special::Events => lists::events(ctx, matched, req, log).await,
        Special::SystemDf => lists::system_df(ctx, matched, req, log).await,
        // Builds are dispatched to `crate::build` before `--confine` sees them.
        Special::Build => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error: a build reached the --confine handler",
        )),
    }
}

fn text<'a>(object: &'a gojson::Struct, field: &str) -> &'a str {
    object.get(field).and_then(Decoded::as_str).unwrap_or("")
}

/// `POST /volumes/create`: local volumes without driver options (the local driver's
/// `type`/`o`/`device` mount anything, a host path included), labelled with the owner.
/// If a volume of that name exists already, the daemon answers 201 with it unchanged;
/// the answer is read and refused unless the volume is this owner's.
async fn volume_create(
    ctx: &mut Ctx<'_>,
    matched: &Matched,
    req: Request<Incoming>,
    log: Arc<RequestLog>,
) -> Result<Response<Body>, ApiError> {
    let query = Query::parse(req.uri().query(), &[])?;
    let (parts, body) = req.into_parts();
    let bytes = json_body(&parts.headers, body, ctx.gateway.config.max_body_size).await?;
    let mut decoded = decode(&bytes, &moby::VOLUME_CREATE, "volume create")?;
    let volume = decoded
        .as_struct_mut()
        .ok_or_else(|| ApiError::bad_request("the volume create body must be a JSON object"))?;
    let driver = text(volume, "Driver");
    if !(driver.is_empty() || driver == "local") {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "volume driver {driver:?} is not available through this gateway (--confine); use the local driver"
            ),
        ));
    }
    if volume
        .get("DriverOpts")
        .and_then(Decoded::as_map)
        .is_some_and(|m| !m.is_empty())
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "volume driver options are not available through this gateway (--confine): the local driver's type, o and device options mount host paths and network shares",
        ));
    }
    force_label(volume, "Labels", ctx.label.key, ctx.label.owner)?;
    let path = format!("{}{}", ctx.path(matched.pattern, None), query.encode());
    let json = decoded.to_json().into_bytes();
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    let answer = ctx
        .client
        .call(Method::POST, &path, headers, Some(json.into()))
        .await?;
    log.set_status(answer.status);
    if answer.status.is_success() {
        let value = answer.json()?;
        let ownership = owners::owner_of(value.get("Labels"), &ctx.label);
        if ownership != Ownership::Mine {
            let name = value.get("Name").and_then(|n| n.as_str()).unwrap_or("");
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "volume {name:?} exists already and belongs to {}; choose another name",
                    if ownership == Ownership::Nobody {
                        "no owner"
                    } else {
                        "another owner"
                    }
                ),
            ));
        }
        return Ok(lists::json_response(answer.status, &value));
    }
    Ok(lists::json_response(
        answer.status,
        &serde_json::json!({ "message": answer.message() }),
    ))
}

/// `POST /networks/create`: bridge networks, labelled with the owner, with names that
/// cannot shadow IDs and cannot be taken twice (`CheckDuplicate`, which otherwise lets a
/// second network of the same name make every reference to it ambiguous).
async fn network_create(
    ctx: &mut Ctx<'_>,
    matched: &Matched,
    req: Request<Incoming>,
    cache: &ConnCache,
    log: Arc<RequestLog>,
) -> Result<Response<Body>, ApiError> {
    let query = Query::parse(req.uri().query(), &[])?;
    let (parts, body) = req.into_parts();
    let bytes = json_body(&parts.headers, body, ctx.gateway.config.max_body_size).await?;
    let mut decoded = decode(&bytes, &moby::NETWORK_CREATE, "network create")?;
    let network = decoded
        .as_struct_mut()
        .ok_or_else(|| ApiError::bad_request("the network create body must be a JSON object"))?;
    let refuse = |what: String| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            format!("{what} is not available through this gateway (--confine)"),
        )
    };
    let name = text(network, "Name").to_string();
    if name.is_empty() {
        return Err(ApiError::bad_request("a network needs a name"));
    }
    check_name(Kind::Network, &name)?;
    if PREDEFINED_NETWORKS.contains(&name.as_str()) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("network name {name:?} is the daemon's own"),
        ));
    }
    let driver = text(network, "Driver");
    if !(driver.is_empty() || driver == "bridge") {
        return Err(refuse(format!("network driver {driver:?}")));
    }
    let scope = text(network, "Scope");
    if !(scope.is_empty() || scope == "local") {
        return Err(refuse(format!("network scope {scope:?}")));
    }
    for flag in ["Ingress", "ConfigOnly", "Attachable"] {
        if network.get(flag).and_then(Decoded::as_bool) == Some(true) {
            return Err(refuse(format!("{flag} networks")));
        }
    }
    if network.get("ConfigFrom").is_some_and(|v| !v.is_null()) {
        return Err(refuse(
            "networks made from another network's configuration (ConfigFrom)".to_string(),
        ));
    }
    const OPTIONS: &[&str] = &[
        "com.docker.network.bridge.enable_icc",
        "com.docker.network.bridge.enable_ip_masquerade",
        "com.docker.network.driver.mtu",
    ];
    if let Some(options) = network.get("Options").and_then(Decoded::as_map)
        && let Some(bad) = options.keys().find(|k| !OPTIONS.contains(&k.as_str()))
    {
        return Err(refuse(format!(
            "network option {bad:?} (allowed: {})",
            OPTIONS.join(", ")
        )));
    }
    network
        .set("CheckDuplicate", Decoded::Bool(true))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    force_label(network, "Labels", ctx.label.key, ctx.label.owner)?;
    let path = ctx.path(matched.pattern, None);
    let request = rebuild_json(parts, path, &query, decoded.to_json());
    Ok(ctx.forward(request, cache, log).await)
}

/// `GET /networks/{id}`.
async fn network_inspect(
    ctx: &mut Ctx<'_>,
    matched: &Matched,
    req: Request<Incoming>,
    cache: &ConnCache,
    log: Arc<RequestLog>,
) -> Result<Response<Body>, ApiError> {
    let reference = matched.name.clone().unwrap_or_default();
    let found = network(ctx, &reference, false).await?;
    let query = Query::parse(req.uri().query(), &[])?;
    let path = ctx.path(matched.pattern, Some(&found.id));
    let request = rebuild(req, path, &query, BodyRule::None, None).await?;
    Ok(ctx.forward(request, cache, log).await)
}

/// `POST /networks/{id}/connect` and `/disconnect`: the network and the container in
/// the body must both be this owner's (the daemon's `bridge` may be joined). The body
/// goes out with the container's full ID, and a connect's `EndpointConfig.NetworkID`,
/// which overrides the network in the path, set to the checked network's ID.
async fn network_connect(
    ctx: &mut Ctx<'_>,
    matched: &Matched,
    req: Request<Incoming>,
    cache: &ConnCache,
    log: Arc<RequestLog>,
    connect: bool,
) -> Result<Response<Body>, ApiError> {
    let reference = matched.name.clone().unwrap_or_default();
    let net = network(ctx, &reference, connect).await?;
    let query = Query::parse(req.uri().query(), &[])?;
    let (parts, body) = req.into_parts();
    let bytes = json_body(&parts.headers, body, ctx.gateway.config.max_body_size).await?;
    let schema = if connect {
        &moby::NETWORK_CONNECT
    } else {
        &moby::NETWORK_DISCONNECT
    };
    let mut decoded = decode(&bytes, schema, "network connect")?;
    let object = decoded
        .as_struct_mut()
        .ok_or_else(|| ApiError::bad_request("the body must be a JSON object"))?;
    let container_ref = text(object, "Container").to_string();
    let container = ctx.owned(Kind::Container, &container_ref, false).await?;
    object
        .set("Container", Decoded::Str(container.id.clone()))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    if connect && let Some(Decoded::Struct(endpoint)) = object.get_mut("EndpointConfig") {
        containers::check_endpoint(ctx, endpoint, &net.id).await?;
    }
    let path = ctx.path(matched.pattern, Some(&net.id));
    let request = rebuild_json(parts, path, &query, decoded.to_json());
    Ok(ctx.forward(request, cache, log).await)
}

/// `POST /containers/{name}/rename`.
async fn rename(
    ctx: &mut Ctx<'_>,
    matched: &Matched,
    req: Request<Incoming>,
    cache: &ConnCache,
    log: Arc<RequestLog>,
) -> Result<Response<Body>, ApiError> {
    let reference = matched.name.clone().unwrap_or_default();
    let found = ctx.owned(Kind::Container, &reference, false).await?;
    let query = Query::parse(req.uri().query(), &[])?;
    check_name(Kind::Container, query.get("name"))?;
    let path = ctx.path(matched.pattern, Some(&found.id));
    let request = rebuild(req, path, &query, BodyRule::None, None).await?;
    Ok(ctx.forward(request, cache, log).await)
}
