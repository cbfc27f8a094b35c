# chatd in one container: the CLI, the REST API with the web app, the WebSocket hub and the embedded database
# (FerretDB on SQLite files, launcher built from tools/ferretdb) with all data in /data.
#   docker build -t chatd .
#   docker run -d --name chatd -v chatd-data:/data -p 3000:3000 -p 3001:3001 chatd
# Set MONGODB_URI to use a MongoDB server instead of the embedded database.

# The embedded database launcher: a static Go binary (no cgo: SQLite is the pure-Go driver).
FROM golang:1.26-bookworm AS launcher
WORKDIR /src
COPY tools/ferretdb/go.mod tools/ferretdb/go.sum ./
RUN go mod download
# Every source file of the launcher (its tests are not built into it).
COPY tools/ferretdb/*.go ./
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/chatd-ferretdb .

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY web ./web
RUN npm run build && npm run build:web

# Production dependencies only, without the uWebSockets.js binaries of other platforms and Node
# versions (most of that package's size; dist/ holds copies beside the JS fallback): the image
# keeps the one binary its own Node loads.
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && keep="uws_linux_$(node -p process.arch)_$(node -p process.versions.modules).node" \
 && find node_modules/uWebSockets.js/binaries -name 'uws_*.node' ! -name "$keep" -delete \
 && rm -f node_modules/uWebSockets.js/dist/*.node \
 && test -f "node_modules/uWebSockets.js/binaries/$keep"

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    WS_PORT=3001 \
    CHATD_DATA_DIR=/data \
    CHATD_ENV_FILE=/data/chatd.env
WORKDIR /app
RUN groupadd --system --gid 10001 chatd \
 && useradd --system --uid 10001 --gid chatd --home-dir /app --shell /usr/sbin/nologin chatd \
 && mkdir -p /data && chown chatd:chatd /data && chmod 0700 /data \
 && ln -s /app/bin/chatd /usr/local/bin/chatd
COPY --from=deps /app/node_modules ./node_modules
COPY --from=launcher /out/chatd-ferretdb ./tools/ferretdb/bin/chatd-ferretdb
COPY package.json ./
COPY --from=build /app/dist ./dist
COPY --from=build /app/web/dist ./web/dist
COPY bin ./bin
COPY templates ./templates
COPY docker/entrypoint.sh /usr/local/bin/chatd-entrypoint
COPY docker/healthcheck.mjs /usr/local/bin/chatd-healthcheck
USER chatd
VOLUME ["/data"]
EXPOSE 3000 3001
# Readiness, not liveness: a container whose database stopped answering turns unhealthy.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["chatd-healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["chatd-entrypoint"]
CMD ["serve"]
