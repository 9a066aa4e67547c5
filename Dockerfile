# Herald as one static binary on an empty base image, run as a non-root user.
#   docker build -t herald .
#   docker run -p 8080:8080 -v herald-data:/var/lib/herald herald
# The same image runs every service; choose them with --services (see deploy/).

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Pure Go (the embedded SQLite included), so the binary needs no C library;
# the zone database is compiled in.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/herald ./cmd/herald \
    && mkdir -p /out/data

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/herald /herald
COPY --from=build --chown=65532:65532 /out/data /var/lib/herald
USER 65532:65532
ENV HERALD_DATA_DIR=/var/lib/herald \
    HERALD_LISTEN=:8080
EXPOSE 8080
VOLUME ["/var/lib/herald"]
ENTRYPOINT ["/herald"]
CMD ["serve"]
