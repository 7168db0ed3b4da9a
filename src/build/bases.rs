//! Base images: resolved, checked and pinned before the daemon builds.
//!
//! A `FROM` names its base by a name the daemon resolves when it reaches that step, and
//! the base brings two things the gateway's owner `LABEL` cannot reach: `ONBUILD`
//! triggers, which run inside the `FROM` step itself (moby's `initializeStage`) before
//! any instruction the gateway inserts, each in a container and image of its own with
//! the base's labels; and the name itself, which anyone may re-tag while the context
//! uploads. So once the Dockerfile is known (it is the last thing in the upload, and
//! the daemon has read nothing of the build yet), the gateway, for every `FROM`:
//!
//! 1. expands it the way the daemon's classic builder will
//!    ([`crate::dockerfile::from`]: global `ARG`s, `buildargs`, `--platform`, `target`),
//!    and tells stage references and `scratch` from images;
//! 2. for an image, asks the daemon what that name is (`GET /images/{name}/json`, the
//!    same lookup the builder makes), pulling it first, as the daemon's builder would,
//!    when it is absent or the client asked for `pull=1`, with the build's own registry
//!    credentials;
//! 3. refuses an image with `ONBUILD` triggers, naming them;
//! 4. rewrites the `FROM` to that image's full ID (`FROM [--platform=P] sha256:... [AS
//!    name]`), so nothing re-tagged between the check and the build can swap the base,
//!    and stage references and `scratch` to their plain names.
//!
//! The daemon builds an ID exactly as that image, whatever `--platform` says
//! (`GetImageAndReleasableLayer` with `PullOptionPreferLocal` uses a local image even
//! when its platform differs), which is also why the gateway pulls only when the image
//! is absent, never for a platform mismatch: the daemon would not either. It cannot
//! pull an ID, which is why `pull=1` never reaches it (see [`crate::query`]).
//!
//! Under `--confine`, `COPY --from=<image>` gets the same look-up and the same
//! ownership rule (its files are read, so it must be this owner's image or nobody's),
//! without the `ONBUILD` refusal (a copy source's triggers never run), and is rewritten
//! to the image's full ID on one line ([`from::pin_copy`]), so that no name moved after
//! the check can hand the build another owner's files.
//!
//! The IDs pinned here are also where [`super::verify`] stops walking the result's
//! history: everything above them is this build's.

use std::collections::{BTreeMap, HashMap};

use http::StatusCode;

use crate::daemon::Client;
use crate::daemon::images::Image;
use crate::dockerfile::{self, FromRewrite, from};
use crate::http::error::ApiError;
use crate::http::upstream::Upstream;
use crate::owners::{Label, Ownership};
use crate::reference::auth::AuthConfigs;
use crate::reference::parse_normalized_named;

/// What the gateway decided about the `FROM`s of one Dockerfile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Bases {
    /// One per `FROM`, in file order, for [`dockerfile::rewrite`].
    pub froms: Vec<FromRewrite>,
    /// The full IDs of the images the build starts from.
    pub pinned: Vec<String>,
    /// The image the result's history goes down to: the pinned base of the last stage
    /// that runs, or of the stage it builds on (`FROM <stage>`), followed to an image;
    /// `None` when that is `scratch`. Only here may [`super::verify`] stop checking: a
    /// base pinned for another stage can also sit in the result's history (a cached
    /// step can be any image with the right parent), and it was not built by this build.
    pub result_base: Option<String>,
    /// Under `--confine`: each `COPY --from=<image>` (by the 1-based line it starts
    /// on), rewritten with the image's full ID, for [`dockerfile::rewrite_pinned`].
    pub copies: BTreeMap<usize, String>,
}

/// The build parameters that decide what the `FROM`s name.
pub(super) struct Request<'a> {
    pub upstream: &'a Upstream,
    pub build_args: &'a BTreeMap<String, Option<String>>,
    /// The `platform` parameter, as the daemon reads it (it ignores it below API 1.32).
    pub platform: Option<&'a str>,
    pub target: Option<&'a str>,
    pub pull: bool,
    /// The build's `X-Registry-Config`, decoded.
    pub auths: &'a AuthConfigs,
    /// Under `--confine`, the owner label: a base must then be this owner's image or
    /// nobody's.
    pub confine: Option<Label<'a>>,
}

