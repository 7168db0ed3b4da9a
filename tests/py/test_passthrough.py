"""docker-py through the buildgate gateway.

Run by `tests/e2e_passthrough.rs` (docker_py_through_gateway) with DOCKER_HOST set to a
running gateway; works under pytest too (`python3 -m pytest tests/py`), and standalone:
`DOCKER_HOST=unix:///path/gw.sock python3 tests/py/test_passthrough.py`.

Environment:
  DOCKER_HOST                    the gateway (required)
  BUILDGATE_TEST_IMAGE           base image (default buildgate-test/busybox:latest)
  BUILDGATE_TEST_LABEL           k=v label put on every container made here, for cleanup
  BUILDGATE_TEST_SERVER_VERSION  the daemon's version, if known, to compare against
"""

import os
import sys
import traceback

import docker

IMAGE = os.environ.get("BUILDGATE_TEST_IMAGE", "buildgate-test/busybox:latest")


def _labels():
    label = os.environ.get("BUILDGATE_TEST_LABEL", "buildgate-test=py")
    key, _, value = label.partition("=")
    return {key: value}


def _client():
    return docker.DockerClient(base_url=os.environ["DOCKER_HOST"], timeout=60)


def test_version():
    v = _client().version()
    assert v["Version"], v
    assert v["ApiVersion"], v
    want = os.environ.get("BUILDGATE_TEST_SERVER_VERSION")
    if want:
        assert v["Version"] == want, (v["Version"], want)


def test_ping():
    assert _client().ping() is True


def test_containers_run_output():
    client = _client()
    out = client.containers.run(
        IMAGE,
        ["sh", "-c", "echo hello from docker-py; echo to-stderr >&2"],
        remove=True,
        labels=_labels(),
        stdout=True,
        stderr=False,
    )
    assert out == b"hello from docker-py\n", out
    # A failing command raises ContainerError carrying the exit status.
    try:
        client.containers.run(
            IMAGE, ["sh", "-c", "exit 7"], remove=True, labels=_labels()
        )
    except docker.errors.ContainerError as e:
        assert e.exit_status == 7, e
    else:
        raise AssertionError("exit 7 did not raise ContainerError")


def test_images_list():
    tags = [t for img in _client().images.list() for t in img.tags]
    assert IMAGE in tags, tags


def main():
    tests = [(n, f) for n, f in sorted(globals().items()) if n.startswith("test_")]
    passed = failed = 0
    for name, fn in tests:
        try:
            fn()
        except Exception:  # report every test, then fail
            failed += 1
            print(f"FAIL {name}")
            traceback.print_exc(file=sys.stdout)
        else:
            passed += 1
            print(f"ok   {name}")
    print(f"py: {passed} passed, {failed} failed")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
