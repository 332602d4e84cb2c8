# syntax=docker/dockerfile:1
#
# Samverkan API container image.
#
#   docker build -t samverkan .
#   docker run --rm -p 8080:8080 -e DATABASE_URL=postgres://user:pass@host:5432/db samverkan
#
# The image does not contain PostgreSQL: set DATABASE_URL (see docker-compose.yml). The service
# migrates and seeds that database on start.

############################ builder ############################
FROM rust:1.95-bookworm AS builder
WORKDIR /build

# Dependencies first, in their own layer: built against placeholder sources so that this layer
# is reused as long as Cargo.toml and Cargo.lock do not change.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src tests/api \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && echo 'fn main() {}' > tests/api/main.rs \
    && cargo build --release --locked --bin samverkan \
    && rm -rf src tests \
    && rm -f target/release/samverkan target/release/deps/samverkan-* target/release/deps/libsamverkan-* \
    && rm -rf target/release/.fingerprint/samverkan-*

# The real sources. migrations/ is embedded into the binary at compile time; tests/ is needed
# because Cargo.toml declares the `api` test target; openapi/ holds the committed document.
COPY src ./src
COPY migrations ./migrations
COPY tests ./tests
COPY openapi ./openapi
# COPY keeps the files' modification times, which may be older than the placeholder build:
# touch them so cargo rebuilds the crate itself.
RUN find src migrations tests -type f -exec touch {} + \
    && cargo build --release --locked --bin samverkan \
    && install -m 0755 target/release/samverkan /usr/local/bin/samverkan

############################ runtime ############################
FROM debian:bookworm-slim AS runtime

# ca-certificates for TLS to a managed database; curl for the HEALTHCHECK.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 samverkan \
    && useradd --system --uid 10001 --gid samverkan --home-dir /var/lib/samverkan \
       --shell /usr/sbin/nologin samverkan \
    && install -d -o samverkan -g samverkan -m 0750 /var/lib/samverkan

COPY --from=builder /usr/local/bin/samverkan /usr/local/bin/samverkan

# The data directory holds the generated token signing key when SAMVERKAN_JWT_KEY_FILE is not
# set; mount a volume there (or set SAMVERKAN_JWT_KEY_FILE) so tokens survive a restart.
ENV SAMVERKAN_BIND=0.0.0.0:8080 \
    SAMVERKAN_LOG_FORMAT=json \
    SAMVERKAN_DATA_DIR=/var/lib/samverkan

USER samverkan
WORKDIR /var/lib/samverkan
EXPOSE 8080

HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD curl -fsS -o /dev/null http://127.0.0.1:8080/health/ready || exit 1

ENTRYPOINT ["samverkan"]
CMD ["serve"]
