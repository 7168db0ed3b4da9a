//! The Go oracles in `tests/go/<name>/`: small programs (standard library only) that
//! answer with Go's own reading of an input, for the differential tests. They talk hex,
//! because Go strings are bytes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use super::skip_or_fail;

/// Builds `tests/go/<name>` with the installed `go` once per test binary and returns
/// the program. Without `go` this is a skip by hand and a failure under `CI=true`, like
/// a missing daemon ([`go_oracle_or_skip!`] returns from the test). The build is offline
/// (`GOPROXY=off`): the oracles import nothing but the standard library.
pub fn go_oracle(name: &str) -> Option<PathBuf> {
    static BUILT: Mutex<BTreeMap<String, PathBuf>> = Mutex::new(BTreeMap::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(bin) = built.get(name) {
        return Some(bin.clone());
    }
    let have_go = Command::new("go")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !have_go {
        return skip_or_fail(&format!(
            "`go` is not on PATH; the Go oracle tests/go/{name} needs it (Debian golang-go)"
        ));
    }
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let bin = tmp.join("go-oracles").join(name);
    let mut cmd = Command::new("go");
    cmd.args(["build", "-o"])
        .arg(&bin)
        .arg(".")
        .current_dir(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/go")
                .join(name),
        )
        .env("GOPROXY", "off")
        .env("GOFLAGS", "-mod=mod");
    if std::env::var_os("GOCACHE").is_none() {
        cmd.env("GOCACHE", tmp.join("go-cache"));
    }
    let out = cmd.output().expect("run go build");
    assert!(
        out.status.success(),
        "go build of tests/go/{name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    built.insert(name.to_string(), bin.clone());
    Some(bin)
}

/// Lowercase hex, the oracles' encoding of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes an oracle wrote in hex.
pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("oracle hex"))
        .collect()
}
