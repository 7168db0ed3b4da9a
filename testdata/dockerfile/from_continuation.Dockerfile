FROM \
# the base image
  \

	 alpine:3.20 \
    # named
    AS base
RUN apk add \
    curl \
    # empty line next

    jq
