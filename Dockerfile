# syntax=docker/dockerfile:1
# Builds both binaries once; compose runs the same image as migrate, api and
# workers.

FROM rust:1-bookworm AS builder
# rdkafka builds its bundled librdkafka with make (no cmake needed); these
# cover its compiler, configure script, zlib and TLS.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential python3 zlib1g-dev libssl-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Cache mounts keep the registry and target dir between builds; the binaries
# are copied out because the mounted target dir is not part of the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin api --bin workers \
 && mkdir -p /out \
 && cp target/release/api target/release/workers /out/

FROM debian:bookworm-slim
# ca-certificates for TLS to managed Postgres/Kafka; libssl3 and zlib1g for
# the dynamically linked OpenSSL and zlib.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home concert
COPY --from=builder /out/api /out/workers /usr/local/bin/
USER concert
# Listen on all interfaces inside the container (the binaries default to
# loopback); compose sets these too.
ENV HTTP_ADDR=0.0.0.0:8080 \
    WORKER_METRICS_ADDR=0.0.0.0:9464
EXPOSE 8080 9464
CMD ["api"]
