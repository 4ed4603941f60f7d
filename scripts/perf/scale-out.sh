#!/usr/bin/env bash
# Scale-out run on this one machine, as the service is deployed: a primary
# and a streaming replica (scripts/lib/replica.sh), three instances on the
# full-scale dataset (two reading the replica, one the primary), and real
# nginx with the deploy/nginx config in front, on loopback. Under open-model
# load through nginx (oha at RATE requests/s, latency counted from when each
# request was due), it runs and reports:
#   (a) RPS and p50/p99 with 1, 2 and 3 instances, requests per instance,
#       and the nginx hop against one instance directly
#   (b) kill -9 of one instance mid-run
#   (c) a rolling restart of all three (SIGTERM, start, wait until ready)
#   (d) the replica stopped mid-run
#   (e) an import on the primary mid-run
#   (f) the primary stopped for 10 s with nginx's cache warm
#   (g) a cold start: PostgreSQL restarted under COLD_RATE requests/s of
#       uniform random ids, with and without its buffers filled at start-up,
#       and the time until p99 is back under 25 ms
# and writes loadtests/<UTC timestamp>-scale-out/README.md with each step's
# error count and status codes, and charts beside it (scripts/perf/charts.py):
# each step's latency percentiles and answers per second over time, with what
# was done to the system (kill, restart, import phases, outage) marked on the
# time axis, and latency histograms; and, for the instances that read the
# replica, the most replica lag each saw and how many reads it sent to the
# primary because the replica was skipped for lag (/metrics, scraped every
# 0.5 s during the step).
#
#   scripts/perf/scale-out.sh     RATE=2000 STEP=20s COLD_RATE=5000 IMPORT_FLAGS=--gentle
#                                 NGINX_DIR=/dev/shm to change
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/load.sh
. scripts/lib/replica.sh
. scripts/lib/deploy-tools.sh

RATE=${RATE:-2000}
STEP=${STEP:-20s}
COLD_RATE=${COLD_RATE:-5000}
NGINX_PORT=${NGINX_PORT:-8080}
stamp=$(date -u +%Y-%m-%dT%H-%M-%SZ)
OUT=loadtests/$stamp-scale-out
LOGDIR=$OUT/raw
REQUESTS=$OUT/requests
mkdir -p "$LOGDIR"
# nginx's files (its cache, temp files, log) in memory: in a deployment nginx
# has a host of its own, and here its disk would be PostgreSQL's. Its one
# worker blocks on each cache file it writes, and a primary and a replica
# removing an import's old tables hold that disk up for seconds.
NGX=$(mktemp -d "${NGINX_DIR:-/dev/shm}/atelier-nginx.XXXXXX")
VERSION=$(cluster_version)

prepare_load_run
ensure_chart_tools
ensure_replica
ensure_deploy_tools
REPLICA_URL=$DATABASE_REPLICA_SERVER_URL

# ---- instances ------------------------------------------------------------

declare -A PIDS
port_of() { echo $((3000 + $1)); }
# Instances 1 and 2 read the replica, 3 the primary.
start_instance() {
  local n=$1 replicas=
  [ "$n" -le 2 ] && replicas=$REPLICA_URL
  # Request log lines off, as in the other load scripts: at these rates they
  # are most of an instance's output and take CPU from the run.
  env ROCKET_LOG_LEVEL=critical ATELIER_LOG=info,atelier::request=warn ROCKET_ADDRESS=127.0.0.1 ROCKET_PORT="$(port_of "$n")" \
    ROCKET_SHUTDOWN='{grace=5,mercy=2}' DATABASE_URL="$DATABASE_URL" \
    DATABASE_REPLICA_URLS="$replicas" "$BIN" serve >> "$LOGDIR/instance-$n.log" 2>&1 &
  PIDS[$n]=$!
}
wait_ready() {
  for _ in $(seq 200); do
    curl -sf "http://127.0.0.1:$(port_of "$1")/products/1" >/dev/null && return
    sleep 0.1
  done
  echo "instance $1 did not become ready; see $LOGDIR/instance-$1.log" >&2
  exit 1
}
stop_all() {
  for n in "${!PIDS[@]}"; do kill "${PIDS[$n]}" 2>/dev/null || true; done
  [ -f "$NGX/nginx.pid" ] && nginx -p "$NGX/" -c "$NGX/nginx.conf" -s stop 2>/dev/null || true
  stop_server
}
trap stop_all EXIT

# ---- nginx with the shipped config, paths moved into $NGX -----------------

