# Shared by the tools in scripts/perf/ (sourced): the load tool,
# the full-scale dataset, URL lists, and a server started with given settings.
#
# The load tool is oha (crates.io): it drives a closed model (-c connections)
# and an open model (-q requests per second with --latency-correction, so
# latency is measured from when each request was due: no coordinated
# omission), reads URL lists (--urls-from-file), and reports JSON.
#
# oha asks for compressed answers (gzip, compress, deflate, br) unless told
# otherwise, and decompresses them on the same cores as the server. The
# tools send ACCEPT_ENCODING (default identity: a client that asks for no
# compression, as every figure before compression existed was measured);
# ACCEPT_ENCODING=br measures compressing clients.

. "$(dirname "${BASH_SOURCE[0]}")/db.sh"
. "$(dirname "${BASH_SOURCE[0]}")/chart-tools.sh"

PORT=${LOADTEST_PORT:-3000}
BASE="http://127.0.0.1:$PORT"
FULL_SCALE=1000011
ACCEPT_ENCODING=${ACCEPT_ENCODING:-identity}

ensure_oha() {
  export PATH="$HOME/.cargo/bin:$PATH"
  if ! command -v oha >/dev/null; then
    echo "==> installing oha (the load generator) from crates.io"
    cargo install oha --locked --no-default-features --features native-tls --quiet
  fi
}

build_release() {
  echo "==> building the release binary"
  cargo build --release --quiet
  BIN=$PWD/target/release/atelier
}

# Imports a full-scale generated dump unless the database already has one.
ensure_full_dataset() {
  local products=${LOADTEST_PRODUCTS:-$FULL_SCALE}
  local have
  $BIN migrate 2>/dev/null
  have=$(psql "$DATABASE_URL" -tAc "SELECT count(*) FROM product")
  if [ "${have:-0}" -ge "$products" ]; then
    echo "==> dataset: $have products already loaded"
    # Loaded before a migration added a kind of stored answer: store them.
    $BIN answers refresh --missing | sed 's/^/    /'
    return
  fi
  local dump=${LOADTEST_DUMP:-$PWD/target/full-dump}
  echo "==> generating and importing $products products (a few minutes)"
  $BIN generate --products "$products" --out "$dump" --seed 1
  $BIN import "$dump" --rejects "$dump/rejects.csv" --quiet
}

# URL lists for the scenarios, in $URLS.
write_url_lists() {
  URLS=${URLS:-$(mktemp -d /tmp/atelier-urls.XXXXXX)}
  python3 - "$URLS" "$BASE" "$FULL_SCALE" <<'PY'
import random, sys
out, base, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = random.Random(1)
def write(name, paths):
    with open(f"{out}/{name}.txt", "w") as f:
        f.writelines(f"{base}{p}\n" for p in paths)
eight = ["/products?page=100&count=50", "/products/999999", "/products/454755", "/products/1",
         "/products/999999/styles", "/products/700000/styles", "/products/700000/related",
         "/products/999999/related"]
write("original8", eight)
ends = {"product": "", "styles": "/styles", "related": "/related"}
k = 200_000
for name, end in ends.items():
    write(f"uniform-{name}", (f"/products/{rng.randint(1, n)}{end}" for _ in range(k)))
    write(f"tail-{name}", (f"/products/{rng.randint(n - n // 10, n)}{end}" for _ in range(k)))
write("uniform-mixed", (f"/products/{rng.randint(1, n)}{rng.choice(list(ends.values()))}" for _ in range(k)))
write("tail-mixed", (f"/products/{rng.randint(n - n // 10, n)}{rng.choice(list(ends.values()))}" for _ in range(k)))
# Popularity: a Zipf-like rank (Pareto, s ~ 1.2), ranks scattered over the ids.
def popular():
    rank = min(int(rng.paretovariate(1.2)), n)
    return (rank * 7919) % n + 1
write("skewed-mixed", (f"/products/{popular()}{rng.choice(list(ends.values()))}" for _ in range(k)))
PY
}

# Everything a run needs: the database with the full dataset (PostgreSQL's
# buffers sized for it and filled), oha, the release binary, the URL lists;
# the server is stopped when the script exits.
prepare_load_run() {
  ensure_database
  size_shared_buffers
  ensure_oha
  build_release
  ensure_full_dataset
  prewarm_catalog
  write_url_lists
  trap stop_server EXIT
}

