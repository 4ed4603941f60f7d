#!/usr/bin/env bash
# Admin writes on two instances of the release binary over one database,
# both with their response caches on and ATELIER_NGINX_EXPIRES=true, and a
# real nginx in front of them on a copy of deploy/nginx/atelier.conf:
#   - the latency of a write (PATCH of a random style's sale price) at a
#     light, steady rate, counted from when each write was due: p50/p99/max;
#   - the time from a write to the other instance serving the new /styles
#     answer. The commit happens between the write's request and its answer,
#     so this is given from both: from the answer (at most the true time) and
#     from the request (at least the true time);
#   - the same to nginx serving it, nginx's copy cached before each write
#     and the write at a random point of a second (nginx keeps an answer to
#     the end of the second it got it in: a wait of 0-1 s by design);
#   - nginx's cached-hit throughput against one instance's own, oha's closed
#     model on the same URLs (HOT_URLS of them, every answer cached in both),
#     alternated, their ratio, and what nginx's cache did meanwhile.
#
#   DATABASE_URL=postgres://atelier:atelier@127.0.0.1:5432/atelier_admin_bench \
#     scripts/perf/admin-write-latency.sh
#   WRITES=600 RATE=50 ROUNDS=300 LOADTEST_PRODUCTS=20000 to change; for the
#   throughput HOT_URLS=1000 OHA_SECONDS=10 OHA_CONNECTIONS=32 OHA_RUNS=2
#   (runs of each, alternated).
#
# The database is created if missing and seeded with a generated dump of
# LOADTEST_PRODUCTS products if it has none. The script writes to it, so it
# refuses a database named `atelier` (the shared benchmark dataset). nginx
# (Debian's package, installed if missing, no server started by the
# package) runs in the foreground on 127.0.0.1:NGINX_PORT, its files in a
# temporary directory, as tests/ops/deploy.rs runs it.
set -euo pipefail
cd "$(dirname "$0")/../.."

: "${DATABASE_URL:?DATABASE_URL must name a database of your own (it is written to)}"
WRITES=${WRITES:-600}
RATE=${RATE:-50}
ROUNDS=${ROUNDS:-300}
PRODUCTS=${LOADTEST_PRODUCTS:-20000}
WRITER_PORT=${WRITER_PORT:-3101}
READER_PORT=${READER_PORT:-3102}
NGINX_PORT=${NGINX_PORT:-3180}
HOT_URLS=${HOT_URLS:-1000}
OHA_SECONDS=${OHA_SECONDS:-10}
OHA_CONNECTIONS=${OHA_CONNECTIONS:-32}
OHA_RUNS=${OHA_RUNS:-2}
. scripts/lib/load.sh
. scripts/lib/deploy-tools.sh

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

ensure_oha
ensure_nginx
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

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
start "$WRITER_PORT" writer ATELIER_NGINX_EXPIRES=true ATELIER_ADMIN_TOKENS="$ENTRY"
start "$READER_PORT" reader ATELIER_NGINX_EXPIRES=true

# nginx on a copy of the shipped config: its installed paths pointed into
# NGINX_DIR, listening on 127.0.0.1:NGINX_PORT only, both instances its
# upstreams; a worker per core, as Debian's nginx.conf has it, run as the
# current user (the directive is ignored, with a notice, for a non-root one).
NGINX_DIR=$LOGDIR/nginx
mkdir -p "$NGINX_DIR"
cp deploy/nginx/verification.conf deploy/nginx/admin-allow.conf "$NGINX_DIR/"
printf 'server 127.0.0.1:%s max_fails=3 fail_timeout=10s;\n' "$WRITER_PORT" "$READER_PORT" \
  > "$NGINX_DIR/upstreams.conf"
