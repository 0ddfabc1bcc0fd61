#!/usr/bin/env bash
# Runs the generated clients' tests against a REAL router (run by .ci/run):
#   1. unit tests of the webhook helpers (TypeScript: node --test; Python: pytest);
#   2. a fresh database, `router-api migrate`, an admin key, then router-api serve, router-worker
#      and the sandbox Graph API (fake-graph) on free loopback ports;
#   3. the integration tests (clients/typescript/test/integration.test.ts,
#      clients/python/tests/test_integration.py): through the generated clients they create a
#      merchant and a test key, connect a sandbox account whose CRM URL is a receiver the test
#      starts, send a message, read its status, list messages, and verify the webhooks
#      router-worker delivers (before and during a secret rotation) with each client's helper;
#   4. stops everything and drops the database.
# Tools are installed like scripts/gen-clients.sh does (npm ci; pip into clients/.venv).
# CAPTURE_WEBHOOKS=<file> makes the tests append every delivery they receive to that file (JSON
# lines), the source of the captured vectors in clients/testdata/webhook-vectors.json.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
# shellcheck source=scripts/lib/services.sh
source scripts/lib/services.sh
ensure_services

TS="$ROOT/clients/typescript"
VENV="$ROOT/clients/.venv"
if [ ! -d "$TS/node_modules/openapi-fetch" ] || [ "$TS/package-lock.json" -nt "$TS/node_modules/.package-lock.json" ]; then
  log "installing pinned npm packages (npm ci in clients/typescript)"
  (cd "$TS" && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ ! -x "$VENV/bin/pytest" ] || [ "$ROOT/clients/requirements-tools.txt" -nt "$VENV/.installed" ]; then
  log "installing pinned Python packages into clients/.venv"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/clients/requirements-tools.txt"
  touch "$VENV/.installed"
fi
export PYTHONPATH="$ROOT/clients/python"
mkdir -p "$RUN_DIR"

log "webhook helper unit tests"
(cd "$TS" && npm run --silent build && node --test dist/test/webhooks.test.js) >"$RUN_DIR/clients-ts-unit.log" 2>&1 \
  || { cat "$RUN_DIR/clients-ts-unit.log"; die "TypeScript unit tests failed"; }
"$VENV/bin/pytest" -q -p no:cacheprovider clients/python/tests/test_webhooks.py

if [ -z "${BIN_DIR:-}" ]; then
  log "building router-api, router-worker, fake-graph"
  cargo build --quiet -p router-api -p router-worker -p router-fakes --bins
  BIN_DIR=target/debug
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rand() { head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c "$1"; }
DB="clients_test_$$_$(rand 6 | tr 'A-Z' 'a-z')"
API_PORT=$(free_port); GRAPH_PORT=$(free_port); WORKER_PORT=$(free_port)
mkdir -p "$RUN_DIR"
LOGS="$RUN_DIR/clients-test"; mkdir -p "$LOGS"

export DATABASE_URL="postgres://postgres@$PG_HOST:$PG_PORT/$DB"
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT" REDIS_KEY_PREFIX="router:clients-test:$DB:"
export ENCRYPTION_KEY="1:$(head -c 32 /dev/urandom | base64)" API_KEY_SALT="$(rand 48)"
export META_APP_ID=1234567890 IG_APP_SECRET="$(rand 32)" SANDBOX_IG_APP_SECRET="$(rand 32)" META_VERIFY_TOKEN="$(rand 24)"
export GRAPH_API_VERSION=v24.0 SANDBOX_GRAPH_API_BASE_URL="http://127.0.0.1:$GRAPH_PORT"
export API_BASE_URL="http://127.0.0.1:$API_PORT" PORT="$API_PORT" WORKER_METRICS_PORT="$WORKER_PORT"
export ROUTER_ENV=development LOG_FORMAT=json
unset GRAPH_API_BASE_URL

PIDS=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -qc "drop database if exists $DB with (force)" >/dev/null 2>&1 || true
  if [ "$rc" != 0 ]; then
    for f in api worker fake-graph; do echo "--- $f.log (last 30 lines)" >&2; tail -30 "$LOGS/$f.log" >&2 || true; done
  fi
  exit "$rc"
}
trap cleanup EXIT INT TERM

log "database $DB, router on :$API_PORT, sandbox Graph API on :$GRAPH_PORT"
psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -qc "create database $DB" >/dev/null
"$BIN_DIR/router-api" migrate >"$LOGS/migrate.log" 2>&1
ADMIN_KEY="$("$BIN_DIR/router-api" create-admin-key --name clients-test)"

env -u IG_APP_SECRET FAKE_GRAPH_PORT="$GRAPH_PORT" FAKE_GRAPH_APP_SECRET="$SANDBOX_IG_APP_SECRET" \
  "$BIN_DIR/fake-graph" >"$LOGS/fake-graph.log" 2>&1 & PIDS+=($!)
"$BIN_DIR/router-api" serve >"$LOGS/api.log" 2>&1 & PIDS+=($!)
"$BIN_DIR/router-worker" >"$LOGS/worker.log" 2>&1 & PIDS+=($!)
for _ in $(seq 1 120); do
  curl -fsS "http://127.0.0.1:$API_PORT/readyz" >/dev/null 2>&1 && curl -fsS -o /dev/null "http://127.0.0.1:$GRAPH_PORT/_fake/sent" 2>/dev/null && break
  sleep 0.25
done
curl -fsS "http://127.0.0.1:$API_PORT/readyz" >/dev/null || die "router-api did not become ready"

export ROUTER_URL="http://127.0.0.1:$API_PORT" ROUTER_ADMIN_KEY="$ADMIN_KEY" FAKE_GRAPH_URL="http://127.0.0.1:$GRAPH_PORT"
log "TypeScript client against the router"
(cd "$TS" && node --test --test-timeout=60000 dist/test/integration.test.js)
log "Python client against the router"
"$VENV/bin/pytest" -q -p no:cacheprovider clients/python/tests/test_integration.py
log "client tests passed"
