# The property-based fuzzer tests/ops/fuzz.rs runs against the service
# (sourced by scripts/test.sh): schemathesis, from PyPI, at a pinned version,
# in a virtualenv of its own outside the work tree. tests/ops/fuzz.rs finds it at
# the same path (or at $SCHEMATHESIS).

. "$(dirname "${BASH_SOURCE[0]}")/venv.sh"

SCHEMATHESIS_VERSION=4.32.5

schemathesis_venv() {
  echo "$(venv_root)/schemathesis-$SCHEMATHESIS_VERSION"
}

# Makes the virtualenv and installs schemathesis in it, unless it is there.
ensure_schemathesis() {
  local venv
  venv=$(schemathesis_venv)
  if [ -x "$venv/bin/schemathesis" ]; then
    return 0
  fi
  make_venv "$venv" "schemathesis==$SCHEMATHESIS_VERSION"
}
