#!/usr/bin/env bash
# Install the Debian packages libsetowire needs to build and test, when they are missing.
# Safe to run repeatedly: it only calls apt-get when a package is absent.
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libssl-dev libuv1-dev libjansson-dev libcmocka-dev
  libcurl4-openssl-dev libmicrohttpd-dev libsqlite3-dev libedit-dev
  python3 nodejs tmux
  iptables nftables conntrack coturn ethtool
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# python3 and node may come from outside Debian (pyenv, nvm): accept them from PATH.
filtered=()
for p in "${missing[@]}"; do
  case "$p" in
    python3) command -v python3 >/dev/null || filtered+=("$p") ;;
    nodejs) command -v node >/dev/null || filtered+=("$p") ;;
    *) filtered+=("$p") ;;
  esac
done
missing=("${filtered[@]+"${filtered[@]}"}")

# The piping server that tests/net/test_discovery_piping.py runs on loopback (npm
# package, into the git-ignored .tools/). Best effort: that test skips without it.
install_piping_server() {
  local root
  root="$(cd "$(dirname "$0")/.." && pwd)"
  if [ -x "$root/.tools/node_modules/.bin/piping-server" ]; then return 0; fi
  if command -v npm >/dev/null; then
    npm install --no-audit --no-fund --prefix "$root/.tools" piping-server >/dev/null 2>&1 \
      && echo "setup: piping-server installed in .tools/" \
      || echo "setup: could not install piping-server (its test will be skipped)"
  fi
}

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup: all build dependencies present"
  install_piping_server
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
# coturn is here for the NAT lab (tests/lib/natlab.py), which starts its own turnserver
# inside a network namespace. Where the package enabled a system-wide service, stop it.
case " ${missing[*]} " in
  *" coturn "*)
    if command -v systemctl >/dev/null && systemctl is-enabled coturn >/dev/null 2>&1; then
      $sudo systemctl disable --now coturn >/dev/null 2>&1 \
        && echo "setup: disabled the coturn system service (the tests run their own)" || true
    fi ;;
esac
install_piping_server
