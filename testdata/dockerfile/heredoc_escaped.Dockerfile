FROM alpine
RUN cat ${X:- <\<EOF}
FROM evil
EOF}
