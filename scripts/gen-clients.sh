#!/usr/bin/env bash
# Regenerates the client libraries under clients/ from the router's OpenAPI document:
#   clients/openapi.json                 the document itself (`router-api openapi`)
#   clients/typescript/src/schema.ts   types, by openapi-typescript (used with openapi-fetch)
#   clients/python/                      a Python package, by openapi-python-client
#   clients/postman/message-router.postman_collection.json, by openapi-to-postmanv2
# Hand-written files are kept: clients/typescript/src/{index,webhooks}.ts and test/, and
# clients/python/message_router_client/webhooks.py and tests/.
#
#   scripts/gen-clients.sh          regenerate (after changing the API), then commit clients/
#   scripts/gen-clients.sh --check  fail if the committed output differs from what the current
#                                   code generates (run by .ci/run)
#
# Tools are pinned and installed on first use: npm ci in clients/typescript (package-lock.json),
# pip into clients/.venv (clients/requirements-tools.txt). Output is deterministic.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
CHECK=0
[ "${1:-}" = "--check" ] && CHECK=1

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# --- tools -------------------------------------------------------------------------------------
TS="$ROOT/clients/typescript"
if [ ! -x "$TS/node_modules/.bin/openapi-typescript" ] || [ "$TS/package-lock.json" -nt "$TS/node_modules/.package-lock.json" ]; then
  log "installing pinned npm tools (npm ci in clients/typescript)"
  (cd "$TS" && npm ci --no-audit --no-fund --loglevel=error)
fi
VENV="$ROOT/clients/.venv"
if [ ! -x "$VENV/bin/openapi-python-client" ] || [ "$ROOT/clients/requirements-tools.txt" -nt "$VENV/.installed" ]; then
  log "installing pinned Python tools into clients/.venv"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/clients/requirements-tools.txt"
  touch "$VENV/.installed"
fi

# --- generate into a scratch tree, then compare or copy --------------------------------------
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
mkdir -p "$OUT/typescript/src" "$OUT/postman"

if [ -n "${ROUTER_API_BIN:-}" ]; then
  "$ROUTER_API_BIN" openapi > "$OUT/openapi.json"
else
  cargo run --quiet -p router-api -- openapi > "$OUT/openapi.json"
fi
# Canonical form (sorted keys) so the committed document diffs cleanly and generation is stable.
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); open(sys.argv[1],"w").write(json.dumps(d, indent=2, sort_keys=True, ensure_ascii=False)+"\n")' "$OUT/openapi.json"

log "openapi-typescript"
"$TS/node_modules/.bin/openapi-typescript" "$OUT/openapi.json" -o "$OUT/typescript/src/schema.ts" --alphabetize >/dev/null 2>&1 \
  || "$TS/node_modules/.bin/openapi-typescript" "$OUT/openapi.json" -o "$OUT/typescript/src/schema.ts" --alphabetize

log "openapi-python-client"
# openapi-python-client turns a validation-only `anyOf`/`dependentSchemas`/`not` next to `properties`
# (e.g. SendMessageRequest: "text, an attachment or images") into clashing union models. The
# Python models only need the shape; the router enforces those rules (422 naming the field), so
# the generator gets a copy without them.
python3 - "$OUT/openapi.json" "$OUT/openapi-python.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
for schema in doc.get("components", {}).get("schemas", {}).values():
    if isinstance(schema, dict) and "properties" in schema:
        schema.pop("anyOf", None)
        schema.pop("dependentSchemas", None)
        schema.pop("not", None)
json.dump(doc, open(sys.argv[2], "w"), indent=2, sort_keys=True, ensure_ascii=False)
PY
(cd "$OUT" && RUFF_NO_CACHE=true PATH="$VENV/bin:$PATH" "$VENV/bin/openapi-python-client" generate --path openapi-python.json \
  --config "$ROOT/clients/python-generator.yaml" --output-path "$OUT/python" --meta pdm >/dev/null)

log "openapi-to-postmanv2"
node "$TS/scripts/postman.cjs" "$OUT/openapi.json" "$OUT/postman/message-router.postman_collection.json"

# --- compare or install -----------------------------------------------------------------------
# Generated paths (relative to clients/); everything else under clients/ is hand-written.
EXCLUDES=(--exclude 'message_router_client/webhooks.py' --exclude 'tests/' --exclude '.pytest_cache/' --exclude '__pycache__/')
if [ "$CHECK" = 1 ]; then
  status=0
  diff -u clients/openapi.json "$OUT/openapi.json" >/dev/null || { echo "clients/openapi.json is stale" >&2; status=1; }
  diff -u clients/typescript/src/schema.ts "$OUT/typescript/src/schema.ts" || status=1
  diff -ru -x webhooks.py -x tests -x .pytest_cache -x __pycache__ clients/python "$OUT/python" || status=1
  diff -u clients/postman/message-router.postman_collection.json "$OUT/postman/message-router.postman_collection.json" >/dev/null \
    || { echo "clients/postman collection is stale" >&2; status=1; }
  if [ "$status" != 0 ]; then
    echo "error: the committed clients do not match the current OpenAPI document; run scripts/gen-clients.sh and commit clients/" >&2
    exit 1
  fi
  log "committed clients match the OpenAPI document"
  exit 0
fi
cp "$OUT/openapi.json" clients/openapi.json
cp "$OUT/typescript/src/schema.ts" clients/typescript/src/schema.ts
rsync -a --delete "${EXCLUDES[@]}" "$OUT/python/" clients/python/
cp "$OUT/postman/message-router.postman_collection.json" clients/postman/
log "clients regenerated; review and commit clients/"
