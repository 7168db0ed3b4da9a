//! Containers and exec instances under `--confine`: creation, update, exec, commit.

use std::sync::Arc;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use super::Ctx;
use super::endpoints::Matched;
use crate::gojson::Struct;
use crate::http::access_log::RequestLog;
use crate::http::body::Body;
use crate::http::error::ApiError;
use crate::http::passthrough::ConnCache;

fn unfinished() -> ApiError {
    ApiError::new(StatusCode::NOT_IMPLEMENTED, "not yet")
}

pub(super) async fn create(
    _ctx: &mut Ctx<'_>,
    _matched: &Matched,
    _req: Request<Incoming>,
    _cache: &ConnCache,
    _log: Arc<RequestLog>,
) -> Result<Response<Body>, ApiError> {
    Err(unfinished())
}

pub(super) async fn update(
    _ctx: &mut Ctx<'_>,
    _matched: &Matched,
    _req: Request<Incoming>,
    _cache: &ConnCache,
    _log: Arc<RequestLog>,
) -> Result<Response<Body>, ApiError> {
    Err(unfinished())
}

pub(super) async fn exec_create(
    _ctx: &mut Ctx<'_>,
    _matched: &Matched,
    _req: Request<Incoming>,
    _cache: &ConnCache,
    _log: Arc<RequestLog>,
) -> Result<Response<Body>, ApiError> {
    Err(unfinished())
}

pub(super) async fn exec_start(
    _ctx: &mut Ctx<'_>,
    _matched: &Matched,
    _req: Request<Incoming>,
    _cache: &ConnCache,
    _log: Arc<RequestLog>,
) -> Result<Response<Body>, ApiError> {
    Err(unfinished())
}

pub(super) async fn commit(
    _ctx: &mut Ctx<'_>,
    _matched: &Matched,
    _req: Request<Incoming>,
    _cache: &ConnCache,
    _log: Arc<RequestLog>,
) -> Result<Response<Body>, ApiError> {
    Err(unfinished())
}

/// Checks an `EndpointSettings` for network `network_id` and pins its `NetworkID`.
pub(super) async fn check_endpoint(
    _ctx: &mut Ctx<'_>,
    _endpoint: &mut Struct,
    _network_id: &str,
) -> Result<(), ApiError> {
    Err(unfinished())
}
