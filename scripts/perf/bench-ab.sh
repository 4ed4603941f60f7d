#!/usr/bin/env bash
# Uncached speed of two revisions of the server, in one run: builds REV
# (default the parent of HEAD; OLD_BIN=path skips the build), starts it and
# this checkout's server side by side on the full-scale dataset, and runs
# uniform random ids of /products/:id, /related and /styles against each in
# turn (A B, then B A) for ROUNDS rounds. Prints per endpoint the median
# RPS of each side and the median of the per-round ratios this/REV.
#
#   scripts/perf/bench-ab.sh [REV]     ROUND_DURATION=4s ROUNDS=7 CONNECTIONS=32 to change
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/load.sh

rev=${1:-HEAD~1}
ROUND_DURATION=${ROUND_DURATION:-4s}
CONNECTIONS=${CONNECTIONS:-32}
ROUNDS=${ROUNDS:-7}
LOGDIR=$(mktemp -d /tmp/atelier-bench-ab.XXXXXX)

prepare_load_run
NEW_BIN=$BIN
if [ -z "${OLD_BIN:-}" ]; then
  echo "==> building $rev"
  git worktree add --detach "$LOGDIR/old-src" "$rev" >/dev/null
  (cd "$LOGDIR/old-src" && CARGO_TARGET_DIR="$LOGDIR/old-target" cargo build --release --quiet)
  OLD_BIN="$LOGDIR/old-target/release/atelier"
  git worktree remove --force "$LOGDIR/old-src"
fi

# Two servers: this checkout on PORT, REV on PORT + 1.
OLD_PORT=$((PORT + 1))
start_server new ATELIER_CACHE_ENABLED=false
start_beside "$OLD_PORT" old "$OLD_BIN" ATELIER_CACHE_ENABLED=false

rps() { oha_json "$LOGDIR/run.json" -c "$CONNECTIONS" -z "$ROUND_DURATION" "$@"; oha_summary "$LOGDIR/run.json" | awk '{print $1}'; }

echo "==> warming both"
for port in "$PORT" "$OLD_PORT"; do rps --urls-from-file "$(urls_on "$port" uniform-mixed)" > /dev/null; done

report=
for endpoint in product related styles; do
  new_list=$URLS/uniform-$endpoint.txt; old_list=$(urls_on "$OLD_PORT" "uniform-$endpoint")
  news=; olds=
  for round in $(seq "$ROUNDS"); do
    if [ $((round % 2)) = 1 ]; then
      olds+=" $(rps --urls-from-file "$old_list")"; news+=" $(rps --urls-from-file "$new_list")"
    else
      news+=" $(rps --urls-from-file "$new_list")"; olds+=" $(rps --urls-from-file "$old_list")"
    fi
  done
  report+=$(python3 -c "import statistics as s, sys
n = list(map(float, sys.argv[2].split())); o = list(map(float, sys.argv[3].split()))
r = sorted(a / b for a, b in zip(n, o))
print(f'{sys.argv[1]:>8}  this {s.median(n):7.0f} RPS  {sys.argv[4]} {s.median(o):7.0f} RPS  ratio {s.median(r):.2f} (rounds {r[0]:.2f}-{r[-1]:.2f})')" \
    "$endpoint" "$news" "$olds" "$rev")$'\n'
done

echo
echo "this checkout $(git rev-parse --short HEAD) against $rev, uncached, uniform random ids, $ROUNDS rounds of $ROUND_DURATION"
printf '%s' "$report"
rm -rf "$LOGDIR"