# start_server NAME [VAR=value ...]: the release server with these settings.
start_server() {
  local name=$1; shift
  stop_server
  if curl -sf "$BASE/health" >/dev/null; then
    echo "something already answers on port $PORT: stop it or set LOADTEST_PORT" >&2
    exit 1
  fi
  env ROCKET_LOG_LEVEL=critical ATELIER_LOG=warn ROCKET_PORT="$PORT" "$@" "$BIN" serve > "${LOGDIR:-/tmp}/server-$name.log" 2>&1 &
  SERVER_PID=$!
  SERVER_SETTINGS="$*"
  wait_started "$SERVER_PID" "$BASE" "$name" "$*"
}

# start_beside PORT NAME BIN [VAR=value ...]: a second server, the binary
# BIN, on PORT beside start_server's, with these settings (for side-by-side
# runs, each side seconds from the other); stopped when the script exits.
start_beside() {
  local port=$1 name=$2 bin=$3; shift 3
  if curl -sf "http://127.0.0.1:$port/health" >/dev/null; then
    echo "something already answers on port $port: stop it or set LOADTEST_PORT" >&2
    exit 1
  fi
  env ROCKET_LOG_LEVEL=critical ATELIER_LOG=warn ROCKET_PORT="$port" "$@" "$bin" serve > "${LOGDIR:-/tmp}/server-$name.log" 2>&1 &
  BESIDE_PID=$!
  trap 'kill "$BESIDE_PID" 2>/dev/null || true; stop_server' EXIT
  wait_started "$BESIDE_PID" "http://127.0.0.1:$port" "$name" "$*"
}

# wait_started PID BASE NAME "SETTINGS": waits until the server PID answers
# at BASE and has read what it keeps in memory; exits if it does not start.
wait_started() {
  for _ in $(seq 100); do
    kill -0 "$1" 2>/dev/null || break
    if curl -sf "$2/health" >/dev/null; then
      wait_related_in_memory "$2" "$4"
      return
    fi
    sleep 0.2
  done
  echo "the server did not start; see ${LOGDIR:-/tmp}/server-$3.log" >&2
  exit 1
}

# urls_on PORT NAME: the URL list NAME of $URLS aimed at the server on PORT,
# written to $LOGDIR; prints its path.
urls_on() {
  sed "s#127.0.0.1:$PORT#127.0.0.1:$1#" "$URLS/$2.txt" > "$LOGDIR/$2-$1.txt"
  echo "$LOGDIR/$2-$1.txt"
}

# wait_related_in_memory BASE "SETTINGS": waits (up to TIMEOUT s, default
# 60) until the server at BASE has read the related ids into memory, unless
# SETTINGS turn that off: measured meanwhile, the read would be charged to
# the requests, and /related would be measured on the database.
wait_related_in_memory() {
  if [[ " $2 " =~ \ (ATELIER_RELATED_IN_MEMORY=false|ATELIER_CATALOG_POLL_MS=0|DATABASE_NAIVE=true)\  ]]; then
    return
  fi
  local metrics
  for _ in $(seq $((${3:-60} * 5))); do
    metrics=$(curl -sf "$1/metrics" || true)
    # A build from before the related ids were kept in memory has no gauge.
    grep -q '^atelier_related_in_memory_products ' <<< "$metrics" || return 0
    grep -Eq '^atelier_related_in_memory_products [1-9]' <<< "$metrics" && return
    sleep 0.2
  done
  echo "the related ids were not read into memory in ${3:-60} s; measuring anyway" >&2
}

