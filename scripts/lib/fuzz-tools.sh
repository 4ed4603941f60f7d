# The property-based fuzzer tests/fuzz.rs runs against the service
# (sourced by scripts/test.sh): schemathesis, from PyPI, at a pinned version,
# in a virtualenv of its own outside the work tree. tests/fuzz.rs finds it at
# the same path (or at $SCHEMATHESIS).

SCHEMATHESIS_VERSION=4.32.5

schemathesis_venv() {
  echo "${XDG_CACHE_HOME:-$HOME/.cache}/atelier/schemathesis-$SCHEMATHESIS_VERSION"
}

# Makes the virtualenv and installs schemathesis in it, unless it is there.
ensure_schemathesis() {
  local venv
  venv=$(schemathesis_venv)
  if [ -x "$venv/bin/schemathesis" ]; then
    return 0
  fi
  echo "==> installing schemathesis $SCHEMATHESIS_VERSION (PyPI) into $venv"
  if ! python3 -m venv --help >/dev/null 2>&1; then
    fuzz_tools_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  fi
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
}

fuzz_tools_as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}