upstreams() { # the first N instances
  : > "$NGX/upstreams.conf"
  for n in $(seq "$1"); do
    echo "server 127.0.0.1:$(port_of "$n") max_fails=3 fail_timeout=10s;" >> "$NGX/upstreams.conf"
  done
}
write_nginx() {
  mkdir -p "$NGX/cache" "$NGX/temp"
  # nginx's workers run as Debian's www-data when the master is root.
  chmod 755 "$NGX"
  if id www-data >/dev/null 2>&1; then chown -R www-data "$NGX/cache" "$NGX/temp"; fi
  cp deploy/nginx/verification.conf deploy/nginx/admin-allow.conf "$NGX/"
  sed -e "s#/etc/nginx/atelier/#$NGX/#g" \
      -e "s#/var/cache/nginx/atelier#$NGX/cache#g" \
      -e "s#/var/log/nginx/atelier.access.log#$NGX/access.log#g" \
      -e "s#listen 80 default_server;#listen 127.0.0.1:$NGINX_PORT default_server;#" \
      -e "/listen \[::\]:80/d" \
      deploy/nginx/atelier.conf > "$NGX/atelier.conf"
  cat > "$NGX/nginx.conf" <<CONF
worker_processes 1;
pid $NGX/nginx.pid;
error_log $NGX/error.log;
events { worker_connections 8192; }
http {
  client_body_temp_path $NGX/temp/body;
  proxy_temp_path $NGX/temp/proxy;
  fastcgi_temp_path $NGX/temp/fastcgi;
  uwsgi_temp_path $NGX/temp/uwsgi;
  scgi_temp_path $NGX/temp/scgi;
  include $NGX/atelier.conf;
}
CONF
}
nginx_reload() {
  if [ -f "$NGX/nginx.pid" ] && kill -0 "$(cat "$NGX/nginx.pid")" 2>/dev/null; then
    nginx -p "$NGX/" -c "$NGX/nginx.conf" -s reload
    sleep 1
  else
    nginx -p "$NGX/" -c "$NGX/nginx.conf"
  fi
}
NGINX="http://127.0.0.1:$NGINX_PORT"

# ---- measurement ------------------------------------------------------------

# URL lists aimed at nginx or at one instance.
aimed() { # list port
  sed "s#127.0.0.1:$PORT#127.0.0.1:$2#" "$URLS/$1.txt" > "$URLS/$1-$2.txt"
  echo "$URLS/$1-$2.txt"
}
# Prints "rps p50 p99 requests errors codes" from an oha JSON file; errors
# are answers other than 2xx/3xx and failed requests.
summary() {
  python3 - "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
s, l = d["summary"], d["latencyPercentiles"]
ms = lambda v: (v or 0) * 1000
codes = d.get("statusCodeDistribution", {})
failed = {k: v for k, v in d.get("errorDistribution", {}).items() if k != "aborted due to deadline"}
total = sum(codes.values()) + sum(failed.values())
errors = total - sum(v for k, v in codes.items() if k.startswith(("2", "3")))
shown = " ".join(f"{k}:{v}" for k, v in sorted(codes.items()))
shown += "".join(f" [{k}: {v}]" for k, v in failed.items())
print(f"{s['requestsPerSec']:.0f} {ms(l['p50']):.2f} {ms(l['p99']):.2f} {total} {errors} {shown}")
PY
}
open_load() { # name duration list-file
  with_scrape "$1" oha_recorded "$1" -c 256 -q "$RATE" --latency-correction -z "$2" --urls-from-file "$3"
}
closed_load() { # name duration list-file
  with_scrape "$1" oha_recorded "$1" -c 64 -z "$2" --urls-from-file "$3"
}
# scrape_once NAME: each instance's replica lag and reads sent to the
# primary for lag, as "instance metric value" lines appended to
# $LOGDIR/NAME-replicas.txt.
scrape_once() {
  local n
  for n in 1 2 3; do
    # An instance that is down (killed, restarting) has nothing to say.
    { curl -s --max-time 1 "http://127.0.0.1:$(port_of "$n")/metrics" 2>/dev/null || true; } |
      awk -v n="$n" '/^atelier_db_replica_lag_seconds\{/ {print n, "lag", $NF}
                     /^atelier_db_fallback_reads_total\{reason="lag"\}/ {print n, "fallback", $NF}'
  done >> "$LOGDIR/$1-replicas.txt"
}
# with_scrape NAME COMMAND...: runs COMMAND while scraping every 0.5 s.
with_scrape() {
  local name=$1 scraper
  shift
  : > "$LOGDIR/$name-replicas.txt"
  (while :; do scrape_once "$name"; sleep 0.5; done) &
  scraper=$!
  "$@"
  kill "$scraper" 2>/dev/null || true
  wait "$scraper" 2>/dev/null || true
  scrape_once "$name"
}
# Prints, per instance that reads a replica, the most lag it saw and the
# reads it sent to the primary for lag (a restarted instance's counter
# starts again from 0, which counts as such).
replica_summary() {
  python3 - "$1" <<'PY'
import collections, sys
lag, last, sent = {}, {}, collections.Counter()
for line in open(sys.argv[1]):
    n, metric, value = line.split()
    value = float(value)
    if metric == "lag":
        lag[n] = max(lag.get(n, -1.0), value)
    else:
        if n in last:
            sent[n] += value - last[n] if value >= last[n] else value
        last[n] = value
print("; ".join(
    f"{n}: lag max {'unknown' if lag.get(n, -1) < 0 else f'{lag[n]:.2f} s'}, {int(sent[n])} to the primary"
    for n in sorted(set(lag) | set(last))) or "no replica")
PY
}
per_instance() {
  python3 - "$NGX/access.log" <<'PY'
import collections, re, sys
counts = collections.Counter()
for line in open(sys.argv[1]):
    for addr in re.findall(r"upstream=([^ ]+)", line):
        for one in addr.split(", "):
            counts[one.rsplit(":", 1)[-1]] += 1
# "-": nginx answered from its cache, no instance asked.
print(" ".join(f"{'nginx cache' if p == '-' else p}:{c}" for p, c in sorted(counts.items())) or "none")
PY
}
rows=()
row() { # step name extra
  local replicas
  read -r rps p50 p99 total errors codes < <(summary "$LOGDIR/$2.json")
  replicas=$(replica_summary "$LOGDIR/$2-replicas.txt")
  rows+=("| $1 | $rps | $p50 | $p99 | $total | $errors | $codes | $replicas | $3 |")
  echo "    $1: $rps RPS, p50 $p50 ms, p99 $p99 ms, $errors errors of $total ($codes); replica: $replicas $3"
}
seconds() { echo "${1%s}"; }

