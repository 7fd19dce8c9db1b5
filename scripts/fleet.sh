#!/usr/bin/env bash
# A whole mentorapi fleet on this machine, from deploy/'s configs: PgBouncer (transaction mode),
# HAProxy on a free port in front of two `mentorapi serve` processes (two ports standing in for
# two hosts) and two `mentorapi worker` processes, all on a fresh PostgreSQL database on
# 127.0.0.1:5432 (trust auth). Each process has its command, pid and log in a temporary
# directory (the fleet's directory); on exit (Ctrl-C, an error, the end of the tests) all of
# them stop and the database is dropped.
#
#   scripts/fleet.sh                 start, print the balancer's URL and an API key, run until Ctrl-C
#   scripts/fleet.sh test [ARGS]     start, run tests/fleet/blackbox against the balancer, stop
#   scripts/fleet.sh restart NAME... in a running fleet (MENTORAPI_FLEET_DIR=its directory), one
#                                    after the other: SIGTERM, wait for the process to end, start
#                                    it again, wait until it serves (api1, api2: through the
#                                    balancer) -- a rolling restart is `restart api1 api2 worker1 worker2`
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

alive() {  # pid: running (not gone, not a zombie nobody reaped)
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "${state:0:1}" != Z ]
}

launch() {  # name: run its saved command in the background, output appended to its log
  local command
  command=$(cat "$WORK/$1.cmd")
  # exec: the pid is the process's own (a signal to it is not left to a shell in between)
  eval "exec $command" >>"$WORK/$1.log" 2>&1 &
  echo "$!" >"$WORK/$1.pid"
}

served_by() {  # the X-Served-By of a few requests through the balancer, one per line, sorted
  for _ in 1 2 3 4; do
    curl -fsS -D - -o /dev/null "$(cat "$WORK/lb.url")/healthz" 2>/dev/null | tr -d '\r' | sed -n 's/^x-served-by: //Ip'
  done | sort -u
}

until_ready() {  # url name: poll until 200, fail if the process died
  for _ in $(seq 1 300); do
    alive "$(cat "$WORK/$2.pid")" || { echo "fleet: $2 exited" >&2; tail -n 30 "$WORK/$2.log" >&2; return 1; }
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "fleet: $2 not ready at $1" >&2; return 1
}

until_balanced() {  # name...: until the balancer sends requests to each of these API processes
  for _ in $(seq 1 200); do
    local seen missing=0
    seen=$(served_by)
    for name in "$@"; do grep -qx "$name" <<<"$seen" || missing=1; done
    [ "$missing" -eq 0 ] && return 0
    sleep 0.1
  done
  echo "fleet: the balancer does not send requests to $*" >&2; return 1
}

restart() {  # name: SIGTERM, wait for the end, start again, wait until it serves
  local name=$1 pid lines
  [ -f "$WORK/$name.cmd" ] || { echo "fleet: no process named $name" >&2; return 1; }
  touch "$WORK/$name.restarting"  # `make fleet` keeps running while this one is away
  pid=$(cat "$WORK/$name.pid")
  if alive "$pid"; then
    kill -TERM "$pid"
    # Its drain, what is in flight and its shutdown, within MENTORAPI_SHUTDOWN_*; then, a minute
    # on, it is killed.
    for _ in $(seq 1 600); do alive "$pid" || break; sleep 0.05; done
    if alive "$pid"; then echo "fleet: $name still running a minute after SIGTERM: killed" >&2; kill -KILL "$pid"; fi
  fi
  lines=$(wc -l <"$WORK/$name.log")
  launch "$name"
  case $name in
    api*)
      until_ready "$(cat "$WORK/$name.url")/readyz" "$name"
      until_balanced "$name"
      ;;
    worker*)
      for _ in $(seq 1 300); do
        tail -n "+$((lines + 1))" "$WORK/$name.log" | grep -q "webhook worker started" && break
        alive "$(cat "$WORK/$name.pid")" || { echo "fleet: $name exited" >&2; tail -n 30 "$WORK/$name.log" >&2; return 1; }
        sleep 0.1
      done
      ;;
  esac
  rm -f "$WORK/$name.restarting"
  echo "fleet: $name restarted (pid $(cat "$WORK/$name.pid"))" >&2
}

if [ "$MODE" = restart ]; then
  WORK=${MENTORAPI_FLEET_DIR:?"set MENTORAPI_FLEET_DIR to the running fleet's directory (make fleet prints it)"}
  [ -f "$WORK/env.sh" ] || { echo "fleet: no fleet in $WORK" >&2; exit 1; }
  # shellcheck disable=SC1091
  source "$WORK/env.sh"  # the environment the fleet's processes were started with
  for name in "${@:2}"; do restart "$name"; done
  exit 0
fi

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
NAMES=()
worker1_env=()

