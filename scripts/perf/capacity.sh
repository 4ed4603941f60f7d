#!/usr/bin/env bash
# Capacity: the highest open-model rate the service sustains within a p99
# bound, found in one run on the full-scale catalog (warm, PostgreSQL sized
# as the README configures it, the response cache on at its defaults), for
#   original8   the original service's 8 URLs, p99 <= 10 ms
#   uniform     the uniform random mix of /products/:id, /styles, /related,
#               p99 <= 25 ms
# each printed beside GET /health's closed-model RPS measured in the same run,
# as a ratio (machines differ by 2-3x in absolute figures; the ratio holds).
#
# A rate is sustained when, over STEP seconds of oha's open model with
# latency correction (latency counted from when each request was due, so a
# stall is not hidden by the generator waiting), p99 is within the bound,
# no request failed, and the answers per second reached 97% of the rate.
# Rates go up by 25% from a fifth of /health's RPS until one is not
# sustained (or halve until one is), then two halvings of the gap between
# the last sustained and the first not; the generator runs on the same
# cores as the service.
#
#   scripts/perf/capacity.sh        STEP=8s CONNECTIONS=256 to change
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/load.sh

STEP=${STEP:-8s}
CONNECTIONS=${CONNECTIONS:-256}
LOGDIR=$(mktemp -d /tmp/atelier-capacity.XXXXXX)

prepare_load_run
start_server cached DATABASE_URL="$DATABASE_URL"

echo "==> warming the response cache and the connections"
oha_json /dev/null -c 32 -z 5s --urls-from-file "$URLS/original8.txt"
oha_json /dev/null -c 32 -z 10s --urls-from-file "$URLS/uniform-mixed.txt"

health() {
  oha_json "$LOGDIR/health-$1.json" -c 32 -z 10s "$BASE/health"
  oha_summary "$LOGDIR/health-$1.json" | cut -d' ' -f1
}
echo "==> GET /health, closed model, 32 connections"
health_before=$(health before)

# sustained LIST RATE LIMIT_MS: prints "yes|no rps p99 errors%".
sustained() {
  local out="$LOGDIR/$1-$2.json"
  oha_json "$out" -c "$CONNECTIONS" -q "$2" --latency-correction -z "$STEP" \
    --urls-from-file "$URLS/$1.txt"
  read -r rps _ _ p99 _ err < <(oha_summary "$out")
  local ok
  ok=$(python3 -c "print('yes' if $p99 <= $3 and $err == 0 and $rps >= 0.97 * $2 else 'no')")
  echo "$ok $rps $p99 $err"
}

# capacity LIST LIMIT_MS: the highest rate sustained, 0 if none.
capacity() {
  local list=$1 limit=$2 rate good=0 bad=0 verdict
  rate=$(python3 -c "print(int($health_before * 0.2))")
  # Up by 25% while sustained; when the first rate is not, down by half
  # (at most four times) until one is.
  local halvings=0
  while :; do
    read -r verdict rps p99 err < <(sustained "$list" "$rate" "$limit")
    printf '  %-10s %7s/s: %7s RPS, p99 %8s ms, errors %s%% -> %s\n' "$list" "$rate" "$rps" "$p99" "$err" "$verdict" >&2
    if [ "$verdict" = yes ]; then
      good=$rate
      [ "$bad" -eq 0 ] || break
      rate=$(python3 -c "print(int($rate * 1.25))")
    else
      bad=$rate
      [ "$good" -eq 0 ] && [ "$halvings" -lt 4 ] || break
      halvings=$((halvings + 1))
      rate=$((rate / 2))
    fi
  done
  for _ in 1 2; do
    [ "$good" -gt 0 ] || break
    rate=$(( (good + bad) / 2 ))
    read -r verdict rps p99 err < <(sustained "$list" "$rate" "$limit")
    printf '  %-10s %7s/s: %7s RPS, p99 %8s ms, errors %s%% -> %s\n' "$list" "$rate" "$rps" "$p99" "$err" "$verdict" >&2
    if [ "$verdict" = yes ]; then good=$rate; else bad=$rate; fi
  done
  echo "$good"
}

echo "==> the 8 URLs, p99 <= 10 ms"
eight=$(capacity original8 10)
echo "==> the uniform random mix, p99 <= 25 ms"
mixed=$(capacity uniform-mixed 25)
echo "==> GET /health again"
health_after=$(health after)
health=$(python3 -c "print(round(($health_before + $health_after) / 2))")

echo
echo "Capacity, full scale, cache on, commit $(git rev-parse --short HEAD), open model ${STEP} steps, $CONNECTIONS connections"
echo "GET /health closed model: $health RPS ($health_before before, $health_after after)"
printf '%-34s %9s %8s %s\n' "" "rate/s" "/ health" goal
printf '%-34s %9s %8s %s\n' "the 8 URLs, p99 <= 10 ms" "$eight" \
  "$(python3 -c "print(f'{$eight / $health:.2f}')")" ">= 0.70"
printf '%-34s %9s %8s %s\n' "uniform random mix, p99 <= 25 ms" "$mixed" \
  "$(python3 -c "print(f'{$mixed / $health:.2f}')")" ">= 0.35"
echo "peak RSS of the server: $(server_peak_rss_mb) MB; oha's JSON in $LOGDIR"
