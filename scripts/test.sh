#!/usr/bin/env bash
# Runs every test of the workspace against real Postgres and Redis on loopback (started here from
# installed binaries when none run). Each test creates its own database and Redis key prefix, so
# tests run in parallel. Extra arguments go to the test runner (e.g. a test name filter).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/services.sh
source scripts/lib/services.sh
ensure_services

export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@$PG_HOST:$PG_PORT/postgres}"
export TEST_REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:$REDIS_PORT}"
# A DATABASE_URL left in the environment must not change which server the tests use.
unset DATABASE_URL REDIS_URL

if cargo nextest --version >/dev/null 2>&1; then
  exec cargo nextest run --workspace --no-fail-fast "$@"
else
  exec cargo test --workspace --no-fail-fast "$@"
fi