sed -e "s|/etc/nginx/atelier/|$NGINX_DIR/|g" \
    -e "s|/var/cache/nginx/atelier|$NGINX_DIR/cache|g" \
    -e "s|/var/log/nginx/|$NGINX_DIR/|g" \
    -e "s|^    listen 80 default_server;|    listen 127.0.0.1:$NGINX_PORT default_server;|" \
    -e "/^    listen \[::\]:80 default_server;/d" \
    deploy/nginx/atelier.conf > "$NGINX_DIR/atelier.conf"
cat > "$NGINX_DIR/nginx.conf" <<CONF
user $(id -un);
worker_processes auto;
pid $NGINX_DIR/nginx.pid;
error_log $NGINX_DIR/error.log;
events { worker_connections 1024; }
http {
  access_log $NGINX_DIR/access.log;
  client_body_temp_path $NGINX_DIR/client_body;
  proxy_temp_path $NGINX_DIR/proxy;
  fastcgi_temp_path $NGINX_DIR/fastcgi;
  uwsgi_temp_path $NGINX_DIR/uwsgi;
  scgi_temp_path $NGINX_DIR/scgi;
  include $NGINX_DIR/atelier.conf;
}
CONF
echo "==> nginx on :$NGINX_PORT in front of both"
"$NGINX" -p "$NGINX_DIR/" -e "$NGINX_DIR/error.log" -c "$NGINX_DIR/nginx.conf" \
  -g 'daemon off;' 2>>"$NGINX_DIR/error.log" &
PIDS+=($!)
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$NGINX_PORT/health" >/dev/null && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$NGINX_PORT/health" >/dev/null \
  || { echo "nginx never answered; see $NGINX_DIR/error.log" >&2; exit 1; }

psql "$DATABASE_URL" -tAc "SELECT id, product_id FROM styles ORDER BY id" > "$LOGDIR/styles.txt"

python3 - "$WRITER_PORT" "$READER_PORT" "$TOKEN" "$LOGDIR/styles.txt" "$WRITES" "$RATE" "$ROUNDS" "$NGINX_PORT" <<'PY'
import http.client, json, random, sys, time

writer_port, reader_port, token = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
styles = [tuple(map(int, line.split("|"))) for line in open(sys.argv[4]) if line.strip()]
writes, rate, rounds = int(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7])
nginx_port = int(sys.argv[8])
rng = random.Random(1)
writer = http.client.HTTPConnection("127.0.0.1", writer_port)
reader = http.client.HTTPConnection("127.0.0.1", reader_port)
nginx = http.client.HTTPConnection("127.0.0.1", nginx_port)
headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

def patch(style, price):
    writer.request("PATCH", f"/admin/styles/{style}", json.dumps({"sale_price": price}), headers)
    response = writer.getresponse()
    body = response.read()
    if response.status != 200:
        sys.exit(f"PATCH /admin/styles/{style}: {response.status} {body!r}")

def styles_of(product, via):
    via.request("GET", f"/products/{product}/styles")
    response = via.getresponse()
    body = response.read()
    if response.status != 200:
        sys.exit(f"GET /products/{product}/styles: {response.status} {body!r}")
    return body

def sale_price(body, style):
    return next(s for s in json.loads(body)["results"] if s["style_id"] == style)["sale_price"]

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

# 2. From a write to the other instance serving it, then to nginx serving
# it; the answer cached by the one polled before each write. A write to
# nginx comes at a random point of a second, as writes do: nginx's copy
# lasts to the end of the second it was fetched or revalidated in, and a
# write just after the previous round's poll (which ends on a revalidation)
# would always wait the most.
def write_then_poll(via, name, random_second):
    from_answer, from_request = [], []
    for _ in range(rounds):
        style, product = rng.choice(styles)
        styles_of(product, via)
        before = styles_of(product, via)  # a cache hit now
        price = rng.randint(1, 500)
        while f'"sale_price":"{price}.00"'.encode() in before:
            price = rng.randint(1, 500)
        if random_second:
            time.sleep(rng.random())
        sent = time.perf_counter()
        patch(style, price)
        answered = time.perf_counter()
        while True:
            if sale_price(styles_of(product, via), style) == f"{price}.00":
                seen = time.perf_counter()
                break
            if time.perf_counter() - answered > 5:
                sys.exit(f"style {style}: {name} still served the old price after 5 s")
            if random_second:
                time.sleep(0.002)
        from_answer.append(seen - answered)
        from_request.append(seen - sent)
        time.sleep(0.02)
    summary(f"write answered -> {name} serves it (<= true)", from_answer)
    summary(f"write sent -> {name} serves it (>= true)", from_request)

