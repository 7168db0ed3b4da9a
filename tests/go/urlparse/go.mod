module buildgate/urlparse

go 1.19
