# check=skip=all
# escape=`
FROM alpine