write_then_poll(reader, "the other instance", False)
write_then_poll(nginx, "nginx", True)
PY

# 3. nginx's cached hits against an instance's own, on the same URLs: the
# product, styles or related of HOT_URLS random products, every answer
# cached in both (nginx revalidating each once a second with a 304 the
# instances answer from their caches). Alternated, OHA_RUNS runs of each.
python3 - "$LOGDIR" "$HOT_URLS" "$PRODUCTS" "$READER_PORT" "$NGINX_PORT" <<'PY'
import random, sys
out, n, products, reader, nginx = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
rng = random.Random(2)
paths = [f"/products/{rng.randint(1, products)}{rng.choice(['', '/styles', '/related'])}" for _ in range(n)]
for name, port in (("direct", reader), ("nginx", nginx)):
    with open(f"{out}/urls-{name}.txt", "w") as f:
        f.writelines(f"http://127.0.0.1:{port}{p}\n" for p in paths)
PY
echo
echo "==> cached hits: the reader instance directly, and nginx; $OHA_CONNECTIONS connections, ${OHA_SECONDS}s runs"
for name in direct nginx; do
  oha_json "$LOGDIR/warm-$name.json" -c "$OHA_CONNECTIONS" -n $((HOT_URLS * 3)) --urls-from-file "$LOGDIR/urls-$name.txt"
done
: > "$LOGDIR/nginx-cache.txt"
for run in $(seq 1 "$OHA_RUNS"); do
  for name in direct nginx; do
    : > "$NGINX_DIR/atelier.access.log"
    oha_json "$LOGDIR/$name-$run.json" -c "$OHA_CONNECTIONS" -z "${OHA_SECONDS}s" --urls-from-file "$LOGDIR/urls-$name.txt"
    if [ "$name" = nginx ]; then
      sed -n 's/.* cache=\([A-Z]*\)$/\1/p' "$NGINX_DIR/atelier.access.log" >> "$LOGDIR/nginx-cache.txt"
    fi
    printf '%-6s run %s (rps p50 p90 p99 max ms, errors%%): %s\n' "$name" "$run" "$(oha_summary "$LOGDIR/$name-$run.json")"
  done
done
python3 - "$LOGDIR" "$OHA_RUNS" <<'PY'
import collections, json, sys
logdir, runs = sys.argv[1], int(sys.argv[2])
def rps(name):
    return [json.load(open(f"{logdir}/{name}-{run}.json"))["summary"]["requestsPerSec"]
            for run in range(1, runs + 1)]
direct, nginx = rps("direct"), rps("nginx")
mean = lambda xs: sum(xs) / len(xs)
for name, xs in (("cached hits, one instance directly", direct), ("cached hits, nginx in front of two", nginx)):
    print(f"{name:<58} {mean(xs):9,.0f}/s  (runs {', '.join(f'{x:,.0f}' for x in xs)})")
print(f"{'nginx / direct (goal >= 0.5)':<58} {mean(nginx) / mean(direct):9.2f}")
statuses = collections.Counter(line.strip() for line in open(f"{logdir}/nginx-cache.txt") if line.strip())
total = sum(statuses.values()) or 1
print("nginx's cache meanwhile: " + ", ".join(f"{k} {v / total:.1%}" for k, v in statuses.most_common()))
PY
