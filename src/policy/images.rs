//! Images under `--confine`.
//!
//! Pulled (and imported-before) images belong to nobody: everyone may read them and
//! build on them, nobody may delete, tag or push them. A job's own images are the ones
//! it built, committed or imported through the gateway, which labelled them.
//!
//! Names are the dangerous part. A tag is a pointer any `tag`, `commit`, import, pull
//! or build can move, and a job that moved `alpine:latest` or another job's `app:1` to
//! an image of its own would swap everyone's base under their feet. So no name may move
//! away from an image the job does not own: before a name is written, the image it
//! names now (if any) must be the job's own. A pull may also move a name off an image
//! that belongs to nobody, since a pull is how such names get their images.

use std::sync::Arc;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use super::endpoints::{Body as BodyRule, Kind, Matched};
use super::owners;
use super::{Ctx, Query, rebuild};
use crate::dockerfile;
use crate::http::access_log::RequestLog;
use crate::http::body::Body;
use crate::http::error::ApiError;
use crate::http::passthrough::ConnCache;
use crate::reference::{self, Named};

/// Refuses unless `name` names no image now, or one of this job's (or, with
/// `nobody_too`, one that belongs to nobody); see [`owners::check_name_target`].
pub(super) async fn check_target(
    ctx: &mut Ctx<'_>,
    name: &Named,
    nobody_too: bool,
) -> Result<(), ApiError> {
    owners::check_name_target(&mut ctx.client, &ctx.label, name, nobody_too).await
}

/// `POST /images/create`: a pull (`fromImage`) or an import (`fromSrc`).
pub(super) async fn create(
    ctx: &mut Ctx<'_>,
    matched: &Matched,
    req: Request<Incoming>,
    cache: &ConnCache,
    log: Arc<RequestLog>,
) -> Result<Response<Body>, ApiError> {
    let mut query = Query::parse(req.uri().query(), &["changes"])?;
    let path = ctx.path(matched.pattern, None);
    let from_image = query.get("fromImage").to_string();
    if !from_image.is_empty() {
        // Pull. moby pulls every tag when neither the name nor `tag` has one.
        let tag = query.get("tag").to_string();
        let target = match reference::daemon_pull_target(&from_image, &tag) {
            Ok(Some(reference::PullTarget::One(named))) => named,
            Ok(Some(reference::PullTarget::AllTags(_))) => {
                return Err(ApiError::bad_request(format!(
                    "pulling every tag of {from_image} is not available through this gateway \
                     (--confine); name one tag"
                )));
            }
            Ok(None) | Err(_) => {
                return Err(ApiError::bad_request(format!(
                    "invalid image reference {from_image:?}"
                )));
            }
        };
        check_target(ctx, &target, true).await?;
        let request = rebuild(req, path, &query, BodyRule::None, None).await?;
        return Ok(ctx.forward(request, cache, log).await);
    }
    // Import. Only from the request body: `fromSrc=<URL>` has the daemon fetch the URL.
    if query.get("fromSrc") != "-" {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "importing from a URL is not available through this gateway (--confine): the \
             daemon would fetch it; send the archive in the request (fromSrc=-)",
        ));
    }
    let repo = query.get("repo").to_string();
    if !repo.is_empty() {
        let target = reference::import_target(&repo, query.get("tag"))
            .map_err(|e| ApiError::bad_request(format!("invalid repository name: {e}")))?;
        if let Some(target) = target {
            check_target(ctx, &target, false).await?;
        }
    }
    let changes: Vec<&str> = query.all("changes");
    let rewritten = dockerfile::rewrite_changes(&changes, ctx.label.key, ctx.label.owner)
        .map_err(|e| ApiError::bad_request(format!("changes: {e}")))?;
    query.set_all("changes", &[rewritten]);
    let request = rebuild(req, path, &query, BodyRule::Stream, None).await?;
    Ok(ctx.forward(request, cache, log).await)
}