# ---- the run ------------------------------------------------------------

echo "==> three instances and nginx"
for n in 1 2 3; do start_instance "$n"; done
for n in 1 2 3; do wait_ready "$n"; done
write_nginx
upstreams 3
nginx_reload
MIXED=$(aimed uniform-mixed "$NGINX_PORT")
oha_json /dev/null -c 64 -z 5s --urls-from-file "$MIXED"   # warm-up

echo "==> (a) 1, 2 and 3 instances"
for n in 1 2 3; do
  upstreams "$n"; nginx_reload
  : > "$NGX/access.log"
  open_load "a-open-$n" "$STEP" "$MIXED"
  row "(a) $n instance(s), open model at $RATE/s" "a-open-$n" "per instance: $(per_instance)"
  : > "$NGX/access.log"
  closed_load "a-closed-$n" "$STEP" "$MIXED"
  row "(a) $n instance(s), closed model (64 connections)" "a-closed-$n" "per instance: $(per_instance)"
done
DIRECT=$(aimed uniform-mixed "$(port_of 1)")
open_load a-direct-open "$STEP" "$DIRECT"
row "(a) instance 1 directly, open model at $RATE/s" a-direct-open "no nginx"
closed_load a-direct-closed "$STEP" "$DIRECT"
row "(a) instance 1 directly, closed model (64 connections)" a-direct-closed "no nginx"

echo "==> (b) kill -9 of instance 2 mid-run"
open_load b-kill "$STEP" "$MIXED" &
LOAD=$!
sleep $(( $(seconds "$STEP") / 3 ))
kill -9 "${PIDS[2]}"
record_event b-kill "kill -9 of instance 2"
wait "$LOAD"
row "(b) kill -9 of instance 2" b-kill ""
start_instance 2; wait_ready 2

echo "==> (c) rolling restart"
open_load c-rolling 60s "$MIXED" &
LOAD=$!
sleep 5
for n in 1 2 3; do
  kill -TERM "${PIDS[$n]}"
  record_event c-rolling "$n: SIGTERM"
  wait "${PIDS[$n]}" 2>/dev/null || true
  record_event c-rolling "$n: exited"
  start_instance "$n"; wait_ready "$n"
  record_event c-rolling "$n: ready"
  sleep 3
done
wait "$LOAD"
row "(c) rolling restart of 1, 2, 3" c-rolling ""

echo "==> (d) the replica stopped mid-run"
open_load d-replica "$STEP" "$MIXED" &
LOAD=$!
sleep $(( $(seconds "$STEP") / 3 ))
replica_stop
record_event d-replica "replica stopped"
wait "$LOAD"
row "(d) replica stopped" d-replica ""
ensure_replica >/dev/null

