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

cargo build --quiet -p router-api -p router-fakes --bins
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
# and the dictionary file): ids and tokens that exist only at run time.
# - ST_ACCOUNT_ID: a connected sandbox account, so sends and lists reach their logic, not a 404.
# - ST_NEW_IG_ID / ST_NEW_IG_TOKEN: an Instagram account the sandbox Graph API knows but the router
#   does not, so `POST /accounts` can succeed (once; later attempts are 409 `account_exists`).
# - oauth-states.dict: states issued by `/oauth/instagram/start` (with a `redirect_after`), so the
#   callback is exercised with states this router issued. Each is single-use.
mint() {  # mint IG_ID -> access token of a new sandbox Instagram account
  curl -fsS -H 'Content-Type: application/json' -d "{\"ig_id\":\"$1\",\"username\":\"st_$1\"}" \
    "http://127.0.0.1:$GRAPH_PORT/_fake/accounts" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
merchant() { curl -fsS -H "Authorization: Bearer $MERCHANT_KEY" -H 'Content-Type: application/json' "$@"; }
EXISTING_TOKEN="$(mint 17841400000000001)"
ST_ACCOUNT_ID="$(merchant -d "{\"instagram_account_id\":\"17841400000000001\",\"username\":\"st_existing\",
  \"access_token\":\"$EXISTING_TOKEN\",\"crm_webhook_url\":\"http://127.0.0.1:9/crm\",
  \"webhook_secret\":\"$(rand)\"}" "http://127.0.0.1:$API_PORT/api/v1/accounts" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["account_id"])')"
ST_NEW_IG_ID=17841400000000002
ST_NEW_IG_TOKEN="$(mint "$ST_NEW_IG_ID")"
export ST_ACCOUNT_ID ST_NEW_IG_ID ST_NEW_IG_TOKEN
ST_DATA_DIR=target/schemathesis
mkdir -p "$ST_DATA_DIR"
for _ in $(seq 1 300); do
  merchant "http://127.0.0.1:$API_PORT/api/v1/oauth/instagram/start?redirect_after=http%3A%2F%2F127.0.0.1%3A$API_PORT%2Fconnected" \
    | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["state"]))'
done >"$ST_DATA_DIR/oauth-states.dict"

log "running schemathesis $SCHEMATHESIS_VERSION against http://127.0.0.1:$API_PORT"
REPORT="$RUN_DIR/schemathesis.txt"
set +e
"$VENV/bin/st" run "http://127.0.0.1:$API_PORT/openapi.json" \
  --header "Authorization: Bearer $MERCHANT_KEY" \
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