/// `POST /images/{name}/tag`: the image must be this job's, and so must whatever the
/// new name names now.
pub(super) async fn tag(
    ctx: &mut Ctx<'_>,
    matched: &Matched,
    req: Request<Incoming>,
    cache: &ConnCache,
    log: Arc<RequestLog>,
) -> Result<Response<Body>, ApiError> {
    let reference = matched.name.clone().unwrap_or_default();
    let found = ctx.owned(Kind::Image, &reference, false).await?;
    let query = Query::parse(req.uri().query(), &[])?;
    let target = reference::tag_target(query.get("repo"), query.get("tag"))
        .map_err(|e| ApiError::bad_request(format!("invalid tag: {e}")))?;
    check_target(ctx, &target, false).await?;
    let path = ctx.path(matched.pattern, Some(&found.id));
    let request = rebuild(req, path, &query, BodyRule::None, None).await?;
    Ok(ctx.forward(request, cache, log).await)
}

/// `POST /images/{name}/push`: by name (a push needs the repository), one tag, of this
/// job's image. Names of a job's images cannot be moved by anyone else under
/// `--confine`, so the name pushed is the image checked.
pub(super) async fn push(
    ctx: &mut Ctx<'_>,
    matched: &Matched,
    req: Request<Incoming>,
    cache: &ConnCache,
    log: Arc<RequestLog>,
) -> Result<Response<Body>, ApiError> {
    let name = matched.name.clone().unwrap_or_default();
    let query = Query::parse(req.uri().query(), &[])?;
    let named = reference::parse_normalized_named(&name)
        .map_err(|e| ApiError::bad_request(format!("invalid image name {name:?}: {e}")))?;
    let tag = query.get("tag");
    let full = if !tag.is_empty() {
        named
            .with_tag(tag)
            .map_err(|e| ApiError::bad_request(format!("invalid tag: {e}")))?
    } else if named.tag().is_some() || named.digest().is_some() {
        named.clone()
    } else {
        return Err(ApiError::bad_request(format!(
            "pushing every tag of {name} is not available through this gateway (--confine); name one tag"
        )));
    };
    ctx.owned(Kind::Image, &full.to_string(), false).await?;
    let path = ctx.path(matched.pattern, Some(&name));
    let request = rebuild(req, path, &query, BodyRule::None, None).await?;
    Ok(ctx.forward(request, cache, log).await)
}

/// `DELETE /images/{name}`: of this job's images only. A name is forwarded as the name
/// (deleting a name removes that tag, not the image); anything else as the full ID.
pub(super) async fn delete(
    ctx: &mut Ctx<'_>,
    matched: &Matched,
    req: Request<Incoming>,
    cache: &ConnCache,
    log: Arc<RequestLog>,
) -> Result<Response<Body>, ApiError> {
    let reference = matched.name.clone().unwrap_or_default();
    let found = ctx.owned(Kind::Image, &reference, false).await?;
    let query = Query::parse(req.uri().query(), &[])?;
    let is_tag = reference::parse_normalized_named(&reference).is_ok_and(|named| {
        let named = named.tag_name_only().to_string();
        found
            .info
            .get("RepoTags")
            .and_then(|t| t.as_array())
            .is_some_and(|tags| {
                tags.iter().filter_map(|t| t.as_str()).any(|t| {
                    reference::parse_normalized_named(t).is_ok_and(|n| n.to_string() == named)
                })
            })
    });
    let target = if is_tag { reference.clone() } else { found.id };
    let path = ctx.path(matched.pattern, Some(&target));
    let request = rebuild(req, path, &query, BodyRule::None, None).await?;
    Ok(ctx.forward(request, cache, log).await)
}

/// `GET /images/get?names=...` (and `/images/{name}/get`): an export, read-only, of
/// this job's images or nobody's. Names stay names, so the archive keeps its tags.
pub(super) async fn get(
    ctx: &mut Ctx<'_>,
    matched: &Matched,
    req: Request<Incoming>,
    cache: &ConnCache,
    log: Arc<RequestLog>,
) -> Result<Response<Body>, ApiError> {
    let query = Query::parse(req.uri().query(), &["names"])?;
    let mut names: Vec<String> = query.all("names").iter().map(|s| s.to_string()).collect();
    if let Some(name) = &matched.name {
        names.push(name.clone());
    }
    if names.is_empty() {
        return Err(ApiError::bad_request("name the images to export"));
    }
    for name in &names {
        ctx.owned(Kind::Image, name, true).await?;
    }
    let path = ctx.path(matched.pattern, matched.name.as_deref());
    let request = rebuild(req, path, &query, BodyRule::None, None).await?;
    Ok(ctx.forward(request, cache, log).await)
}
