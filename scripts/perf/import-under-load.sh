#!/usr/bin/env bash
# An import on the primary a service reads, under load. One instance serves
# the full-scale catalog from this database while oha sends RATE requests/s
# (open model, latency-corrected) of uniform random ids of the three
# catalog routes; the same full-scale dump is imported:
#   alone          `atelier import`, no load: the import's own time
#   plain-loaded   `atelier import` under the load
#   gentle-loaded  `atelier import --gentle` under the load
#   gentle-alone   `atelier import --gentle`, no load
# (STEPS picks and orders them; the default is the first three) and for each
# loaded run prints, over the import's window, the service's p50/p99/max
# latency, its worst one-second p99, errors, and the import's time against
# its time alone; then the p99 in each of the import's phases and in the
# AFTER seconds after it (the new tables, not yet read into PostgreSQL's
# buffers). Writes loadtests/<UTC>-import-under-load/ with a chart per
# loaded run (latency in one-second slices, phases marked).
#
#   scripts/perf/import-under-load.sh      RATE=2000 AFTER=15 to change
#   STEPS="alone gentle-loaded" scripts/perf/import-under-load.sh
#   LOADTEST_DUMP=DIR reuses a full-scale dump (default target/full-dump)
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/load.sh

RATE=${RATE:-2000}
AFTER=${AFTER:-15}
STEPS=${STEPS:-alone plain-loaded gentle-loaded}
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
      record_import_phase "$step" "$line"
    done
  record_event "$step" "import done"
  IMPORT_SECONDS=$(python3 -c 'import sys; print(f"{(int(sys.argv[1]) - int(sys.argv[2])) / 1e9:.1f}")' "$(date +%s%N)" "$started")
  echo "    import $step: $IMPORT_SECONDS s"
}

# loaded_import STEP [FLAGS...]: import_step under RATE/s of the mix, sent
# in 10-s runs (STEP-1, STEP-2, ...) from 5 s before it to AFTER s past its
# end.
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
  sleep "$AFTER"
  touch "$LOGDIR/$step.done"
  wait "$load"
}

# run_step STEP: one of the steps above, then the new catalog into
# PostgreSQL's buffers so the next step starts as the first did.
run_step() {
  case $1 in
    alone) import_step alone ;;
    plain-loaded) loaded_import plain-loaded ;;
    gentle-loaded) loaded_import gentle-loaded --gentle ;;
    gentle-alone) import_step gentle-alone --gentle ;;
    *) echo "unknown step $1 (alone, plain-loaded, gentle-loaded, gentle-alone)" >&2; exit 2 ;;
  esac
  printf '%s\t%s\n' "$1" "$IMPORT_SECONDS" >> "$LOGDIR/steps.tsv"
  prewarm_catalog > /dev/null
}

start_server import-under-load
echo "==> warming the instance"
oha_json /dev/null -c 32 -z 10s --urls-from-file "$MIXED"

for step in $STEPS; do
  echo "==> $step"
  run_step "$step"
done
stop_server

# The service over each loaded import's window, from every recorded request
# due between its start and its end.
python3 - "$LOGDIR" "$REQUESTS" "$RATE" "$AFTER" > "$LOGDIR/summary.md" <<'PY'
import glob, json, os, sqlite3, sys
raw, requests, rate, after = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
steps = [line.rstrip("\n").split("\t") for line in open(os.path.join(raw, "steps.tsv"))]
seconds = {step: float(s) for step, s in steps}
events = {}
for line in open(os.path.join(raw, "events.tsv")):
    t, step, label = line.rstrip("\n").split("\t", 2)
    events.setdefault(step, []).append((int(t) / 1000, label))
PHASES = ["copy", "indexes", "stored answers", "search index", "analyze", "warm", "swap"]

def phases(step):
    """(name, start, end) of each phase of the import, then the AFTER seconds past it."""
    marks = [(t, "copy" if label == "import started" else label) for t, label in events[step]
             if label in PHASES or label in ("import started", "import done")]
    out = [(name, t, marks[i + 1][0]) for i, (t, name) in enumerate(marks[:-1])]
    done = marks[-1][0]
    return out + [("after", done, done + after)]

def requests_of(step):
    """(due, ms, status) of every recorded request of the step's load runs."""
    out = []
    for db in glob.glob(os.path.join(requests, f"{step}-*.db")):
        run = os.path.basename(db)[:-3]
        begun = [t for t, label in events[run] if label == "oha start"][-1]
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        for due, duration, status in con.execute(
                "SELECT coalesce(start_latency_correction, start), duration, status FROM oha"):
            out.append((begun + due, duration * 1000, status))
        con.close()
    return out

def pct(xs, q):
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")

def errors_of(step):
    errors = 0
    for f in glob.glob(os.path.join(raw, f"{step}-*.json")):
        d = json.load(open(f))
        # Requests cut off at a run's 10-s deadline are the tool's, not errors.
        errors += sum(n for k, n in d.get("errorDistribution", {}).items() if k != "aborted due to deadline")
    return errors

alone = seconds.get("alone")
ratio = lambda s: f"{s / alone:.2f}" if alone else ""
print("| import | its time | / alone | requests in its window | p50 ms | p99 ms | max ms | worst 1-s p99 ms | errors |")
print("|---|---|---|---|---|---|---|---|---|")
loaded = []
for step, _ in steps:
    name = step.replace("-", ", ").replace("loaded", f"under {rate}/s")
    if not step.endswith("-loaded"):
        print(f"| {name} | {seconds[step]:.1f} s | {ratio(seconds[step])} | | | | | | |")
        continue
    reqs = requests_of(step)
    parts = phases(step)
    lo, hi = parts[0][1], parts[-2][2]
    window = [r for r in reqs if lo <= r[0] <= hi]
    lat = sorted(ms for _, ms, _ in window)
    slices = {}
    for due, ms, _ in window:
        slices.setdefault(int(due - lo), []).append(ms)
    worst = max(pct(sorted(xs), 0.99) for xs in slices.values())
    errors = errors_of(step) + sum(status >= 400 for _, _, status in window)
    print(f"| {name} | {seconds[step]:.1f} s | {ratio(seconds[step])} | {len(lat)} | {pct(lat, 0.5):.2f} "
          f"| {pct(lat, 0.99):.2f} | {lat[-1]:.0f} | {worst:.1f} | {errors} |")
    loaded.append((name, reqs, parts))
if loaded:
    print()
    print(f"p99 ms (and seconds) in each phase, and in the {after:.0f} s after the import:")
    print()
    print("| import | " + " | ".join(PHASES + ["after"]) + " |")
    print("|---|" + "---|" * (len(PHASES) + 1))
    for name, reqs, parts in loaded:
        cells = {}
        for phase, lo, hi in parts:
            lat = sorted(ms for due, ms, _ in reqs if lo <= due < hi)
            cells[phase] = f"{pct(lat, 0.99):.1f} ({hi - lo:.0f} s)"
        print(f"| {name} | " + " | ".join(cells.get(p, "") for p in PHASES + ["after"]) + " |")
PY

CHARTS=()
for step in $STEPS; do
  case $step in
    plain-loaded) chart_timeline plain-loaded "atelier import under $RATE requests/s" ;;
    gentle-loaded) chart_timeline gentle-loaded "atelier import --gentle under $RATE requests/s" ;;
  esac
done
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
