FROM alpine
LABEL owner evil
