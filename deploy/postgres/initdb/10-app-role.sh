#!/usr/bin/env bash
# Run by the postgres image at the first start of an empty data volume: creates the API's login
# role `router_api` (deploy/postgres/app-role.sql) with the password POSTGRES_APP_PASSWORD.
set -euo pipefail
: "${POSTGRES_APP_PASSWORD:?set POSTGRES_APP_PASSWORD}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v app_password="$POSTGRES_APP_PASSWORD" -f /router/app-role.sql
