#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for wsfleet: the system packages the daemons and the tests
# run against (Redis; Chromium for the demo-page test; systemd-notify; python3 for the notify
# socket stand-in; Pebble and pebble-challtestsrv, Let's Encrypt's test CA and DNS stand-in;
# openssl for test certificates; nginx, the app VMs' front, and testssl to check its TLS;
# cloud-init for `cloud-init schema`; mmdebstrap and systemd-nspawn to boot the units in a Debian
# machine; haproxy, the lab's load balancer; certutil to trust the lab's CA in Chromium; packer and shellcheck for the image templates and
# scripts; promtool, from prometheus, for the alert rules) and the npm dependencies, which also builds
# dist/wsfleet.js.
set -euo pipefail

cd "$(dirname "$0")/.."

packages=(redis-server chromium systemd python3 ca-certificates openssl pebble nginx testssl.sh
  cloud-init systemd-container mmdebstrap procps haproxy libnss3-tools iproute2 util-linux packer
  shellcheck prometheus)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  echo "setup: installing ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The tests run against whatever Debian serves today: say which versions, so that a failure after
# a point release reads as one.
echo "setup: tool versions"
dpkg-query -W -f='  ${Package} ${Version}\n' "${packages[@]}"

# The packaged redis-server starts a system instance on 6379; the tests start their own on free
# ports and need nothing from it.
echo "setup: npm ci"
npm ci --no-audit --no-fund
