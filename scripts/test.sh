#!/usr/bin/env bash
# buildgate's test command: the one the README names and .ci/run calls.
#
#   scripts/test.sh
#
# 1. installs what the tests need and the machine lacks (Debian packages, docker-py);
# 2. finds a Docker daemon for the end-to-end tests: $BUILDGATE_TEST_DOCKER_HOST if it is
#    set and answers, else the private dockerd under $BUILDGATE_TEST_DIR (started here if
#    it is not running, and stopped again at exit; see scripts/dockerd.sh);
# 3. makes the test base image buildgate-test/busybox:latest there (scripts/base-image.sh);
# 4. runs cargo fmt --check, cargo clippy -D warnings, cargo test, every fuzz target for
#    $BUILDGATE_FUZZ_SECONDS (default 20) seconds, and cargo bench --no-run.
#
# Safe to re-run. Under CI=true an end-to-end test that finds no daemon fails rather than
# skips (tests/common/mod.rs), so a broken step 2 cannot pass as green.
set -euo pipefail

cd "$(dirname "$0")/.."
export BUILDGATE_TEST_DIR=${BUILDGATE_TEST_DIR:-/tmp/buildgate-test}
mkdir -p "$BUILDGATE_TEST_DIR"

step() { echo "==> $*" >&2; }

# ---------------------------------------------------------------- 1. install
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
APT_UPDATED=
apt_install() {
    command -v apt-get >/dev/null || { echo "need $*, and there is no apt-get" >&2; return 1; }
    if [ -z "$APT_UPDATED" ]; then
        step "apt-get update"
        $SUDO apt-get update -qq
        APT_UPDATED=1
    fi
    step "apt-get install $*"
    # (Where there is no init system, as on CI, docker.io's postinst starts no daemon;
    # where one is started anyway, the tests still use their own private one.)
    $SUDO env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

static_busybox() {
    local b
    for b in /bin/busybox /usr/bin/busybox; do
        [ -x "$b" ] && ! ldd "$b" >/dev/null 2>&1 && return 0
    done
    return 1
}

need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v runc >/dev/null || need+=(runc)
command -v containerd >/dev/null || need+=(containerd)
command -v curl >/dev/null || need+=(curl)
# Differential tests read the gateway's tar output with Go's archive/tar, and image
# references with docker/distribution's reference package (Debian packages its source;
# the oracle builds against it in GOPATH mode).
command -v go >/dev/null || need+=(golang-go)
for pkg in golang-github-docker-distribution-dev golang-github-opencontainers-go-digest-dev; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
static_busybox || need+=(busybox-static)
# Bases that must be pulled come from a private registry with password auth
# (tests/common/registry.rs): docker/distribution's registry, and htpasswd for its
# bcrypt password file.
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v htpasswd >/dev/null || need+=(apache2-utils)
command -v python3 >/dev/null || need+=(python3 python3-pip)
# Tools some tests use as real peers; install them only if a test mentions them.
for tool in socat haproxy; do
    if ! command -v "$tool" >/dev/null && grep -rqw "$tool" tests benches 2>/dev/null; then
        need+=("$tool")
    fi
done
[ ${#need[@]} -eq 0 ] || apt_install "${need[@]}"

PYTHON=${BUILDGATE_TEST_PYTHON:-python3}
if ! "$PYTHON" -c 'import docker' 2>/dev/null; then
    step "installing docker-py"
    # pip first (pyenv/venv Pythons); Debian's own python3 refuses pip (PEP 668), so
    # fall back to its package.
    "$PYTHON" -m pip install -q docker 2>/dev/null || apt_install python3-docker
    "$PYTHON" -c 'import docker' || { echo "docker-py is not importable by $PYTHON" >&2; exit 1; }
fi
export BUILDGATE_TEST_PYTHON=$PYTHON

for comp in rustfmt clippy; do
    if ! cargo "${comp/rustfmt/fmt}" --version >/dev/null 2>&1; then
        step "rustup component add $comp"
        rustup component add "$comp"
    fi
done

# ---------------------------------------------------------------- 2. daemon
STARTED_DOCKERD=
cleanup() {
    local rc=$?
    if [ "$rc" != 0 ] && [ -s "$BUILDGATE_TEST_DIR/dockerd/dockerd.log" ]; then
        echo "--- last lines of $BUILDGATE_TEST_DIR/dockerd/dockerd.log" >&2
        tail -n 15 "$BUILDGATE_TEST_DIR/dockerd/dockerd.log" >&2 || true
    fi
    if [ -n "$STARTED_DOCKERD" ]; then
        scripts/dockerd.sh stop || true
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

daemon_answers() {
    timeout 10 docker -H "$1" version --format '{{.Server.Version}}' >/dev/null 2>&1
}

if [ -n "${BUILDGATE_TEST_DOCKER_HOST:-}" ] && daemon_answers "$BUILDGATE_TEST_DOCKER_HOST"; then
    step "using the daemon at $BUILDGATE_TEST_DOCKER_HOST"
elif HOST=$(scripts/dockerd.sh status 2>/dev/null); then
    step "reusing the private dockerd already running at $HOST (left running)"
    export BUILDGATE_TEST_DOCKER_HOST=$HOST
else
    step "starting a private dockerd"
    STARTED_DOCKERD=1
    BUILDGATE_TEST_DOCKER_HOST=$(scripts/dockerd.sh start)
    export BUILDGATE_TEST_DOCKER_HOST
fi
step "daemon: $(docker -H "$BUILDGATE_TEST_DOCKER_HOST" version --format 'server {{.Server.Version}}, API {{.Server.APIVersion}}')"

# ---------------------------------------------------------------- 3. base image
DOCKER_HOST=$BUILDGATE_TEST_DOCKER_HOST scripts/base-image.sh

# ---------------------------------------------------------------- 4. cargo
step "cargo fmt --check"
cargo fmt --all --check
step "cargo clippy"
cargo clippy --all-targets -- -D warnings
step "cargo test"
cargo test
step "fuzzing every target briefly (scripts/fuzz.sh; run it longer by hand)"
FUZZ_TARGET_DIR=${FUZZ_TARGET_DIR:-$BUILDGATE_TEST_DIR/fuzz-target} \
    scripts/fuzz.sh "${BUILDGATE_FUZZ_SECONDS:-20}"
if compgen -G 'benches/*.rs' >/dev/null || grep -q '^\[\[bench\]\]' Cargo.toml; then
    step "cargo bench --no-run"
    cargo bench --no-run
fi
step "all checks passed"
