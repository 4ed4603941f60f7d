# A streaming replica of the managed PostgreSQL cluster (sourced after
# scripts/lib/db.sh): a second local cluster, `replica`, made with
# `pg_basebackup -R` from the primary and kept in hot standby on its own
# port. The suite's replica tests and the scale-out run read from it; every
# database created on the primary appears on it by replication.

# Starts (creating it first if needed) the replica of the managed cluster and
# exports DATABASE_REPLICA_SERVER_URL, the replica's URL for the role
# `atelier` (database `atelier`). Does nothing for a DATABASE_URL given from
# outside: its server is not ours to copy.
ensure_replica() {
  if [ -z "${MANAGED_PORT:-}" ]; then
    echo "==> no replica: DATABASE_URL came from the environment"
    return
  fi
  local version port data status
  version=$(cluster_version)
  port=${REPLICA_PORT:-5433}
  data=/var/lib/postgresql/$version/replica
  # The replica tests pause replay to tell the replica's answers from the
  # primary's: databases made from template1 (every test database) let the
  # role do that. Granted before the copy, so the replica has it too.
  as_postgres psql -p "$MANAGED_PORT" -d template1 -qc \
    "GRANT EXECUTE ON FUNCTION pg_wal_replay_pause(), pg_wal_replay_resume() TO atelier"
  if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "replica"' | grep -q .; then
    echo "==> creating a streaming replica of the primary on port $port (pg_basebackup -R)"
    as_root pg_createcluster "$version" replica -p "$port" >/dev/null
    as_root rm -rf "$data"
    as_postgres pg_basebackup -p "$MANAGED_PORT" -D "$data" -R -X stream -c fast
    # The primary's tuning (shared_buffers, preloads) comes along in its
    # postgresql.auto.conf; the port is the replica's own.
    as_postgres sh -c "echo \"port = $port\" >> '$data/postgresql.auto.conf'"
  fi
  status=$(pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "replica" {print $4}')
  if [ "$status" != online ] && [ "$status" != "online,recovery" ]; then
    echo "==> starting the replica" >&2
    as_root pg_ctlcluster "$version" replica start >&2
  fi
  for _ in $(seq 100); do
    if as_postgres psql -p "$port" -tAc "SELECT pg_is_in_recovery()" 2>/dev/null | grep -q t; then
      export DATABASE_REPLICA_SERVER_URL="postgres://atelier:atelier@127.0.0.1:${port}/atelier"
      echo "==> replica: $DATABASE_REPLICA_SERVER_URL"
      return
    fi
    sleep 0.2
  done
  echo "the replica on port $port did not come up in hot standby" >&2
  return 1
}
