//! The check of what a build made, before the job gets a tag on it.
//!
//! The classic builder's cache can hand back images the build never made. A cache hit
//! is an image whose creating container had the same config as the step's (the image's
//! own config, labels included, is never compared), and a `--cache-from` hit is any
//! image with the same `CreatedBy` history text. Anyone who can create containers and
//! commit them can plant such images, so a build through the gateway can end in an image
//! that carries someone else's owner, or no owner, and someone else's files.
//!
//! So the gateway does not trust the daemon's word that it built something owned:
//!
//! 1. [`Watch`] reads the daemon's output as it streams to the client and takes the ID
//!    of the result from it: the last `aux` message (`{"aux":{"ID":"sha256:..."}}`,
//!    once per stage, the last is the result; squash adds one more with the squashed
//!    ID), or with `q=1` the bare ID the daemon prints. Any error message in the stream
//!    means the daemon built nothing to check.
//! 2. [`check`] inspects that image and every image in its history down to the base the
//!    gateway pinned for the stage that made it (everything above it is a step of this
//!    build, from the owner `LABEL` on): each must carry `owner=<owner>`. Only that
//!    base ends the walk: a base pinned for another stage of the same Dockerfile can
//!    be an image planted in this stage's cache, and is checked like any step. A step
//!    whose image is not on this daemon (`<missing>` in its history) cannot be
//!    checked, and fails too.
//! 3. Only then does the gateway apply the build's tags (`t=`, which it kept from the
//!    daemon), each with `POST /images/{id}/tag`, and say so in the daemon's own words
//!    (`Successfully tagged ...`). A build that fails the check gets an `errorDetail`
//!    line that says why, and no tag: the job never gets a name on an image it cannot
//!    account for.

use bytes::Bytes;
use http::StatusCode;

use crate::daemon::Client;
use crate::daemon::images::is_full_id;
use crate::http::error::ApiError;
use crate::http::upstream::Upstream;
use crate::owners::{self, Label};
use crate::reference::Named;

/// Longest output line the watch parses. Build output lines are short; a longer one is
/// passed on, and the build, whose result the gateway then cannot tell, fails closed.
const MAX_LINE: usize = 1 << 20;

/// What the daemon's output said about the build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Outcome {
    /// It reported an error: it built nothing the job can use.
    Failed,
    /// It finished, and this is the image.
    Built(String),
    /// It said nothing the gateway could read as a result.
    Unknown(&'static str),
}

/// Reads the build output as it passes, keeping only what the check needs.
#[derive(Debug, Default)]
pub(super) struct Watch {
    line: Vec<u8>,
    too_long: bool,
    unreadable: bool,
    error: bool,
    aux_id: Option<String>,
    quiet_id: Option<String>,
}

impl Watch {
    /// Takes the next piece of output, as the client gets it.
    pub(super) fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            match data.iter().position(|&b| b == b'\n') {
                Some(at) => {
                    if !self.too_long && self.line.len() + at > MAX_LINE {
                        self.unreadable = true;
                    } else if !self.too_long {
                        self.line.extend_from_slice(&data[..at]);
                        let line = std::mem::take(&mut self.line);
                        self.message(&line);
                    }
                    self.too_long = false;
                    self.line.clear();
                    data = &data[at + 1..];
                }
                None => {
                    if self.line.len() + data.len() > MAX_LINE {
                        self.too_long = true;
                        self.unreadable = true;
                        self.line.clear();
                    } else if !self.too_long {
                        self.line.extend_from_slice(data);
                    }
                    data = &[];
                }
            }
        }
    }

    fn message(&mut self, line: &[u8]) {
        let line = line.trim_ascii();
        if line.is_empty() {
            return;
        }
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(line) else {
            self.unreadable = true;
            return;
        };
        if value.get("errorDetail").is_some() || value.get("error").is_some() {
            self.error = true;
        }
        if let Some(id) = value
            .get("aux")
            .and_then(|aux| aux.get("ID"))
            .and_then(|id| id.as_str())
        {
            if is_full_id(id) {
                self.aux_id = Some(id.to_string());
            } else {
                self.unreadable = true;
            }
        }
        if let Some(stream) = value.get("stream").and_then(|s| s.as_str()) {
            let trimmed = stream.trim_end_matches('\n');
            if is_full_id(trimmed) {
                self.quiet_id = Some(trimmed.to_string());
            }
        }
    }

    /// The outcome once the output has ended.
    pub(super) fn finish(mut self) -> Outcome {
        if !self.line.is_empty() && !self.too_long {
            let line = std::mem::take(&mut self.line);
            self.message(&line);
        }
        if self.error {
            return Outcome::Failed;
        }
        if self.unreadable {
            return Outcome::Unknown("a line of the daemon's build output could not be read");
        }
        match self.aux_id.or(self.quiet_id) {
            Some(id) => Outcome::Built(id),
            None => Outcome::Unknown("the daemon's build output does not say which image it built"),
        }
    }
}

