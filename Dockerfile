# buildgate's container image: the host-built binary and the few shared libraries it
# needs, on an empty base. No registry, no package manager, no shell.
#
# This Dockerfile expects the build context that scripts/ops-image-context.sh lays out
# (it copies this file, the binary and the libraries `ldd` names into rootfs/):
#
#   cargo build --release
#   scripts/ops-image-context.sh target/release/buildgate /tmp/buildgate-image
#   DOCKER_BUILDKIT=0 docker build -t buildgate:0.1.0 /tmp/buildgate-image
#
# Run it with the daemon's socket mounted where buildgate looks by default, and a host
# directory for the socket it listens on:
#
#   docker run -d --name buildgate-runner1 --network none \
#       -v /var/run/docker.sock:/var/run/docker.sock \
#       -v /run/buildgate/runner1:/run/buildgate \
#       -e BUILDGATE_OWNER=runner1 buildgate:0.1.0
#
# The image serves with --confine (BUILDGATE_CONFINE=1): the whole API under the
# ownership model. Set BUILDGATE_CONFINE=0 for builds-only labelling.
#
# Jobs then use /run/buildgate/runner1/docker.sock on the host. `docker run ...
# buildgate:0.1.0 check` checks the mounted daemon instead of serving.
#
# Use a numeric id for --socket-group: the image has no group database.
FROM scratch
COPY rootfs/ /
# The defaults, spelled out: listen in the mounted directory, talk to the mounted daemon.
ENV BUILDGATE_LISTEN=unix:///run/buildgate/docker.sock \
    BUILDGATE_UPSTREAM=unix:///var/run/docker.sock \
    BUILDGATE_CONFINE=1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/buildgate"]