stop_server() {
  if [ -n "${SERVER_PID:-}" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
  fi
}

# Peak resident memory of the running server, in MB.
server_peak_rss_mb() {
  awk '/VmHWM/ {printf "%d", $2 / 1024}' "/proc/$SERVER_PID/status"
}

# oha_json OUT ARGS...: runs oha with ARGS, JSON to OUT.
oha_json() {
  local out=$1; shift
  oha --no-tui --output-format json -H "Accept-Encoding: $ACCEPT_ENCODING" "$@" > "$out" 2>/dev/null || true
}

# ---- what the charts are made from (scripts/perf/charts.py) -----------------
#
# A report's runs are recorded by oha_recorded: the JSON summary in $LOGDIR
# (raw/, committed), every answered request in $REQUESTS/NAME.db (oha's
# --db-url; tens of MB for a long run: requests/ is not committed, see
# .gitignore), and the run's start in $LOGDIR/events.tsv, where
# record_event writes what the script does to the system meanwhile.

# record_event NAME LABEL: "<unix ms>\tNAME\tLABEL" in $LOGDIR/events.tsv.
record_event() {
  printf '%s\t%s\t%s\n' "$(date +%s%3N)" "$1" "$2" >> "$LOGDIR/events.tsv"
}

# record_import_phase NAME LINE: the phase an `atelier import` progress line
# (stderr) starts, as an event of NAME; other lines are ignored.
record_import_phase() {
  case $2 in
    "import: building indexes"*) record_event "$1" "indexes" ;;
    "import: rendering"*) record_event "$1" "stored answers" ;;
    "import: building the search"*) record_event "$1" "search index" ;;
    "import: analyzing"*) record_event "$1" "analyze" ;;
    "import: reading the new tables"*) record_event "$1" "warm" ;;
    "import: swapping"*) record_event "$1" "swap" ;;
  esac
}

# oha_recorded NAME ARGS...: oha as oha_json runs it, its summary in
# $LOGDIR/NAME.json and each answered request in $REQUESTS/NAME.db.
oha_recorded() {
  local name=$1; shift
  mkdir -p "$REQUESTS"
  rm -f "$REQUESTS/$name.db"
  record_event "$name" "oha start"
  oha_json "$LOGDIR/$name.json" --db-url "$REQUESTS/$name.db" "$@"
}

# The report's charts, as markdown lines in CHARTS (the SVGs go beside the
# README, in $OUT; ensure_chart_tools first). A chart that cannot be made
# leaves a line saying so: the figures of a long run are not lost to a chart.
CHARTS=()

# chart_heading TEXT: a heading above the charts that follow.
chart_heading() {
  CHARTS+=("### $1" "")
}

# chart_timeline STEP TITLE: latency percentiles and answers per second over
# the step, its events marked.
chart_timeline() {
  if charts timeline --raw "$LOGDIR" --requests "$REQUESTS" --out "$OUT/$1.svg" \
      --title "$2" "$1" >/dev/null; then
    CHARTS+=("![$2: p50, p99 and p99.9 latency in one-second slices, and answers per second]($1.svg)" "")
  else
    CHARTS+=("No chart of $2: scripts/perf/charts.py failed on it." "")
  fi
}

# chart_histogram NAME TITLE RUN=LABEL...: the runs' latency histograms in
# one chart, $OUT/NAME.svg.
chart_histogram() {
  local name=$1 title=$2; shift 2
  if charts histogram --raw "$LOGDIR" --requests "$REQUESTS" --out "$OUT/$name.svg" \
      --title "$title" "$@" >/dev/null; then
    CHARTS+=("![$title: the share of requests per latency bin]($name.svg)" "")
  else
    CHARTS+=("No latency histogram of $title: scripts/perf/charts.py failed on it." "")
  fi
}

# Prints "rps p50 p90 p99 max errors%" (milliseconds) from an oha JSON file.
oha_summary() {
  python3 - "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
s, l = d["summary"], d["latencyPercentiles"]
ms = lambda v: (v or 0) * 1000
codes = d.get("statusCodeDistribution", {})
# Requests still in flight when the run's time is up are cut off by oha, not
# failed by the server: they are not errors.
errors = {k: v for k, v in d.get("errorDistribution", {}).items() if k != "aborted due to deadline"}
total = sum(codes.values()) + sum(errors.values())
bad = total - sum(v for k, v in codes.items() if k.startswith(("2", "3")))
print(f"{s['requestsPerSec']:.0f} {ms(l['p50']):.2f} {ms(l['p90']):.2f} {ms(l['p99']):.2f} "
      f"{ms(s['slowest']):.2f} {100 * bad / max(total, 1):.3f}")
PY
}
