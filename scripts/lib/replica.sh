# A streaming replica of the managed PostgreSQL cluster (sourced after
# scripts/lib/db.sh): a second local cluster made with `pg_basebackup -R`
# from the primary and kept in hot standby on its own port. The suite's
# replica tests and the scale-out run read from it; every database created
# on the primary appears on it by replication.
#
# It streams through a physical replication slot, so the primary keeps the
# WAL the replica has not received yet, whatever an import writes meanwhile;
# `max_slot_wal_keep_size` bounds what a slot may hold, so a replica left
# stopped cannot fill the primary's disk (it loses its place instead, and is
# rebuilt by the next ensure_replica).
#
# Settings (environment):
#   REPLICA_NAME    the cluster's name for pg_createcluster (default replica)
#   REPLICA_PORT    its port (default 5433)
#   REPLICA_SLOT    the replication slot on the primary (default atelier_replica)
#   REPLICA_DATA    a data directory of its own, run with pg_ctl, instead of
#                   a Debian cluster (a throwaway replica)
#   REPLICA_MAX_SLOT_WAL_KEEP_SIZE  the primary's bound on a slot's WAL (default 10GB)
#   REPLICA_STREAM_WAIT  seconds an existing replica has to stream, or to
#                   show replay progress, before it is rebuilt (default 30)

replica_port() { echo "${REPLICA_PORT:-5433}"; }
replica_slot() { echo "${REPLICA_SLOT:-atelier_replica}"; }
replica_cluster() { echo "${REPLICA_NAME:-replica}"; }
pg_bin() { echo "/usr/lib/postgresql/$(cluster_version)/bin"; }

replica_dir() {
  if [ -n "${REPLICA_DATA:-}" ]; then
    echo "$REPLICA_DATA"
  else
    echo "/var/lib/postgresql/$(cluster_version)/$(replica_cluster)"
  fi
}

# psql as the superuser on the primary / the replica: one value per line.
primary_psql() { as_postgres psql -p "$MANAGED_PORT" -qtAX -v ON_ERROR_STOP=1 "$@"; }
replica_psql() { as_postgres psql -p "$(replica_port)" -qtAX -v ON_ERROR_STOP=1 "$@"; }

replica_exists() {
  if [ -n "${REPLICA_DATA:-}" ]; then
    [ -s "$REPLICA_DATA/PG_VERSION" ]
  else
    pg_lsclusters -h | awk -v v="$(cluster_version)" -v n="$(replica_cluster)" \
      '$1 == v && $2 == n' | grep -q .
  fi
}

replica_running() {
  if [ -n "${REPLICA_DATA:-}" ]; then
    as_postgres "$(pg_bin)/pg_ctl" -D "$REPLICA_DATA" status >/dev/null 2>&1
  else
    pg_lsclusters -h | awk -v v="$(cluster_version)" -v n="$(replica_cluster)" \
      '$1 == v && $2 == n {print $4}' | grep -q '^online'
  fi
}

replica_start() {
  if [ -n "${REPLICA_DATA:-}" ]; then
    as_postgres "$(pg_bin)/pg_ctl" -D "$REPLICA_DATA" -l "$REPLICA_DATA.log" -w start >/dev/null
  else
    as_root pg_ctlcluster "$(cluster_version)" "$(replica_cluster)" start >&2
  fi
}

replica_stop() {
  replica_running || return 0
  if [ -n "${REPLICA_DATA:-}" ]; then
    as_postgres "$(pg_bin)/pg_ctl" -D "$REPLICA_DATA" -m fast -w stop >/dev/null
  else
    as_root pg_ctlcluster "$(cluster_version)" "$(replica_cluster)" stop -m fast >&2
  fi
}

# Drops the replica's slot on the primary, once no walsender holds it: a
# slot nobody reads holds WAL for nobody.
drop_replica_slot() {
  local slot
  slot=$(replica_slot)
  for _ in $(seq 50); do
    if [ "$(primary_psql -c "SELECT count(*) FROM pg_replication_slots
                              WHERE slot_name = '$slot' AND active")" = 0 ]; then
      break
    fi
    sleep 0.2
  done
  primary_psql -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
                    WHERE slot_name = '$slot'" >/dev/null
}

# Makes the replica anew: a base backup of the primary through a new slot
# (-C -S), which -R names in primary_slot_name with primary_conninfo.
build_replica() {
  local dir port
  dir=$(replica_dir)
  port=$(replica_port)
  replica_stop
  drop_replica_slot
  if [ -z "${REPLICA_DATA:-}" ] && ! replica_exists; then
    as_root pg_createcluster "$(cluster_version)" "$(replica_cluster)" -p "$port" >/dev/null
  fi
  as_root rm -rf "$dir"
  as_postgres pg_basebackup -p "$MANAGED_PORT" -D "$dir" -R -X stream -c fast \
    -C -S "$(replica_slot)"
  # The primary's tuning (shared_buffers, preloads) comes along in its
  # postgresql.auto.conf; the port is the replica's own.
  as_postgres sh -c "echo \"port = $port\" >> '$dir/postgresql.auto.conf'"
}

