# build the binary
from golang:1.22 as build
workdir /src
run go build -o /app .

  From scratch AS final
copy --from=build /app /app
entrypoint ["/app"]
