FROM alpine
RUN <<EOF
echo hi
FROM evil
EOF
