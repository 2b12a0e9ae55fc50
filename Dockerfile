# syntax=docker/dockerfile:1
# Portcullis broker image. Build: docker build -t portcullis .
# Run: mount the configuration at /etc/portcullis/portcullis.yaml and its secrets as files
# beside it (docs/deploy.md); nothing secret is ever baked into the image.

ARG NODE_IMAGE=node:20-bookworm-slim

# Build stage: every dependency (TypeScript, Vite) to compile dist/ and the console.
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# No install scripts: the root `prepare` would build before the sources are here, and no
# dependency needs its own script to build (the one that has one, esbuild, only checks itself).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY server ./server
COPY schema ./schema
COPY broker ./broker
COPY clients ./clients
COPY console ./console
RUN npm run build

# Production dependencies only, installed apart so no build tool reaches the runtime image.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# Runtime stage: node, tini, the production dependencies and the compiled output, all owned
# by root and read-only to the broker's user, so the root filesystem can be mounted read-only.
FROM ${NODE_IMAGE} AS runtime
# tini as PID 1 forwards SIGTERM to the broker and reaps what stdio upstream servers leave behind.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    PORTCULLIS_CONFIG=/etc/portcullis/portcullis.yaml
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY bin ./bin
# The node image's unprivileged user, by number so Kubernetes can check runAsNonRoot.
USER 1000:1000
# server.port in the configuration must be 8080 and server.host 0.0.0.0 (docs/deploy.md).
EXPOSE 8080
# /healthz answers while the process runs; readiness (/readyz) is the load balancer's to check.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM starts the broker's drain: /readyz turns 503, WebSockets close with 1001,
# in-flight requests finish, then the stores close (at most 10 s, server/main.ts).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/bin/portcullis.js"]
CMD ["serve"]
