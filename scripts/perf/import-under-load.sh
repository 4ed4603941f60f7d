#!/usr/bin/env bash
# An import on the primary a service reads, under load. One instance serves
# the full-scale catalog from this database while oha sends RATE requests/s
# (open model, latency-corrected) of uniform random ids of the three
# catalog routes; the same full-scale dump is imported:
#   alone          `atelier import`, no load: the import's own time
#   plain-loaded   `atelier import` under the load
#   gentle-loaded  `atelier import --gentle` under the load
#   gentle-alone   (GENTLE_ALONE=1) `atelier import --gentle`, no load
# and for each loaded run prints, over the import's window, the service's
# p50/p99/max latency, its worst one-second p99, errors, and the import's
# time against its time alone. Writes loadtests/<UTC>-import-under-load/
# with a chart per loaded run (latency in one-second slices, phases marked).
#
#   scripts/perf/import-under-load.sh      RATE=2000 GENTLE_ALONE=1 to change
#   LOADTEST_DUMP=DIR reuses a full-scale dump (default target/full-dump)
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/load.sh

RATE=${RATE:-2000}
stamp=$(date -u +%Y-%m-%dT%H-%M-%SZ)
OUT=loadtests/$stamp-import-under-load
LOGDIR=$OUT/raw
REQUESTS=$OUT/requests
mkdir -p "$LOGDIR"

prepare_load_run
ensure_chart_tools
DUMP=${LOADTEST_DUMP:-$PWD/target/full-dump}
[ -e "$DUMP/product.csv" ] || $BIN generate --products "$FULL_SCALE" --out "$DUMP" --seed 1
MIXED=$URLS/uniform-mixed.txt

# import_step STEP [FLAGS...]: the dump imported with FLAGS, its phases
# recorded as events of STEP; the time it took in IMPORT_SECONDS.
import_step() {
  local step=$1 started
  shift
  started=$(date +%s%N)
  record_event "$step" "import started"
  "$BIN" import "$DUMP" --rejects "$LOGDIR/rejects.csv" "$@" 2>&1 > "$LOGDIR/$step-import.txt" |
    while IFS= read -r line; do
      case $line in
        "import: building indexes"*) record_event "$step" "indexes" ;;
        "import: rendering"*) record_event "$step" "styles answers" ;;
        "import: building the search"*) record_event "$step" "search index" ;;
        "import: analyzing"*) record_event "$step" "analyze" ;;
        "import: swapping"*) record_event "$step" "swap" ;;
      esac
    done
  record_event "$step" "import done"
  IMPORT_SECONDS=$(python3 -c 'import sys; print(f"{(int(sys.argv[1]) - int(sys.argv[2])) / 1e9:.1f}")' "$(date +%s%N)" "$started")
  echo "    import $step: $IMPORT_SECONDS s"
  # The new catalog into PostgreSQL's buffers, as after a deploy.
  prewarm_catalog > /dev/null
}

# loaded_import STEP [FLAGS...]: import_step under RATE/s of the mix, sent
# in 10-s runs (STEP-1, STEP-2, ...) from 5 s before it to its end.
loaded_import() {
  local step=$1 load
  rm -f "$LOGDIR/$step.done"
  (
    i=0
    while [ ! -e "$LOGDIR/$step.done" ] && kill -0 $$ 2>/dev/null; do
      i=$((i + 1))
      oha_recorded "$step-$i" -c 256 -q "$RATE" --latency-correction -z 10s --urls-from-file "$MIXED"
    done
  ) &
  load=$!
  sleep 5
  import_step "$@"
  touch "$LOGDIR/$step.done"
  wait "$load"
}

start_server import-under-load
echo "==> warming the instance"
oha_json /dev/null -c 32 -z 10s --urls-from-file "$MIXED"

