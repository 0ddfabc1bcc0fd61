#!/usr/bin/env bash
# Property-tests the running API against its own OpenAPI document with Schemathesis: every
# check, a fixed seed, the examples/coverage/fuzzing/stateful phases within a few minutes.
#
# Starts its own router (a fresh database, the fake Graph API as the sandbox, router-api on a
# spare port), makes a platform admin key, a merchant and a `router_test_` merchant key with
# every scope, and runs Schemathesis with that key. Fails when Schemathesis finds anything, and
# when it prints a "Schema validation mismatch" warning (the API rejecting data the document
# says is valid). Schemathesis is installed, pinned, into .venv/ inside the repository.
#
#   scripts/schemathesis.sh                 # the CI run
#   ST_MAX_EXAMPLES=200 scripts/schemathesis.sh --phases=fuzzing   # extra arguments go to `st run`
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/services.sh
source scripts/lib/services.sh
ensure_services

SCHEMATHESIS_VERSION=4.32.5
VENV=.venv
if ! "$VENV/bin/st" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  log "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

cargo build --quiet -p router-api -p router-worker -p router-fakes --bins
BIN=target/debug

API_PORT="${ST_API_PORT:-18000}"
GRAPH_PORT="${ST_GRAPH_PORT:-18010}"
DB_NAME="router_schemathesis_$$"
rand() { head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32; }
export DATABASE_URL="postgres://postgres@$PG_HOST:$PG_PORT/$DB_NAME"
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT" REDIS_KEY_PREFIX="router:st$$:"
export ENCRYPTION_KEY="1:$(head -c 32 /dev/urandom | base64)" API_KEY_SALT="$(rand)$(rand)"
export META_APP_ID=1234567890 IG_APP_SECRET="$(rand)" SANDBOX_IG_APP_SECRET="$(rand)" META_VERIFY_TOKEN="$(rand)"
export GRAPH_API_VERSION=v24.0 SANDBOX_GRAPH_API_BASE_URL="http://127.0.0.1:$GRAPH_PORT"
export API_BASE_URL="http://127.0.0.1:$API_PORT" PORT="$API_PORT" ROUTER_ENV=development LOG_FORMAT=json
export API_RATE_LIMIT_PER_MINUTE=10000000 RUST_LOG="${RUST_LOG:-warn}"
export FAKE_GRAPH_PORT="$GRAPH_PORT" FAKE_GRAPH_APP_SECRET="$SANDBOX_IG_APP_SECRET"

mkdir -p "$RUN_DIR"
PIDS=()
cleanup() {
  trap - INT TERM EXIT
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -qc "drop database if exists $DB_NAME with (force)" >/dev/null 2>&1 || true
}
trap cleanup INT TERM EXIT

psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -qc "create database $DB_NAME" >/dev/null
"$BIN/router-api" migrate >/dev/null
env -u IG_APP_SECRET "$BIN/fake-graph" >"$RUN_DIR/st-fake-graph.log" 2>&1 & PIDS+=($!)
"$BIN/router-api" serve >"$RUN_DIR/st-api.log" 2>&1 & PIDS+=($!)
for _ in $(seq 1 60); do
  curl -fsS "http://127.0.0.1:$API_PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -fsS "http://127.0.0.1:$API_PORT/readyz" >/dev/null || die "router-api did not start (see $RUN_DIR/st-api.log)"

ADMIN_KEY="$("$BIN/router-api" create-admin-key --name schemathesis 2>/dev/null)"
api() { curl -fsS -H "Authorization: Bearer $ADMIN_KEY" -H 'Content-Type: application/json' "$@"; }
MERCHANT_ID="$(api -d '{"name":"Schemathesis"}' "http://127.0.0.1:$API_PORT/api/v1/admin/merchants" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["merchant_id"])')"
MERCHANT_KEY="$(api -d '{"name":"schemathesis","environment":"test","scopes":["messages:send","messages:read","accounts:read","accounts:write"]}' \
  "http://127.0.0.1:$API_PORT/api/v1/admin/merchants/$MERCHANT_ID/api-keys" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')"

