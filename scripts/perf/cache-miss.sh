#!/usr/bin/env bash
# What a cache miss costs: uniform random ids over the full-scale catalog
# (nearly every request a miss), closed model, with the response cache on
# (filled first, as it is in service: a full cache decides on every miss
# whether to keep the answer) and off, for /products/:id, /styles and
# /related; and uncached /related against uncached /products/:id. Printed as
# ratios of RPS measured in this run, in ROUNDS rounds that alternate which
# side goes first (the box's speed drifts; each ratio is of neighbours), as
# the median of the rounds' ratios with their range.
#
#   scripts/perf/cache-miss.sh        ROUNDS=3 DURATION=5s CONNECTIONS=32 to change
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/load.sh

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-32}
LOGDIR=$(mktemp -d /tmp/atelier-miss.XXXXXX)
ENDPOINTS="product styles related"

prepare_load_run

declare -A RPS
# side NAME CACHE ROUND: starts the server with the cache on or off, fills it
# with the uniform mix, then measures each endpoint.
side() {
  start_server "$1" DATABASE_URL="$DATABASE_URL" ATELIER_CACHE_ENABLED="$2"
  oha_json /dev/null -c "$CONNECTIONS" -z 10s --urls-from-file "$URLS/uniform-mixed.txt"
  for e in $ENDPOINTS; do
    oha_json "$LOGDIR/$1-$e-$3.json" -c "$CONNECTIONS" -z "$DURATION" --urls-from-file "$URLS/uniform-$e.txt"
    RPS[$1-$e-$3]=$(oha_summary "$LOGDIR/$1-$e-$3.json" | cut -d' ' -f1)
    echo "  round $3, cache $2, /$e: ${RPS[$1-$e-$3]} RPS"
  done
}

for round in $(seq "$ROUNDS"); do
  echo "==> round $round"
  if [ $((round % 2)) -eq 1 ]; then
    side on true "$round"; side off false "$round"
  else
    side off false "$round"; side on true "$round"
  fi
done

# ratio A B: median and range over the rounds of RPS[A-r] / RPS[B-r].
ratio() {
  local values=()
  for round in $(seq "$ROUNDS"); do
    values+=("${RPS[$1-$round]} / ${RPS[$2-$round]}")
  done
  python3 - "${values[@]}" <<'PY'
import statistics, sys
r = sorted(eval(v) for v in sys.argv[1:])
print(f"{statistics.median(r):.2f} ({r[0]:.2f}-{r[-1]:.2f})")
PY
}

echo
echo "Cache misses, full scale, uniform random ids, commit $(git rev-parse --short HEAD), $ROUNDS rounds of $DURATION, $CONNECTIONS connections"
printf '%-40s %s\n' "" "median (range) of the rounds"
for e in $ENDPOINTS; do
  printf '%-40s %s\n' "/$e: cache on / cache off (goal >= 0.95)" "$(ratio "on-$e" "off-$e")"
done
printf '%-40s %s\n' "uncached /related / /products/:id (>= 1.5)" "$(ratio off-related off-product)"
echo "oha's JSON in $LOGDIR"