# Whether the replica streams from this primary through its slot: in
# recovery, a copy of this primary (same system identifier), its WAL
# receiver streaming, and the slot active on the primary.
replica_streaming() {
  local slot mine theirs
  slot=$(replica_slot)
  mine=$(primary_psql -c "SELECT system_identifier FROM pg_control_system()") || return 1
  theirs=$(replica_psql -c "SELECT system_identifier FROM pg_control_system()
                            WHERE pg_is_in_recovery()" 2>/dev/null) || return 1
  [ -n "$theirs" ] && [ "$mine" = "$theirs" ] || return 1
  [ "$(replica_psql -c "SELECT status FROM pg_stat_wal_receiver" 2>/dev/null)" = streaming ] || return 1
  [ "$(primary_psql -c "SELECT count(*) FROM pg_replication_slots
                         WHERE slot_name = '$slot' AND active")" = 1 ]
}

# Whether another server's copy, not this primary's, answers on the port.
replica_of_another_primary() {
  local mine theirs
  mine=$(primary_psql -c "SELECT system_identifier FROM pg_control_system()") || return 1
  theirs=$(replica_psql -c "SELECT system_identifier FROM pg_control_system()" 2>/dev/null) || return 1
  [ -n "$theirs" ] && [ "$mine" != "$theirs" ]
}

# Waits until the replica streams: true once it does; false once it has
# neither streamed nor replayed anything for REPLICA_STREAM_WAIT seconds (a
# replica replaying a backlog first is given the time it takes).
wait_streaming() {
  local wait=${REPLICA_STREAM_WAIT:-30} deadline last= now
  deadline=$((SECONDS + wait))
  while :; do
    replica_streaming && return 0
    now=$(replica_psql -c "SELECT pg_last_wal_replay_lsn()" 2>/dev/null || true)
    if [ -n "$now" ] && [ "$now" != "$last" ]; then
      last=$now
      deadline=$((SECONDS + wait))
    fi
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.5
  done
}

# A replica made before it had a slot: a slot for it on the primary, named
# in its primary_slot_name (its WAL receiver starts again with it).
adopt_slot() {
  local slot
  slot=$(replica_slot)
  [ -z "$(replica_psql -c "SHOW primary_slot_name" 2>/dev/null)" ] || return 0
  echo "==> the replica on port $(replica_port) streams without a slot: giving it $slot"
  primary_psql -c "SELECT pg_create_physical_replication_slot('$slot', true)
                    WHERE NOT EXISTS (SELECT FROM pg_replication_slots
                                       WHERE slot_name = '$slot')" >/dev/null
  replica_psql -c "ALTER SYSTEM SET primary_slot_name = '$slot'" -c "SELECT pg_reload_conf()" >/dev/null
}

# The primary's side: replication slots bounded, so a replica that stops
# cannot make the primary keep WAL without end.
bound_slot_wal() {
  local want=${REPLICA_MAX_SLOT_WAL_KEEP_SIZE:-10GB}
  if [ "$(primary_psql -c "SELECT pg_size_bytes(current_setting('max_slot_wal_keep_size'))
                           = pg_size_bytes('$want')")" != t ]; then
    echo "==> primary: max_slot_wal_keep_size = $want"
    primary_psql -c "ALTER SYSTEM SET max_slot_wal_keep_size = '$want'" \
      -c "SELECT pg_reload_conf()" >/dev/null
  fi
}

# The replica's side: hot_standby_feedback, so the primary's cleanup (vacuum,
# page pruning, the catalog rows an import's swap and drops replace) keeps
# what the replica's running queries still see, instead of replay waiting
# up to max_standby_streaming_delay for them (the catalog watcher's reads
# take a second or more at full scale) and the replica falling behind.
feed_back_replica_snapshots() {
  if [ "$(replica_psql -c "SHOW hot_standby_feedback")" != on ]; then
    echo "==> replica: hot_standby_feedback = on"
    replica_psql -c "ALTER SYSTEM SET hot_standby_feedback = on" -c "SELECT pg_reload_conf()" >/dev/null
  fi
}

# Starts (creating it first if needed) the replica of the managed cluster and
# exports DATABASE_REPLICA_SERVER_URL, the replica's URL for the role
# `atelier` (database `atelier`). An existing replica is reused only if it
# streams from this primary; one that has lost its place (its WAL is gone
# from the primary) or copies another server is rebuilt. Does nothing for a
# DATABASE_URL given from outside: its server is not ours to copy.
ensure_replica() {
  if [ -z "${MANAGED_PORT:-}" ]; then
    echo "==> no replica: DATABASE_URL came from the environment"
    return
  fi
  local port
  port=$(replica_port)
  # The replica tests pause replay to tell the replica's answers from the
  # primary's: databases made from template1 (every test database) let the
  # role do that. Granted before the copy, so the replica has it too.
  primary_psql -d template1 -c \
    "GRANT EXECUTE ON FUNCTION pg_wal_replay_pause(), pg_wal_replay_resume() TO atelier"
  bound_slot_wal
  if ! replica_exists; then
    echo "==> creating a streaming replica of the primary on port $port (pg_basebackup -R, slot $(replica_slot))"
    build_replica
    replica_start
  else
    if ! replica_running; then
      echo "==> starting the replica on port $port" >&2
      replica_start || true
    fi
    if replica_of_another_primary; then
      echo "==> the replica on port $port copies another server: rebuilding it"
      build_replica
      replica_start
    else
      replica_running && adopt_slot
      if ! wait_streaming; then
        echo "==> the replica on port $port is not streaming from the primary (it lost its place, or never started): rebuilding it"
        build_replica
        replica_start
      fi
    fi
  fi
  if ! wait_streaming; then
    echo "the replica on port $port does not stream from the primary" >&2
    return 1
  fi
  feed_back_replica_snapshots
  export DATABASE_REPLICA_SERVER_URL="postgres://atelier:atelier@127.0.0.1:${port}/atelier"
  echo "==> replica: $DATABASE_REPLICA_SERVER_URL"
}