# Test data no schema can describe, supplied through schemathesis.toml (its `${ST_*}` parameters
# and headers, the dictionary file) and scripts/schemathesis_hooks.py: ids, keys and signatures
# that exist only at run time.
# - ST_MERCHANT_KEY (every merchant operation) and ST_ADMIN_KEY (the admin-only ones).
# - ST_ACCOUNT_ID: a connected sandbox account whose customer ST_RECIPIENT_ID has just written
#   (an inbound event, so its messaging window is open): sends and conversation lists reach their
#   logic instead of a 404 or a closed window. Its CRM answers 401, so the event's delivery is a
#   dead letter after a short worker run: the delivery and DLQ operations have one to act on.
# - ST_DLQ_WEBHOOK_ID (that dead letter's webhook-id, for the redrive) and ST_MESSAGE_ID (one
#   accepted send, for the status operation).
# - ST_SPARE_ACCOUNT_ID: the account that update and delete operate on, so they cannot take
#   ST_ACCOUNT_ID away from the sends.
# - ST_NEW_IG_ID / ST_NEW_IG_TOKEN: an Instagram account the sandbox Graph API knows but the router
#   does not, so `POST /accounts` can succeed (once; later attempts are 409 `account_exists`).
# - oauth-states.dict: states issued by `/oauth/instagram/start` (with a `redirect_after`), so the
#   callback is exercised with states this router issued. Each is single-use.
# - META_VERIFY_TOKEN and IG_APP_SECRET (exported above): the subscription handshake's token and
#   the key the hooks sign generated Meta webhook bodies with, as Meta would.
mint() {  # mint IG_ID -> access token of a new sandbox Instagram account
  curl -fsS -H 'Content-Type: application/json' -d "{\"ig_id\":\"$1\",\"username\":\"st_$1\"}" \
    "http://127.0.0.1:$GRAPH_PORT/_fake/accounts" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
merchant() { curl -fsS -H "Authorization: Bearer $MERCHANT_KEY" -H 'Content-Type: application/json' "$@"; }
connect() {  # connect IG_ID -> account_id
  merchant -d "{\"instagram_account_id\":\"$1\",\"username\":\"st_$1\",\"access_token\":\"$(mint "$1")\",
    \"crm_webhook_url\":\"http://127.0.0.1:$CRM_PORT/crm\",\"webhook_secret\":\"$(rand)\"}" \
    "http://127.0.0.1:$API_PORT/api/v1/accounts" | python3 -c 'import json,sys; print(json.load(sys.stdin)["account_id"])'
}
# A CRM that refuses every delivery with 401: the first delivery goes to the DLQ (`auth_error`).
CRM_PORT="${ST_CRM_PORT:-18020}"
python3 -c '
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(401); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()' "$CRM_PORT" & PIDS+=($!)
ST_ACCOUNT_ID="$(connect 17841400000000001)"
ST_SPARE_ACCOUNT_ID="$(connect 17841400000000003)"
ST_RECIPIENT_ID=5550001
NOW_MS="$(($(date +%s) * 1000))"
EVENT="{\"object\":\"instagram\",\"entry\":[{\"id\":\"17841400000000001\",\"time\":$NOW_MS,\"messaging\":[{
  \"sender\":{\"id\":\"$ST_RECIPIENT_ID\"},\"recipient\":{\"id\":\"17841400000000001\"},\"timestamp\":$NOW_MS,
  \"message\":{\"mid\":\"st-mid-1\",\"text\":\"hello\"}}]}]}"
SIG="sha256=$(printf '%s' "$EVENT" | openssl dgst -sha256 -hmac "$SANDBOX_IG_APP_SECRET" -r | cut -d' ' -f1)"
curl -fsS -o /dev/null -H 'Content-Type: application/json' -H "X-Hub-Signature-256: $SIG" --data-binary "$EVENT" \
  "http://127.0.0.1:$API_PORT/webhooks/instagram"
# A worker delivers that event (the CRM refuses it: one dead letter for the DLQ operations), then stops.
"$BIN/router-worker" >"$RUN_DIR/st-worker.log" 2>&1 & WORKER_PID=$!
for _ in $(seq 1 60); do
  api "http://127.0.0.1:$API_PORT/api/v1/admin/dlq/webhooks" | grep -q '"webhook_id"' && break
  sleep 0.5
done
kill -TERM "$WORKER_PID" 2>/dev/null || true; wait "$WORKER_PID" 2>/dev/null || true
api "http://127.0.0.1:$API_PORT/api/v1/admin/dlq/webhooks" | grep -q '"webhook_id"' \
  || die "no dead letter after the worker ran (see $RUN_DIR/st-worker.log)"
ST_DLQ_WEBHOOK_ID="$(api "http://127.0.0.1:$API_PORT/api/v1/admin/dlq/webhooks" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["webhook_id"])')"
# One accepted send, for the status operation.
ST_MESSAGE_ID="$(merchant -d "{\"account_id\":\"$ST_ACCOUNT_ID\",\"recipient_id\":\"$ST_RECIPIENT_ID\",\"message\":\"hi\"}" \
  "http://127.0.0.1:$API_PORT/api/v1/messages/send" | python3 -c 'import json,sys; print(json.load(sys.stdin)["message_id"])')"
# One extra CRM endpoint on the spare account, for the endpoint read, update and delete operations.
ST_ENDPOINT_ID="$(merchant -d "{\"url\":\"http://127.0.0.1:9/crm2\",\"secret\":\"$(rand)\"}" \
  "http://127.0.0.1:$API_PORT/api/v1/accounts/$ST_SPARE_ACCOUNT_ID/endpoints" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["endpoint_id"])')"
ST_NEW_IG_ID=17841400000000002
ST_NEW_IG_TOKEN="$(mint "$ST_NEW_IG_ID")"
export ST_MERCHANT_KEY="$MERCHANT_KEY" ST_ADMIN_KEY="$ADMIN_KEY" ST_ACCOUNT_ID ST_SPARE_ACCOUNT_ID ST_RECIPIENT_ID \
  ST_NEW_IG_ID ST_NEW_IG_TOKEN ST_DLQ_WEBHOOK_ID ST_MESSAGE_ID ST_ENDPOINT_ID
ST_DATA_DIR=target/schemathesis
mkdir -p "$ST_DATA_DIR"
for _ in $(seq 1 300); do
  merchant "http://127.0.0.1:$API_PORT/api/v1/oauth/instagram/start?redirect_after=http%3A%2F%2F127.0.0.1%3A$API_PORT%2Fconnected" \
    | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["state"]))'
done >"$ST_DATA_DIR/oauth-states.dict"

log "running schemathesis $SCHEMATHESIS_VERSION against http://127.0.0.1:$API_PORT"
REPORT="$RUN_DIR/schemathesis.txt"
set +e
SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH="$PWD/scripts" \
"$VENV/bin/st" run "http://127.0.0.1:$API_PORT/openapi.json" \
  --checks all \
  --seed "${ST_SEED:-20240601}" \
  --max-examples "${ST_MAX_EXAMPLES:-25}" \
  --phases "${ST_PHASES:-examples,coverage,fuzzing,stateful}" \
  --request-timeout 10 \
  --no-color \
  "$@" 2>&1 | tee "$REPORT"
status=${PIPESTATUS[0]}
set -e
if grep -qi "schema validation mismatch" "$REPORT"; then
  echo "schemathesis: a 'Schema validation mismatch' warning: the API rejects data its document accepts" >&2
  status=1
fi
exit "$status"
