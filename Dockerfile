# syntax=docker/dockerfile:1
#
# OCI image of the Inventory & Orders API for containerd-shim-spin: SpinKube, or Docker
# with the Spin shim. The image holds only what the shim reads:
#   /spin.toml                                           the manifest (the shim's fixed path)
#   /target/wasm32-wasip2/release/inventory_api.wasm     the API component, at spin.toml's `source`
#   /target/wasm32-wasip2/release/inventory_console.wasm the console component (/console/)
#   /runtime-config.toml                                 loaded by the shim when present
#
#   docker buildx build --platform wasi/wasm --provenance=false -t inventory-api:0.1.0 .
#   docker run -d --runtime io.containerd.spin.v2 --platform wasi/wasm -p 3000:80 \
#     -e SPIN_VARIABLE_ADMIN_API_KEY='choose-a-long-random-secret' \
#     -v inventory-data:/data inventory-api:0.1.0 /
#
# The shim must embed Spin 3.3 or newer (containerd-shim-spin v0.20.0+): the component
# imports spin:sqlite@3.0.0.

# 1. Build the components exactly as `spin build` does (spin.toml's build commands). Wasm
#    is platform-independent, so this stage runs natively on the build machine.
FROM --platform=$BUILDPLATFORM rust:1.95 AS build
WORKDIR /opt/build
RUN rustup target add wasm32-wasip2
# Everything the build reads: migrations/*.sql and swagger.yaml are compiled in (build.rs
# deflates swagger.yaml first).
COPY Cargo.toml Cargo.lock spin.toml swagger.yaml build.rs ./
COPY migrations ./migrations
COPY src ./src
# The console embeds its static files. Cargo.toml's workspace lists it and the
# benchmark's ceiling component, so cargo needs both manifests to resolve the lock file
# (the ceiling itself is not built here).
COPY console ./console
COPY tests/bench/ceiling ./tests/bench/ceiling
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    cargo build --locked --target wasm32-wasip2 --release -p inventory-api -p inventory-console

# 2. The image: no operating system, just the application.
FROM scratch
COPY --from=build /opt/build/spin.toml /spin.toml
COPY --from=build /opt/build/target/wasm32-wasip2/release/inventory_api.wasm \
     /target/wasm32-wasip2/release/inventory_api.wasm
COPY --from=build /opt/build/target/wasm32-wasip2/release/inventory_console.wasm \
     /target/wasm32-wasip2/release/inventory_console.wasm
# Declares the `rate_limits` store (Spin refuses to start without it) and puts the
# database in /data. SpinKube mounts its own generated runtime config over this file.
COPY deploy/runtime-config.container.toml /runtime-config.toml