/// What a complete upload leaves for the check of the result.
#[derive(Debug, Clone, Default)]
pub(super) struct Built {
    /// The image ID the result's stage starts from (through `FROM <stage>` to an
    /// image), where the walk down its history stops; `None` for `scratch`.
    pub base: Option<String>,
}

/// What the check needs to know about the build.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    pub upstream: Upstream,
    pub owner_key: String,
    pub owner: String,
    /// The tags to apply once the result has passed.
    pub tags: Vec<Named>,
    /// Whether `--confine` holds: then no tag may move a name off an image the owner
    /// does not own.
    pub confine: bool,
    /// `q=1`: the daemon prints only the ID, and scripts read it (`ID=$(docker build
    /// -q .)`); the gateway then says nothing on success either.
    pub quiet: bool,
}

/// Checks the built image `id`; returns the lines to add to the client's output: one
/// `Successfully tagged` per tag, or one error line.
pub(super) async fn check(plan: Plan, base: Option<String>, id: String) -> Vec<Bytes> {
    match verify(&plan, base.as_deref(), &id).await {
        Ok(mut client) => {
            let mut lines = Vec::new();
            if plan.confine {
                let label = Label {
                    key: &plan.owner_key,
                    owner: &plan.owner,
                };
                for tag in &plan.tags {
                    if let Err(err) =
                        owners::check_name_target(&mut client, &label, tag, false).await
                    {
                        return vec![Bytes::from(err.stream_line())];
                    }
                }
            }
            for tag in &plan.tags {
                if let Err(err) = client.tag(&id, tag).await {
                    lines.push(Bytes::from(
                        ApiError::new(
                            err.status,
                            format!(
                                "built {} but could not tag it {}: {}",
                                short(&id),
                                tag.familiar_string(),
                                err.message
                            ),
                        )
                        .stream_line(),
                    ));
                    return lines;
                }
                if !plan.quiet {
                    lines.push(stream_line(&format!(
                        "Successfully tagged {}\n",
                        tag.familiar_string()
                    )));
                }
            }
            lines
        }
        Err(err) => {
            tracing::warn!(image = %id, error = %err, "build result refused");
            vec![Bytes::from(err.stream_line())]
        }
    }
}

/// The checks proper; the client is handed back for the tagging.
async fn verify(plan: &Plan, base: Option<&str>, id: &str) -> Result<Client, ApiError> {
    let mut client = Client::new(&plan.upstream);
    let refuse = |what: String| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "the build produced {}, but {what}, so nothing was tagged. A cached step \
                 reused an image this job did not build (a planted build cache, or \
                 --cache-from). Build again with --no-cache, and use --cache-from only \
                 with images this job built",
                short(id)
            ),
        )
    };
    let owned = |labels: &std::collections::BTreeMap<String, String>| {
        labels.get(&plan.owner_key).map(String::as_str) == Some(plan.owner.as_str())
    };
    let result = client.inspect_image(id).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("the image the daemon built, {}, is gone", short(id)),
        )
    })?;
    if result.id != id {
        return Err(refuse(format!("{id} is not an image ID the daemon knows")));
    }
    if !owned(&result.labels) {
        return Err(refuse(format!(
            "it does not carry {}={}",
            plan.owner_key, plan.owner
        )));
    }
    for step in client.image_history(id).await? {
        let Some(step_id) = step.id else {
            return Err(refuse(format!(
                "one of its steps ({:?}) has no image on this daemon to check",
                truncate(&step.created_by, 80)
            )));
        };
        if base == Some(step_id.as_str()) {
            break;
        }
        if step_id == id {
            continue;
        }
        let image = client
            .inspect_image(&step_id)
            .await?
            .ok_or_else(|| refuse(format!("its step image {} is gone", short(&step_id))))?;
        if !owned(&image.labels) {
            return Err(refuse(format!(
                "its step image {} ({:?}) does not carry {}={}",
                short(&step_id),
                truncate(&step.created_by, 80),
                plan.owner_key,
                plan.owner
            )));
        }
    }
    Ok(client)
}

