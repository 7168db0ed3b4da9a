#!/usr/bin/env bash
# Make the test base image, buildgate-test/busybox:latest, in the daemon at $DOCKER_HOST
# unless it is already there. There is no image registry to pull from, so the image is
# a rootfs built here: Debian's statically linked busybox (package busybox-static) plus
# the usual applet symlinks, imported with `docker import`.
set -euo pipefail

IMAGE=${BUILDGATE_TEST_IMAGE:-buildgate-test/busybox:latest}
: "${DOCKER_HOST:?set DOCKER_HOST to the daemon to put the image in}"
export DOCKER_HOST
DOCKER=${DOCKER:-docker}

log() { echo "base-image.sh: $*" >&2; }

if "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1; then
    log "$IMAGE already present"
    exit 0
fi

BUSYBOX=
for b in /bin/busybox /usr/bin/busybox; do
    # A dynamically linked busybox (Debian package busybox) would not run in an image
    # without libc; insist on the static one.
    if [ -x "$b" ] && ! ldd "$b" >/dev/null 2>&1; then
        BUSYBOX=$b
        break
    fi
done
[ -n "$BUSYBOX" ] || { log "no static busybox found (Debian package busybox-static)"; exit 1; }

ROOT=$(mktemp -d)
trap 'rm -rf "$ROOT"' EXIT
mkdir -p "$ROOT"/bin "$ROOT"/tmp "$ROOT"/etc "$ROOT"/root
chmod 1777 "$ROOT"/tmp
cp "$BUSYBOX" "$ROOT"/bin/busybox
for applet in $("$BUSYBOX" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$ROOT/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$ROOT"/etc/passwd
echo 'root:x:0:' >"$ROOT"/etc/group

tar -C "$ROOT" --numeric-owner --owner=0 --group=0 -c . |
    "$DOCKER" import \
        -c 'CMD ["/bin/sh"]' \
        -c 'ENV PATH=/bin' \
        -m 'buildgate test base: static busybox' \
        - "$IMAGE" >/dev/null
"$DOCKER" image inspect "$IMAGE" --format '{{.Id}}' >/dev/null
log "created $IMAGE"
