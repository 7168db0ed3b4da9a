FROM alpine
RUN wc -l < /etc/hosts
RUN echo 'a <b>' > /x
