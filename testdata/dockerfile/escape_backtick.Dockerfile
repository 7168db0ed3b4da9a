# escape=`
# syntax=docker/dockerfile:1
FROM mcr.microsoft.com/windows/servercore:ltsc2022 `
  AS win
LABEL a=b `
  c="d e"
RUN dir c:\
COPY app c:\app\
