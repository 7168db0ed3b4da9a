#!/usr/bin/env bash
# Lay out the build context for buildgate's container image (the Dockerfile at the
# repository root): the Dockerfile, the binary, and every shared library `ldd` says the
# binary loads, at the same paths, under rootfs/.
#
#   scripts/ops-image-context.sh [BINARY] DIR
#
# BINARY defaults to target/release/buildgate. DIR must not exist or be empty. The copy of
# the binary is stripped of debug info when `strip` is available (the original is left
# alone). Then: DOCKER_BUILDKIT=0 docker build -t buildgate DIR
set -euo pipefail

if [ $# -eq 1 ]; then
    BIN=target/release/buildgate OUT=$1
elif [ $# -eq 2 ]; then
    BIN=$1 OUT=$2
else
    echo "usage: $0 [BINARY] DIR" >&2
    exit 2
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ -x "$BIN" ] || { echo "$0: $BIN is not an executable (run cargo build --release first)" >&2; exit 1; }
if [ -e "$OUT" ] && [ -n "$(ls -A "$OUT")" ]; then
    echo "$0: $OUT exists and is not empty" >&2
    exit 1
fi

mkdir -p "$OUT/rootfs/usr/local/bin" "$OUT/rootfs/run/buildgate" "$OUT/rootfs/tmp"
chmod 1777 "$OUT/rootfs/tmp"
cp "$ROOT/Dockerfile" "$OUT/Dockerfile"
install -m 0755 "$BIN" "$OUT/rootfs/usr/local/bin/buildgate"
if command -v strip >/dev/null; then
    strip --strip-debug "$OUT/rootfs/usr/local/bin/buildgate"
fi

# `ldd` lines look like "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" and, for
# the loader, "/lib64/ld-linux-x86-64.so.2 (0x...)". The vDSO has no file.
libs=$(ldd "$BIN" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)
[ -n "$libs" ] || { echo "$0: ldd found no libraries for $BIN (a static binary needs none; remove this check)" >&2; exit 1; }
for lib in $libs; do
    # -L: copy what symlinks point to, at the path the loader asks for.
    mkdir -p "$OUT/rootfs$(dirname "$lib")"
    cp -L "$lib" "$OUT/rootfs$lib"
done
echo "$OUT: Dockerfile, rootfs/usr/local/bin/buildgate and $(echo "$libs" | wc -l) libraries:" >&2
echo "$libs" | sed 's/^/  /' >&2
