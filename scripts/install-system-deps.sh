#!/usr/bin/env bash
# Installs the system libraries the C++ core builds against, when missing.
set -euo pipefail

packages=(g++ cmake make libboost-fiber-dev libboost-context-dev libboost-dev
          libcereal-dev liblmdb-dev libgtest-dev
          libssl-dev     # TLS for the remote transport (OpenSSL through Asio)
          clang-format   # the lint gate's C++ format check (scripts/lint.sh)
          clang libclang-rt-dev   # libFuzzer for the fuzz targets (make test-fuzz)
          postgresql              # the server the PostgreSQL journal's tests start (initdb, pg_ctl)
          iproute2 nftables       # network namespace labs of tests/multinode (ip, nft)
          chromium chromium-driver)  # the dashboard's browser test (headless, selenium)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing system packages: ${missing[*]}"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
