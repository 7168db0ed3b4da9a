"""docker-py `images.build` through the buildgate gateway, for tests/e2e_build.rs.

Environment:
  DOCKER_HOST          the gateway (required)
  BUILD_CONTEXT        the context directory
  BUILD_DOCKERFILE     the Dockerfile's path inside the context (default Dockerfile)
  BUILD_TAG            the tag to apply
  BUILD_GZIP           "1" to send the context gzip-compressed (docker-py sets
                       Content-Encoding: gzip)

Prints the build's stream to stdout, then `IMAGE <id>`. Exits 1 on a build error.
"""

import os
import sys

import docker


def main():
    client = docker.DockerClient(base_url=os.environ["DOCKER_HOST"], timeout=120)
    try:
        image, logs = client.images.build(
            path=os.environ["BUILD_CONTEXT"],
            dockerfile=os.environ.get("BUILD_DOCKERFILE", "Dockerfile"),
            tag=os.environ["BUILD_TAG"],
            nocache=True,
            rm=False,
            forcerm=False,
            labels={"a": "b", "owner": "evil"},
            gzip=os.environ.get("BUILD_GZIP") == "1",
        )
    except docker.errors.BuildError as e:
        for chunk in e.build_log:
            sys.stdout.write(chunk.get("stream", "") or str(chunk) + "\n")
        print(f"BUILD ERROR: {e}")
        return 1
    for chunk in logs:
        sys.stdout.write(chunk.get("stream", ""))
    print(f"IMAGE {image.id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
