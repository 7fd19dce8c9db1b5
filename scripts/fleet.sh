#!/usr/bin/env bash
# A whole mentorapi fleet on this machine, from deploy/'s configs: PgBouncer (transaction mode),
# HAProxy on a free port in front of two `mentorapi serve` processes (two ports standing in for
# two hosts) and two `mentorapi worker` processes, all on a fresh PostgreSQL database on
# 127.0.0.1:5432 (trust auth). Every process is a child of this script, with its config and log
# in a temporary directory; on exit (Ctrl-C, an error, the end of the tests) all of them stop
# and the database is dropped.
#
#   scripts/fleet.sh        start, print the balancer's URL and an API key, run until Ctrl-C
#   scripts/fleet.sh test   start, run tests/fleet/blackbox against the balancer, stop
#
# MENTORAPI and PYTHON name the commands to use (the Makefile passes its virtualenv's).
# FLEET_DATABASE names an existing database to serve instead (migrated, kept at exit, no API key
# created: `python -m bench --fleet` serves its seeded one); FLEET_WORKERS how many
# `mentorapi worker` processes to start (2); FLEET_POOL_MODE=session runs PgBouncer in session
# mode with the statement cache on (a reference for the bench: what re-planning every
# statement costs behind PgBouncer < 1.21 in transaction mode).
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${1:-run}
MENTORAPI=${MENTORAPI:-.venv/bin/mentorapi}
PYTHON=${PYTHON:-.venv/bin/python}
PGBOUNCER=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
for binary in "$PGBOUNCER" "$HAPROXY"; do
  [ -x "$binary" ] || { echo "fleet: $binary missing (apt-get install -y pgbouncer haproxy)" >&2; exit 1; }
done
pg_isready -h 127.0.0.1 -p 5432 -q || { echo "fleet: no PostgreSQL on 127.0.0.1:5432" >&2; exit 1; }

WORK=$(mktemp -d /tmp/mentorapi-fleet-XXXXXX)
chmod 755 "$WORK"  # PgBouncer runs as postgres when we are root, and reads its files here
DB=${FLEET_DATABASE:-"mentorapi_fleet_$$"}
WORKERS=${FLEET_WORKERS:-2}
POOL_MODE=${FLEET_POOL_MODE:-transaction}
PIDS=()

