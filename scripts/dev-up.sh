#!/usr/bin/env bash
# Starts the whole router locally in the foreground: Postgres and Redis on loopback (started from
# installed binaries when none run), migrations, the fake Graph API as a sandbox (with its customer
# simulator page), router-api (with the admin console at /admin), router-worker, router-scheduler
# and a demo CRM on 127.0.0.1:9999 that is wired to the sandbox account. Every server listens on
# 127.0.0.1 only. Ctrl-C stops everything it started (not Postgres/Redis).
#
# Configuration is generated once into .run/dev.env (random development secrets; edit freely).
# The fake Graph API serves the sandbox only (accounts connected with router_test_ keys); live
# accounts keep Meta's hosts, so the live IG_APP_SECRET never reaches the fake.
# Logs go to .run/*.log. The platform admin key is printed once and kept in .run/admin-key; the demo
# CRM's merchant, test key and signing secret are kept in .run/demo-crm.json.
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
# Development servers listen on loopback only (containers use the default, 0.0.0.0).
export BIND_ADDRESS=127.0.0.1
# The sandbox signs with its own secret, never the live IG_APP_SECRET (its inbound simulator signs
# whatever it is asked to); the router accepts that signature for sandbox accounts only.
export FAKE_GRAPH_PORT=10010 FAKE_GRAPH_APP_SECRET="$SANDBOX_IG_APP_SECRET"
export FAKE_GRAPH_INBOUND_TARGET="http://127.0.0.1:$PORT/webhooks/instagram"

log "building (cargo's progress below; a first build takes 5–20 minutes, depending on the machine)"
cargo build --workspace --bins
BIN=target/debug

log "applying migrations"
# Also checks ENCRYPTION_KEY / API_KEY_SALT against the database (another clone's .run/dev.env on
# the same database name is refused here, with what to do).
"$BIN/router-api" migrate || die "migrations failed (see above)"

PIDS=()
NAMES=()
cleanup() {
  trap - INT TERM EXIT
  if [ "${#PIDS[@]}" -gt 0 ]; then
    log "stopping"
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
  fi
}
# Ctrl-C (or TERM) is the normal way to stop: stop the children and exit 0, quietly.
on_signal() { cleanup; log "stopped"; exit 0; }
trap on_signal INT TERM
trap cleanup EXIT
start() { local name=$1; shift; "$@" >"$RUN_DIR/$name.log" 2>&1 & PIDS+=($!); NAMES+=("$name"); }

start fake-graph env -u IG_APP_SECRET "$BIN/fake-graph"
start api "$BIN/router-api" serve
start worker "$BIN/router-worker"
start scheduler "$BIN/router-scheduler"

for _ in $(seq 1 60); do
  if curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; then break; fi
  sleep 0.5
done
curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null || { tail -20 "$RUN_DIR/api.log"; die "router-api did not become ready"; }

if [ ! -s "$RUN_DIR/admin-key" ]; then
  (umask 077; "$BIN/router-api" create-admin-key --name dev-admin > "$RUN_DIR/admin-key")
  log "platform admin key (also in .run/admin-key): $(cat "$RUN_DIR/admin-key")"
fi
# The demo CRM wires the sandbox itself (merchant "Demo shop", a router_test_ key, the sandbox
# account connected with a fresh sandbox token and the CRM's URL and secret), then serves.
start demo-crm env -u IG_APP_SECRET ADMIN_KEY_FILE="$RUN_DIR/admin-key" DEMO_CRM_STATE="$RUN_DIR/demo-crm.json" \
  ROUTER_URL="http://127.0.0.1:$PORT" SANDBOX_GRAPH_URL="http://127.0.0.1:$FAKE_GRAPH_PORT" "$BIN/demo-crm"
for _ in $(seq 1 60); do
  if grep -q '^demo-crm: ' "$RUN_DIR/demo-crm.log" 2>/dev/null; then break; fi
  if ! kill -0 "${PIDS[-1]}" 2>/dev/null; then tail -20 "$RUN_DIR/demo-crm.log"; die "the demo CRM could not wire the sandbox"; fi
  sleep 0.5
done
cat >&2 <<MSG

Message Router is running on 127.0.0.1 (Ctrl-C to stop):
  admin console  http://127.0.0.1:$PORT/admin     (sign in with the key in .run/admin-key)
  demo CRM       http://127.0.0.1:9999/           (wired to the sandbox account; its key: .run/demo-crm.json)
  customer       http://127.0.0.1:$FAKE_GRAPH_PORT/          (sandbox customer simulator: DMs, reads, reactions, postbacks)
  API            http://127.0.0.1:$PORT/api/v1    (Swagger UI: http://127.0.0.1:$PORT/docs/)
  metrics        http://127.0.0.1:$PORT/metrics, :$WORKER_METRICS_PORT/metrics (worker), :$SCHEDULER_METRICS_PORT/metrics (scheduler)
  logs           .run/{api,worker,scheduler,fake-graph,demo-crm}.log
MSG
# Here only when a process stops by itself (Ctrl-C exits through on_signal).
status=0
wait -n "${PIDS[@]}" || status=$?
for i in "${!PIDS[@]}"; do
  if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
    log "${NAMES[$i]} exited (status $status); last lines of .run/${NAMES[$i]}.log:"
    tail -15 "$RUN_DIR/${NAMES[$i]}.log" >&2 || true
  fi
done
exit 1
