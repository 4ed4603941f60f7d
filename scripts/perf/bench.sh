#!/usr/bin/env bash
# Speed ratios, each measured in this one run on the same full-scale dataset
# (machines here are shared and noisy; ratios within one run are what hold):
#   (i)   cached-hit RPS / GET /health RPS
#   (ii)  uncached random-id /products/:id RPS / pgbench -S TPS (same transport),
#         and / the naive path's RPS (rocket_sync_db_pools with a checkout ping)
#         and the same over the Unix socket
#   (iii) uncached /styles RPS / uncached /products/:id RPS
#   (iv)  p50 of /products?page=200000&count=5 / p50 of page=1
# and the server's peak RSS.
#
# The ratios whose sides are separate runs, (i), (ii) and (iii), are measured
# in ROUNDS rounds of short runs and reported as the median of the per-round
# ratios (with their range). On a shared 2-core box the speed of the whole
# machine drifts by +-20% over tens of seconds (one 10 s run of /health alone:
# 33k-49k RPS within minutes), so the two sides of a ratio are measured close
# together, in turn (A B, then B A, so a steady drift favours neither), and
# many times.
#
#   scripts/perf/bench.sh      DURATION=10s ROUND_DURATION=4s ROUNDS=7 CONNECTIONS=32 to change
# (BENCH_EXTERNAL_DB=1 skips the Unix-socket figures, which need the local cluster)
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/load.sh

DURATION=${DURATION:-10s}
ROUND_DURATION=${ROUND_DURATION:-4s}
CONNECTIONS=${CONNECTIONS:-32}
ROUNDS=${ROUNDS:-7}
LOGDIR=$(mktemp -d /tmp/atelier-bench.XXXXXX)

prepare_load_run

rps() { oha_json "$LOGDIR/run.json" -c "$CONNECTIONS" -z "$DURATION" "$@"; oha_summary "$LOGDIR/run.json" | awk '{print $1}'; }
round_rps() { DURATION=$ROUND_DURATION rps "$@"; }
# in_turn ROUND F...: runs the functions F in order, in reverse order in odd rounds.
in_turn() {
  local round=$1; shift
  local order=("$@")
  if [ $((round % 2)) = 1 ]; then order=(); for f in "$@"; do order=("$f" "${order[@]}"); done; fi
  for f in "${order[@]}"; do $f; done
}
p50() { oha_json "$LOGDIR/run.json" -c 1 -z "$DURATION" "$@"; oha_summary "$LOGDIR/run.json" | awk '{print $2}'; }
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
# median_ratio "A1 A2 .." "B1 B2 ..": the median of Ai/Bi, then their range.
median_ratio() {
  python3 -c "import statistics as s, sys; r = sorted(a / b for a, b in zip(map(float, sys.argv[1].split()), map(float, sys.argv[2].split())))
print(f'{s.median(r):.2f}   (rounds {r[0]:.2f}-{r[-1]:.2f})')" "$1" "$2"
}
median() { python3 -c "import statistics as s, sys; print(f'{s.median(map(float, sys.argv[1:])):.0f}')" "$@"; }

echo "==> the pgbench database (pgbench -S: a primary-key select)"
export PGPASSWORD=${PGPASSWORD:-atelier}
pg_host=$(python3 -c "import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print(p.hostname, p.port or 5432, p.username)" "$DATABASE_URL")
read -r host port user <<< "$pg_host"
if ! psql "$DATABASE_URL" -tAc "SELECT 1 FROM pg_database WHERE datname = 'atelier_pgbench'" | grep -q 1; then
  psql "$DATABASE_URL" -qc "CREATE DATABASE atelier_pgbench"
  pgbench -q -i -s 10 -h "$host" -p "$port" -U "$user" atelier_pgbench 2>/dev/null
fi
# pgbench_tps HOST: pgbench -S TPS over TCP (an address) or a Unix socket (a directory).
pgbench_tps() {
  pgbench -S -M prepared -c 16 -j 2 -T "${DURATION%s}" -h "$1" -p "$port" -U "$user" atelier_pgbench 2>/dev/null \
    | awk '/^tps/ {printf "%.0f", $3}'
}

