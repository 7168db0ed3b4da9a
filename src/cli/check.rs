//! `buildgate check`: tells an operator, in plain words, whether builds through the
//! gateway will work with a given Docker daemon.
//!
//! It asks the daemon the two questions every Docker client asks first, `GET /_ping`
//! and `GET /version`, and judges the answers:
//!
//! - **reachable**: the address answers HTTP and `/_ping` says `OK`;
//! - **API version**: at least [`MIN_API`]. The gateway sends the owner in the `labels`
//!   parameter of `POST /build`, which daemons understand from API 1.23; 1.24 is also
//!   the oldest version current Docker clients and daemons still speak;
//! - **operating system**: Linux. The gateway is built and tested for Linux daemons
//!   only;
//! - **builder**: the gateway sends every build with `version=1`, the classic builder.
//!   Daemons that recommend BuildKit (`Builder-Version: 2` on `/_ping`, the default since
//!   Docker 23) still run classic builds when asked: no Docker Engine release has
//!   removed the classic builder (moby keeps `BuilderV1` as the `/build` default). So
//!   the header is reported, never a reason to fail.
//!
//! The probe ([`probe`]) only gathers facts; the decision ([`assess`]) is a pure
//! function over them, unit-tested below. Nothing is written to the daemon.

use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::BodyExt;

use super::parse::{DaemonArgs, OneShot};
use crate::http::body::empty;
use crate::http::upstream::Upstream;

/// The oldest Docker API version the gateway supports.
pub const MIN_API: (u32, u32) = (1, 24);

/// Largest `/_ping` or `/version` answer read (they are a few hundred bytes).
const MAX_ANSWER: usize = 1 << 20;

/// What `buildgate check --help` says about the command.
pub const LONG_ABOUT: &str = "\
Check that builds through buildgate will work with a Docker daemon, then exit.

Asks the daemon GET /_ping and GET /version, and checks that it is reachable, speaks \
Docker API 1.24 or later, runs Linux containers and can run classic builds. Says in \
plain words whether builds through the gateway will work. Writes nothing to the daemon.

Exit status: 0 if builds will work, 1 if they will not, 2 for a usage error.";

/// `buildgate check`'s flags.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub daemon: DaemonArgs,
}

/// What the daemon said. Everything [`assess`] decides on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub ping_status: u16,
    pub ping_body: String,
    /// `Api-Version` header of the `/_ping` answer.
    pub ping_api_version: Option<String>,
    /// `Builder-Version` header of the `/_ping` answer.
    pub builder_version: Option<String>,
    /// `OSType` header of the `/_ping` answer.
    pub os_type: Option<String>,
    /// The `/version` answer, or why there is none.
    pub version: Result<Version, String>,
}

impl Default for Facts {
    fn default() -> Self {
        Facts {
            ping_status: 0,
            ping_body: String::new(),
            ping_api_version: None,
            builder_version: None,
            os_type: None,
            version: Err("not asked".to_string()),
        }
    }
}

/// The parts of `GET /version` that matter here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Version {
    /// Name of the first component (`Engine` for Docker, `Podman Engine` for Podman).
    pub engine: Option<String>,
    pub version: Option<String>,
    pub api_version: Option<String>,
    pub min_api_version: Option<String>,
    pub os: Option<String>,
    pub arch: Option<String>,
}

impl Version {
    fn from_json(value: &serde_json::Value) -> Version {
        let text = |key: &str| value.get(key).and_then(|v| v.as_str()).map(str::to_string);
        Version {
            engine: value
                .get("Components")
                .and_then(|c| c.get(0))
                .and_then(|c| c.get("Name"))
                .and_then(|n| n.as_str())
                .map(str::to_string),
            version: text("Version"),
            api_version: text("ApiVersion"),
            min_api_version: text("MinAPIVersion"),
            os: text("Os"),
            arch: text("Arch"),
        }
    }
}

/// The probe's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// No HTTP answer to `/_ping`; the cause as the operating system put it.
    Unreachable(String),
    Answered(Box<Facts>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub level: Level,
    pub text: String,
}

/// The verdict: one finding per question, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub address: String,
    pub findings: Vec<Finding>,
}

impl Report {
    /// True if builds through the gateway will work: nothing failed.
    pub fn works(&self) -> bool {
        self.findings.iter().all(|f| f.level != Level::Fail)
    }

    /// The text printed to the operator.
    pub fn render(&self) -> String {
        let mut out = format!("Docker daemon at {}\n", self.address);
        for finding in &self.findings {
            let tag = match finding.level {
                Level::Ok => "ok  ",
                Level::Warn => "warn",
                Level::Fail => "FAIL",
            };
            out.push_str(&format!("  {tag}  {}\n", finding.text));
        }
        if self.works() {
            out.push_str("Builds through buildgate will work with this daemon.\n");
            out.push_str(CLIENT_BUILDER);
        } else {
            out.push_str("Builds through buildgate will NOT work with this daemon: fix what is marked FAIL.\n");
        }
        out
    }
}

