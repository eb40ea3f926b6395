#!/usr/bin/env bash
# Installs what Keel builds with, from Debian 12's own packages (nothing is
# downloaded from anywhere else). Idempotent and quiet when all is present.
set -euo pipefail

packages=(
  bazel-bootstrap   # Bazel 4.2.3, run offline in WORKSPACE mode
  g++               # g++ 12, -std=c++23
  liburing-dev
  libabsl-dev
  libgtest-dev
  libgmock-dev
  libbenchmark-dev
  libasio-dev       # standalone Asio, the baselines of bench/echo
  redis-tools       # redis-cli and redis-benchmark, which examples/kv_server's tests drive
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  sudo=sudo
else
  sudo=
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! $sudo apt-get update -qq >/tmp/keel-setup-apt.log 2>&1; then
  echo "setup: 'apt-get update' failed; see /tmp/keel-setup-apt.log" >&2
  exit 1
fi
for p in "${missing[@]}"; do
  if ! apt-cache show "$p" >/dev/null 2>&1; then
    echo "setup: package '$p' is not available from the configured Debian mirror" >&2
    exit 1
  fi
done
if ! $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >>/tmp/keel-setup-apt.log 2>&1; then
  echo "setup: 'apt-get install ${missing[*]}' failed; see /tmp/keel-setup-apt.log" >&2
  exit 1
fi
echo "setup: done"
