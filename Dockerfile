# syntax=docker/dockerfile:1
# Telepractice SFU: Node 24 LTS on Debian 12, mediasoup 3.27.1 worker (prebuilt where the build has
# internet, else built against Debian's libraries: docs/worker-build.md).
# Run with --init (mediasoup workers are child processes; PID 1 must reap them):
#   docker run --init -p 3000:3000 -p 40000-40001:40000-40001/udp -p 40000-40001:40000-40001/tcp \
#     -e SFU_ANNOUNCED_IP=<public ip> -e SFU_WORKERS=2 -v sfu-data:/data telepractice-sfu

# ---- build: dependencies, the worker, the browser client ----
FROM node:24-bookworm-slim AS build
# Build tools and the -dev libraries the worker links against (scripts/setup/worker-build.mjs would
# install the same list itself; doing it here keeps the layer cacheable). The offline build also
# fetches three upstream source tarballs from Debian's trixie/sid *source* packages through a
# temporary deb-src list (libsrtp 2.7.0, flatbuffers 23.5.26, unordered_dense.h from rspamd).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates meson ninja-build pkg-config g++ xz-utils \
      libssl-dev libuv1-dev libabsl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts ./scripts
# bootstrap.mjs runs `npm ci --ignore-scripts`, then sets up the worker: mediasoup's prebuilt
# download where the build has internet, else the offline build against Debian's libraries (apt as
# root: fine here; about 5.5 minutes on 2 cores); either is verified before it is kept by starting a
# worker through mediasoup and completing an ICE + DTLS handshake with `openssl s_client` (the
# openssl package comes with ca-certificates).
ENV SFU_CACHE_DIR=/opt/sfu-cache
RUN node scripts/bootstrap.mjs setup \
 && install -D -m 755 "$(ls /opt/sfu-cache/mediasoup-worker/*/mediasoup-worker | head -n 1)" /opt/mediasoup/mediasoup-worker
COPY . .
# The server runs its .ts sources through Node 24's type stripping: nothing compiled is needed at
# runtime, so the dev dependencies (typescript, esbuild, vitest, ...) go after the client bundle.
RUN node scripts/build-client.mjs && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

# ---- runtime: shared libraries only, non-root ----
# The offline-built worker links libuv1, libssl3/libcrypto3 and libabsl20220623 (libsrtp is static;
# no usrsctp since mediasoup 3.20); the prebuilt one needs none of them.
FROM node:24-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 libuv1 libabsl20220623 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system sfu && useradd --system --gid sfu --home-dir /app --shell /usr/sbin/nologin sfu \
 && mkdir -p /data && chown sfu:sfu /data
WORKDIR /app
COPY --from=build /opt/mediasoup/mediasoup-worker /opt/mediasoup/mediasoup-worker
COPY --from=build --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
COPY --chown=root:root package.json ./
COPY --chown=root:root config ./config
COPY --chown=root:root src ./src
# For operators: docker exec <container> node scripts/token.ts --room R --identity I --role student
COPY --chown=root:root scripts ./scripts
ENV NODE_ENV=production \
    MEDIASOUP_WORKER_BIN=/opt/mediasoup/mediasoup-worker \
    SFU_HTTP_HOST=0.0.0.0 \
    SFU_HTTP_PORT=3000 \
    SFU_DATA_DIR=/data \
    SFU_RTC_PORT=40000
USER sfu
VOLUME ["/data"]
# HTTP (signalling at /rtc, health, metrics, admin) and one UDP+TCP RTC port per worker
# (SFU_RTC_PORT + i): publish as many as SFU_WORKERS (default: one per CPU core).
EXPOSE 3000 40000-40001/udp 40000-40001/tcp
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.SFU_HTTP_PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
CMD ["node", "src/main.ts"]
