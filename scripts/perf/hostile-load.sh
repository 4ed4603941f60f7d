#!/usr/bin/env bash
# What attackers cost the shoppers: the uniform random mix at a fixed
# arrival rate (open model, latency corrected), alone and then while one
# attacker at a time sends
#   (a) pages far past the catalog's end     (/products?page=<7 digits>&count=1000)
#   (b) junk query strings                   (?page=0001, ?count=5&x=<random>, ...)
#   (c) unauthenticated 1 MiB admin bodies   (PUT /admin/styles/1/photos, no token)
#   (d) idle connections that never send a byte
#   (e) trickled headers (slowloris) and declared bodies that never arrive
#   (f) a cleartext HTTP/2 (h2c) flood: connections opened with HTTP/2's preface
# against one release instance exposed directly (no nginx), admin API on.
# Prints, for each, the victim's p50 and p99 and the server's peak RSS, and
# their ratios to the run alone. The junk queries all spell one page, so a
# control run asks for that page plainly at the same rate: junk should cost
# what the honest request for the same answer costs, and no more.
#
#   scripts/perf/hostile-load.sh     DURATION=15s RATE=2000 to change; LOADTEST_PRODUCTS for a smaller catalog
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/load.sh

DURATION=${DURATION:-15s}
RATE=${RATE:-2000}
PAST_END_RATE=${PAST_END_RATE:-50}
JUNK_RATE=${JUNK_RATE:-500}
BODY_RATE=${BODY_RATE:-20}
IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-10000}
SLOW_CONNECTIONS=${SLOW_CONNECTIONS:-1000}
H2C_CONNECTIONS=${H2C_CONNECTIONS:-200}
seconds=${DURATION%s}
LOGDIR=$(mktemp -d /tmp/atelier-hostile.XXXXXX)

# Every idle connection is a descriptor on both ends: as many as allowed.
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((IDLE_CONNECTIONS + 1000)) ]; then
  echo "open files limited to $(ulimit -n): IDLE_CONNECTIONS=$IDLE_CONNECTIONS needs more" >&2
  exit 1
fi
prepare_load_run

echo "==> attack URL lists and bodies in $LOGDIR"
python3 - "$LOGDIR" "$BASE" <<'PY'
import json, random, sys
out, base = sys.argv[1], sys.argv[2]
rng = random.Random(2)
with open(f"{out}/past-end.txt", "w") as f:
    for _ in range(100_000):
        f.write(f"{base}/products?page={rng.randint(1_000_000, 9_999_999)}&count=1000\n")
spellings = ["page=0001&count=1000", "page=%31&count=1000", "count=1000&page=1&x={n}",
             "page=1&count=01000&utm_source={n}", "page=1&&&count=1000&{n}="]
with open(f"{out}/junk.txt", "w") as f:
    for _ in range(100_000):
        q = rng.choice(spellings).format(n=rng.randint(0, 10**12))
        f.write(f"{base}/products?{q}\n")
photo = {"thumbnail_url": "https://img.example/t.jpg", "url": "https://img.example/u.jpg"}
body = json.dumps([photo] * 14_000)[: 1 << 20]
with open(f"{out}/body.json", "w") as f:
    f.write(body)
PY

