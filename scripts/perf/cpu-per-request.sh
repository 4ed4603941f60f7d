#!/usr/bin/env bash
# Where a request's CPU goes: for each URL list, the CPU time per request of
# the server, of PostgreSQL (every process of the postgres user, so the local
# cluster) and of the load generator, with the RPS, over REQUESTS requests on
# CONNECTIONS connections, ROUNDS times in turn. The response cache is off
# unless given otherwise (SERVER_ENV="ATELIER_CACHE_ENABLED=true").
#
#   scripts/perf/cpu-per-request.sh [LIST ...]   LIST: a URL list of scripts/lib/load.sh
#                                           (default: uniform-product uniform-styles)
#   REQUESTS=100000 CONNECTIONS=32 ROUNDS=2 to change
#
# On a 2-core box shared by the three, RPS follows the sum of the three
# columns; the split says which part a change has to shrink.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/load.sh

REQUESTS=${REQUESTS:-100000}
CONNECTIONS=${CONNECTIONS:-32}
ROUNDS=${ROUNDS:-2}
LOGDIR=$(mktemp -d /tmp/atelier-cpu.XXXXXX)
[ $# -gt 0 ] || set -- uniform-product uniform-styles

prepare_load_run
command -v /usr/bin/time >/dev/null || as_root apt-get install -y -qq time >/dev/null
# shellcheck disable=SC2086 # SERVER_ENV is a list of VAR=value words
start_server cpu DATABASE_URL="$DATABASE_URL" ATELIER_CACHE_ENABLED=false ${SERVER_ENV:-}

# CPU ticks (user + system) of processes.
ticks_of() { for pid in "$@"; do awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null; done | awk '{s += $1} END {print s + 0}'; }
postgres_ticks() { mapfile -t pids < <(pgrep -u postgres || true); ticks_of "${pids[@]}"; }
hz=$(getconf CLK_TCK)

echo "==> warming up"
for list in "$@"; do
  oha_json "$LOGDIR/warm.json" -c "$CONNECTIONS" -n 20000 --urls-from-file "$URLS/$list.txt"
done

echo
echo "CPU per request (us): server, PostgreSQL, load generator; $REQUESTS requests, $CONNECTIONS connections"
for round in $(seq "$ROUNDS"); do
  for list in "$@"; do
    server0=$(ticks_of "$SERVER_PID"); pg0=$(postgres_ticks)
    /usr/bin/time -f '%U %S' -o "$LOGDIR/oha.time" \
      oha --no-tui --output-format json -H "Accept-Encoding: $ACCEPT_ENCODING" -c "$CONNECTIONS" -n "$REQUESTS" \
      --urls-from-file "$URLS/$list.txt" > "$LOGDIR/run.json" 2>/dev/null
    server1=$(ticks_of "$SERVER_PID"); pg1=$(postgres_ticks)
    read -r oha_user oha_sys < "$LOGDIR/oha.time"
    python3 - "$list" "$round" "$REQUESTS" "$hz" "$((server1 - server0))" "$((pg1 - pg0))" \
      "$oha_user" "$oha_sys" "$(oha_summary "$LOGDIR/run.json" | awk '{print $1, $NF}')" <<'PY'
import sys
name, rnd, n, hz, server, pg, ou, os_, summary = sys.argv[1:]
n, hz = int(n), int(hz)
rps, errors = summary.split()
us = lambda ticks: float(ticks) / hz * 1e6 / n
print(f"round {rnd}  {name:16s} server {us(server):6.1f}  postgres {us(pg):6.1f}  "
      f"load generator {(float(ou) + float(os_)) * 1e6 / n:6.1f}  rps {float(rps):7.0f}  errors {errors}%")
PY
  done
done
