# syntax=docker/dockerfile:1
# One Vigil service as a container image: `docker build -f infra/docker/service.Dockerfile
# --build-arg SERVICE=heartbeat -t vigil/heartbeat .` (SERVICE: heartbeat, state-sync,
# backup-orchestrator, notifier). One file for the four: they share the workspace, its lockfile and
# every build step, and differ only in the entry point, so four copies would drift apart.
# Stage 1 builds the workspace and prunes it to production dependencies; stage 2 is the runtime:
# the slim Node image, no compiler, no sources, running as the unprivileged `node` user.

ARG NODE_IMAGE=node:20.19-bookworm-slim

FROM ${NODE_IMAGE} AS build
ARG SERVICE
WORKDIR /src
COPY . .
RUN test -n "$SERVICE" && test -d "services/$SERVICE" \
    || { echo "--build-arg SERVICE=<heartbeat|state-sync|backup-orchestrator|notifier> is required" >&2; exit 1; }
RUN npm ci --no-audit --no-fund --loglevel=error
RUN npx tsc -b "services/$SERVICE"
RUN npm prune --omit=dev --no-audit --no-fund --loglevel=error \
    && rm -rf tools test bench infra libs/*/src services/*/src \
    && find services -mindepth 1 -maxdepth 1 ! -name "$SERVICE" -exec rm -rf {} +

FROM ${NODE_IMAGE}
ARG SERVICE
# V8 flags of the service (state-sync: --max-old-space-size=192 keeps its RSS under 300 MB under
# any backlog, see README "How state-sync keeps up").
ARG NODE_FLAGS=""
ENV NODE_ENV=production \
    NODE_FLAGS=${NODE_FLAGS} \
    SERVICE_ENTRY=services/${SERVICE}/dist/main.js \
    HTTP_HOST=0.0.0.0 \
    HTTP_PORT=3000
WORKDIR /app
COPY --from=build --chown=node:node /src /app
USER node
EXPOSE 3000
# Ready means Kafka, the registry and Redis answer and any restore has finished (/health/ready).
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:'+process.env.HTTP_PORT+'/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# sh only expands the entry and execs node, so node is PID 1 and receives `docker stop`'s SIGTERM
# itself: the service stops consuming, commits and exits within SHUTDOWN_TIMEOUT_MS.
CMD ["sh", "-c", "exec node $NODE_FLAGS \"$SERVICE_ENTRY\""]
