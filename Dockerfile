# Docent's image: both binaries (ingest, server) on Debian 12. Used by docker-compose.yml.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/ingest ./cmd/server

FROM debian:bookworm-slim
# curl for the compose health check; ca-certificates for model providers over HTTPS.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ /usr/local/bin/
USER 65532:65532
ENV DOCENT_ADDR=0.0.0.0:8080 DOCENT_LOG_FORMAT=json
EXPOSE 8080
CMD ["server"]
