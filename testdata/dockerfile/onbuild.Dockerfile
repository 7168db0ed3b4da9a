FROM alpine
ONBUILD LABEL owner=evil
ONBUILD RUN echo a > /b
