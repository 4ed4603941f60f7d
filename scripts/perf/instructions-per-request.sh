#!/usr/bin/env bash
# The server's user-space instructions per request, counted by valgrind
# (callgrind) for each URL list: a measure that does not move with the load
# on a shared box, where RPS and CPU time drift by +-20% within a minute. Use
# it to tell a 2% change in a code path apart from noise; RPS is still what
# scripts/perf/bench.sh reports. Kernel time (the socket writes) is not counted.
#
#   scripts/perf/instructions-per-request.sh [LIST ...]
#     LIST: a URL list of scripts/lib/load.sh, `health` (GET /health) or
#     `product1` (GET /products/1); default: health original8 (the 8 URLs)
#   REQUESTS=4000 to change; SERVER_ENV="VAR=value ..." for server settings
#   KEEP=DIR keeps the callgrind files (callgrind_annotate DIR/<list>.out)
#
# The server runs under valgrind, ~50x slower, with two workers; each list
# is requested 2,000 times first (the cache filled, the code paths warm),
# then counted over REQUESTS requests on 4 connections.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/load.sh

REQUESTS=${REQUESTS:-4000}
LOGDIR=$(mktemp -d /tmp/atelier-instructions.XXXXXX)
OUT=${KEEP:-$LOGDIR}
mkdir -p "$OUT"
[ $# -gt 0 ] || set -- health original8

prepare_load_run
if ! command -v valgrind >/dev/null; then
  echo "==> installing valgrind from Debian's packages"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
fi
for _ in 1 2 3 4 5 6 7 8; do echo "$BASE/health"; done > "$URLS/health.txt"
for _ in 1 2 3 4 5 6 7 8; do echo "$BASE/products/1"; done > "$URLS/product1.txt"
for list in "$@"; do
  [ -f "$URLS/$list.txt" ] || { echo "no URL list $list (see scripts/lib/load.sh)" >&2; exit 1; }
done

echo "==> starting the server under valgrind"
stop_server
# shellcheck disable=SC2086 # SERVER_ENV is a list of VAR=value words
env ROCKET_LOG_LEVEL=critical ATELIER_LOG=warn ROCKET_PORT="$PORT" ROCKET_WORKERS=2 DATABASE_URL="$DATABASE_URL" ${SERVER_ENV:-} \
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$LOGDIR/callgrind.%p" \
  "$BIN" serve > "$LOGDIR/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 300); do curl -sf "$BASE/health" >/dev/null && break; sleep 1; done
# The related ids are read into memory on a thread of their own at start-up
# (slowly, under valgrind): counted, that read would be charged to the
# requests.
echo "==> waiting for the related ids to be read into memory"
wait_related_in_memory "$BASE" "${SERVER_ENV:-}" 900

echo
echo "server user-space instructions per request, over $REQUESTS requests"
for list in "$@"; do
  oha --no-tui -H "Accept-Encoding: $ACCEPT_ENCODING" -c 4 -n 2000 --urls-from-file "$URLS/$list.txt" >/dev/null 2>&1
  callgrind_control --zero "$SERVER_PID" >/dev/null 2>&1
  callgrind_control --instr=on "$SERVER_PID" >/dev/null 2>&1
  oha --no-tui --output-format json -H "Accept-Encoding: $ACCEPT_ENCODING" -c 4 -n "$REQUESTS" --urls-from-file "$URLS/$list.txt" > "$LOGDIR/run.json" 2>/dev/null
  callgrind_control --instr=off "$SERVER_PID" >/dev/null 2>&1
  callgrind_control --dump="$list" "$SERVER_PID" >/dev/null 2>&1
  sleep 1
  dump=$(ls -t "$LOGDIR"/callgrind.* | head -1)
  mv "$dump" "$OUT/$list.out"
  total=$(callgrind_annotate --auto=no "$OUT/$list.out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  python3 - "$list" "$total" "$REQUESTS" "$(oha_summary "$LOGDIR/run.json" | awk '{print $NF}')" <<'PY'
import sys
name, total, n, errors = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
print(f"{name:16s} {total / n:9,.0f}   (errors {errors}%)")
PY
done
stop_server
[ -n "${KEEP:-}" ] || rm -rf "$LOGDIR"