echo "==> cache on"
start_server cached DATABASE_URL="$DATABASE_URL"
rps --urls-from-file "$URLS/original8.txt" > /dev/null   # fill
healths=; cacheds=; cached_ones=
health_round() { healths+=" $(round_rps "$BASE/health")"; }
cached_round() { cacheds+=" $(round_rps --urls-from-file "$URLS/original8.txt")"; }
cached_one_round() { cached_ones+=" $(round_rps "$BASE/products/1")"; }
# /health in the middle: each ratio's sides stay next to each other.
for round in $(seq "$ROUNDS"); do in_turn "$round" cached_round health_round cached_one_round; done
health=$(median $healths); cached=$(median $cacheds); cached_one=$(median $cached_ones)
cached_rss=$(server_peak_rss_mb)

echo "==> cache off"
start_server uncached DATABASE_URL="$DATABASE_URL" ATELIER_CACHE_ENABLED=false
rps --urls-from-file "$URLS/uniform-mixed.txt" > /dev/null   # warm PostgreSQL's buffers
pgbenchs=; products=; styless=
pgbench_round() { pgbenchs+=" $(DURATION=$ROUND_DURATION pgbench_tps "$host")"; }
product_round() { products+=" $(round_rps --urls-from-file "$URLS/uniform-product.txt")"; }
styles_round() { styless+=" $(round_rps --urls-from-file "$URLS/uniform-styles.txt")"; }
# Products sit between the two others in every round: each ratio's sides
# stay next to each other.
for round in $(seq "$ROUNDS"); do in_turn "$round" pgbench_round product_round styles_round; done
pgbench_tps=$(median $pgbenchs); product=$(median $products); styles=$(median $styless)
page1=$(p50 "$BASE/products?page=1&count=5")
deep=$(p50 "$BASE/products?page=200000&count=5")
uncached_rss=$(server_peak_rss_mb)

socket_tps=; socket_product=
if [ -z "${BENCH_EXTERNAL_DB:-}" ]; then
  echo "==> the same over the Unix socket (a co-located deployment)"
  socket_url=$(socket_database_url)
  socket_dir=$(python3 -c "import sys, urllib.parse as u; print(u.unquote(u.urlparse(sys.argv[1]).hostname))" "$socket_url")
  socket_tps=$(pgbench_tps "$socket_dir")
  start_server socket DATABASE_URL="$socket_url" ATELIER_CACHE_ENABLED=false
  rps --urls-from-file "$URLS/uniform-product.txt" > /dev/null
  socket_product=$(rps --urls-from-file "$URLS/uniform-product.txt")
fi

echo "==> naive path (rocket_sync_db_pools, ping per checkout), cache off"
# Its own pool size: the naive path has no batching, so it wants as many
# connections as requests in flight (8 was its best in session 1's sweep).
start_server naive DATABASE_URL="$DATABASE_URL" ATELIER_CACHE_ENABLED=false DATABASE_NAIVE=true \
  DATABASE_POOL_SIZE="${NAIVE_POOL_SIZE:-8}"
naive=$(rps --urls-from-file "$URLS/uniform-product.txt")
stop_server

cat <<REPORT

commit $(git rev-parse --short HEAD), $(nproc) cores, load generator on the same machine
(i)   cached hits (8 URLs)       $cached RPS / /health $health RPS (medians)  = $(median_ratio "$cacheds" "$healths")   (target >= 0.8)
      cached /products/1 alone   $cached_one RPS / /health $health RPS (medians)  = $(median_ratio "$cached_ones" "$healths")   (a ~0.5 KB body; the 8 URLs include a 50-product page)
(ii)  uncached /products/:id     $product RPS / pgbench -S $pgbench_tps TPS (TCP, medians) = $(median_ratio "$products" "$pgbenchs")   (target >= 0.4)
      uncached /products/:id     $product RPS / naive path $naive RPS           = $(ratio "$product" "$naive")
      over the Unix socket       ${socket_product:-n/a} RPS / pgbench -S ${socket_tps:-n/a} TPS (socket)  = $([ -n "$socket_tps" ] && ratio "$socket_product" "$socket_tps" || echo n/a)
(iii) uncached /styles           $styles RPS / /products/:id $product RPS (medians) = $(median_ratio "$styless" "$products")   (target >= 0.5)
(iv)  p50 page=200000            $deep ms / page=1 $page1 ms                   = $(ratio "$deep" "$page1")   (target <= 2)
server peak RSS: $cached_rss MB with the cache on, $uncached_rss MB with it off (target <= 150)
REPORT
rm -rf "$LOGDIR"
