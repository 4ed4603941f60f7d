# The chart maker of the load reports, scripts/perf/charts.py (sourced by
# scripts/test.sh, which runs its self-test, and by the load scripts):
# matplotlib and numpy from PyPI at pinned versions, in a virtualenv of its
# own outside the work tree, as scripts/lib/fuzz-tools.sh does for
# schemathesis.

MATPLOTLIB_VERSION=3.10.9
NUMPY_VERSION=2.3.5

charts_venv() {
  echo "${XDG_CACHE_HOME:-$HOME/.cache}/atelier/charts-matplotlib-$MATPLOTLIB_VERSION-numpy-$NUMPY_VERSION"
}

# Makes the virtualenv and installs matplotlib in it, unless it is there.
ensure_chart_tools() {
  local venv
  venv=$(charts_venv)
  if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import matplotlib, numpy" 2>/dev/null; then
    return 0
  fi
  echo "==> installing matplotlib $MATPLOTLIB_VERSION and numpy $NUMPY_VERSION (PyPI) into $venv"
  if ! python3 -m venv --help >/dev/null 2>&1; then
    chart_tools_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  fi
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "matplotlib==$MATPLOTLIB_VERSION" "numpy==$NUMPY_VERSION"
}

# charts ARGS...: scripts/perf/charts.py in the virtualenv (from the
# repository's root).
charts() {
  "$(charts_venv)/bin/python" scripts/perf/charts.py "$@"
}

chart_tools_as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}