/// Resolves, checks and pins every base of `dockerfile`.
pub(super) async fn resolve(dockerfile: &[u8], request: &Request<'_>) -> Result<Bases, ApiError> {
    let parsed = dockerfile::parse(dockerfile).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let instructions = || {
        parsed.instructions.iter().map(|i| from::Instruction {
            keyword: &i.keyword,
            args: &i.args,
            line: i.line,
        })
    };
    let stages = from::evaluate(
        instructions(),
        &from::Request {
            escape: parsed.escape,
            build_args: request.build_args,
            platform: request.platform,
            target: request.target,
        },
    )
    .map_err(|e| ApiError::bad_request(e.to_string()))?;

    let mut client = Client::new(request.upstream);
    let mut seen: HashMap<(String, Option<String>), String> = HashMap::new();
    let mut bases = Bases::default();
    // Per stage that runs, the image its history goes down to (see `result_base`).
    let mut roots: Vec<Option<String>> = Vec::with_capacity(stages.len());
    for stage in &stages {
        let Some(base) = &stage.base else {
            // After `target`: parsed, never run.
            bases.froms.push(FromRewrite::Keep);
            roots.push(None);
            continue;
        };
        let written = match base.kind {
            from::BaseKind::Stage(index) => {
                let root = roots
                    .get(index)
                    .ok_or_else(|| internal("a stage reference names a later stage"))?
                    .clone();
                roots.push(root);
                stages
                    .get(index)
                    .and_then(|s| s.name.clone())
                    .ok_or_else(|| internal("a stage reference names no stage"))?
            }
            from::BaseKind::Scratch => {
                roots.push(None);
                "scratch".to_string()
            }
            from::BaseKind::Image => {
                let key = (base.name.clone(), base.effective_platform.clone());
                let id = match seen.get(&key) {
                    Some(id) => id.clone(),
                    None => {
                        let image =
                            image(&mut client, base, request, stage.line, Role::Base).await?;
                        seen.insert(key, image.id.clone());
                        image.id
                    }
                };
                bases.pinned.push(id.clone());
                roots.push(Some(id.clone()));
                id
            }
        };
        // The last stage that runs makes the result.
        bases.result_base = roots.last().cloned().flatten();
        let mut args = String::new();
        if let Some(platform) = &base.platform {
            if !plain(platform) {
                return Err(ApiError::bad_request(format!(
                    "Dockerfile line {}: the platform {platform:?} cannot be passed on as \
                     written; use a platform such as linux/amd64",
                    stage.line
                )));
            }
            args.push_str("--platform=");
            args.push_str(platform);
            args.push(' ');
        }
        args.push_str(&written);
        if let Some(name) = &stage.name {
            args.push_str(" AS ");
            args.push_str(name);
        }
        bases.froms.push(FromRewrite::Replace(args));
    }
    if request.confine.is_some() {
        let sources = from::copy_sources(instructions(), parsed.escape, &stages)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        for source in sources {
            let as_base = from::Base {
                name: source.image.clone(),
                platform: None,
                effective_platform: request.platform.filter(|p| !p.is_empty()).map(String::from),
                kind: from::BaseKind::Image,
            };
            let key = (as_base.name.clone(), as_base.effective_platform.clone());
            let id = match seen.get(&key) {
                Some(id) => id.clone(),
                None => {
                    let image = image(
                        &mut client,
                        &as_base,
                        request,
                        source.line,
                        Role::CopySource,
                    )
                    .await?;
                    seen.insert(key, image.id.clone());
                    image.id
                }
            };
            let args = pinned_copy(&source, &id, parsed.escape)?;
            bases.copies.insert(source.line, args);
        }
    }
    Ok(bases)
}

/// `COPY` with its `--from` replaced by `id` ([`from::pin_copy`]), refused with the
/// reason when it cannot be written back.
fn pinned_copy(source: &from::CopySource, id: &str, escape: char) -> Result<String, ApiError> {
    from::pin_copy(source, id, escape).map_err(|why| {
        ApiError::bad_request(format!(
            "Dockerfile line {}: COPY --from={} {why}; through this gateway (--confine) \
             the gateway pins the image and writes the COPY itself, which it does only for \
             options in plain words (letters, digits and . _ : / - @ + *)",
            source.line, source.image
        ))
    })
}

/// What an image found by [`image`] is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A `FROM`: its `ONBUILD` triggers would run.
    Base,
    /// A `COPY --from`: only its files are read.
    CopySource,
}

