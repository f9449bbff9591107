# Telepractice SFU: Node 24 LTS on Debian 12 (bookworm), the mediasoup 3.27.1 worker, the browser
# client. docs/operations.md, "Container image", explains every line; test/integration/
# container-image.test.ts builds this file (ARTIFACTS=prebuilt) and runs the image.
#
# Two ways to build, one runtime image:
#   docker build -t telepractice-sfu .
#       everything inside the build: npm dependencies from the npm registry, the worker (mediasoup's
#       prebuilt download, else built against Debian's libraries: about 6 minutes on 2 cores,
#       docs/worker-build.md), the client bundle.
#   node scripts/image-artifacts.mjs && docker build --build-arg ARTIFACTS=prebuilt -t telepractice-sfu .
#       from artifacts the project's own set-up prepared on the host (image-artifacts/): no npm
#       registry needed inside the build (air-gapped builds, or builders whose npm has no registry
#       configured). The runtime stage still installs four Debian packages with apt-get (a mirror of
#       Debian's archive suffices).
#
# BASE_IMAGE: Node 24 on Debian 12; pin a digest or name an internal registry's copy.
ARG BASE_IMAGE=node:24-bookworm-slim
# ARTIFACTS: "source" (build inside) or "prebuilt" (image-artifacts/ from the build context).
ARG ARTIFACTS=source

# ---- source: dependencies, the worker and the client bundle, built inside the build ----
FROM ${BASE_IMAGE} AS source
# Build tools and the -dev libraries the offline worker build links against (the list
# scripts/setup/worker-build.mjs would install itself; here the layer stays cacheable).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates openssl meson ninja-build pkg-config g++ xz-utils \
      libssl-dev libuv1-dev libabsl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts ./scripts
# `setup`: npm ci --ignore-scripts, then the worker, verified by a real ICE + DTLS handshake before
# it is kept (scripts/setup/worker.mjs).
ENV SFU_CACHE_DIR=/opt/sfu-cache
# NPM_REGISTRY: a registry or mirror this build can reach (no credentials: pass those as a build
# secret of your own); empty: npm's default. It stays in this stage, not in the runtime image.
ARG NPM_REGISTRY=
RUN if [ -n "$NPM_REGISTRY" ]; then export npm_config_registry="$NPM_REGISTRY"; fi \
 && node scripts/bootstrap.mjs setup \
 && install -D -m 755 "$(ls /opt/sfu-cache/mediasoup-worker/*/mediasoup-worker | head -n 1)" /opt/mediasoup/mediasoup-worker
COPY tsconfig.json ./
COPY src ./src
# The server runs its .ts sources with Node 24's type stripping: nothing compiled at runtime, so the
# dev dependencies (typescript, esbuild, vitest, ...) go once the client is bundled.
RUN node scripts/build-client.mjs && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

# ---- prebuilt: the same three artifacts, from image-artifacts/ (scripts/image-artifacts.mjs) ----
FROM scratch AS prebuilt
COPY image-artifacts/node_modules /app/node_modules
COPY image-artifacts/dist /app/dist
COPY image-artifacts/mediasoup-worker /opt/mediasoup/mediasoup-worker

FROM ${ARTIFACTS} AS artifacts

# ---- runtime-base: the base image, tini, the worker's libraries and the user ----
FROM ${BASE_IMAGE} AS runtime-base
# tini as PID 1: forwards SIGTERM to the server (which drains) and reaps exited worker processes.
# The worker built against Debian's libraries links libuv1, libssl3 and libabsl20220623 (mediasoup's
# prebuilt worker needs none of them). A fixed uid/gid (10001) so a bind-mounted /data can be
# chowned on the host before the first start.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini libssl3 libuv1 libabsl20220623 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 sfu \
 && useradd --uid 10001 --gid sfu --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin sfu \
 && mkdir -p /data && chown sfu:sfu /data && chmod 0700 /data

# ---- runtime: what runs, owned by root, run by a non-root user ----
FROM runtime-base
WORKDIR /app
COPY --from=artifacts /opt/mediasoup/mediasoup-worker /opt/mediasoup/mediasoup-worker
COPY --from=artifacts /app/node_modules ./node_modules
COPY --from=artifacts /app/dist ./dist
COPY package.json ./
COPY config ./config
COPY src ./src
# The operator's tools (docker exec <container> node scripts/token.ts --room R --identity I --role
# student; audit-verify.ts; admin.ts) run on src/; the set-up scripts beside them are small.
COPY scripts ./scripts
# SFU_MODE=production: the token key must be given (SFU_JWT_SECRET, SFU_JWT_SECRET_FILE or
# SFU_JWT_PUBLIC_KEY), or the server exits 78 with JWT_SECRET_REQUIRED; no demo links are printed.
# SFU_MODE=development generates a secret into /data and prints them (a local trial only).
ENV NODE_ENV=production \
    SFU_MODE=production \
    MEDIASOUP_WORKER_BIN=/opt/mediasoup/mediasoup-worker \
    SFU_HTTP_HOST=0.0.0.0 \
    SFU_HTTP_PORT=3000 \
    SFU_DATA_DIR=/data \
    SFU_RTC_PORT=40000 \
    TINI_SUBREAPER=1
USER sfu
VOLUME ["/data"]
# HTTP (signalling at /rtc, health, metrics, admin, the pages) and one UDP + TCP media port per
# worker from SFU_RTC_PORT (set SFU_WORKERS; publish 40000 .. 40000 + SFU_WORKERS - 1).
EXPOSE 3000/tcp 40000-40001/udp 40000-40001/tcp
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.SFU_HTTP_PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "src/main.ts"]
