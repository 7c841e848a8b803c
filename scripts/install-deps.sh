#!/usr/bin/env bash
# Installs, idempotently, every Debian package Weft needs to build, test, run
# the demo and run the benchmarks.  Safe to run again: packages already present
# are skipped, and apt-get is only called when something is missing.
set -euo pipefail

PKGS=(
  # build
  build-essential make pkg-config clang llvm libclang-rt-14-dev clang-format
  # libraries
  libjansson-dev libsqlite3-dev libmicrohttpd-dev libssl-dev libbpf-dev
  protobuf-c-compiler libprotobuf-c-dev libcurl4-openssl-dev
  # lab, system tests and benchmarks
  iproute2 iputils-ping ethtool tcpdump tshark iperf3 netsniff-ng
  python3 python3-scapy python3-yaml socat netcat-openbsd wrk procps openssl
  udhcpc isc-dhcp-client traceroute ndisc6
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}; run as root" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer no, without a prompt.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
