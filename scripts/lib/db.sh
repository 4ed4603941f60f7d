# Shared database bootstrap for scripts/run.sh and scripts/test.sh (sourced).
#
# With DATABASE_URL set, that database is used as it is. Otherwise this makes
# sure PostgreSQL is installed (Debian's packages) and a local cluster is
# running, creates the role `atelier` (password `atelier`, allowed to create
# the per-test databases) and the database `atelier`, and exports DATABASE_URL
# pointing at it over TCP.

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

# Installs what building and running needs: a PostgreSQL server and libpq's headers.
ensure_packages() {
  local missing=()
  ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing+=(postgresql)
  [ -e /usr/include/postgresql/libpq-fe.h ] || missing+=(libpq-dev)
  command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing ${missing[*]} from Debian's packages"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# The newest installed PostgreSQL: the version whose `main` cluster these
# scripts manage.
cluster_version() {
  ls /usr/lib/postgresql | sort -V | tail -n 1
}

# Starts the newest installed PostgreSQL's `main` cluster; prints its port.
start_cluster() {
  local version port status
  version=$(cluster_version)
  if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main"' | grep -q .; then
    as_root pg_createcluster "$version" main >/dev/null
  fi
  status=$(pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $4}')
  if [ "$status" != online ]; then
    echo "==> starting PostgreSQL $version" >&2
    # pg_ctlcluster may say things on stdout ("Removed stale pid file."),
    # and stdout here is the port.
    as_root pg_ctlcluster "$version" main start >&2
  fi
  port=$(pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $3}')
  echo "$port"
}

# Creates role and database if they are missing (running twice is harmless).
create_role_and_database() {
  local port=$1
  as_postgres psql -q -p "$port" -v ON_ERROR_STOP=1 <<'SQL'
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'atelier') THEN
    CREATE ROLE atelier LOGIN PASSWORD 'atelier' CREATEDB;
  END IF;
END
$$;
SQL
  if ! as_postgres psql -p "$port" -tAc "SELECT 1 FROM pg_database WHERE datname = 'atelier'" | grep -q 1; then
    as_postgres createdb -p "$port" -O atelier atelier
  fi
  # A superuser's to create: an import reads its new tables into the buffers
  # with it before it swaps them in, and `atelier prewarm` uses it.
  as_postgres psql -p "$port" -d atelier -q -c "SET client_min_messages = warning" \
    -c "CREATE EXTENSION IF NOT EXISTS pg_prewarm"
}

ensure_database() {
  ensure_packages
  if [ -n "${DATABASE_URL:-}" ]; then
    echo "==> using DATABASE_URL from the environment"
    return
  fi
  local port
  port=$(start_cluster)
  create_role_and_database "$port"
  MANAGED_PORT=$port
  export DATABASE_URL="postgres://atelier:atelier@127.0.0.1:${port}/atelier"
  echo "==> database: $DATABASE_URL"
}

# Lets the role `atelier` log in with its password over the local cluster's
# Unix socket too (Debian's default there is peer authentication only), so a
# co-located server can use the socket; prints the socket URL. Only for the
# cluster these scripts manage.
socket_database_url() {
  local port hba dir
  port=$(python3 -c "import sys, urllib.parse as u; print(u.urlparse(sys.argv[1]).port or 5432)" "$DATABASE_URL")
  hba=$(as_postgres psql -p "$port" -tAc "SHOW hba_file")
  dir=$(as_postgres psql -p "$port" -tAc "SHOW unix_socket_directories" | cut -d, -f1)
  if ! as_root grep -q "^local all atelier scram-sha-256" "$hba"; then
    as_root sed -i '0,/^local/s//local all atelier scram-sha-256\n&/' "$hba"
    as_postgres psql -p "$port" -qtAc "SELECT pg_reload_conf()" >/dev/null
  fi
  echo "postgresql://atelier:atelier@$(python3 -c "import sys, urllib.parse as u; print(u.quote(sys.argv[1], safe=''))" "$dir"):$port/atelier"
}

# Sizes the managed cluster's shared_buffers for serving the full catalog: a
# quarter of this machine's memory (PostgreSQL's documented starting point for
# a dedicated server) unless it is already larger; restarts the cluster if it
# changes it. At the default 128 MB almost every row a random lookup touches
# is a read() from the kernel's page cache: uncached /styles went from 3.4k to
# 9.0k RPS on the 3.7 GB full-scale database when the buffers held it.
# Prints what it did; does nothing to a database given by DATABASE_URL.
size_shared_buffers() {
  if [ -z "${MANAGED_PORT:-}" ]; then
    echo "==> PostgreSQL settings left as they are (DATABASE_URL from the environment)"
    return
  fi
  local have want preload restart=
  have=$(as_postgres psql -p "$MANAGED_PORT" -tAc "SELECT pg_size_bytes(current_setting('shared_buffers')) / 1048576")
  want=$(awk '/MemTotal/ {printf "%d", $2 / 4096}' /proc/meminfo)
  if [ "$have" -ge "$want" ]; then
    echo "==> PostgreSQL shared_buffers: $have MB"
  else
    echo "==> PostgreSQL shared_buffers: $have MB -> $want MB (a quarter of memory)"
    as_postgres psql -p "$MANAGED_PORT" -qc "ALTER SYSTEM SET shared_buffers = '${want}MB'"
    restart=1
  fi
  # autoprewarm: after a restart the buffers are filled again from the list
  # of blocks saved at shutdown, instead of by minutes of random reads.
  preload=$(as_postgres psql -p "$MANAGED_PORT" -tAc "SHOW shared_preload_libraries")
  if [[ "$preload" != *pg_prewarm* ]]; then
    echo "==> PostgreSQL: preloading pg_prewarm (autoprewarm)"
    as_postgres psql -p "$MANAGED_PORT" -qc "ALTER SYSTEM SET shared_preload_libraries = 'pg_prewarm'"
    restart=1
  fi
  if [ -n "$restart" ]; then
    echo "==> restarting PostgreSQL"
    as_root pg_ctlcluster "$(cluster_version)" main restart
  fi
}

# Reads the catalog's tables and indexes into shared_buffers (pg_prewarm), so
# a measurement starts where a server that has run for a while is, not while
# random reads are still filling the buffers (minutes at full scale).
prewarm_catalog() {
  [ -n "${MANAGED_PORT:-}" ] || return 0
  echo "==> reading the catalog into PostgreSQL's buffers (pg_prewarm)"
  as_postgres psql -p "$MANAGED_PORT" -d atelier -qtA -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_prewarm;
SELECT sum(pg_prewarm(c.oid::regclass))
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i');
SQL
}
