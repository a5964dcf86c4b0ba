# shellcheck shell=bash
# Debian packages the node needs. Installed only when missing, so a warm machine pays nothing.

DEPS_PACKAGES=(containerd runc containernetworking-plugins iptables conntrack iproute2 openssl curl gcc libc6-dev)

deps_missing() {
  local package missing=()
  for package in "${DEPS_PACKAGES[@]}"; do
    [ "$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null)" = "install ok installed" ] || missing+=("$package")
  done
  echo "${missing[*]}"
  [ "${#missing[@]}" -eq 0 ]
}

deps_install() {
  local missing
  if missing=$(deps_missing); then
    say "host packages present: ${DEPS_PACKAGES[*]}"
    return
  fi
  step "apt-get install $missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing
}

cni_bin_dir() {
  local dir
  for dir in /usr/lib/cni /opt/cni/bin; do
    [ -x "$dir/bridge" ] && { echo "$dir"; return; }
  done
  echo /usr/lib/cni
}
