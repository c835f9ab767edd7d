# ringcast image: build stage compiles the TypeScript and the io_uring addon; runtime stage holds
# only what runs (dist/, the addon, production node_modules) and runs as the non-root `node` user.
#
#   docker build -t ringcast .
#   docker run --rm -p 8080:8080 --security-opt seccomp=config/seccomp-io_uring.json ringcast
#
# Without the seccomp profile the default container profile blocks io_uring_setup (Docker >= 25:
# EPERM, podman: ENOSYS); the server then runs on the ws transport and logs why in one line.
# See docs/deploy.md. No `COPY --link` and no heredoc RUN: Debian's buildah rejects both.

FROM node:20-bookworm-slim AS build
# python3, make and g++ for node-gyp; linux-libc-dev (pulled in by g++) has linux/io_uring.h.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# node-gyp builds against the headers in the image instead of downloading them
ENV npm_config_nodedir=/usr/local npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
COPY package.json package-lock.json tsconfig.json ./
COPY config/ config/
COPY server/ server/
COPY native/build.mjs native/binding.gyp native/
COPY native/binding/ native/binding/
COPY native/src/ native/src/
# a failed native build fails the image build instead of shipping a ws-only image
RUN RINGCAST_REQUIRE_NATIVE=1 npm ci \
 && test -f native/build/Release/ringcast.node \
 && npm prune --omit=dev \
 && find node_modules -depth -type d -empty -delete \
 && npm cache clean --force

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    RINGCAST_HOST=0.0.0.0 \
    RINGCAST_PORT=8080
WORKDIR /app
# owned by root, read-only to the server's user
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules/ node_modules/
COPY --from=build /app/dist/ dist/
COPY --from=build /app/native/build/Release/ringcast.node native/build/Release/ringcast.node
COPY config/ config/
USER node
EXPOSE 8080
STOPSIGNAL SIGTERM
# Liveness, not readiness: /livez answers 200 while the process serves, so a Redis outage (when
# /healthz answers 503 on every node) does not mark every container unhealthy and get them all
# restarted at once. Readiness for a load balancer stays /healthz (docs/deploy.md).
# fetch is built into Node 20: no curl in the image.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.RINGCAST_PORT||8080)+'/livez').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "--max-semi-space-size=4", "dist/server/cli.js"]