echo "==> the import alone"
import_step alone
ALONE=$IMPORT_SECONDS
echo "==> the import under $RATE requests/s"
loaded_import plain-loaded
PLAIN=$IMPORT_SECONDS
echo "==> the gentle import under $RATE requests/s"
loaded_import gentle-loaded --gentle
GENTLE=$IMPORT_SECONDS
GENTLE_ALONE_SECONDS=
if [ -n "${GENTLE_ALONE:-}" ]; then
  echo "==> the gentle import alone"
  import_step gentle-alone --gentle
  GENTLE_ALONE_SECONDS=$IMPORT_SECONDS
fi
stop_server

# The service over each loaded import's window, from every recorded request
# due between its start and its end.
python3 - "$LOGDIR" "$REQUESTS" "$ALONE" "$PLAIN" "$GENTLE" "$GENTLE_ALONE_SECONDS" "$RATE" \
  > "$LOGDIR/summary.md" <<'PY'
import glob, json, os, sqlite3, sys
raw, requests, alone, plain, gentle, gentle_alone, rate = sys.argv[1:8]
events = {}
for line in open(os.path.join(raw, "events.tsv")):
    t, step, label = line.rstrip("\n").split("\t", 2)
    events.setdefault(step, []).append((int(t) / 1000, label))

def window(step):
    e = dict((label, t) for t, label in events[step])
    return e["import started"], e["import done"]

def service(step):
    lo, hi = window(step)
    lat, errors, slices = [], 0, {}
    for db in glob.glob(os.path.join(requests, f"{step}-*.db")):
        run = os.path.basename(db)[:-3]
        begun = [t for t, label in events[run] if label == "oha start"][-1]
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        for due, duration, status in con.execute(
                "SELECT coalesce(start_latency_correction, start), duration, status FROM oha"):
            at = begun + due
            if lo <= at <= hi:
                ms = duration * 1000
                lat.append(ms)
                errors += status >= 400
                slices.setdefault(int(at - lo), []).append(ms)
        con.close()
    for f in glob.glob(os.path.join(raw, f"{step}-*.json")):
        d = json.load(open(f))
        # Requests cut off at a run's 10-s deadline are the tool's, not errors.
        errors += sum(n for k, n in d.get("errorDistribution", {}).items() if k != "aborted due to deadline")
    lat.sort()
    pct = lambda xs, q: xs[min(len(xs) - 1, int(q * len(xs)))]
    worst = max(pct(sorted(xs), 0.99) for xs in slices.values())
    return len(lat), pct(lat, 0.5), pct(lat, 0.99), lat[-1], worst, errors

print(f"| import | its time | / alone | requests in its window | p50 ms | p99 ms | max ms | worst 1-s p99 ms | errors |")
print("|---|---|---|---|---|---|---|---|---|")
print(f"| plain, alone | {float(alone):.1f} s | 1.00 | | | | | | |")
if gentle_alone:
    print(f"| gentle, alone | {float(gentle_alone):.1f} s | {float(gentle_alone) / float(alone):.2f} | | | | | | |")
for name, step, seconds in (("plain", "plain-loaded", plain), ("gentle", "gentle-loaded", gentle)):
    n, p50, p99, top, worst, errors = service(step)
    print(f"| {name}, under {rate}/s | {float(seconds):.1f} s | {float(seconds) / float(alone):.2f} "
          f"| {n} | {p50:.2f} | {p99:.2f} | {top:.0f} | {worst:.1f} | {errors} |")
PY

CHARTS=()
chart_timeline plain-loaded "atelier import under $RATE requests/s"
chart_timeline gentle-loaded "atelier import --gentle under $RATE requests/s"
{
  echo "# An import on the primary the service reads, under $RATE requests/s"
  echo
  echo "\`scripts/perf/import-under-load.sh\` at $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo '+changes'), $(date -u +%FT%TZ);"
  echo "one instance, the full-scale catalog, the uniform random mix (open model, latency-corrected)."
  echo
  cat "$LOGDIR/summary.md"
  echo
  printf '%s\n' "${CHARTS[@]}"
} > "$OUT/README.md"
echo
cat "$LOGDIR/summary.md"
echo
echo "report: $OUT/README.md"