/// A line of build output in the daemon's own format.
fn stream_line(text: &str) -> Bytes {
    let mut line = serde_json::to_vec(&serde_json::json!({ "stream": text })).unwrap_or_default();
    line.extend_from_slice(b"\r\n");
    Bytes::from(line)
}

/// `sha256:` plus 12 hex digits, as the daemon shortens IDs.
fn short(id: &str) -> &str {
    &id[..id.len().min(19)]
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn watch(output: &str, split: usize) -> Outcome {
        let mut watch = Watch::default();
        for piece in output.as_bytes().chunks(split.max(1)) {
            watch.feed(piece);
        }
        watch.finish()
    }

    #[test]
    fn the_last_aux_id_is_the_result() {
        let output = format!(
            "{{\"stream\":\"Step 1/4 : FROM x\\n\"}}\r\n{{\"aux\":{{\"ID\":\"{A}\"}}}}\r\n\
             {{\"stream\":\" ---> abc\\n\"}}\r\n{{\"aux\":{{\"ID\":\"{B}\"}}}}\r\n\
             {{\"stream\":\"Successfully built bbbbbbbbbbbb\\n\"}}\r\n"
        );
        for split in [1, 2, 7, 100, 10_000] {
            assert_eq!(
                watch(&output, split),
                Outcome::Built(B.to_string()),
                "{split}"
            );
        }
        // Squash: one more aux, with an id, for the squashed image.
        let squashed =
            format!("{output}{{\"id\":\"moby.image.id\",\"aux\":{{\"ID\":\"{A}\"}}}}\r\n");
        assert_eq!(watch(&squashed, 5), Outcome::Built(A.to_string()));
        // Without a final line ending.
        let unended = format!("{{\"aux\":{{\"ID\":\"{A}\"}}}}");
        assert_eq!(watch(&unended, 3), Outcome::Built(A.to_string()));
    }

    #[test]
    fn quiet_builds_print_the_id() {
        let output = format!("{{\"stream\":\"{A}\\n\"}}\r\n");
        assert_eq!(watch(&output, 4), Outcome::Built(A.to_string()));
        let both = format!("{{\"aux\":{{\"ID\":\"{B}\"}}}}\r\n{{\"stream\":\"{A}\\n\"}}\r\n");
        assert_eq!(watch(&both, 4), Outcome::Built(B.to_string()), "aux wins");
    }

    #[test]
    fn errors_and_silence_are_not_results() {
        let failed = format!(
            "{{\"aux\":{{\"ID\":\"{A}\"}}}}\r\n{{\"errorDetail\":{{\"message\":\"no\"}},\"error\":\"no\"}}\r\n"
        );
        assert_eq!(watch(&failed, 3), Outcome::Failed);
        assert_eq!(watch("{\"error\":\"old style\"}\n", 1), Outcome::Failed);
        assert!(matches!(
            watch("{\"stream\":\"Step 1/1\\n\"}\r\n", 3),
            Outcome::Unknown(_)
        ));
        assert!(matches!(watch("", 3), Outcome::Unknown(_)));
        let garbage = format!("{{\"aux\":{{\"ID\":\"{A}\"}}}}\r\nnot json\r\n");
        assert!(matches!(watch(&garbage, 3), Outcome::Unknown(_)));
        let short_id = "{\"aux\":{\"ID\":\"sha256:abc\"}}\r\n";
        assert!(matches!(watch(short_id, 3), Outcome::Unknown(_)));
    }

    #[test]
    fn a_line_too_long_to_read_fails_closed() {
        let long = format!(
            "{{\"stream\":\"{}\"}}\r\n{{\"aux\":{{\"ID\":\"{A}\"}}}}\r\n",
            "x".repeat(MAX_LINE + 10)
        );
        assert!(matches!(watch(&long, 64 * 1024), Outcome::Unknown(_)));
    }

    #[test]
    fn helpers() {
        assert_eq!(short(A), "sha256:aaaaaaaaaaaa");
        assert_eq!(truncate("héllo", 2), "hé");
        let line = stream_line("Successfully tagged x:latest\n");
        assert_eq!(
            &line[..],
            b"{\"stream\":\"Successfully tagged x:latest\\n\"}\r\n"
        );
    }
}
