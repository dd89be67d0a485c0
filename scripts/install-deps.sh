#!/usr/bin/env bash
# Installs what provaudit needs to build, test and run on Debian 12, and nothing
# that is already there. Safe to run again. Needs root (or sudo).
set -euo pipefail

BUILD_PKGS=(g++ cmake ninja-build pkg-config libpcap-dev libssl-dev libboost1.81-dev
            libsqlite3-dev catch2 libcli11-dev libtomlplusplus-dev libre2-dev libfmt-dev
            libjemalloc-dev zlib1g-dev libzstd-dev)
# nghttp2-server (nghttpd) and python3-h2, for samples/make_samples.sh
# (http2.pcap, h2c_upgrade.pcap); gnutls-bin (gnutls-serv, gnutls-cli) for
# its raw public keys (rawpk.pcap, rawpk_srv.pcap: OpenSSL 3.0 has none).
TEST_PKGS=(tshark tcpdump tcpreplay openssl curl iproute2 sqlite3 python3 clang-14 libclang-rt-14-dev time zstd
           nghttp2-server python3-h2 gnutls-bin)

want=("${BUILD_PKGS[@]}")
if [[ "${1:-}" == "--test" ]]; then
  want+=("${TEST_PKGS[@]}")
  # The browser tests run under Node.js; the machine image may bring its own.
  command -v node >/dev/null 2>&1 || want+=(nodejs npm)
fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then exit 0; fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer no without a prompt.
echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
