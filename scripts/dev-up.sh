#!/usr/bin/env bash
# Starts the whole router locally in the foreground: Postgres and Redis on loopback (started from
# installed binaries when none run), migrations, the fake Graph API as a sandbox, router-api,
# router-worker and router-scheduler. Ctrl-C stops everything it started (not Postgres/Redis).
#
# Configuration is generated once into .run/dev.env (random development secrets; edit freely).
# The fake Graph API serves the sandbox only (accounts connected with router_test_ keys); live
# accounts keep Meta's hosts, so the live IG_APP_SECRET never reaches the fake.
# Logs go to .run/*.log. The platform admin key is printed once and kept in .run/admin-key.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/services.sh
source scripts/lib/services.sh
ensure_services
mkdir -p "$RUN_DIR"

DB_NAME="${DB_NAME:-message_router}"
if ! psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -tAc "select 1 from pg_database where datname = '$DB_NAME'" | grep -q 1; then
  log "creating database $DB_NAME"
  psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -qc "create database $DB_NAME" >/dev/null
fi

ENV_FILE="$RUN_DIR/dev.env"
if [ ! -f "$ENV_FILE" ]; then
  log "writing development configuration to $ENV_FILE"
  rand() { head -c "$1" /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c "$2"; }
  umask 077
  cat > "$ENV_FILE" <<ENV
DATABASE_URL=postgres://postgres@$PG_HOST:$PG_PORT/$DB_NAME
REDIS_URL=redis://127.0.0.1:$REDIS_PORT
REDIS_KEY_PREFIX=router:dev:
ENCRYPTION_KEY=1:$(head -c 32 /dev/urandom | base64)
API_KEY_SALT=$(rand 64 48)
META_APP_ID=1234567890
IG_APP_SECRET=$(rand 48 32)
SANDBOX_IG_APP_SECRET=$(rand 48 32)
META_VERIFY_TOKEN=$(rand 48 24)
GRAPH_API_VERSION=v24.0
SANDBOX_GRAPH_API_BASE_URL=http://127.0.0.1:10010
API_BASE_URL=http://127.0.0.1:10000
PORT=10000
WORKER_METRICS_PORT=10001
SCHEDULER_METRICS_PORT=10002
ROUTER_ENV=development
LOG_FORMAT=pretty
ENV
fi
# Configurations written before the sandbox had its own secret get one now.
if ! grep -q '^SANDBOX_IG_APP_SECRET=' "$ENV_FILE"; then
  echo "SANDBOX_IG_APP_SECRET=$(head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32)" >> "$ENV_FILE"
fi
set -a
# shellcheck disable=SC1090
source "$ENV_FILE"
set +a
# The sandbox signs with its own secret, never the live IG_APP_SECRET (its inbound simulator signs
# whatever it is asked to); the router accepts that signature for sandbox accounts only.
export FAKE_GRAPH_PORT=10010 FAKE_GRAPH_APP_SECRET="$SANDBOX_IG_APP_SECRET"

log "building (first build takes a few minutes)"
cargo build --workspace --bins --quiet
BIN=target/debug

log "applying migrations"
"$BIN/router-api" migrate

PIDS=()
cleanup() {
  trap - INT TERM EXIT
  log "stopping"
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

env -u IG_APP_SECRET "$BIN/fake-graph" >"$RUN_DIR/fake-graph.log" 2>&1 & PIDS+=($!)
"$BIN/router-api" serve >"$RUN_DIR/api.log" 2>&1 & PIDS+=($!)
"$BIN/router-worker" >"$RUN_DIR/worker.log" 2>&1 & PIDS+=($!)
"$BIN/router-scheduler" >"$RUN_DIR/scheduler.log" 2>&1 & PIDS+=($!)

for _ in $(seq 1 60); do
  if curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; then break; fi
  sleep 0.5
done
curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null || { tail -20 "$RUN_DIR/api.log"; die "router-api did not become ready"; }

if [ ! -s "$RUN_DIR/admin-key" ]; then
  (umask 077; "$BIN/router-api" create-admin-key --name dev-admin > "$RUN_DIR/admin-key")
  log "platform admin key (also in .run/admin-key): $(cat "$RUN_DIR/admin-key")"
fi
SANDBOX_TOKEN="$(grep -o 'access token: .*' "$RUN_DIR/fake-graph.log" | head -1 | cut -d' ' -f3)"
cat >&2 <<MSG

Message Router is running (Ctrl-C to stop):
  API            http://127.0.0.1:$PORT          (Swagger UI: http://127.0.0.1:$PORT/docs/)
  worker         http://127.0.0.1:$WORKER_METRICS_PORT/metrics
  scheduler      http://127.0.0.1:$SCHEDULER_METRICS_PORT/metrics
  sandbox Graph  http://127.0.0.1:10010          (account 17841400000000001, token ${SANDBOX_TOKEN:-see .run/fake-graph.log})
  logs           .run/{api,worker,scheduler,fake-graph}.log
  admin key      .run/admin-key
MSG
wait -n "${PIDS[@]}" || true
log "a process exited; see .run/*.log"
