#!/usr/bin/env bash
# Load test on the full-scale dataset (generated and imported if missing):
#   (a) the original service's 8 URLs        (b) uniform random ids, per endpoint and mixed
#   (c) random ids in the last 10%           (d) a skewed popularity mix
#   (e) open model at a fixed arrival rate: (a) and (b)-mixed at RATE requests/s
# against the release server with its default settings (cache on), plus (b)
# with the cache off. Writes loadtests/<UTC timestamp>/README.md, with charts
# beside it (scripts/perf/charts.py): each run's latency percentiles and
# answers per second over time, each scenario's latency histogram.
#
#   scripts/perf/loadtest.sh              DURATION=15s CONNECTIONS=32 RATE=5000 to change
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/load.sh

DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-32}
RATE=${RATE:-5000}
stamp=$(date -u +%Y-%m-%dT%H-%M-%SZ)
OUT=loadtests/$stamp
LOGDIR=$OUT/raw
REQUESTS=$OUT/requests
mkdir -p "$LOGDIR"

prepare_load_run
ensure_chart_tools

rows=()
# Each scenario's title and its runs (RUN=LABEL lines), for the charts.
declare -A scenario_title scenario_runs
runs=()
measure() { # scenario endpoint settings oha-args...
  local scenario=$1 endpoint=$2 settings=$3; shift 3
  local name key label
  # "(b) uniform random ids", product, cached: b-uniform-random-ids-product-cached
  name=$(echo "$scenario-$endpoint-$settings" | tr 'A-Z' 'a-z' | tr -c 'a-z0-9\n' '-' |
    sed -e 's/--*/-/g' -e 's/^-//' -e 's/-$//')
  key=${scenario:1:1}
  label="$endpoint, $settings"
  # (e)'s runs differ by the list they replay: "(e) open model, 5000/s, (a)".
  case $scenario in *", ("?")") label="${scenario##*, } $label" ;; esac
  echo "    $scenario / $endpoint ($settings)"
  oha_recorded "$name" "$@"
  read -r rps p50 p90 p99 max errors < <(oha_summary "$LOGDIR/$name.json")
  rows+=("| $scenario | $endpoint | $settings | $rps | $p50 | $p90 | $p99 | $max | $errors |")
  scenario_title[$key]=${scenario_title[$key]:-${scenario%, (?)}}
  scenario_runs[$key]+="$name=$label"$'\n'
  runs+=("$name|$scenario / $endpoint ($settings)")
}
closed() { measure "$1" "$2" "$3" -c "$CONNECTIONS" -z "$DURATION" --urls-from-file "$URLS/$4.txt"; }
open_model() { measure "$1" "$2" "$3" -c 128 -q "$RATE" --latency-correction -z "$DURATION" --urls-from-file "$URLS/$4.txt"; }

echo "==> server with default settings (cache on)"
start_server cached DATABASE_URL="$DATABASE_URL"
# Warm-up: fills PostgreSQL's buffers and the pool.
oha_json /dev/null -c "$CONNECTIONS" -z 5s --urls-from-file "$URLS/uniform-mixed.txt"
closed "(a) original 8 URLs" mixed cached original8
for e in product styles related mixed; do closed "(b) uniform random ids" "$e" cached "uniform-$e"; done
for e in product styles related mixed; do closed "(c) last 10% of ids" "$e" cached "tail-$e"; done
closed "(d) skewed popularity" mixed cached skewed-mixed
open_model "(e) open model, $RATE/s, (a)" mixed cached original8
open_model "(e) open model, $RATE/s, (b)" mixed cached uniform-mixed
cached_rss=$(server_peak_rss_mb)

echo "==> server with the cache off"
start_server uncached DATABASE_URL="$DATABASE_URL" ATELIER_CACHE_ENABLED=false
oha_json /dev/null -c "$CONNECTIONS" -z 5s --urls-from-file "$URLS/uniform-mixed.txt"
for e in product styles related mixed; do closed "(b) uniform random ids" "$e" uncached "uniform-$e"; done
open_model "(e) open model, $RATE/s, (b)" mixed uncached uniform-mixed
uncached_rss=$(server_peak_rss_mb)
stop_server

echo "==> charts"
for key in $(printf '%s\n' "${!scenario_title[@]}" | sort); do
  chart_heading "${scenario_title[$key]}"
  mapfile -t these < <(printf '%s' "${scenario_runs[$key]}")
  chart_histogram "$key-histogram" "${scenario_title[$key]}" "${these[@]}"
  for run in "${runs[@]}"; do
    if [ "${run%%-*}" = "$key" ]; then chart_timeline "${run%%|*}" "${run#*|}"; fi
  done
done

commit=$(git rev-parse --short HEAD)$(git diff --quiet || echo "+changes")
{
  echo "# Load test $stamp"
  echo
  echo "- commit: $commit"
  echo "- machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); load generator (oha $(oha --version | awk '{print $2}')) on the same machine"
  echo "- dataset: $(psql "$DATABASE_URL" -tAc "SELECT count(*) FROM product") products (generated, imported with atelier import)"
  echo "- database: ${DATABASE_URL//:atelier@/:***@}, PostgreSQL $(psql "$DATABASE_URL" -tAc 'SHOW server_version')"
  echo "- PostgreSQL settings: shared_buffers $(psql "$DATABASE_URL" -tAc 'SHOW shared_buffers')$([ -n "${MANAGED_PORT:-}" ] && echo ", catalog read into the buffers before the run (pg_prewarm)"), otherwise as installed"
  echo "- server: release build, defaults (pool ${DATABASE_POOL_SIZE:-$(( $(nproc) / 2 > 0 ? $(nproc) / 2 : 1 ))} connection(s) and database thread(s), 3 workers per core, cache 32 MiB / 60 s) unless the settings column says otherwise"
  echo "- closed model: $CONNECTIONS connections for $DURATION; open model: $RATE requests/s, latency corrected for coordinated omission, $DURATION"
  echo "- server peak RSS: $cached_rss MB (cache on), $uncached_rss MB (cache off)"
  echo
  echo "| scenario | endpoint | settings | RPS | p50 ms | p90 ms | p99 ms | max ms | errors % |"
  echo "|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Raw oha output per run is in raw/; oha's record of every request, which the"
  echo "charts are made from, was in requests/ (not committed)."
  echo
  echo "## Charts"
  echo
  echo "Per scenario, the latency histogram of its runs; per run, p50, p99 and p99.9"
  echo "latency in one-second slices (by when each request was due) over answers per"
  echo "second (by when each ended). Requests that got no answer are not in oha's record:"
  echo "the table counts them."
  echo
  printf '%s\n' "${CHARTS[@]}"
} > "$OUT/README.md"
echo "==> wrote $OUT/README.md"
cat "$OUT/README.md"