/// Resolves one base image like the daemon's builder: pulled first when asked to or
/// when absent, then inspected; refused when it has `ONBUILD` triggers.
async fn image(
    client: &mut Client,
    base: &from::Base,
    request: &Request<'_>,
    line: usize,
    role: Role,
) -> Result<Image, ApiError> {
    let at = |message: String| format!("Dockerfile line {line}: {message}");
    let (what, may) = match role {
        Role::Base => ("base image", "start"),
        Role::CopySource => ("COPY --from image", "copy"),
    };
    let mut pulled = false;
    if request.pull {
        pull(client, base, request, line).await?;
        pulled = true;
    }
    let mut found = client.inspect_image(&base.name).await?;
    if found.is_none() && !pulled {
        pull(client, base, request, line).await?;
        found = client.inspect_image(&base.name).await?;
    }
    let image = found.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            at(format!(
                "{what} {:?} is not on the daemon, even after pulling it",
                base.name
            )),
        )
    })?;
    if let Some(label) = &request.confine {
        let whose = match image.labels.get(label.key) {
            None => Ownership::Nobody,
            Some(v) if v == label.owner => Ownership::Mine,
            Some(_) => Ownership::Other,
        };
        if whose == Ownership::Other {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                at(format!(
                    "{what} {:?} belongs to another owner; through this gateway \
                     (--confine) a build may {may} only from its own images or shared ones",
                    base.name
                )),
            ));
        }
    }
    if role == Role::Base && !image.onbuild.is_empty() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            at(format!(
                "base image {:?} ({}) has ONBUILD triggers, which the daemon would run \
                 before the owner label can be set, in containers and images that do not \
                 carry it: {}. Build from an image without ONBUILD triggers (copy the \
                 trigger instructions into this Dockerfile instead)",
                base.name,
                &image.id[..image.id.len().min(19)],
                image
                    .onbuild
                    .iter()
                    .map(|t| format!("{:?}", t.chars().take(200).collect::<String>()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        ));
    }
    Ok(image)
}

/// Pulls a base as the daemon's builder would (`pullForBuilder`): the name normalised,
/// `latest` when it has no tag, the build's platform, the build's credentials for that
/// registry.
async fn pull(
    client: &mut Client,
    base: &from::Base,
    request: &Request<'_>,
    line: usize,
) -> Result<(), ApiError> {
    let at = |message: String| format!("Dockerfile line {line}: {message}");
    let named = parse_normalized_named(&base.name)
        .map_err(|e| {
            ApiError::bad_request(at(format!("cannot pull base image {:?}: {e}", base.name)))
        })?
        .tag_name_only();
    let auth = request.auths.for_pull(&named).map_err(|e| {
        ApiError::bad_request(at(format!(
            "no usable registry credentials for {}: {e}",
            named.familiar_string()
        )))
    })?;
    client
        .pull(&named, base.effective_platform.as_deref(), &auth)
        .await
        .map_err(|e| {
            ApiError::new(
                e.status,
                at(format!(
                    "cannot pull base image {}: {}",
                    named.familiar_string(),
                    e.message.trim_start_matches("buildgate: ")
                )),
            )
        })
}

/// Text every parser version reads back as itself (see [`dockerfile::FromRewrite`]).
fn plain(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-'))
}

fn internal(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("internal error while resolving base images ({what})"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(args: &str) -> from::CopySource {
        let (rest, flags) = from::copy_flags(args, '\\').unwrap();
        let image = flags
            .iter()
            .find(|(n, _)| n == "--from")
            .and_then(|(_, v)| v.clone())
            .unwrap();
        from::CopySource {
            line: 3,
            image,
            flags,
            rest: rest.to_string(),
        }
    }

    #[test]
    fn a_copy_is_pinned_with_its_flags_in_order_and_its_text_kept() {
        let id = format!("sha256:{}", "a".repeat(64));
        for (args, want) in [
            ("--from=img /a /b", format!("--from={id} /a /b")),
            (
                "--chown=1:2 --from=\"img\" [\"/a b\", \"/c\"]",
                format!("--chown=1:2 --from={id} [\"/a b\", \"/c\"]"),
            ),
            (
                "--link --from=img $SRC /d",
                format!("--link --from={id} $SRC /d"),
            ),
            ("--from=img -- /a /b", format!("--from={id} /a /b")),
            // A quoted word is no option, whatever it says: it stays in the text.
            (
                "--from=img \"--chown=a b\" /a /b",
                format!("--from={id} \"--chown=a b\" /a /b"),
            ),
        ] {
            assert_eq!(
                pinned_copy(&source(args), &id, '\\').unwrap(),
                want,
                "{args}"
            );
        }
        for (args, why) in [
            // An option the gateway cannot write back as plain words.
            ("--from=img --chown=\"a b\" /a /b", "plain words"),
            // After `--`, text that would read as an option once the `--` is gone.
            ("--from=img -- --chown=1 /b", "does not read back"),
            // Text that ends with the escape character would continue the line.
            ("--from=img /a \\", "escape character"),
        ] {
            let e = pinned_copy(&source(args), &id, '\\').unwrap_err();
            assert!(e.message.contains(why), "{args}: {}", e.message);
            assert_eq!(e.status, StatusCode::BAD_REQUEST);
        }
    }
}
