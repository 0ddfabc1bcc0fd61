# syntax=docker/dockerfile:1
#
# Message Router: one image, four binaries (router-api, router-worker, router-scheduler and the
# sandbox fake-graph). Multi-stage: the Rust toolchain stays in the builder; the runtime image has
# only the binaries, CA certificates and curl (for HEALTHCHECK), and runs as uid 10001.
#
#   docker build -t message-router .
#   docker run --env-file .env -p 10000:10000 message-router               # router-api serve
#   docker run --env-file .env message-router router-api migrate
#   docker run --env-file .env message-router router-worker
#
# TLS everywhere is rustls (no OpenSSL); migrations are embedded at compile time.

# ---------------------------------------------------------------------------------------------
FROM rust:1.95-slim-bookworm AS builder
WORKDIR /build
ENV CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0 \
    CARGO_NET_RETRY=10

# 1) Dependency layer: manifests + lockfile and dummy sources, so that `cargo build` compiles
#    only the dependencies. This layer is reused until Cargo.toml/Cargo.lock change.
COPY Cargo.toml Cargo.lock ./
COPY core/Cargo.toml core/Cargo.toml
COPY api/Cargo.toml api/Cargo.toml
COPY worker/Cargo.toml worker/Cargo.toml
COPY scheduler/Cargo.toml scheduler/Cargo.toml
COPY fakes/Cargo.toml fakes/Cargo.toml
COPY testing/Cargo.toml testing/Cargo.toml
COPY tests/Cargo.toml tests/Cargo.toml
COPY bench/Cargo.toml bench/Cargo.toml
RUN set -eux; \
    for crate in core api worker scheduler fakes testing tests; do \
        mkdir -p "$crate/src"; \
        echo '// dependency-cache placeholder' > "$crate/src/lib.rs"; \
    done; \
    for crate in api worker scheduler fakes bench; do \
        mkdir -p "$crate/src"; \
        echo 'fn main() {}' > "$crate/src/main.rs"; \
    done; \
    echo 'fn main() {}' > fakes/src/demo_crm_main.rs; \
    mkdir -p tests/tests/it; \
    echo '' > tests/tests/it/main.rs; \
    cargo build --release --locked -p router-api -p router-worker -p router-scheduler -p router-fakes --bins; \
    rm -rf core/src api/src worker/src scheduler/src fakes/src testing/src tests/src tests/tests bench/src; \
    rm -f target/release/router-api target/release/router-worker target/release/router-scheduler target/release/fake-graph \
          target/release/demo-crm; \
    rm -rf target/release/.fingerprint/router-* target/release/deps/router_* target/release/deps/librouter_* \
           target/release/.fingerprint/fake-graph-* target/release/deps/fake_graph-* \
           target/release/.fingerprint/demo-crm-* target/release/deps/demo_crm-*

# 2) The real sources. migrations/ must be present: sqlx::migrate! embeds it at compile time.
COPY migrations migrations
COPY core core
COPY api api
COPY worker worker
COPY scheduler scheduler
COPY fakes fakes
COPY testing testing
COPY tests tests
COPY bench bench
# COPY keeps the files' own mtimes, which can be older than the placeholder build: touch them so
# cargo can never mistake the placeholders for the real crates.
RUN set -eux; \
    find core api worker scheduler fakes testing tests bench migrations -type f -exec touch {} +; \
    cargo build --release --locked -p router-api -p router-worker -p router-scheduler -p router-fakes --bins; \
    mkdir -p /out; \
    for bin in router-api router-worker router-scheduler fake-graph; do \
        install -m 0755 "target/release/$bin" "/out/$bin"; \
    done

# ---------------------------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime

RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates curl; \
    rm -rf /var/lib/apt/lists/*; \
    groupadd --system --gid 10001 router; \
    useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin router

COPY --from=builder /out/ /usr/local/bin/

# Same port as .env.example, docker-compose.yml and nginx (worker: 10001, scheduler: 10002).
ENV PORT=10000 \
    WORKER_METRICS_PORT=10001 \
    SCHEDULER_METRICS_PORT=10002
EXPOSE 10000

WORKDIR /app
USER 10001:10001

# The API's liveness probe. docker-compose.yml points the worker's and scheduler's containers at
# their own ports (10001, 10002).
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD curl -fsS http://127.0.0.1:10000/healthz || exit 1

STOPSIGNAL SIGTERM
CMD ["router-api", "serve"]
