//! The upstream for workloads 1 to 4: answers like dockerd, does nothing else, so that
//! what is measured is the proxies' own cost.
//!
//! * `POST .../build`: reads the whole body and throws it away, then answers `200`
//!   with a short JSON stream, one line of which says how many bytes arrived (the
//!   client checks it, so a proxy cannot look fast by dropping data).
//! * `GET .../_ping`: `OK` with the headers a 20.10 daemon sends.
//! * The questions the gateway asks around a build (`GET /images/{name}/json`,
//!   `/images/{id}/history`): one image, owned by `bench`, without ONBUILD triggers,
//!   whose history is itself. So the gateway pins the base, checks the result and is
//!   done, each with one round trip, as it would be against dockerd.
//!
//! One thread (a current-thread runtime) and hyper's HTTP/1.1 server: on the machines
//! this runs on it reads well over a GB/s, far above any proxy in front of it.

use std::convert::Infallible;
use std::process::ExitCode;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::UnixListener;

pub fn main(path: &str) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let result: std::io::Result<()> = runtime.block_on(async {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path)?;
        loop {
            let (stream, _) = listener.accept().await?;
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(answer))
                    .await;
            });
        }
    });
    if let Err(err) = result {
        eprintln!("sink: {err}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

async fn answer(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    if path.ends_with("/_ping") {
        return Ok(Response::builder()
            .header("api-version", "1.41")
            .header("builder-version", "2")
            .header(header::CACHE_CONTROL, "no-cache, no-store, must-revalidate")
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .header("docker-experimental", "false")
            .header("ostype", "linux")
            .header(header::PRAGMA, "no-cache")
            .header(header::SERVER, "Docker/20.10.24 (linux)")
            .body(Full::new(Bytes::from_static(b"OK")))
            .expect("static response"));
    }
    if path.starts_with("/images/") && path.ends_with("/json") {
        return Ok(json(
            StatusCode::OK,
            format!(
                "{{\"Id\":\"{IMAGE}\",\"Os\":\"linux\",\"Architecture\":\"amd64\",\
                 \"Config\":{{\"Labels\":{{\"owner\":\"bench\"}},\"OnBuild\":null}}}}\n"
            ),
        ));
    }
    if path.starts_with("/images/") && path.ends_with("/history") {
        return Ok(json(
            StatusCode::OK,
            format!("[{{\"Id\":\"{IMAGE}\",\"CreatedBy\":\"sink\"}}]\n"),
        ));
    }
    if path.ends_with("/build") {
        let mut body = req.into_body();
        let mut received = 0u64;
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(frame) => {
                    if let Some(data) = frame.data_ref() {
                        received += data.len() as u64;
                    }
                }
                Err(err) => {
                    return Ok(json(
                        StatusCode::BAD_REQUEST,
                        format!(
                            "{{\"message\":\"sink: body broke off after {received} bytes: {err}\"}}\n"
                        ),
                    ));
                }
            }
        }
        return Ok(json(
            StatusCode::OK,
            format!(
                "{{\"stream\":\"Step 1/2 : FROM buildgate-test/busybox:latest\\n\"}}\r\n\
                 {{\"stream\":\"sink received {received} bytes\\n\"}}\r\n\
                 {{\"aux\":{{\"ID\":\"{IMAGE}\"}}}}\r\n\
                 {{\"stream\":\"Successfully built 0123456789ab\\n\"}}\r\n"
            ),
        ));
    }
    Ok(json(
        StatusCode::NOT_FOUND,
        "{\"message\":\"page not found\"}\n".to_string(),
    ))
}

/// The one image the sink knows.
const IMAGE: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header("api-version", "1.41")
        .header(header::SERVER, "Docker/20.10.24 (linux)")
        .body(Full::new(Bytes::from(body)))
        .expect("static response")
}
