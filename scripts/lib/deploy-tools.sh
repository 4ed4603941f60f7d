# The tools tests/ops/deploy.rs checks the deployment kit with (sourced by
# scripts/test.sh): nginx (`nginx -t`, and nginx itself in front of the
# test's stand-in instances), packer (`packer validate`) and systemd's
# `systemd-analyze verify`, and the one tests/ops/telemetry.rs checks /metrics
# with (`promtool check metrics`, in the prometheus package), all from
# Debian's packages.
#
# Installing nginx or prometheus must not leave a server behind: the tests
# run nginx only on a copy of the config in a temporary directory, as the
# current user in the foreground (`daemon off; master_process off;`) on a
# loopback port, and kill it when they end; of prometheus they run only
# promtool.

deploy_tools_as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs the tools above whose command is missing.
ensure_deploy_tools() {
  local missing=() package
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
  command -v packer >/dev/null 2>&1 || missing+=(packer)
  command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
  command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
  [ ${#missing[@]} -gt 0 ] || return 0
  install_deploy_packages "${missing[@]}"
}

# Installs nginx alone if it is missing (scripts/perf/admin-write-latency.sh
# runs it in front of the instances, as the tests do).
ensure_nginx() {
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || install_deploy_packages nginx
}

# Installs the Debian packages given, starting no server; `apt-get update`
# is run only if apt does not know one of them yet (a fresh image has no
# lists).
install_deploy_packages() {
  local missing=("$@") package
  for package in "${missing[@]}"; do
    if ! apt-cache show "$package" >/dev/null 2>&1; then
      deploy_tools_as_root apt-get update -qq
      break
    fi
  done

  echo "==> installing ${missing[*]} from Debian's packages"
  # invoke-rc.d and deb-systemd-invoke both ask policy-rc.d whether a package
  # may start its service; exit 101 says no. An existing policy (container
  # images ship one) is left as it is.
  local policy=/usr/sbin/policy-rc.d own_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | deploy_tools_as_root tee "$policy" >/dev/null
    deploy_tools_as_root chmod 755 "$policy"
    own_policy=1
  fi
  local status=0
  deploy_tools_as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || status=$?
  [ -z "$own_policy" ] || deploy_tools_as_root rm -f "$policy"
  [ "$status" = 0 ] || return "$status"

  # The package enables nginx for the next boot; on a machine booted with
  # systemd that would bring a server up on port 80 later.
  if [[ " ${missing[*]} " == *" nginx "* ]]; then
    if [ -d /run/systemd/system ]; then
      deploy_tools_as_root systemctl disable --now nginx >/dev/null 2>&1 || true
    elif [ -s /run/nginx.pid ]; then
      deploy_tools_as_root /usr/sbin/nginx -s quit || true
    fi
  fi
  # The same for the Prometheus server (port 9090); only promtool is wanted.
  if [[ " ${missing[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
    deploy_tools_as_root systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
}
