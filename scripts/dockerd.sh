#!/usr/bin/env bash
# Start, stop or query the private dockerd that buildgate's end-to-end tests run against.
#
#   scripts/dockerd.sh start    start it unless it already answers; prints DOCKER_HOST
#   scripts/dockerd.sh stop     stop it (only the one under $BUILDGATE_TEST_DIR)
#   scripts/dockerd.sh status   exit 0 and print DOCKER_HOST if it answers
#   scripts/dockerd.sh host     print the DOCKER_HOST it uses (answering or not)
#
# Everything lives under ${BUILDGATE_TEST_DIR:-/tmp/buildgate-test}/dockerd: its own
# --data-root, --exec-root (so its own containerd), --pidfile and socket. It never
# touches /var/run/docker.sock or a system daemon.
#
# Flags, and why (probed on Debian 12's docker.io 20.10.24 as root):
#   --storage-driver overlay2   works on ext4; if dockerd won't start with it (e.g. the
#                               data root is itself on overlayfs), we retry with vfs.
#   --iptables=false --ip-masq=false --ip-forward=false --bridge=none
#                               without them dockerd creates docker0 and writes NAT and
#                               FORWARD rules into the host's tables, which would clash with
#                               a system daemon and outlive this one. The tests need no
#                               container networking: containers get only loopback.
#   --userland-proxy=false      nothing to publish; avoids docker-proxy processes.
set -euo pipefail

TEST_DIR=${BUILDGATE_TEST_DIR:-/tmp/buildgate-test}
DIR=$TEST_DIR/dockerd
SOCK=$DIR/docker.sock
PIDFILE=$DIR/dockerd.pid
LOG=$DIR/dockerd.log
HOST="unix://$SOCK"
# A daemon restarted after a crash first cleans up the containers it lost, which took
# two minutes here after a session ended with containers running.
START_TIMEOUT=${BUILDGATE_DOCKERD_START_TIMEOUT:-300}

log() { echo "dockerd.sh: $*" >&2; }

# Does the daemon answer /_ping? Uses curl if present, else the docker CLI.
answers() {
    [ -S "$SOCK" ] || return 1
    if command -v curl >/dev/null 2>&1; then
        [ "$(curl -fsS --max-time 3 --unix-socket "$SOCK" http://docker/_ping 2>/dev/null)" = OK ]
    else
        timeout 5 docker -H "$HOST" version --format '{{.Server.Version}}' >/dev/null 2>&1
    fi
}

running_pid() {
    local pid
    [ -f "$PIDFILE" ] || return 1
    pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    # Only ever treat it as ours if it is a dockerd using our socket.
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$SOCK" || return 1
    echo "$pid"
}

# dockerd bind-mounts its data root and does not always undo it (it doesn't when it fails
# to start); unmount whatever is left under $DIR once no dockerd of ours runs.
unmount_leftovers() {
    local m
    awk -v d="$DIR/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
}

# A dockerd that was killed (at the end of a session, say) leaves its containerd's
# pidfile behind, and often the containerd itself, dying or a zombie where PID 1 does
# not reap. The next dockerd would find that pid, wait for it to answer, and give up.
# End such a containerd if it is still ours and alive, and drop the pidfile.
clear_orphaned_containerd() {
    local pidfile=$DIR/exec/containerd/containerd.pid cpid
    [ -f "$pidfile" ] || return 0
    cpid=$(cat "$pidfile" 2>/dev/null || true)
    if [ -n "$cpid" ] && tr '\0' ' ' <"/proc/$cpid/cmdline" 2>/dev/null | grep -q -- "$DIR/"; then
        if ! grep -q ') Z ' "/proc/$cpid/stat" 2>/dev/null; then
            log "ending containerd $cpid left by a dockerd that is gone"
            kill -9 "$cpid" 2>/dev/null || true
            sleep 0.5
        fi
    fi
    rm -f "$pidfile"
}

try_start() {
    local driver=$1 pid i
    : >"$LOG"
    log "starting dockerd (storage driver $driver), log in $LOG"
    # setsid: its own session, so a ^C in the test's terminal doesn't reach it first
    # and it outlives nothing it shouldn't: stop() ends it by pid.
    setsid dockerd \
        --data-root "$DIR/data-$driver" \
        --exec-root "$DIR/exec" \
        --pidfile "$PIDFILE" \
        -H "$HOST" \
        --storage-driver "$driver" \
        --iptables=false --ip-masq=false --ip-forward=false --bridge=none \
        --userland-proxy=false \
        </dev/null >>"$LOG" 2>&1 &
    pid=$!
    for ((i = 0; i < START_TIMEOUT * 4; i++)); do
        if answers; then
            echo "$driver" >"$DIR/driver"
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            log "dockerd exited while starting with $driver:"
            tail -n 5 "$LOG" >&2 || true
            wait "$pid" 2>/dev/null || true
            unmount_leftovers
            return 1
        fi
        sleep 0.25
    done
    log "dockerd did not answer within ${START_TIMEOUT}s with $driver"
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unmount_leftovers
    return 1
}

start() {
    if answers; then
        log "already running at $HOST"
        echo "$HOST"
        return 0
    fi
    command -v dockerd >/dev/null || { log "dockerd not installed (Debian package docker.io)"; return 1; }
    mkdir -p "$DIR"
    # A dockerd that is ours but not answering (wedged), or leftovers of a killed one.
    stop >/dev/null 2>&1 || true
    rm -f "$SOCK" "$PIDFILE"
    clear_orphaned_containerd
    local drivers=${BUILDGATE_DOCKERD_STORAGE_DRIVER:-}
    if [ -z "$drivers" ]; then
        if [ -f "$DIR/driver" ]; then drivers=$(cat "$DIR/driver"); else drivers="overlay2 vfs"; fi
    fi
    local d
    for d in $drivers; do
        if try_start "$d"; then
            log "running at $HOST (storage driver $d)"
            echo "$HOST"
            return 0
        fi
        rm -f "$SOCK" "$PIDFILE"
    done
    log "could not start dockerd; last log lines:"
    tail -n 20 "$LOG" >&2 || true
    return 1
}

stop() {
    local pid i
    if ! pid=$(running_pid); then
        log "not running"
        return 0
    fi
    log "stopping dockerd (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 120; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.25
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "dockerd did not stop in 30s, killing it"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 1
    fi
    rm -f "$SOCK" "$PIDFILE"
    unmount_leftovers
}

status() {
    if answers; then
        echo "$HOST"
        return 0
    fi
    log "not answering at $HOST"
    return 1
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
host) echo "$HOST" ;;
*)
    echo "usage: $0 start|stop|status|host" >&2
    exit 2
    ;;
esac