# The connection attacks: COUNT sockets held for SECONDS, each doing MODE
# (idle: nothing; slow: one header byte every 5 s; nobody: a request that
# declares a body and sends none). Prints how many the server had closed.
hold_connections() { # mode count seconds
  python3 - "$PORT" "$@" <<'PY'
import socket, sys, time
port, mode, count, seconds = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
socks = []
for i in range(count):
    s = socket.socket()
    s.setblocking(True)
    try:
        s.connect(("127.0.0.1", port))
    except OSError as e:
        print(f"connect {i}: {e}", file=sys.stderr)
        break
    if mode == "slow":
        s.sendall(b"GET /products/1 HTTP/1.1\r\n")
    elif mode == "nobody":
        s.sendall(b"PUT /admin/styles/1/photos HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
    s.setblocking(False)
    socks.append(s)
end = time.monotonic() + seconds
while time.monotonic() < end:
    time.sleep(5)
    if mode == "slow":
        for s in socks:
            try:
                s.send(b"X")
            except OSError:
                pass
closed = 0
for s in socks:
    try:
        closed += s.recv(1) == b""
    except BlockingIOError:
        pass
    except OSError:
        closed += 1
    s.close()
print(f"{len(socks)} held, {closed} closed by the server")
PY
}

# The h2c flood: COUNT connections at a time for SECONDS, each sending
# HTTP/2's connection preface and a SETTINGS frame, then opening streams,
# again as soon as the server closes it. Prints how the server answered.
h2c_flood() { # count seconds
  python3 - "$PORT" "$@" <<'PY'
import selectors, socket, sys, time
port, count, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
# HEADERS frames for streams 1, 3, 5, ...: GET / with HPACK's static table.
streams = b"".join(b"\x00\x00\x03\x01\x05" + n.to_bytes(4, "big") + b"\x82\x84\x86" for n in range(1, 200, 2))
sel = selectors.DefaultSelector()
opened = closed = http1_answers = http2_answers = 0
def open_one():
    global opened
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(preface + streams)
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
    opened += 1
for _ in range(count):
    open_one()
end = time.monotonic() + seconds
while time.monotonic() < end:
    for key, _ in sel.select(timeout=0.5):
        s = key.fileobj
        try:
            data = s.recv(65536)
        except OSError:
            data = b""
        if data.startswith(b"HTTP/1.1"):
            http1_answers += 1
        elif len(data) >= 9 and data[3] == 4:
            http2_answers += 1
        if not data:
            sel.unregister(s)
            s.close()
            closed += 1
            open_one()
print(f"{opened} connections opened, {closed} closed by the server, {http1_answers} HTTP/1.1 answers, {http2_answers} HTTP/2 SETTINGS")
for key in list(sel.get_map().values()):
    key.fileobj.close()
PY
}

token_entry=$("$BIN" token new hostile-load 2>/dev/null | awk '/^entry:/ {print $2}')
start_server hostile DATABASE_URL="$DATABASE_URL" ATELIER_ADMIN_TOKENS="$token_entry"
pid=$SERVER_PID
# Warm-up: fills PostgreSQL's buffers, the pool and the cache's first entries.
oha_json /dev/null -c 32 -z 5s --urls-from-file "$URLS/uniform-mixed.txt"

rows=()
base_p99=
base_rss=
victim() { # label attack-description
  local label=$1 file="$LOGDIR/victim-$(echo "$1" | tr -c 'a-zA-Z0-9\n' '-').json"
  oha_json "$file" -c 128 -q "$RATE" --latency-correction -z "$DURATION" --urls-from-file "$URLS/uniform-mixed.txt"
  read -r rps p50 _ p99 _ errors < <(oha_summary "$file")
  local rss
  rss=$(awk '/VmHWM/ {printf "%d", $2 / 1024}' "/proc/$pid/status")
  if [ -z "$base_p99" ]; then base_p99=$p99; base_rss=$rss; fi
  rows+=("| $label | $2 | $rps | $p50 | $p99 | $(python3 -c "print(f'{$p99 / max($base_p99, 0.001):.2f}')") | $errors | $rss | $(python3 -c "print(f'{$rss / max($base_rss, 1):.2f}')") |")
  echo "    $label: p99 $p99 ms, RSS $rss MB, errors $errors%"
}
# The next phase's own peak RSS: writing 5 to clear_refs resets VmHWM.
reset_peak() { echo 5 > "/proc/$pid/clear_refs"; }

attack_summary() { # oha json file
  python3 - "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
codes = d.get("statusCodeDistribution", {})
print(", ".join(f"{n} x {c}" for c, n in sorted(codes.items())) or "no answers")
PY
}

echo "==> the victim alone ($RATE/s of the uniform random mix, $DURATION)"
reset_peak
victim "alone" "-"

echo "==> (a) pages past the end, $PAST_END_RATE/s"
reset_peak
oha_json "$LOGDIR/attack-a.json" -c 16 -q "$PAST_END_RATE" -z "$DURATION" --urls-from-file "$LOGDIR/past-end.txt" &
attacker=$!
victim "(a) past-the-end pages" "$PAST_END_RATE/s"
wait "$attacker"
echo "    attacker got: $(attack_summary "$LOGDIR/attack-a.json")"

echo "==> (b) junk query strings, $JUNK_RATE/s"
reset_peak
oha_json "$LOGDIR/attack-b.json" -c 16 -q "$JUNK_RATE" -z "$DURATION" --urls-from-file "$LOGDIR/junk.txt" &
attacker=$!
victim "(b) junk query strings" "$JUNK_RATE/s"
wait "$attacker"
echo "    attacker got: $(attack_summary "$LOGDIR/attack-b.json")"

echo "==> (b) control: the page the junk spells, asked plainly, $JUNK_RATE/s"
reset_peak
oha_json "$LOGDIR/attack-b0.json" -c 16 -q "$JUNK_RATE" -z "$DURATION" "$BASE/products?page=1&count=1000" &
attacker=$!
victim "(b) control: that page asked plainly" "$JUNK_RATE/s"
wait "$attacker"
echo "    the plain client got: $(attack_summary "$LOGDIR/attack-b0.json")"

echo "==> (c) unauthenticated 1 MiB admin bodies, $BODY_RATE/s"
reset_peak
oha_json "$LOGDIR/attack-c.json" -c 64 -q "$BODY_RATE" -z "$DURATION" -m PUT \
  -H "Content-Type: application/json" -D "$LOGDIR/body.json" "$BASE/admin/styles/1/photos" &
attacker=$!
victim "(c) 1 MiB bodies, no token" "$BODY_RATE/s"
wait "$attacker"
echo "    attacker got: $(attack_summary "$LOGDIR/attack-c.json")"

echo "==> (d) $IDLE_CONNECTIONS idle connections"
reset_peak
hold_connections idle "$IDLE_CONNECTIONS" "$((seconds + 5))" > "$LOGDIR/attack-d.txt" &
attacker=$!
sleep 3
victim "(d) idle connections" "$IDLE_CONNECTIONS held"
wait "$attacker"
echo "    attacker: $(cat "$LOGDIR/attack-d.txt")"

echo "==> (e) $SLOW_CONNECTIONS trickled headers and $SLOW_CONNECTIONS bodies never sent"
reset_peak
hold_connections slow "$SLOW_CONNECTIONS" "$((seconds + 5))" > "$LOGDIR/attack-e-slow.txt" &
slow=$!
hold_connections nobody "$SLOW_CONNECTIONS" "$((seconds + 5))" > "$LOGDIR/attack-e-nobody.txt" &
nobody=$!
sleep 3
victim "(e) slowloris + bodies never sent" "$((2 * SLOW_CONNECTIONS)) held"
wait "$slow" "$nobody"
echo "    attacker: trickled $(cat "$LOGDIR/attack-e-slow.txt"); never sent $(cat "$LOGDIR/attack-e-nobody.txt")"

echo "==> (f) h2c flood, $H2C_CONNECTIONS connections at a time"
reset_peak
h2c_flood "$H2C_CONNECTIONS" "$((seconds + 5))" > "$LOGDIR/attack-f.txt" &
attacker=$!
sleep 1
victim "(f) h2c flood" "$H2C_CONNECTIONS at a time"
wait "$attacker"
echo "    attacker: $(cat "$LOGDIR/attack-f.txt")"
stop_server

commit=$(git rev-parse --short HEAD)$(git diff --quiet || echo "+changes")
echo
echo "commit $commit, $(nproc) cores, $(psql "$DATABASE_URL" -tAc "SELECT count(*) FROM product") products, victim $RATE/s for $DURATION (oha $(oha --version | awk '{print $2}'), latency corrected), raw output in $LOGDIR"
echo
echo "| victim's run | attack rate | victim RPS | p50 ms | p99 ms | p99 / alone | errors % | peak RSS MB | RSS / alone |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
