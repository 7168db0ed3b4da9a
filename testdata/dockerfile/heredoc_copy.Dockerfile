FROM alpine
COPY <<-EOT /etc/motd
	LABEL owner=evil
	EOT
