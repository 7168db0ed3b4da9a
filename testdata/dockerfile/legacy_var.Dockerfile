FROM alpine
ARG K=owner
LABEL $K evil
