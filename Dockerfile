# syntax=docker/dockerfile:1
# crowdgate: a static binary (the SQLite driver is pure Go) on a distroless base, running as non-root.
#   docker build --build-arg VERSION=$(git describe --always) --build-arg COMMIT=$(git rev-parse HEAD) -t crowdgate .

FROM golang:1.27.3-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=""
ARG COMMIT=""
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/crowdgate ./cmd/crowdgate \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/crowdgate /usr/local/bin/crowdgate
# The embedded SQLite database lives here when CROWDGATE_DATABASE_URL is not a PostgreSQL URL.
COPY --from=build --chown=nonroot:nonroot /out/data /data
WORKDIR /data
VOLUME ["/data"]
ENV CROWDGATE_LISTEN=0.0.0.0:8095 \
    CROWDGATE_DATABASE_URL=/data/crowdgate.db
EXPOSE 8095
USER nonroot:nonroot
# distroless has no shell or curl: the binary asks its own /readyz (200 when the database answers).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/crowdgate", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/crowdgate"]
CMD ["serve"]
