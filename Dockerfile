# syntax=docker/dockerfile:1
# One image for the four services; the command picks the service:
#   docker run inkstream services/ingest/dist/index.js
# Telemetry (OpenTelemetry, configured by the OTEL_* variables) is preloaded by the entrypoint,
# before the service's own modules, so every service is traced the same way.
# The web console is built by the same turbo build (packages/console/dist, static files) and
# served by the config service at /console.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY . .
RUN npm ci --no-audit --no-fund \
 && npx turbo run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && rm -rf .turbo node_modules/.cache

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
# Workspace packages are linked from node_modules, so the tree is copied as it was built.
COPY --from=build --chown=node:node /app/package.json /app/package-lock.json ./
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/packages ./packages
COPY --from=build --chown=node:node /app/services ./services
# Fail the image build, not the first visit, when the console was not built.
RUN test -f packages/console/dist/index.html
USER node
EXPOSE 8080 8081 8082 8083
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "--enable-source-maps", "--import", "@inkstream/telemetry/register"]
CMD ["services/ingest/dist/index.js"]