stop() {
  local status=$?
  trap - EXIT INT TERM
  # Reverse order: API processes and workers before the pooler and the database under them.
  # SIGINT to mentorapi's processes: no drain (nobody is left to balance to).
  for ((i = ${#NAMES[@]} - 1; i >= 0; i--)); do
    local pid signal=TERM
    pid=$(cat "$WORK/${NAMES[i]}.pid" 2>/dev/null) || continue
    case ${NAMES[i]} in api* | worker*) signal=INT ;; esac
    kill "-$signal" "$pid" 2>/dev/null || true
  done
  for name in "${NAMES[@]}"; do
    local pid
    pid=$(cat "$WORK/$name.pid" 2>/dev/null) || continue
    for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.1; done
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

start() {  # name command...: a process of the fleet; `restart` runs the same command again
  local name=$1; shift
  printf '%q ' "$@" >"$WORK/$name.cmd"
  NAMES+=("$name")
  launch "$name"
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
  # A member limit the tests can exhaust quickly, and a key limit their load never reaches;
  # webhooks to the tests' loopback receiver.
  export MENTORAPI_RATE_LIMIT_MEMBER_PER_WINDOW=20
  export MENTORAPI_RATE_LIMIT_PER_WINDOW=1000000
  export MENTORAPI_WEBHOOK_ALLOW_PRIVATE_URLS=true
  export MENTORAPI_WEBHOOK_RETRY_SCHEDULE=1,1,1
  # Leases above the timeout. worker2's are short: the claims it holds when a test kills it
  # (SIGKILL) are sent again within seconds. worker1's are long (below): a claim it left to
  # its lease when stopped with SIGTERM would still be out when the restart test checks.
  export MENTORAPI_WEBHOOK_TIMEOUT_SECONDS=${MENTORAPI_WEBHOOK_TIMEOUT_SECONDS:-2}
  export MENTORAPI_WEBHOOK_LEASE_SECONDS=${MENTORAPI_WEBHOOK_LEASE_SECONDS:-4}
  worker1_env=(MENTORAPI_WEBHOOK_LEASE_SECONDS=30)
  # Requests expire within a second of their start time (the workers' housekeeping).
  export MENTORAPI_HOUSEKEEPING_INTERVAL_SECONDS=1
  # Above the time HAProxy takes to mark a draining server down (deploy/haproxy.cfg: ~1.25 s).
  export MENTORAPI_SHUTDOWN_DRAIN_SECONDS=${MENTORAPI_SHUTDOWN_DRAIN_SECONDS:-2}
fi

"$MENTORAPI" migrate 2>"$WORK/migrate.log" || { cat "$WORK/migrate.log" >&2; exit 1; }
api_key() { "$MENTORAPI" apps create "$1" | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["api_key"])'; }
KEY="(the database's own)"
[ -n "${FLEET_DATABASE:-}" ] || KEY=$(api_key fleet)

API1=$(free_port); API2=$(free_port); LB=$(free_port); STATS=$(free_port)
echo "http://127.0.0.1:$LB" >"$WORK/lb.url"
echo "http://127.0.0.1:$STATS/stats" >"$WORK/stats.url"
echo "http://127.0.0.1:$API1" >"$WORK/api1.url"
echo "http://127.0.0.1:$API2" >"$WORK/api2.url"
export -p >"$WORK/env.sh"  # for `restart`, which runs in a shell of its own
# Webhooks and housekeeping are the dedicated workers' job: the API processes answer requests.
serve=(env MENTORAPI_WEBHOOK_WORKER_ENABLED=false MENTORAPI_HOUSEKEEPING_ENABLED=false "$MENTORAPI" serve --host 127.0.0.1 --workers 1)
start api1 "${serve[@]}" --port "$API1"
start api2 "${serve[@]}" --port "$API2"
for n in $(seq 1 "$WORKERS"); do
  if [ "$n" -eq 1 ]; then start worker1 env "${worker1_env[@]}" "$MENTORAPI" worker; else start "worker$n" "$MENTORAPI" worker; fi
done
until_ready "http://127.0.0.1:$API1/readyz" api1
until_ready "http://127.0.0.1:$API2/readyz" api2

start haproxy env MENTORAPI_LB_BIND="127.0.0.1:$LB" MENTORAPI_LB_STATS_BIND="127.0.0.1:$STATS" \
  MENTORAPI_API1="127.0.0.1:$API1" MENTORAPI_API2="127.0.0.1:$API2" "$HAPROXY" -db -f deploy/haproxy.cfg
until_ready "http://127.0.0.1:$LB/readyz" haproxy
# Both servers up in HAProxy's health checks before a test counts on both.
until_balanced api1 api2

URL="http://127.0.0.1:$LB"
if [ "$MODE" = test ]; then
  MENTORAPI_FLEET_URL="$URL" MENTORAPI_FLEET_KEY="$KEY" MENTORAPI_FLEET_OTHER_KEY="$(api_key fleet-other)" \
    MENTORAPI_FLEET_DIRECT_DATABASE_URL="$DIRECT_URL" MENTORAPI_FLEET_DIR="$WORK" \
    MENTORAPI_FLEET_MEMBER_LIMIT="$MENTORAPI_RATE_LIMIT_MEMBER_PER_WINDOW" \
    "$PYTHON" -m pytest -c tests/fleet/blackbox/pytest.ini tests/fleet/blackbox -p no:cacheprovider "${@:2}"
else
  cat <<MSG

  mentorapi fleet ready (PgBouncer :$PGB_PORT in $POOL_MODE mode, API :$API1 and :$API2, $WORKERS workers, database $DB)
  Balancer: $URL (its counters: http://127.0.0.1:$STATS/stats)
  API key:  $KEY
  try:      curl -i -H 'Authorization: Bearer $KEY' $URL/v1/mentors
  rolling restart, from another shell:
            MENTORAPI_FLEET_DIR=$WORK scripts/fleet.sh restart api1 api2 worker1 worker2
  logs:     $WORK/*.log
  Ctrl-C stops everything.

MSG
  # Until Ctrl-C. A process that ends by itself (killed, crashed; not one being restarted) is
  # reported once, and the rest runs on: see what the others do without it.
  declare -A reported=()
  while true; do
    for name in "${NAMES[@]}"; do
      pid=$(cat "$WORK/$name.pid")
      if [ -e "$WORK/$name.restarting" ] || alive "$pid" || [ "${reported[$name]:-}" = "$pid" ]; then
        continue
      fi
      reported[$name]=$pid
      echo "fleet: $name exited; MENTORAPI_FLEET_DIR=$WORK scripts/fleet.sh restart $name starts it again" >&2
    done
    sleep 1
  done
fi