echo "==> (e) an import on the primary mid-run"
dump=${LOADTEST_DUMP:-$PWD/target/full-dump}
[ -e "$dump/product.csv" ] || $BIN generate --products "$FULL_SCALE" --out "$dump" --seed 1
open_load e-import "${IMPORT_WINDOW:-300s}" "$MIXED" &
LOAD=$!
sleep 10
import_started=$(date +%s)
record_event e-import "import started"
# The import's progress lines (stderr) mark its phases on the chart; the
# swap is the last, its transaction committed when the import exits.
# IMPORT_FLAGS (default --gentle, as docs/OPERATIONS.md says for a primary
# that serves; IMPORT_FLAGS= for a plain import). Told of the replica, as an
# operator's configuration tells it: it reads the new tables into the
# replica's buffers too before the swap.
IMPORT_FLAGS=${IMPORT_FLAGS---gentle}
# shellcheck disable=SC2086
DATABASE_REPLICA_URLS="$REPLICA_URL" $BIN import "$dump" --rejects "$LOGDIR/rejects.csv" $IMPORT_FLAGS 2>&1 > "$LOGDIR/import.txt" |
  while IFS= read -r line; do
    printf '%s %s\n' "$(date -u +%T.%3N)" "$line" >> "$LOGDIR/import-progress.txt"
    record_import_phase e-import "$line"
  done
record_event e-import "import done"
import_seconds=$(( $(date +%s) - import_started ))
wait "$LOAD"
row "(e) import${IMPORT_FLAGS:+ $IMPORT_FLAGS} on the primary (${import_seconds} s of the run)" e-import ""
prewarm_catalog

echo "==> (f) the primary stopped for 10 s, nginx's cache warm"
head -n 2000 "$MIXED" > "$URLS/warm.txt"
oha_json /dev/null -c 64 -n 4000 --urls-from-file "$URLS/warm.txt"
open_load f-primary "$STEP" "$URLS/warm.txt" &
LOAD=$!
sleep 3
as_root pg_ctlcluster "$VERSION" main stop -m fast
record_event f-primary "primary stopped"
sleep 10
as_root pg_ctlcluster "$VERSION" main start
record_event f-primary "primary started"
wait "$LOAD"
row "(f) primary stopped 10 s (cache warm)" f-primary ""

echo "==> (g) cold start"
COLD=$(aimed uniform-mixed "$(port_of 3)")
# time_to_p99 NAME: one-second slices at COLD_RATE against instance 3 (which
# reads the primary) until p99 is under 25 ms; prints the seconds it took.
time_to_p99() {
  local k p99
  for k in $(seq 1 180); do
    oha_recorded "$1-$k" -c 256 -q "$COLD_RATE" --latency-correction -z 1s --urls-from-file "$COLD"
    p99=$(summary "$LOGDIR/$1-$k.json" | awk '{print $3}')
    if python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < 25 else 1)" "$p99"; then
      echo "$k"; return
    fi
  done
  echo ">180"
}
DROPPED="kept (this machine does not allow dropping it)"
cold_restart() { # step; drops the kernel's page cache too where allowed
  as_root pg_ctlcluster "$VERSION" main stop -m fast
  record_event "$1" "PostgreSQL stopped"
  sync
  if (echo 3 > /proc/sys/vm/drop_caches) 2>/dev/null; then DROPPED=dropped; fi
  as_root pg_ctlcluster "$VERSION" main start
  record_event "$1" "PostgreSQL started"
}
# `atelier prewarm` runs as the service's role: the extension is a
# superuser's to create.
as_postgres psql -p "$MANAGED_PORT" -d atelier -qc "CREATE EXTENSION IF NOT EXISTS pg_prewarm"
cold_restart g-autoprewarm
with_autoprewarm=$(time_to_p99 g-autoprewarm)
as_postgres psql -p "$MANAGED_PORT" -qc "ALTER SYSTEM SET pg_prewarm.autoprewarm = off"
cold_restart g-cold
without=$(time_to_p99 g-cold)
cold_restart g-prewarm-command
$BIN prewarm > "$LOGDIR/prewarm.txt" 2>&1 &
record_event g-prewarm-command "atelier prewarm started"
with_command=$(time_to_p99 g-prewarm-command)
as_postgres psql -p "$MANAGED_PORT" -qc "ALTER SYSTEM RESET pg_prewarm.autoprewarm"
as_root pg_ctlcluster "$VERSION" main restart
echo "    (g) seconds until p99 < 25 ms at $COLD_RATE/s: autoprewarm $with_autoprewarm, none $without, atelier prewarm $with_command"

