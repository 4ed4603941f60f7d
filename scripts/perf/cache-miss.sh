#!/usr/bin/env bash
# What a cache miss costs: uniform random ids over the full-scale catalog
# (nearly every request a miss), closed model, against two servers side by
# side on the same database, one with the response cache on (filled first,
# as it is in service: a full cache decides on every miss whether to keep
# the answer) and one with it off, for /products/:id, /styles and /related;
# and uncached /related against uncached /products/:id. Printed as ratios of
# RPS, the median of ROUNDS per-round ratios with their range.
#
# Both servers run throughout and each round measures one, then the other
# (in turn A B, then B A), DURATION each: the two sides of a ratio are
# seconds apart. This box's speed drifts by tens of percent within a minute;
# with a server restarted between the sides, half a minute apart, a ratio
# that should be 1 ranged 0.79-1.46 over six rounds. /related is answered
# from memory with the cache on or off (the cache is neither read nor
# filled): its ratio is the method's own resolution.
#
# The ids measured are every product's, each once in a random order (oha
# picks from the list at random): against the 200,000-id lists of
# scripts/lib/load.sh a full cache still answered a tenth of the requests.
# The share of hits during the rounds is printed, and beside the RPS, each
# server's CPU time per request: what the cache adds to a miss, without the
# share of the cores the load generator and PostgreSQL leave each side.
#
#   scripts/perf/cache-miss.sh        ROUNDS=12 DURATION=3s CONNECTIONS=32 to change
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/load.sh

ROUNDS=${ROUNDS:-12}
DURATION=${DURATION:-3s}
CONNECTIONS=${CONNECTIONS:-32}
LOGDIR=$(mktemp -d /tmp/atelier-miss.XXXXXX)
ENDPOINTS="product styles related"

prepare_load_run

echo "==> URL lists of every product id, once each, shuffled"
python3 - "$URLS" "$BASE" "$FULL_SCALE" <<'PY'
import random, sys
out, base, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
ids = list(range(1, n + 1))
for name, end in {"product": "", "styles": "/styles", "related": "/related"}.items():
    random.Random(name).shuffle(ids)
    with open(f"{out}/every-{name}.txt", "w") as f:
        f.writelines(f"{base}/products/{i}{end}\n" for i in ids)
PY

# The cache-on server on PORT, the cache-off one on PORT + 1.
OFF_PORT=$((PORT + 1))
start_server on DATABASE_URL="$DATABASE_URL" ATELIER_CACHE_ENABLED=true
start_beside "$OFF_PORT" off "$BIN" DATABASE_URL="$DATABASE_URL" ATELIER_CACHE_ENABLED=false

# list SIDE NAME: the URL list NAME aimed at SIDE's server.
list() {
  if [ "$1" = on ]; then echo "$URLS/$2.txt"; else urls_on "$OFF_PORT" "$2"; fi
}

echo "==> filling the cache, warming both"
for side in on off; do
  oha_json /dev/null -c "$CONNECTIONS" -z 10s --urls-from-file "$(list "$side" uniform-mixed)"
done

# cache_counts: the cache-on server's hits and misses so far.
cache_counts() {
  curl -sf "$BASE/metrics" \
    | awk '/^atelier_cache_hits_total / {h = $2} /^atelier_cache_misses_total / {m = $2} END {print h + 0, m + 0}'
}
read -r hits_before misses_before < <(cache_counts)

# ticks SIDE: CPU ticks (user + system) the side's server has used so far.
ticks() {
  local pid=$SERVER_PID
  [ "$1" = on ] || pid=$BESIDE_PID
  awk '{print $14 + $15}' "/proc/$pid/stat"
}

declare -A RPS CPU LIST
# measure SIDE ENDPOINT ROUND: RPS, and the server's CPU time per request.
measure() {
  local out="$LOGDIR/$1-$2-$3.json" before
  before=$(ticks "$1")
  oha_json "$out" -c "$CONNECTIONS" -z "$DURATION" --urls-from-file "${LIST[$1-$2]}"
  RPS[$1-$2-$3]=$(oha_summary "$out" | cut -d' ' -f1)
  CPU[$1-$2-$3]="($(ticks "$1") - $before) / ${RPS[$1-$2-$3]}"
}

for e in $ENDPOINTS; do
  LIST[on-$e]=$(list on "every-$e")
  LIST[off-$e]=$(list off "every-$e")
  echo "==> /$e, $ROUNDS rounds"
  for round in $(seq "$ROUNDS"); do
    if [ $((round % 2)) -eq 1 ]; then
      measure on "$e" "$round"; measure off "$e" "$round"
    else
      measure off "$e" "$round"; measure on "$e" "$round"
    fi
    echo "  round $round: cache on ${RPS[on-$e-$round]} RPS, off ${RPS[off-$e-$round]} RPS"
  done
done

read -r hits_after misses_after < <(cache_counts)

# ratio A B [CPU]: median and range over the rounds of RPS[A-r] / RPS[B-r]
# (with CPU, of the servers' CPU time per request instead).
ratio() {
  local values=()
  for round in $(seq "$ROUNDS"); do
    if [ "${3:-}" = cpu ]; then
      values+=("(${CPU[$1-$round]}) / (${CPU[$2-$round]})")
    else
      values+=("${RPS[$1-$round]} / ${RPS[$2-$round]}")
    fi
  done
  python3 - "${values[@]}" <<'PY'
import statistics, sys
r = sorted(eval(v) for v in sys.argv[1:])
print(f"{statistics.median(r):.2f} ({r[0]:.2f}-{r[-1]:.2f})")
PY
}

echo
echo "Cache misses, full scale, uniform random ids of every product, commit $(git rev-parse --short HEAD), $ROUNDS rounds of $DURATION a side, $CONNECTIONS connections"
printf '%-46s %s\n' "" "median (range) of the rounds"
for e in $ENDPOINTS; do
  printf '%-46s %s\n' "/$e: cache on / cache off (goal >= 0.95)" "$(ratio "on-$e" "off-$e")"
done
printf '%-46s %s\n' "uncached /related / /products/:id (>= 1.5)" "$(ratio off-related off-product)"
echo "(/related does not use the cache: its on / off ratio is the method's resolution)"
echo "The server's CPU time per request, cache on / cache off (PostgreSQL's is the same on both):"
for e in $ENDPOINTS; do
  printf '%-46s %s\n' "/$e" "$(ratio "on-$e" "off-$e" cpu)"
done
python3 -c "h, m = $hits_after - $hits_before, $misses_after - $misses_before
print(f'cache on, during the rounds: {h} hits, {m} misses ({100 * h / max(h + m, 1):.1f}% hits)')"
echo "server peak RSS: $(server_peak_rss_mb) MB with the cache on, $(awk '/VmHWM/ {printf "%d", $2 / 1024}' "/proc/$BESIDE_PID/status") MB off"
echo "oha's JSON in $LOGDIR"
