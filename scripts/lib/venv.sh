# Virtualenvs of pinned PyPI packages, outside the work tree (sourced by the
# tool scripts that need one: fuzz-tools.sh, chart-tools.sh).

# The folder the virtualenvs live in.
venv_root() {
  echo "${XDG_CACHE_HOME:-$HOME/.cache}/atelier"
}

# make_venv DIR PACKAGE==VERSION...: DIR made anew with the packages in it.
make_venv() {
  local venv=$1
  shift
  echo "==> installing $* (PyPI) into $venv"
  if ! python3 -m venv --help >/dev/null 2>&1; then
    venv_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  fi
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"
}

venv_as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}
