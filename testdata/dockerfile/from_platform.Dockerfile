ARG P=linux/amd64
ARG IMG=alpine
FROM --platform=$P $IMG AS x
FROM --platform=$BUILDPLATFORM x
