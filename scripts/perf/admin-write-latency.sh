#!/usr/bin/env bash
# Admin writes on two instances of the release binary over one database,
# both with their response caches on:
#   - the latency of a write (PATCH of a random style's sale price) at a
#     light, steady rate, counted from when each write was due: p50/p99/max;
#   - the time from a write to the other instance serving the new /styles
#     answer. The commit happens between the write's request and its answer,
#     so this is given from both: from the answer (at most the true time) and
#     from the request (at least the true time).
#
#   DATABASE_URL=postgres://atelier:atelier@127.0.0.1:5432/atelier_admin_bench \
#     scripts/perf/admin-write-latency.sh
#   WRITES=600 RATE=50 ROUNDS=300 LOADTEST_PRODUCTS=20000 to change.
#
# The database is created if missing and seeded with a generated dump of
# LOADTEST_PRODUCTS products if it has none. The script writes to it, so it
# refuses a database named `atelier` (the shared benchmark dataset).
set -euo pipefail
cd "$(dirname "$0")/../.."

: "${DATABASE_URL:?DATABASE_URL must name a database of your own (it is written to)}"
WRITES=${WRITES:-600}
RATE=${RATE:-50}
ROUNDS=${ROUNDS:-300}
PRODUCTS=${LOADTEST_PRODUCTS:-20000}
WRITER_PORT=${WRITER_PORT:-3101}
READER_PORT=${READER_PORT:-3102}

db_name=$(python3 -c "import sys, urllib.parse as u; print(u.urlparse(sys.argv[1]).path.lstrip('/'))" "$DATABASE_URL")
if [ "$db_name" = atelier ]; then
  echo "refusing to write to the database 'atelier': give DATABASE_URL a database of your own" >&2
  exit 1
fi
server_url=$(python3 -c "import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print(p._replace(path='/postgres').geturl())" "$DATABASE_URL")
if ! psql "$server_url" -tAc "SELECT 1 FROM pg_database WHERE datname = '$db_name'" | grep -q 1; then
  echo "==> creating the database $db_name"
  psql "$server_url" -qc "CREATE DATABASE $db_name"
fi

echo "==> building the release binary"
cargo build --release --quiet
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/atelier

$BIN migrate 2>/dev/null
have=$(psql "$DATABASE_URL" -tAc "SELECT count(*) FROM product")
if [ "${have:-0}" -lt "$PRODUCTS" ]; then
  dump=$(mktemp -d /tmp/atelier-admin-dump.XXXXXX)
  echo "==> generating and importing $PRODUCTS products"
  $BIN generate --products "$PRODUCTS" --out "$dump" --seed 1 >/dev/null
  $BIN import "$dump" --rejects "$dump/rejects.csv" --quiet >/dev/null
  rm -rf "$dump"
fi

made=$($BIN token new bench 2>/dev/null)
TOKEN=$(sed -n 's/^token: //p' <<< "$made")
ENTRY=$(sed -n 's/^entry: //p' <<< "$made")
LOGDIR=$(mktemp -d /tmp/atelier-admin-bench.XXXXXX)
PIDS=()
stop() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap stop EXIT

start() { # PORT NAME [VAR=VALUE...]
  local port=$1 name=$2; shift 2
  env "$@" DATABASE_URL="$DATABASE_URL" ROCKET_PORT="$port" ROCKET_ADDRESS=127.0.0.1 \
    ROCKET_LOG_LEVEL=critical $BIN serve >"$LOGDIR/$name.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 300); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null && return
    sleep 0.1
  done
  echo "the $name instance never answered; see $LOGDIR/$name.log" >&2
  exit 1
}
echo "==> two instances: the writer on :$WRITER_PORT, the reader on :$READER_PORT"
start "$WRITER_PORT" writer ATELIER_ADMIN_TOKENS="$ENTRY"
start "$READER_PORT" reader

psql "$DATABASE_URL" -tAc "SELECT id, product_id FROM styles ORDER BY id" > "$LOGDIR/styles.txt"

python3 - "$WRITER_PORT" "$READER_PORT" "$TOKEN" "$LOGDIR/styles.txt" "$WRITES" "$RATE" "$ROUNDS" <<'PY'
import http.client, json, random, statistics, sys, time

writer_port, reader_port, token = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
styles = [tuple(map(int, line.split("|"))) for line in open(sys.argv[4]) if line.strip()]
writes, rate, rounds = int(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7])
rng = random.Random(1)
writer = http.client.HTTPConnection("127.0.0.1", writer_port)
reader = http.client.HTTPConnection("127.0.0.1", reader_port)
headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

def patch(style, price):
    writer.request("PATCH", f"/admin/styles/{style}", json.dumps({"sale_price": price}), headers)
    response = writer.getresponse()
    body = response.read()
    if response.status != 200:
        sys.exit(f"PATCH /admin/styles/{style}: {response.status} {body!r}")

def styles_of(product):
    reader.request("GET", f"/products/{product}/styles")
    response = reader.getresponse()
    return response.read()

def summary(name, seconds):
    ms = sorted(s * 1000 for s in seconds)
    p = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]
    print(f"{name:<58} n={len(ms):<5} p50 {p(0.50):7.2f} ms  p99 {p(0.99):7.2f} ms  max {ms[-1]:7.2f} ms")

# 1. Write latency at a steady, light rate, from when each write was due.
latency = []
start = time.perf_counter()
for i in range(writes):
    due = start + i / rate
    now = time.perf_counter()
    if now < due:
        time.sleep(due - now)
    style, _ = rng.choice(styles)
    patch(style, rng.randint(1, 500))
    latency.append(time.perf_counter() - due)
summary(f"write latency at {rate:g} writes/s", latency)

# 2. From a write to the other instance serving it, with its cache on.
from_answer, from_request = [], []
for _ in range(rounds):
    style, product = rng.choice(styles)
    styles_of(product)
    before = styles_of(product)  # a cache hit now
    price = rng.randint(1, 500)
    while f'"sale_price":"{price}.00"'.encode() in before:
        price = rng.randint(1, 500)
    sent = time.perf_counter()
    patch(style, price)
    answered = time.perf_counter()
    while True:
        body = json.loads(styles_of(product))
        shown = next(s for s in body["results"] if s["style_id"] == style)
        if shown["sale_price"] == f"{price}.00":
            seen = time.perf_counter()
            break
        if time.perf_counter() - answered > 5:
            sys.exit(f"style {style}: the reader still served the old price after 5 s")
    from_answer.append(seen - answered)
    from_request.append(seen - sent)
    time.sleep(0.02)
summary("write answered -> the other instance serves it (<= true)", from_answer)
summary("write sent -> the other instance serves it (>= true)", from_request)
PY
