FROM alpine
ONBUILD RUN <<EOF
LABEL owner=evil
EOF
