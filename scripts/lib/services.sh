#!/usr/bin/env bash
# Shared by scripts/dev-up.sh, scripts/test.sh and .ci/run: make sure Postgres and Redis answer on
# loopback, starting local ones from installed binaries when none run. Never touches a server that
# is already running. Exports DATABASE_URL-style defaults when unset.

PG_HOST="${PG_HOST:-127.0.0.1}"
PG_PORT="${PG_PORT:-5432}"
REDIS_PORT="${REDIS_PORT:-6379}"
ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUN_DIR="${RUN_DIR:-$ROOT_DIR/.run}"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

pg_up() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h "$PG_HOST" -p "$PG_PORT"
  else
    (exec 3<>"/dev/tcp/$PG_HOST/$PG_PORT") 2>/dev/null
  fi
}

redis_up() {
  if command -v redis-cli >/dev/null 2>&1; then
    [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = "PONG" ]
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT") 2>/dev/null
  fi
}

find_pg_bin() {
  local name=$1
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return; fi
  ls -d /usr/lib/postgresql/*/bin/"$name" 2>/dev/null | sort -V | tail -1
}

wait_for() {
  local what=$1 check=$2
  for _ in $(seq 1 60); do
    if $check; then return 0; fi
    sleep 0.5
  done
  die "$what did not start"
}

ensure_postgres() {
  if pg_up; then return 0; fi
  log "Postgres is not answering on $PG_HOST:$PG_PORT; trying to start one"
  # 1. A Debian cluster that is merely stopped.
  if command -v pg_ctlcluster >/dev/null 2>&1 && ls /etc/postgresql/*/main >/dev/null 2>&1; then
    local ver; ver="$(ls /etc/postgresql | sort -V | tail -1)"
    pg_ctlcluster --skip-systemctl-redirect "$ver" main start 2>/dev/null || true
    if pg_up || { sleep 2; pg_up; }; then return 0; fi
  fi
  # 2. A private cluster under .run/pg (trust auth on loopback only).
  local initdb pgctl; initdb="$(find_pg_bin initdb)"; pgctl="$(find_pg_bin pg_ctl)"
  if [ -n "$initdb" ] && [ -n "$pgctl" ]; then
    mkdir -p "$RUN_DIR"
    local data="$RUN_DIR/pg"
    local as_user=()
    if [ "$(id -u)" = 0 ]; then
      id postgres >/dev/null 2>&1 || die "running as root needs a 'postgres' OS user to own a private cluster"
      as_user=(runuser -u postgres --)
      chown postgres "$RUN_DIR"
    fi
    if [ ! -f "$data/PG_VERSION" ]; then
      "${as_user[@]}" "$initdb" -D "$data" -U postgres --auth=trust >/dev/null
    fi
    "${as_user[@]}" "$pgctl" -D "$data" -l "$RUN_DIR/pg.log" -o "-p $PG_PORT -k /tmp -c listen_addresses=127.0.0.1" start >/dev/null
    wait_for Postgres pg_up
    return 0
  fi
  die "no Postgres on $PG_HOST:$PG_PORT and none installed. Install PostgreSQL 14+ (apt install postgresql) or run: docker compose up -d postgres redis"
}

ensure_redis() {
  if redis_up; then return 0; fi
  log "Redis is not answering on 127.0.0.1:$REDIS_PORT; trying to start one"
  if command -v redis-server >/dev/null 2>&1; then
    mkdir -p "$RUN_DIR"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
      --dir "$RUN_DIR" --logfile "$RUN_DIR/redis.log" >/dev/null
    wait_for Redis redis_up
    return 0
  fi
  die "no Redis on 127.0.0.1:$REDIS_PORT and none installed. Install Redis 6+ (apt install redis-server) or run: docker compose up -d postgres redis"
}

ensure_services() {
  ensure_postgres
  ensure_redis
}