echo "==> charts"
chart_heading "(a) 1, 2 and 3 instances, and one directly"
chart_histogram a-open-histogram "(a) open model at $RATE/s" \
  a-open-1="1 instance" a-open-2="2 instances" a-open-3="3 instances" a-direct-open="instance 1 directly"
for n in 1 2 3; do chart_timeline "a-open-$n" "(a) $n instance(s), open model at $RATE/s"; done
chart_timeline a-direct-open "(a) instance 1 directly, open model at $RATE/s"
chart_histogram a-closed-histogram "(a) closed model (64 connections)" \
  a-closed-1="1 instance" a-closed-2="2 instances" a-closed-3="3 instances" a-direct-closed="instance 1 directly"
for n in 1 2 3; do chart_timeline "a-closed-$n" "(a) $n instance(s), closed model (64 connections)"; done
chart_timeline a-direct-closed "(a) instance 1 directly, closed model (64 connections)"
chart_heading "(b) to (f): failures and an import, against the steady state"
chart_histogram failures-histogram "(b) to (f) against (a) with 3 instances, open model at $RATE/s" \
  a-open-3="(a) 3 instances, steady" b-kill="(b) kill -9" c-rolling="(c) rolling restart" \
  d-replica="(d) replica stopped" e-import="(e) import" f-primary="(f) primary stopped"
chart_timeline b-kill "(b) kill -9 of instance 2"
chart_timeline c-rolling "(c) rolling restart of 1, 2, 3"
chart_timeline d-replica "(d) replica stopped"
chart_timeline e-import "(e) import on the primary"
chart_timeline f-primary "(f) primary stopped 10 s (cache warm)"
chart_heading "(g) cold start, one-second runs at $COLD_RATE/s until p99 < 25 ms"
chart_histogram g-histogram "(g) cold start" \
  g-autoprewarm="autoprewarm" g-cold="nothing" g-prewarm-command="atelier prewarm"
chart_timeline g-autoprewarm "(g) cold start, autoprewarm"
chart_timeline g-cold "(g) cold start, nothing"
chart_timeline g-prewarm-command "(g) cold start, atelier prewarm run at once"

{
  echo "# Scale-out run $stamp"
  echo
  echo "Commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo ' +changes'), $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GB;"
  echo "primary and streaming replica (PostgreSQL $VERSION) on this machine; instances 1 and 2 read"
  echo "the replica, 3 the primary; nginx $(nginx -v 2>&1 | sed 's#.*/##') with deploy/nginx (least_conn,"
  echo "cache, retries on error/timeout/502/503); oha on the same machine, open model at $RATE/s"
  echo "with latency correction unless said otherwise; steps of $STEP; uniform random ids over the"
  echo "three endpoints. Errors are answers other than 2xx/3xx, and failed requests. The replica"
  echo "column: for each instance that reads the replica (1 and 2), the most lag behind the primary"
  echo "it saw (atelier_db_replica_lag_seconds) and the reads it sent to the primary because the"
  echo "replica was skipped for lag (atelier_db_fallback_reads_total{reason=\"lag\"}), scraped every 0.5 s."
  echo
  echo "On two cores the instances, PostgreSQL, nginx and oha share the same CPUs: more"
  echo "instances add no throughput here, they show the balancing and the failover."
  echo
  echo "| step | RPS | p50 ms | p99 ms | requests | errors | status codes | replica: lag, reads to the primary | notes |"
  echo "|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "(g) cold start: PostgreSQL restarted (the kernel's page cache $DROPPED) under"
  echo "$COLD_RATE requests/s of uniform random ids against instance 3; seconds until a one-second"
  echo "slice has p99 under 25 ms:"
  echo
  echo "| buffers at start-up | seconds |"
  echo "|---|---|"
  echo "| autoprewarm (pg_prewarm preloaded) | $with_autoprewarm |"
  echo "| nothing | $without |"
  echo "| \`atelier prewarm\` run at once | $with_command |"
  echo
  echo "## Charts"
  echo
  echo "Each step: p50, p99 and p99.9 latency in one-second slices (by when each request"
  echo "was due) over answers per second (by when each ended), what was done to the system"
  echo "marked on the time axis (dashed lines); latency histograms compare the runs. Made by"
  echo "scripts/perf/charts.py from oha's record of every answered request (requests/, not"
  echo "committed) and raw/events.tsv; requests that got no answer are not in that record,"
  echo "the table counts them."
  echo
  printf '%s\n' "${CHARTS[@]}"
} > "$OUT/README.md"
echo "==> wrote $OUT/README.md"
