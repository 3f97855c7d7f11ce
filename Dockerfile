# syntax=docker/dockerfile:1

# Build with exactly the command CI checks: cargo build --release --locked
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY .cargo ./.cargo
COPY src ./src
COPY migrations ./migrations
# Cargo.toml names the signature benchmark, so its file must be there to read it.
COPY benches ./benches
RUN cargo build --release --locked --bin webhook-inbox \
    && mkdir /data

# A small runtime: glibc and libgcc only, no shell, non-root (uid 65532).
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/webhook-inbox /usr/local/bin/webhook-inbox
COPY --from=build --chown=65532:65532 /data /data
ENV DATABASE_URL=sqlite:////data/app.db \
    HOST=0.0.0.0 \
    PORT=8000 \
    LOG_LEVEL=INFO
VOLUME ["/data"]
EXPOSE 8000
USER 65532:65532
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/webhook-inbox", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/webhook-inbox"]
