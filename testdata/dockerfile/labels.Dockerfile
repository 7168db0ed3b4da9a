FROM alpine
LABEL a=b c="d e" owner=evil
label "quoted key"="v" 'x'='y z'
LABEL multi=1 \
      # a comment inside the continuation

      owner=evil2
LABEL $K=v
LABEL version 1.0 beta
LABEL escaped=a\ b last="x\"y"
LABEL owner="team-a"