stop() {
  local status=$?
  trap - EXIT INT TERM
  # Reverse order: API processes and workers before the pooler and the database under them.
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill -TERM "${PIDS[i]}" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  [ -n "${FLEET_DATABASE:-}" ] || dropdb -h 127.0.0.1 -U postgres --if-exists --force "$DB" 2>/dev/null || true
  if [ "$status" -ne 0 ] && [ "$MODE" = test ]; then
    for log in "$WORK"/*.log; do echo "--- $log (last lines)"; tail -n 20 "$log"; done >&2
  fi
  rm -rf "$WORK"
  exit "$status"
}
trap stop EXIT
trap 'exit 130' INT TERM

free_port() { "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

until_ready() {  # url name pid: poll until 200, fail if the process died
  for _ in $(seq 1 300); do
    kill -0 "$3" 2>/dev/null || { echo "fleet: $2 exited" >&2; tail -n 30 "$WORK/$2.log" >&2; return 1; }
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "fleet: $2 not ready at $1" >&2; return 1
}

start() {  # name command...: a child process, its output in $WORK/name.log
  local name=$1; shift
  "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=("$!")
}

# The database, migrated straight on PostgreSQL (DDL needs a session of its own).
[ -n "${FLEET_DATABASE:-}" ] || createdb -h 127.0.0.1 -U postgres "$DB"
DIRECT_URL="postgresql+asyncpg://postgres@127.0.0.1:5432/$DB"

# PgBouncer from deploy/pgbouncer.ini: its port, user list and logs moved into $WORK.
PGB_PORT=$(free_port)
echo '"postgres" ""' >"$WORK/userlist.txt"
sed -e "s|^listen_port = .*|listen_port = $PGB_PORT|" \
    -e "s|^auth_file = .*|auth_file = $WORK/userlist.txt|" \
    -e "s|^pool_mode = .*|pool_mode = $POOL_MODE|" \
    deploy/pgbouncer.ini >"$WORK/pgbouncer.ini"
version=$("$PGBOUNCER" --version | sed -n 's/.*PgBouncer \([0-9]*\)\.\([0-9]*\).*/\1 \2/p' | head -n 1)
read -r major minor <<<"$version"
if [ "$major" -gt 1 ] || [ "$minor" -ge 21 ]; then
  echo "max_prepared_statements = 200" >>"$WORK/pgbouncer.ini"
  STATEMENT_CACHE=true
elif [ "$POOL_MODE" = session ]; then
  STATEMENT_CACHE=true  # a client keeps its server connection, and its prepared statements
else
  STATEMENT_CACHE=false  # Debian 12's 1.18: see deploy/pgbouncer.ini
fi
chmod 644 "$WORK"/userlist.txt "$WORK"/pgbouncer.ini
pgbouncer_command=("$PGBOUNCER" "$WORK/pgbouncer.ini")
[ "$(id -u)" -eq 0 ] && pgbouncer_command=("$PGBOUNCER" -u postgres "$WORK/pgbouncer.ini")  # it refuses root
start pgbouncer "${pgbouncer_command[@]}"
for _ in $(seq 1 100); do pg_isready -h 127.0.0.1 -p "$PGB_PORT" -U postgres -q && break; sleep 0.1; done

export MENTORAPI_DATABASE_URL="postgresql+asyncpg://postgres@127.0.0.1:$PGB_PORT/$DB"
export MENTORAPI_DIRECT_DATABASE_URL="$DIRECT_URL"
export MENTORAPI_DATABASE_STATEMENT_CACHE=$STATEMENT_CACHE
# Each process's pool: two API processes and two workers share PgBouncer's server connections.
export MENTORAPI_DB_POOL_SIZE=${MENTORAPI_DB_POOL_SIZE:-10}
if [ "$MODE" = test ]; then
  # A member limit the tests can exhaust quickly; webhooks to the tests' loopback receiver.
  export MENTORAPI_RATE_LIMIT_MEMBER_PER_WINDOW=20
  export MENTORAPI_WEBHOOK_ALLOW_PRIVATE_URLS=true
  export MENTORAPI_WEBHOOK_RETRY_SCHEDULE=1,1,1
  # A killed worker's deliveries are sent again within seconds (the lease stays above the timeout).
  export MENTORAPI_WEBHOOK_TIMEOUT_SECONDS=${MENTORAPI_WEBHOOK_TIMEOUT_SECONDS:-2}
  export MENTORAPI_WEBHOOK_LEASE_SECONDS=${MENTORAPI_WEBHOOK_LEASE_SECONDS:-4}
fi

"$MENTORAPI" migrate 2>"$WORK/migrate.log" || { cat "$WORK/migrate.log" >&2; exit 1; }
KEY="(the database's own)"
[ -n "${FLEET_DATABASE:-}" ] || KEY=$("$MENTORAPI" apps create fleet | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["api_key"])')

API1=$(free_port); API2=$(free_port); LB=$(free_port)
# Webhooks are the dedicated workers' job: the API processes only answer requests.
export MENTORAPI_WEBHOOK_WORKER_ENABLED=false
start api1 "$MENTORAPI" serve --host 127.0.0.1 --port "$API1" --workers 1
start api2 "$MENTORAPI" serve --host 127.0.0.1 --port "$API2" --workers 1
unset MENTORAPI_WEBHOOK_WORKER_ENABLED
WORKER_PIDS=()
for n in $(seq 1 "$WORKERS"); do start "worker$n" "$MENTORAPI" worker; WORKER_PIDS+=("${PIDS[-1]}"); done
until_ready "http://127.0.0.1:$API1/readyz" api1 "${PIDS[1]}"
until_ready "http://127.0.0.1:$API2/readyz" api2 "${PIDS[2]}"

MENTORAPI_LB_BIND="127.0.0.1:$LB" MENTORAPI_API1="127.0.0.1:$API1" MENTORAPI_API2="127.0.0.1:$API2" \
  start haproxy "$HAPROXY" -db -f deploy/haproxy.cfg
until_ready "http://127.0.0.1:$LB/readyz" haproxy "${PIDS[-1]}"
# Both servers up in HAProxy's health checks (rise 2 at 2 s) before a test counts on both.
for _ in $(seq 1 100); do
  seen=$(for _ in 1 2 3 4; do curl -fsS -D - -o /dev/null "http://127.0.0.1:$LB/healthz" | tr -d '\r' | sed -n 's/^x-served-by: //Ip'; done | sort -u | wc -l)
  [ "$seen" -ge 2 ] && break
  sleep 0.1
done

URL="http://127.0.0.1:$LB"
if [ "$MODE" = test ]; then
  MENTORAPI_FLEET_URL="$URL" MENTORAPI_FLEET_KEY="$KEY" MENTORAPI_FLEET_DIRECT_DATABASE_URL="$DIRECT_URL" \
    MENTORAPI_FLEET_MEMBER_LIMIT="$MENTORAPI_RATE_LIMIT_MEMBER_PER_WINDOW" \
    MENTORAPI_FLEET_WORKER_PIDS="${WORKER_PIDS[*]}" \
    "$PYTHON" -m pytest -c tests/fleet/blackbox/pytest.ini tests/fleet/blackbox -p no:cacheprovider "${@:2}"
else
  cat <<MSG

  mentorapi fleet ready (PgBouncer :$PGB_PORT in $POOL_MODE mode, API :$API1 and :$API2, $WORKERS workers, database $DB)
  Balancer: $URL
  API key:  $KEY
  try:      curl -i -H 'Authorization: Bearer $KEY' $URL/v1/mentors
  logs:     $WORK/*.log
  Ctrl-C stops everything.

MSG
  # Until Ctrl-C (which reaches every child too) or until any child exits on its own.
  wait -n "${PIDS[@]}" || true
  echo "fleet: stopping" >&2
fi
