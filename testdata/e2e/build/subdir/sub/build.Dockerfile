FROM buildgate-test/busybox:latest
COPY files/data.txt /data.txt
RUN test "$(cat /data.txt)" = "from the subdir fixture"
LABEL which=sub
