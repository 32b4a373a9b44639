# syntax=docker/dockerfile:1
# pushgate image: the server compiled to dist/ and the dashboard's static export, on production
# dependencies only. Build: docker build -t pushgate . (see docs/deployment.md)

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: every dependency (TypeScript, Next), then `npm run build` ----
FROM ${NODE_IMAGE} AS build
WORKDIR /app
ENV NEXT_TELEMETRY_DISABLED=1
# Manifests first, so the dependency layer is reused until they change. `npm install` (not
# `npm ci`) honours the lockfile; see docs/deployment.md.
COPY package.json package-lock.json ./
RUN npm install --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY server ./server
COPY dashboard ./dashboard
# tsc -> dist/server/src/main.js, next build -> dashboard/out
RUN npm run build && test -f dist/server/src/main.js && test -f dashboard/out/index.html

# ---- runtime: production dependencies, compiled output, dashboard export ----
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts are needed at runtime; the cache is dropped in the same layer.
RUN npm install --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
# Owned by root and read-only to the service user: the process cannot rewrite its own code.
COPY --from=build /app/dist ./dist
COPY --from=build /app/dashboard/out ./dashboard/out
# `node` (uid 1000) comes with the official image.
USER node
EXPOSE 3000
# Liveness only (the process answers); readiness (/health/ready) is for load balancers.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health/live').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node directly (no npm or shell in between), so SIGTERM reaches it and it drains.
CMD ["node", "dist/server/src/main.js"]