/// What every working verdict reminds the operator of: the daemon's side is not all.
/// On Linux, docker CLI 23 and later hand `docker build` to buildx whenever the buildx
/// plugin is installed, whatever `/_ping` says, and buildx always speaks BuildKit, which
/// the gateway refuses; `docker compose build` does the same.
pub const CLIENT_BUILDER: &str = "Jobs must build with the classic builder: set DOCKER_BUILDKIT=0 in their environment \
(required for docker CLI 23+ with the buildx plugin and for docker compose build, which \
otherwise always use BuildKit; older CLIs and docker-py use the classic builder by default).\n";

/// Parses `1.41` into `(1, 41)`.
pub fn parse_api_version(value: &str) -> Option<(u32, u32)> {
    let (major, minor) = value.trim().split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Decides, from what the daemon said, whether builds through the gateway will work.
pub fn assess(address: &str, probe: &Probe) -> Report {
    let mut findings = Vec::new();
    let mut push = |level, text: String| findings.push(Finding { level, text });
    let facts = match probe {
        Probe::Unreachable(cause) => {
            push(
                Level::Fail,
                format!(
                    "cannot reach the Docker daemon: {cause}{}",
                    unreachable_hint(cause)
                ),
            );
            return Report {
                address: address.to_string(),
                findings,
            };
        }
        Probe::Answered(facts) => facts,
    };

    // 1. Is it a Docker daemon at all?
    if facts.ping_status != 200 || facts.ping_body.trim() != "OK" {
        push(
            Level::Fail,
            format!(
                "GET /_ping answered {} {:?} instead of 200 \"OK\": this does not look like a Docker daemon",
                facts.ping_status,
                truncate(&facts.ping_body, 120)
            ),
        );
        return Report {
            address: address.to_string(),
            findings,
        };
    }
    push(Level::Ok, "reachable: GET /_ping answered OK".to_string());

    let version = match &facts.version {
        Ok(version) => version.clone(),
        Err(why) => {
            push(
                Level::Fail,
                format!("GET /version did not give the daemon's version: {why}"),
            );
            Version::default()
        }
    };

    // 2. API version: /version's, else the /_ping header's.
    let api = version
        .api_version
        .clone()
        .or_else(|| facts.ping_api_version.clone());
    let name = match (&version.engine, &version.version) {
        (Some(engine), Some(v)) if engine == "Engine" => format!("Docker Engine {v}"),
        (Some(engine), Some(v)) => format!("{engine} {v}"),
        (None, Some(v)) => format!("daemon version {v}"),
        _ => "the daemon".to_string(),
    };
    match api.as_deref().map(|a| (a, parse_api_version(a))) {
        Some((text, Some(found))) if found >= MIN_API => push(
            Level::Ok,
            format!(
                "{name} speaks Docker API {text} (buildgate needs {}.{} or later)",
                MIN_API.0, MIN_API.1
            ),
        ),
        Some((text, Some(_))) => push(
            Level::Fail,
            format!(
                "{name} speaks Docker API {text} only; buildgate needs {}.{} or later (build labels arrived in 1.23): upgrade the daemon",
                MIN_API.0, MIN_API.1
            ),
        ),
        Some((text, None)) => push(
            Level::Fail,
            format!("{name} reports an API version buildgate cannot read: {text:?}"),
        ),
        None => push(
            Level::Fail,
            format!("{name} reports no API version (neither /version nor the Api-Version header)"),
        ),
    }

    // 3. Operating system.
    let os = version.os.clone().or_else(|| facts.os_type.clone());
    let arch = version.arch.clone().unwrap_or_else(|| "?".to_string());
    match os.as_deref() {
        Some(os) if os.eq_ignore_ascii_case("linux") => {
            push(Level::Ok, format!("runs Linux containers ({os}/{arch})"))
        }
        Some(os) => push(
            Level::Fail,
            format!(
                "runs {os} containers; buildgate supports daemons that run Linux containers only"
            ),
        ),
        None => push(
            Level::Fail,
            "reports no operating system (neither /version nor the OSType header)".to_string(),
        ),
    }

    // 4. Builder. Never fatal: every Docker Engine still runs version=1 builds.
    match facts.builder_version.as_deref().map(str::trim) {
        Some("1") => push(
            Level::Ok,
            "builder: the daemon's default is the classic builder, which buildgate uses".to_string(),
        ),
        Some("2") => push(
            Level::Ok,
            "builder: the daemon recommends BuildKit, but still runs classic builds when asked; \
             buildgate asks for the classic builder on every build"
                .to_string(),
        ),
        Some(other) => push(
            Level::Warn,
            format!(
                "builder: the daemon advertises an unknown Builder-Version {other:?}; buildgate asks for the classic builder (version=1) anyway"
            ),
        ),
        None => push(
            Level::Ok,
            "builder: the daemon advertises no default builder (no Builder-Version header); buildgate asks for the classic builder on every build".to_string(),
        ),
    }

    // 5. Engine. Others (Podman's Docker API) may work but are not what buildgate is
    //    tested against.
    if let Some(engine) = &version.engine
        && engine != "Engine"
    {
        push(
            Level::Warn,
            format!(
                "the daemon is {engine:?}, not Docker Engine; buildgate is tested against Docker Engine only"
            ),
        );
    }

    Report {
        address: address.to_string(),
        findings,
    }
}

fn unreachable_hint(cause: &str) -> &'static str {
    let lower = cause.to_ascii_lowercase();
    if lower.contains("permission denied") {
        " (the user running buildgate needs access to the daemon's socket, usually membership of the docker group)"
    } else if lower.contains("no such file") {
        " (is dockerd running, and is --upstream / BUILDGATE_UPSTREAM its socket?)"
    } else if lower.contains("connection refused") {
        " (nothing listens there: is dockerd running?)"
    } else {
        ""
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// Asks the daemon `GET /_ping` and `GET /version`.
pub async fn probe(upstream: &Upstream, timeout: Duration) -> Probe {
    let ping = match get(upstream, "/_ping", timeout).await {
        Ok(answer) => answer,
        Err(cause) => return Probe::Unreachable(cause),
    };
    let header = |name: &str| {
        ping.0
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let mut facts = Facts {
        ping_status: ping.1.as_u16(),
        ping_body: String::from_utf8_lossy(&ping.2).into_owned(),
        ping_api_version: header("api-version"),
        builder_version: header("builder-version"),
        os_type: header("ostype"),
        version: Err("not asked".to_string()),
    };
    facts.version = match get(upstream, "/version", timeout).await {
        Ok((_, status, body)) if status == StatusCode::OK => {
            match serde_json::from_slice::<serde_json::Value>(&body) {
                Ok(value) if value.is_object() => Ok(Version::from_json(&value)),
                _ => Err(format!(
                    "the answer is not a JSON object: {:?}",
                    truncate(&String::from_utf8_lossy(&body), 120)
                )),
            }
        }
        Ok((_, status, body)) => Err(format!(
            "status {status}: {}",
            truncate(&String::from_utf8_lossy(&body), 120)
        )),
        Err(cause) => Err(cause),
    };
    Probe::Answered(Box::new(facts))
}

type Answer = (http::HeaderMap, StatusCode, Bytes);

async fn get(upstream: &Upstream, path: &str, timeout: Duration) -> Result<Answer, String> {
    let mut sender = upstream.connect().await.map_err(|e| e.to_string())?;
    let request = Request::get(path)
        .header(http::header::HOST, "docker")
        .header(
            http::header::USER_AGENT,
            concat!("buildgate-check/", env!("CARGO_PKG_VERSION")),
        )
        .body(empty())
        .map_err(|e| e.to_string())?;
    let exchange = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("GET {path}: {e}"))?;
        let (parts, body) = response.into_parts();
        let body = http_body_util::Limited::new(body, MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| format!("GET {path}: reading the answer: {e}"))?
            .to_bytes();
        Ok::<_, String>((parts.headers, parts.status, body))
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "GET {path}: no answer within {}s",
                timeout.as_secs()
            ))
        })
}

