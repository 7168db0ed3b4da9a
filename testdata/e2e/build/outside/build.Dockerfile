# Used with -f from outside the context directory (outside/ctx).
FROM buildgate-test/busybox:latest
COPY in-context.txt /in-context.txt
RUN test "$(cat /in-context.txt)" = "inside the context"
