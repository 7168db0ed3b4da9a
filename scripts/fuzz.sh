#!/usr/bin/env bash
# Run every cargo-fuzz target for a bounded time; fail if any of them finds a crash.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# SECONDS_PER_TARGET defaults to 30; TARGET defaults to every target in fuzz/Cargo.toml.
# Targets run one after another (one core). Each keeps a growing corpus in
# fuzz/corpus/<target>/ (git-ignored, reused on the next run) and reads the committed
# seeds in testdata/fuzz/<target>/ (plus testdata/tar or testdata/dockerfile). A crash,
# hang (>FUZZ_TIMEOUT s for one input) or OOM leaves its input in fuzz/artifacts/<target>/;
# the script prints that path and the command to replay it, and exits 1 at the end.
#
# Environment:
#   FUZZ_SANITIZER  none (default) or address. Only stable Rust is installed, so the
#                   nightly flags cargo-fuzz passes are unlocked with RUSTC_BOOTSTRAP=1.
#                   The code under test is safe Rust: ASan adds little but ~2x slowdown.
#   FUZZ_TIMEOUT    libFuzzer -timeout per input, seconds (default 10).
#   FUZZ_ARGS       extra libFuzzer flags, e.g. "-max_len=65536 -jobs=2 -workers=2".
#   FUZZ_TARGET_DIR where the instrumented build goes (default fuzz/target). Point it
#                   outside the clone (e.g. $BUILDGATE_TEST_DIR/fuzz-target) so a fresh
#                   checkout on the same machine does not rebuild every dependency.
#   CARGO_FUZZ_VERSION  the cargo-fuzz installed when it is missing (default 0.13.2).
set -euo pipefail

cd "$(dirname "$0")/.."
SECS=${1:-30}
[ $# -gt 0 ] && shift
SANITIZER=${FUZZ_SANITIZER:-none}
TIMEOUT=${FUZZ_TIMEOUT:-10}
CARGO_FUZZ_VERSION=${CARGO_FUZZ_VERSION:-0.13.2}
build_args=(--sanitizer "$SANITIZER")
[ -n "${FUZZ_TARGET_DIR:-}" ] && build_args+=(--target-dir "$FUZZ_TARGET_DIR")
export RUSTC_BOOTSTRAP=1

step() { echo "==> $*" >&2; }

if ! cargo fuzz --version >/dev/null 2>&1; then
    step "cargo install cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install --locked --version "$CARGO_FUZZ_VERSION" cargo-fuzz
fi

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cd fuzz && cargo fuzz list)
fi

step "cargo fuzz build (sanitizer: $SANITIZER)"
(cd fuzz && cargo fuzz build "${build_args[@]}" 2>&1 | tail -n 3) ||
    { echo "fuzz build failed" >&2; exit 1; }

failed=()
for t in "${targets[@]}"; do
    corpus=$PWD/fuzz/corpus/$t
    mkdir -p "$corpus" "fuzz/artifacts/$t"
    seeds=()
    [ -d "testdata/fuzz/$t" ] && seeds+=("$PWD/testdata/fuzz/$t")
    case $t in
        tar_*) seeds+=("$PWD/testdata/tar") ;;
        dockerfile) seeds+=("$PWD/testdata/dockerfile") ;;
    esac
    step "fuzzing $t for ${SECS}s"
    log=fuzz/artifacts/$t/last-run.log
    # shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
    if (cd fuzz && cargo fuzz run "${build_args[@]}" "$t" "$corpus" "${seeds[@]}" -- \
        -max_total_time="$SECS" -timeout="$TIMEOUT" -rss_limit_mb=2048 -print_final_stats=1 \
        ${FUZZ_ARGS:-}) >"$log" 2>&1; then
        grep -E '^(Done|stat::number_of_executed_units|stat::new_units_added)' "$log" | tr '\n' ' ' >&2
        echo >&2
    else
        failed+=("$t")
        echo "!!! $t failed; log: $log" >&2
        grep -E 'panicked at|SUMMARY|ERROR: libFuzzer|Test unit written to' "$log" >&2 || tail -n 30 "$log" >&2
        artifact=$(grep -o 'Test unit written to .*' "$log" | tail -n 1 | sed 's/^Test unit written to //') || true
        if [ -n "${artifact:-}" ]; then
            case $artifact in /*) ;; *) artifact=$PWD/fuzz/${artifact#./} ;; esac
            echo "!!! artifact: $artifact" >&2
            echo "!!! replay:   (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run ${build_args[*]} $t $artifact)" >&2
        fi
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzzing found problems in: ${failed[*]}" >&2
    exit 1
fi
step "fuzzing: no crashes (${#targets[@]} targets, ${SECS}s each)"
