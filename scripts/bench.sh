#!/usr/bin/env bash
# buildgate's benchmark: the one command that runs it and prints the table.
#
#   scripts/bench.sh                      full run (takes a while; wants a quiet machine)
#   BUILDGATE_BENCH_QUICK=1 scripts/bench.sh   smoke run: small workloads, 3 runs
#
# What it does:
# 1. installs haproxy and socat (Debian packages) if missing;
# 2. builds the release gateway and the bench targets (cargo bench --no-run);
# 3. runs the criterion micro-benchmarks (benches/micro.rs: tar reader+writer,
#    Dockerfile scanner), unless BUILDGATE_BENCH_MICRO=0;
# 4. finds the dockerd for workload 5 ($BUILDGATE_TEST_DOCKER_HOST, else the private one
#    of scripts/dockerd.sh, started here and stopped at exit if it was not running) and
#    makes buildgate-test/busybox:latest; without a daemon, workload 5 is skipped;
# 5. runs the harness (benches/proxies/): workloads generated and cached under
#    $BUILDGATE_BENCH_DIR, each peer started fresh per workload, runs interleaved,
#    medians, and prints a markdown table with the machine and this command.
#
# Environment (all optional):
#   BUILDGATE_BENCH_QUICK=1          small workloads, 3 runs (numbers not for the README)
#   BUILDGATE_BENCH_RUNS=N           timed runs per peer (default 5; quick 3)
#   BUILDGATE_BENCH_DIR=DIR          workload cache and peer sockets/logs (/tmp/buildgate-bench)
#   BUILDGATE_BENCH_WORKLOADS=LIST   subset of 1,2,3,4,5,6,7,mem (default all)
#   BUILDGATE_BENCH_PEERS=LIST       subset of direct,buildgate,haproxy,socat (default all;
#                                    targets compare against direct and haproxy)
#   BUILDGATE_BENCH_LOG_LEVEL=LEVEL  the gateway's --log-level (default info, its default)
#   BUILDGATE_BENCH_MICRO=0          skip the criterion micro-benchmarks
#   BUILDGATE_TEST_DOCKER_HOST=unix:///...  the daemon for workload 5
#
# The workloads take about 1.7 GB under $BUILDGATE_BENCH_DIR (the 4 GiB memory check is
# generated while it is sent, never stored).
set -euo pipefail

cd "$(dirname "$0")/.."
SETTINGS=$(env | grep -E '^(BUILDGATE_BENCH_[A-Z_]+|BUILDGATE_TEST_DOCKER_HOST)=' | sort | tr '\n' ' ' || true)
COMMAND="${SETTINGS}scripts/bench.sh${*:+ $*}"
export BUILDGATE_TEST_DIR=${BUILDGATE_TEST_DIR:-/tmp/buildgate-test}

step() { echo "==> $*" >&2; }

# ---------------------------------------------------------------- 1. install
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
need=()
command -v haproxy >/dev/null || need+=(haproxy)
command -v socat >/dev/null || need+=(socat)
if [ ${#need[@]} -gt 0 ]; then
    step "apt-get install ${need[*]}"
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# ---------------------------------------------------------------- 2. build
step "cargo build --release; cargo bench --no-run"
cargo build --release --bin buildgate
# Cargo lists every artifact it built (the gateway binary too, in no fixed order):
# take the executable of the `proxies` bench target itself.
HARNESS=$(cargo bench --no-run --bench proxies --message-format=json 2>/dev/null |
    grep '"kind":\["bench"\]' | grep '"name":"proxies"' |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
[ -x "$HARNESS" ] || { echo "cannot find the built bench harness" >&2; exit 1; }
export BUILDGATE_BIN=$PWD/target/release/buildgate

# ---------------------------------------------------------------- 3. micro
CRITERION_DIR=${CARGO_TARGET_DIR:-$PWD/target}/criterion
if [ "${BUILDGATE_BENCH_MICRO:-1}" != 0 ]; then
    step "criterion micro-benchmarks"
    BUILDGATE_BENCH_MICRO_SINCE=$(date +%s)
    export BUILDGATE_BENCH_MICRO_SINCE BUILDGATE_BENCH_CRITERION_DIR=$CRITERION_DIR
    if [ "${BUILDGATE_BENCH_QUICK:-0}" != 0 ]; then
        cargo bench --bench micro -- --warm-up-time 1 --measurement-time 2 >&2
    else
        cargo bench --bench micro >&2
    fi
fi

# ---------------------------------------------------------------- 4. daemon
STARTED_DOCKERD=
cleanup() {
    local rc=$?
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
if [[ ",${BUILDGATE_BENCH_WORKLOADS:-5}," == *,5,* ]] && command -v docker >/dev/null; then
    if [ -n "${BUILDGATE_TEST_DOCKER_HOST:-}" ] && daemon_answers "$BUILDGATE_TEST_DOCKER_HOST"; then
        step "workload 5 uses the daemon at $BUILDGATE_TEST_DOCKER_HOST"
    elif HOST=$(scripts/dockerd.sh status 2>/dev/null); then
        export BUILDGATE_TEST_DOCKER_HOST=$HOST
    elif command -v dockerd >/dev/null; then
        step "starting a private dockerd for workload 5"
        STARTED_DOCKERD=1
        BUILDGATE_TEST_DOCKER_HOST=$(scripts/dockerd.sh start)
        export BUILDGATE_TEST_DOCKER_HOST
    fi
    if [ -n "${BUILDGATE_TEST_DOCKER_HOST:-}" ]; then
        DOCKER_HOST=$BUILDGATE_TEST_DOCKER_HOST scripts/base-image.sh
    fi
fi

# ---------------------------------------------------------------- 5. run
step "running the harness ($HARNESS)"
export BUILDGATE_BENCH_COMMAND="$COMMAND"
"$HARNESS" run
