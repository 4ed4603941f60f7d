# The chart maker of the load reports, scripts/perf/charts.py (sourced by
# scripts/test.sh, which runs its self-test, and by the load scripts):
# matplotlib and numpy from PyPI at pinned versions, in a virtualenv of its
# own outside the work tree, as scripts/lib/fuzz-tools.sh does for
# schemathesis.

. "$(dirname "${BASH_SOURCE[0]}")/venv.sh"

MATPLOTLIB_VERSION=3.10.9
NUMPY_VERSION=2.3.5

charts_venv() {
  echo "$(venv_root)/charts-matplotlib-$MATPLOTLIB_VERSION-numpy-$NUMPY_VERSION"
}

# Makes the virtualenv and installs matplotlib in it, unless it is there.
ensure_chart_tools() {
  local venv
  venv=$(charts_venv)
  if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import matplotlib, numpy" 2>/dev/null; then
    return 0
  fi
  make_venv "$venv" "matplotlib==$MATPLOTLIB_VERSION" "numpy==$NUMPY_VERSION"
}

# charts ARGS...: scripts/perf/charts.py in the virtualenv (from the
# repository's root).
charts() {
  "$(charts_venv)/bin/python" scripts/perf/charts.py "$@"
}