/// Runs `buildgate check`: prints the report, exit status 0 if builds will work, else 1.
pub fn main(args: CheckArgs) -> ExitCode {
    let OneShot {
        runtime,
        upstream,
        shown,
    } = match args.daemon.open("check") {
        Ok(one_shot) => one_shot,
        Err(status) => return status,
    };
    let probe = runtime.block_on(probe(&upstream, args.daemon.connect_timeout));
    let report = assess(&shown, &probe);
    print!("{}", report.render());
    if report.works() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docker(api: &str, os: &str, builder: Option<&str>) -> Probe {
        Probe::Answered(Box::new(Facts {
            ping_status: 200,
            ping_body: "OK".into(),
            ping_api_version: Some(api.into()),
            builder_version: builder.map(str::to_string),
            os_type: Some(os.into()),
            version: Ok(Version {
                engine: Some("Engine".into()),
                version: Some("28.2.2".into()),
                api_version: Some(api.into()),
                min_api_version: Some("1.24".into()),
                os: Some(os.into()),
                arch: Some("amd64".into()),
            }),
        }))
    }

    fn levels(report: &Report) -> Vec<Level> {
        report.findings.iter().map(|f| f.level).collect()
    }

    #[test]
    fn table() {
        use Level::*;
        let cases: Vec<(&str, Probe, bool, Vec<Level>)> = vec![
            (
                "docker 28, BuildKit default",
                docker("1.50", "linux", Some("2")),
                true,
                vec![Ok, Ok, Ok, Ok],
            ),
            (
                "docker 20.10, classic default",
                docker("1.41", "linux", Some("1")),
                true,
                vec![Ok, Ok, Ok, Ok],
            ),
            (
                "exactly the minimum",
                docker("1.24", "linux", None),
                true,
                vec![Ok, Ok, Ok, Ok],
            ),
            (
                "too old",
                docker("1.23", "linux", None),
                false,
                vec![Ok, Fail, Ok, Ok],
            ),
            (
                "1.9 is older than 1.24",
                docker("1.9", "linux", None),
                false,
                vec![Ok, Fail, Ok, Ok],
            ),
            (
                "windows",
                docker("1.41", "windows", Some("1")),
                false,
                vec![Ok, Ok, Fail, Ok],
            ),
            (
                "unknown builder",
                docker("1.41", "linux", Some("3")),
                true,
                vec![Ok, Ok, Ok, Warn],
            ),
            (
                "garbage api",
                docker("one.two", "linux", None),
                false,
                vec![Ok, Fail, Ok, Ok],
            ),
            (
                "unreachable",
                Probe::Unreachable("No such file or directory (os error 2)".into()),
                false,
                vec![Fail],
            ),
        ];
        for (name, probe, works, want) in cases {
            let report = assess("unix:///x.sock", &probe);
            assert_eq!(report.works(), works, "{name}: {}", report.render());
            assert_eq!(levels(&report), want, "{name}: {}", report.render());
        }
    }

    #[test]
    fn not_docker() {
        let probe = Probe::Answered(Box::new(Facts {
            ping_status: 404,
            ping_body: "404 page not found".into(),
            ..Facts::default()
        }));
        let report = assess("tcp://127.0.0.1:80", &probe);
        assert!(!report.works());
        assert_eq!(report.findings.len(), 1);
        assert!(
            report.findings[0]
                .text
                .contains("does not look like a Docker daemon")
        );
    }

    #[test]
    fn version_endpoint_failure_falls_back_to_ping_headers_but_fails() {
        let Probe::Answered(mut facts) = docker("1.41", "linux", Some("1")) else {
            unreachable!()
        };
        facts.version = Err("status 500".into());
        let report = assess("x", &Probe::Answered(facts));
        assert!(!report.works());
        // /_ping's headers still answer the API and OS questions.
        assert_eq!(
            levels(&report),
            vec![Level::Ok, Level::Fail, Level::Ok, Level::Ok, Level::Ok]
        );
    }

    #[test]
    fn podman_is_a_warning() {
        let Probe::Answered(mut facts) = docker("1.41", "linux", None) else {
            unreachable!()
        };
        if let Ok(v) = &mut facts.version {
            v.engine = Some("Podman Engine".into());
        }
        let report = assess("x", &Probe::Answered(facts));
        assert!(report.works());
        assert_eq!(report.findings.last().unwrap().level, Level::Warn);
    }

    #[test]
    fn hints_for_common_causes() {
        for (cause, hint) in [
            ("Permission denied (os error 13)", "docker group"),
            (
                "No such file or directory (os error 2)",
                "is dockerd running",
            ),
            ("Connection refused (os error 111)", "nothing listens"),
        ] {
            let report = assess("x", &Probe::Unreachable(cause.into()));
            assert!(report.render().contains(hint), "{cause}");
            assert!(report.render().contains("will NOT work"));
        }
    }

    #[test]
    fn api_versions() {
        assert_eq!(parse_api_version("1.41"), Some((1, 41)));
        assert_eq!(parse_api_version(" 1.9 "), Some((1, 9)));
        assert_eq!(parse_api_version("1"), None);
        assert_eq!(parse_api_version("1.x"), None);
        assert!((1, 9) < MIN_API && (1, 100) > MIN_API);
    }

    #[test]
    fn version_json() {
        let value: serde_json::Value = serde_json::from_str(
            r#"{"Components":[{"Name":"Engine","Version":"20.10.24"}],"Version":"20.10.24",
                "ApiVersion":"1.41","MinAPIVersion":"1.12","Os":"linux","Arch":"amd64"}"#,
        )
        .unwrap();
        let v = Version::from_json(&value);
        assert_eq!(v.engine.as_deref(), Some("Engine"));
        assert_eq!(v.api_version.as_deref(), Some("1.41"));
        assert_eq!(v.os.as_deref(), Some("linux"));
    }
}
