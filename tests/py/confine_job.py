"""A whole CI job through a gateway started with --confine, with docker-py.

Run by `tests/e2e_confine.rs` (docker_py_job_works), which checks on the daemon that
what this reports it left carries the gateway's owner, and removes it all afterwards.
Standalone: `DOCKER_HOST=unix:///path/gw.sock python3 tests/py/confine_job.py`.

Environment:
  DOCKER_HOST             the confined gateway (required)
  BUILDGATE_TEST_IMAGE    base image (default buildgate-test/busybox:latest)
  BUILDGATE_TEST_PREFIX   prefix of every name made here (default bgt-py)
  BUILDGATE_TEST_WORKDIR  unused, for symmetry with the CLI tests

The last line printed is a JSON object: the containers, images, volumes and networks
the job still has, for the caller to check.
"""

import io
import json
import os
import tarfile
import time

import docker
import docker.errors
import docker.types

IMAGE = os.environ.get("BUILDGATE_TEST_IMAGE", "buildgate-test/busybox:latest")
PREFIX = os.environ.get("BUILDGATE_TEST_PREFIX", "bgt-py")


def until_answered(host, port):
    return (
        f"for i in $(seq 200); do nc {host} {port} </dev/null && exit 0; sleep 0.1; done; "
        "echo never answered; exit 1"
    )


def wait_for(what, check, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def prune(collection):
    """The daemon runs one prune at a time, daemon-wide; others prune too."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return collection.prune()
        except docker.errors.APIError as e:
            if e.status_code != 409 or "already running" not in str(e):
                raise
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def main():
    client = docker.DockerClient(base_url=os.environ["DOCKER_HOST"], timeout=60)

    out = client.containers.run(IMAGE, ["echo", "hi"], remove=True)
    assert out == b"hi\n", out

    # A running container: exec, logs, archives both ways.
    c1 = client.containers.run(
        IMAGE,
        ["sh", "-c", "echo started; exec sleep 600"],
        detach=True,
        name=f"{PREFIX}-c1",
    )
    r = c1.exec_run(["sh", "-c", "echo exec-out"])
    assert (r.exit_code, r.output) == (0, b"exec-out\n"), r
    wait_for("the logs", lambda: b"started" in c1.logs())
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        body = b"put by docker-py\n"
        info = tarfile.TarInfo("in.txt")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    assert c1.put_archive("/tmp", data.getvalue())
    r = c1.exec_run(["cat", "/tmp/in.txt"])
    assert r.output == b"put by docker-py\n", r
    stream, stat = c1.get_archive("/tmp/in.txt")
    assert stat["name"] == "in.txt", stat
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        assert tar.extractfile("in.txt").read() == b"put by docker-py\n"

    # A volume, written by one container and read through a mount by another.
    v1 = client.volumes.create(f"{PREFIX}-v1")
    client.containers.run(
        IMAGE,
        ["sh", "-c", "echo in-volume > /data/f"],
        volumes={v1.name: {"bind": "/data", "mode": "rw"}},
        remove=True,
    )
    out = client.containers.run(
        IMAGE,
        ["cat", "/data/f"],
        mounts=[docker.types.Mount("/data", v1.name, type="volume")],
        remove=True,
    )
    assert out == b"in-volume\n", out

    # A network: two containers talk by name; c1 joins and leaves.
    net = client.networks.create(f"{PREFIX}-net")
    srv = client.containers.run(
        IMAGE,
        ["sh", "-c", "while true; do echo pong | nc -l -p 7777; done"],
        detach=True,
        name=f"{PREFIX}-srv",
        network=net.name,
        volumes={v1.name: {"bind": "/data", "mode": "ro"}},
    )
    out = client.containers.run(
        IMAGE,
        ["sh", "-c", until_answered(srv.name, 7777)],
        network=net.name,
        remove=True,
    )
    assert out == b"pong\n", out
    # A container of a second network joins (on this --bridge=none daemon one that
    # started on no network could not), reaches the server by name, and leaves.
    other = client.networks.create(f"{PREFIX}-other")
    joiner = client.containers.run(
        IMAGE, ["sleep", "600"], detach=True, name=f"{PREFIX}-joiner", network=other.name
    )
    net.connect(joiner)
    r = joiner.exec_run(["sh", "-c", until_answered(srv.name, 7777)])
    assert r.output == b"pong\n", r
    net.disconnect(joiner)
    joiner.reload()
    assert set(joiner.attrs["NetworkSettings"]["Networks"]) == {other.name}, joiner.attrs

    # build, tag, commit.
    dockerfile = f"FROM {IMAGE}\nRUN echo built > /built\n".encode()
    img, _ = client.images.build(
        fileobj=io.BytesIO(dockerfile), tag=f"{PREFIX}-img:1", rm=True
    )
    assert img.tag(f"{PREFIX}-img", "2")
    committed = c1.commit(repository=f"{PREFIX}-img", tag="c")
    out = client.containers.run(img.id, ["cat", "/built"], remove=True)
    assert out == b"built\n", out

    # Refused: a privileged container, with a Docker-style error.
    try:
        client.containers.run(IMAGE, ["true"], privileged=True, remove=True)
        raise AssertionError("a privileged container was allowed")
    except docker.errors.APIError as e:
        assert e.status_code == 403, e
        assert e.explanation.startswith("buildgate: "), e.explanation

    # Lists show only the job's own.
    names = {c.name for c in client.containers.list(all=True)}
    assert names == {c1.name, srv.name, joiner.name}, names

    # rm, and the prunes.
    c1.remove(force=True)
    joiner.remove(force=True)
    stopped = client.containers.create(IMAGE, ["true"], name=f"{PREFIX}-c3")
    r = prune(client.containers)
    assert stopped.id in (r["ContainersDeleted"] or []), r
    dangling = srv.commit()
    r = prune(client.images)
    deleted = [d.get("Deleted") for d in (r["ImagesDeleted"] or [])]
    assert dangling.id in deleted, r
    v2 = client.volumes.create(f"{PREFIX}-v2")
    r = prune(client.volumes)
    assert r["VolumesDeleted"] == [v2.name], r
    r = prune(client.networks)
    assert r["NetworksDeleted"] == [other.name], r

    print(
        json.dumps(
            {
                "containers": [srv.id],
                "images": [img.id, committed.id],
                "volumes": [v1.name],
                "networks": [net.id],
            }
        )
    )


if __name__ == "__main__":
    main()
